extern alias gen;
using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using LcGenerator = gen::LayerCompiler.Generator.LayerCompilerGenerator;

namespace LayerCompiler.Generator.Tests;

public class IncrementalTests
{
    private static readonly string[] Steps = { LcGenerator.ArchitecturesStep, LcGenerator.ModelsStep, LcGenerator.ResolvedModelsStep, LcGenerator.PlansStep };

    [Fact]
    public void ASecondRunReusesThePlansAndTheEmission()
    {
        var compilation = GeneratorHarness.Compile(SnapshotTests.Architectures[0].Source);
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), compilation);
        Assert.Contains(first.Run.Results.Single().TrackedSteps[LcGenerator.PlansStep].SelectMany(r => r.Outputs), o => o.Reason == IncrementalStepRunReason.New);
        var result = GeneratorHarness.Run(first.Driver, compilation).Run.Results.Single();
        foreach (var step in Steps)
            foreach (var (_, reason) in result.TrackedSteps[step].SelectMany(r => r.Outputs))
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
        foreach (var output in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs))
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {output.Reason}");
    }

    /// <summary>A product model's steps are equatable data too: an unrelated edit leaves its plan and its emission Cached/Unchanged.</summary>
    [Fact]
    public void AProductModelIsCachedAcrossAnUnrelatedEdit()
    {
        var source = GeneratorHarness.Usings + "[InputNetwork(Activation = InputActivation.Sine)] [Dense(2, 3)] [Dense(3, 1)] public partial class A { } " +
            "[ProductModel(typeof(A), Symmetry = Symmetry.SignedHiddenNeuron, Features = 3, Outputs = 2, Dropout = 0.1f)] public partial class P { }";
        var compilation = GeneratorHarness.Compile(source, "namespace Other; public class Unrelated { public int X; }");
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), compilation);
        Assert.Contains(first.Run.Results.Single().TrackedSteps[LcGenerator.ProductPlansStep].SelectMany(r => r.Outputs), o => o.Reason == IncrementalStepRunReason.New);
        Assert.Contains(first.Run.Results.Single().GeneratedSources, g => g.HintName == "P.g.cs");
        var oldTree = compilation.SyntaxTrees.Last();
        var newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From("namespace Other; public class Unrelated { public int X; public int Y; }"));
        var result = GeneratorHarness.Run(first.Driver, compilation.ReplaceSyntaxTree(oldTree, newTree)).Run.Results.Single();
        foreach (var step in new[] { LcGenerator.ProductModelsStep, LcGenerator.ProductPlansStep })
            foreach (var (_, reason) in result.TrackedSteps[step].SelectMany(r => r.Outputs))
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
        foreach (var output in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs))
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {output.Reason}");
    }

    /// <summary>Lowering is deterministic data: two independent runs give equal plans (value equality, so the step can cache).</summary>
    [Fact]
    public void PlansOfTwoRunsAreEqualValues()
    {
        object Plan() => GeneratorHarness.Run(SnapshotTests.Architectures[0].Source).Run.Results.Single()
            .TrackedSteps[LcGenerator.PlansStep].Single().Outputs.Single().Value;
        var a = Plan();
        var b = Plan();
        Assert.NotSame(a, b);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
    }

    [Fact]
    public void UnrelatedEditIsAllCachedOrUnchanged()
    {
        var source = SnapshotTests.Architectures[0].Source;
        var compilation = GeneratorHarness.Compile(source, "namespace Other; public class Unrelated { public int X; }");
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), compilation);

        var oldTree = compilation.SyntaxTrees.Last();
        var newTree = oldTree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From("namespace Other; public class Unrelated { public int X; public int Y; }"));
        var second = GeneratorHarness.Run(first.Driver, compilation.ReplaceSyntaxTree(oldTree, newTree));

        var result = second.Run.Results.Single();
        foreach (var step in Steps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"step {step} was not tracked");
            foreach (var run in result.TrackedSteps[step])
                foreach (var (_, reason) in run.Outputs)
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
        }
        foreach (var output in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs))
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {output.Reason}");
    }

    [Fact]
    public void EditingTheArchitectureRegeneratesTheModel()
    {
        var arch = GeneratorHarness.Usings + "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class A { }";
        var model = GeneratorHarness.Usings + "[EquivariantModel(typeof(A), Channels = new[] { 2 }, Outputs = 1)] public partial class M { }";
        var compilation = GeneratorHarness.Compile(arch, model);
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), compilation);
        var tree = compilation.SyntaxTrees.First();
        var changed = tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(arch.Replace("[Dense(2, 3)] [Dense(3, 1)]", "[Dense(2, 4)] [Dense(4, 1)]")));
        var second = GeneratorHarness.Run(first.Driver, compilation.ReplaceSyntaxTree(tree, changed));
        var m = second.Run.Results.Single().GeneratedSources.Single(s => s.HintName == "M.g.cs").SourceText.ToString();
        Assert.Contains("17 weights per network", m); // 2·4 + 4 + 4·1 + 1
        Assert.True(second.CompileDiagnostics.IsEmpty, string.Join("\n", second.CompileDiagnostics));
    }

    [Fact]
    public void CachedModelsHoldNoSymbolsSyntaxOrCompilations()
    {
        var result = GeneratorHarness.Run(SnapshotTests.Architectures[0].Source).Run.Results.Single();
        int inspected = 0;
        foreach (var step in Steps)
            foreach (var run in result.TrackedSteps[step])
                foreach (var (value, _) in run.Outputs)
                {
                    AssertPlainData(value, step, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);
                    inspected++;
                }
        Assert.True(inspected >= 3);
    }

    private static void AssertPlainData(object? value, string path, HashSet<object> seen, int depth)
    {
        if (value == null || depth > 12) return;
        var type = value.GetType();
        Assert.False(value is ISymbol || value is SyntaxNode || value is Compilation || value is SemanticModel || value is SyntaxTree || value is Location,
            $"{path} holds a {type.Name}");
        if (type.IsPrimitive || value is string || type.IsEnum || value is decimal) return;
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is IEnumerable e && value is not string)
        {
            foreach (var item in e) AssertPlainData(item, path + "[]", seen, depth + 1);
            if (type.Namespace?.StartsWith("System.Collections") == true) return;
        }
        foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            Assert.False(f.FieldType.IsArray && !type.Name.StartsWith("EquatableArray"), $"{path}.{f.Name} is a plain array");
            AssertPlainData(f.GetValue(value), path + "." + f.Name, seen, depth + 1);
        }
    }
}
