namespace LayerCompiler.Generator.Tests;

/// <summary>
/// The generated file of a small [ProductModel] (issue 17): the fused per-architecture product kernel (every width and D
/// constant) and the generated sign-invariant lift. It compiles with no diagnostics and matches its snapshot
/// (re-record with LAYERCOMPILER_UPDATE_SNAPSHOTS=1 and review the diff).
/// </summary>
public class ProductSnapshotTests
{
    private const string Source = GeneratorHarness.Usings + """
        namespace Demo;
        [InputNetwork(Activation = InputActivation.Tanh)] [Dense(2, 3)] [Dense(3, 1)]
        public partial class TinyTanh { }
        [ProductModel(typeof(TinyTanh), Symmetry = Symmetry.SignedHiddenNeuron, Features = 8, Layers = 1, Outputs = 2)]
        public partial class TinyProduct { }
        """;

    [Fact]
    public void TheProductModelCompilesCleanlyAndMatchesSnapshot()
    {
        var result = GeneratorHarness.Run(Source);
        Assert.Empty(result.Run.Diagnostics);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
        var g = result.Run.Results.Single().GeneratedSources.Single(s => s.HintName == "Demo.TinyProduct.g.cs");
        var text = g.SourceText.ToString();
        Assert.Contains("public const int D = 8;", text);
        Assert.Contains("public static global::LayerCompiler.Runtime.WeightSpaceBatch LiftWeights(", text);
        Snapshot.Match("Product.Demo.TinyProduct.g.cs", text);
    }

    [Fact]
    public void AModelWithoutSignsHasNoLift()
    {
        var result = GeneratorHarness.Run(Source.Replace("Symmetry = Symmetry.SignedHiddenNeuron, ", ""));
        Assert.Empty(result.Run.Diagnostics);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
        var text = result.Run.Results.Single().GeneratedSources.Single(s => s.HintName == "Demo.TinyProduct.g.cs").SourceText.ToString();
        Assert.Contains("protected override void ForwardNetwork(", text);
        Assert.DoesNotContain("LiftWeights", text);
    }
}
