namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Deep declarations: an equivariant layer has a block for every ordered pair of weight tensors, but the generated
/// source must grow linearly with the depth (the pairs that keep no neuron layer are walked from a run-time table,
/// the CUDA C is built from the plan at run time), and a deep model must generate and compile clean.
/// </summary>
public class DepthTests
{
    /// <summary>An MLP input network of <paramref name="depth"/> dense layers of width 8 and a model with two channel pairs (1 → 4, 4 → 4).</summary>
    public static string Declaration(int depth)
    {
        var layers = string.Concat(Enumerable.Range(0, depth).Select(i => $"[Dense({(i == 0 ? 2 : 8)}, {(i == depth - 1 ? 1 : 8)})] "));
        return GeneratorHarness.Usings + $$"""
            namespace Deep;
            [InputNetwork] {{layers}}
            public partial class Net{{depth}} { }
            [EquivariantModel(typeof(Net{{depth}}), Channels = new[] { 4, 4 }, Outputs = 3)]
            public partial class Model{{depth}} { }
            """;
    }

    private static long GeneratedBytes(GeneratorHarness.Result r) =>
        r.Run.Results.Single().GeneratedSources.Sum(s => (long)s.SourceText.Length);

    [Fact]
    public void ADeepDeclarationGeneratesAndCompilesClean()
    {
        var result = GeneratorHarness.Run(Declaration(40));
        Assert.Empty(result.Run.Diagnostics);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics.Take(10)));
        // 40 layers, 80 tensors: 6,400 ordered tensor pairs per channel pair, none spelled out one by one.
        Assert.True(GeneratedBytes(result) < 2_000_000, $"{GeneratedBytes(result)} bytes generated for 40 layers");
    }

    /// <summary>
    /// Doubling the depth about doubles what it adds: with linear growth the increment from 20 to 40 layers is twice
    /// the one from 10 to 20; with quadratic growth (a line per tensor pair) it would be six times.
    /// </summary>
    [Fact]
    public void GeneratedSizeGrowsLinearlyWithDepth()
    {
        long s10 = GeneratedBytes(GeneratorHarness.Run(Declaration(10)));
        long s20 = GeneratedBytes(GeneratorHarness.Run(Declaration(20)));
        long s40 = GeneratedBytes(GeneratorHarness.Run(Declaration(40)));
        double ratio = (double)(s40 - s20) / (s20 - s10);
        Assert.True(ratio < 2.5, $"10 → 20 layers added {s20 - s10} bytes, 20 → 40 added {s40 - s20} (ratio {ratio:F2}; linear is 2, quadratic 6)");
    }

    /// <summary>The same with the ILGPU backend referenced: its kernels also stay linear in the depth, and compile.</summary>
    [Fact]
    public void IlgpuSourcesGrowLinearlyWithDepthAndCompile()
    {
        GeneratorHarness.Result Run(int depth) => GeneratorHarness.Run(GeneratorHarness.CreateDriver(), GeneratorHarness.Compile(GeneratorHarness.IlgpuReferences, Declaration(depth)));
        static long IlgpuBytes(GeneratorHarness.Result r) => r.Run.Results.Single().GeneratedSources
            .Where(s => s.HintName.EndsWith(".Ilgpu.g.cs", StringComparison.Ordinal)).Sum(s => (long)s.SourceText.Length);
        var r40 = Run(40);
        Assert.True(r40.CompileDiagnostics.IsEmpty, string.Join("\n", r40.CompileDiagnostics.Take(10)));
        long s10 = IlgpuBytes(Run(10)), s20 = IlgpuBytes(Run(20)), s40 = IlgpuBytes(r40);
        Assert.True(s10 > 0);
        double ratio = (double)(s40 - s20) / (s20 - s10);
        Assert.True(ratio < 2.5, $"ILGPU: 10 → 20 layers added {s20 - s10} bytes, 20 → 40 added {s40 - s20} (ratio {ratio:F2}; linear is 2, quadratic 6)");
    }
}
