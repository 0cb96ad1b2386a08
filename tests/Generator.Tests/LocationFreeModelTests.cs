extern alias gen;
using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using LcGenerator = gen::LayerCompiler.Generator.LayerCompilerGenerator;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Diagnostics travel in their own outputs; the models that emission depends on hold no location, so an edit that only
/// moves lines (blank lines inserted above the declarations) re-emits nothing, while diagnostics still move with the code.
/// </summary>
public class LocationFreeModelTests
{
    private const string Valid = """
        namespace Demo;
        [InputNetwork(Activation = InputActivation.Sine)] [Dense(2, 8)] [Dense(8, 1)]
        public partial class Siren { }
        [InputNetwork] [Conv2d(1, 2, 3, 3)] [Dense(2, 3)]
        public partial class Cnn { }
        [EquivariantModel(typeof(Siren), Channels = new[] { 4, 4 }, Outputs = 3)]
        public partial class SirenClassifier { }
        [EquivariantModel(typeof(Cnn), Channels = new[] { 2 }, Outputs = 1, Head = HeadKind.Equivariant)]
        public partial class CnnEditor { }
        """;

    /// <summary>A second model that is wrong (a member named like a generated one): its diagnostic must follow the edit.</summary>
    private const string Invalid = """

        [EquivariantModel(typeof(Siren), Channels = new[] { 2 }, Outputs = 1)]
        public partial class Broken { public int Configuration; }
        """;

    /// <summary>Every named step of the generator but the parse steps, whose output carries the diagnostics (and their locations).</summary>
    private static IEnumerable<string> EmissionSteps() => typeof(LcGenerator).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.Name.EndsWith("Step", StringComparison.Ordinal) && f.FieldType == typeof(string))
        .Select(f => (string)f.GetValue(null)!)
        .Where(n => n != LcGenerator.ParsedArchitecturesStep && n != LcGenerator.ParsedModelsStep && n != LcGenerator.StrayLayersStep);

    private static (GeneratorHarness.Result First, GeneratorHarness.Result Second) RunAndInsertBlankLines(string source)
    {
        var compilation = GeneratorHarness.Compile(GeneratorHarness.Usings + source);
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), compilation);
        var tree = compilation.SyntaxTrees.Single();
        var moved = tree.WithChangedText(SourceText.From(GeneratorHarness.Usings + "\n\n\n// moved down\n\n" + source));
        var second = GeneratorHarness.Run(first.Driver, compilation.ReplaceSyntaxTree(tree, moved));
        return (first, second);
    }

    [Fact]
    public void BlankLinesAboveTheDeclarationsLeaveEveryEmissionStepCached()
    {
        var (first, second) = RunAndInsertBlankLines(Valid);
        Assert.Empty(first.Run.Diagnostics);
        Assert.True(first.CompileDiagnostics.IsEmpty, string.Join("\n", first.CompileDiagnostics));
        var result = second.Run.Results.Single();

        int checkedSteps = 0;
        foreach (var step in EmissionSteps())
        {
            if (!result.TrackedSteps.TryGetValue(step, out var runs)) continue;
            foreach (var run in runs)
                foreach (var (_, reason) in run.Outputs)
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
            checkedSteps++;
        }
        foreach (var required in new[] { LcGenerator.ArchitecturesStep, LcGenerator.ModelsStep, LcGenerator.ResolvedModelsStep })
            Assert.True(result.TrackedSteps.ContainsKey(required), $"step {required} was not tracked");
        Assert.True(checkedSteps >= 3);
        foreach (var output in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs))
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output: {output.Reason}");

        // The edit was seen: the parse steps re-ran and their output moved (the diagnostics' anchors carry the new lines).
        Assert.Contains(result.TrackedSteps[LcGenerator.ParsedModelsStep].SelectMany(r => r.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Equal(first.Run.Results.Single().GeneratedSources.Select(s => s.SourceText.ToString()),
                     result.GeneratedSources.Select(s => s.SourceText.ToString()));
    }

    [Fact]
    public void DiagnosticsMoveWithTheCodeWhileTheValidModelsStayCached()
    {
        var (first, second) = RunAndInsertBlankLines(Valid + Invalid);
        var before = Assert.Single(first.Run.Diagnostics);
        var after = Assert.Single(second.Run.Diagnostics);
        Assert.Equal("LC0014", after.Id);
        Assert.Equal(before.Location.GetLineSpan().StartLinePosition.Line + 5, after.Location.GetLineSpan().StartLinePosition.Line);
        Assert.Equal(before.Location.SourceSpan.Start + "\n\n\n// moved down\n\n".Length, after.Location.SourceSpan.Start);

        var result = second.Run.Results.Single();
        foreach (var step in new[] { LcGenerator.ArchitecturesStep, LcGenerator.ModelsStep, LcGenerator.ResolvedModelsStep })
            foreach (var (_, reason) in result.TrackedSteps[step].SelectMany(r => r.Outputs))
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
        Assert.Equal(4, result.GeneratedSources.Count(s => !s.HintName.Contains(".Cuda.", StringComparison.Ordinal)));
    }

    /// <summary>The values of the emission steps hold no location in any form (Location, LocationInfo, spans, file paths).</summary>
    [Fact]
    public void EmissionStepValuesHoldNoLocation()
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + Valid + Invalid).Run.Results.Single();
        int inspected = 0;
        foreach (var step in EmissionSteps())
            if (result.TrackedSteps.TryGetValue(step, out var runs))
                foreach (var (value, _) in runs.SelectMany(r => r.Outputs))
                {
                    AssertNoLocation(value, step, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);
                    inspected++;
                }
        Assert.True(inspected >= 5, $"inspected {inspected} values");
    }

    private static void AssertNoLocation(object? value, string path, HashSet<object> seen, int depth)
    {
        if (value == null || depth > 16) return;
        var type = value.GetType();
        Assert.False(value is Location || value is TextSpan || value is LinePositionSpan || value is SyntaxTree || value is SyntaxNode
                     || type.Name.StartsWith("LocationInfo", StringComparison.Ordinal) || type.Name.StartsWith("DiagnosticInfo", StringComparison.Ordinal),
            $"{path} holds a {type.Name}");
        if (type.IsPrimitive || value is string || type.IsEnum || value is decimal) return;
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is IEnumerable e)
            foreach (var item in e) AssertNoLocation(item, path + "[]", seen, depth + 1);
        foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            AssertNoLocation(f.GetValue(value), path + "." + f.Name, seen, depth + 1);
    }
}
