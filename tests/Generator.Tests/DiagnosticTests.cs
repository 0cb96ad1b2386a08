extern alias gen;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace LayerCompiler.Generator.Tests;

/// <summary>One test per diagnostic: its id and the exact span, marked in the source with [| |].</summary>
public class DiagnosticTests
{
    private static void Expect(string id, string markedSource, string? messageContains = null)
    {
        var source = GeneratorHarness.Usings + markedSource;
        int start = source.IndexOf("[|", StringComparison.Ordinal);
        Assert.True(start >= 0, "mark the expected span with [| |]");
        source = source.Remove(start, 2);
        int end = source.IndexOf("|]", StringComparison.Ordinal);
        source = source.Remove(end, 2);
        var result = GeneratorHarness.Run(source);
        var diags = result.Run.Diagnostics.Where(d => d.Id.StartsWith("LC")).ToList();
        var d = Assert.Single(diags, x => x.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Equal(new TextSpan(start, end - start), d.Location.SourceSpan);
        Assert.Equal("Source0.cs", d.Location.GetLineSpan().Path);
        if (messageContains != null) Assert.Contains(messageContains, d.GetMessage());
        // Nothing is generated for the broken declaration.
        Assert.DoesNotContain(result.Run.Results.Single().GeneratedSources, s => s.HintName.StartsWith("Bad"));
    }

    [Fact] public void LC0001_TypeNotPartial() =>
        Expect("LC0001", "[InputNetwork] [Dense(2, 3)] public class [|Bad|] { }", "must be declared partial");

    [Fact] public void LC0001_ContainingTypeNotPartial() =>
        Expect("LC0001", "public class [|Outer|] { [InputNetwork] [Dense(2, 3)] public partial class Bad { } }", "'Outer'");

    [Fact] public void LC0002_NonPositiveSize() =>
        Expect("LC0002", "[InputNetwork] [Dense(2, 3)] [[|Dense(3, 0)|]] public partial class Bad { }", "out = 0");

    [Fact] public void LC0002_NonPositiveKernel() =>
        Expect("LC0002", "[InputNetwork] [[|Conv2d(1, 3, 0, 3)|]] [Dense(3, 1)] public partial class Bad { }", "kernel height = 0");

    [Fact] public void LC0002_NonPositiveOmega0() =>
        Expect("LC0002", "[InputNetwork(Activation = InputActivation.Sine, [|Omega0 = -1f|])] [Dense(2, 3)] public partial class Bad { }", "Omega0");

    [Fact] public void LC0002_NonFiniteOmega0() =>
        Expect("LC0002", "[InputNetwork([|Omega0 = float.NaN|])] [Dense(2, 3)] public partial class Bad { }", "Omega0");

    [Fact] public void LC0003_DimensionsDoNotChain() =>
        Expect("LC0003", "[InputNetwork] [Dense(2, 3)] [[|Dense(4, 1)|]] public partial class Bad { }", "Layer 2 takes 4 inputs but layer 1 produces 3");

    [Fact] public void LC0004_ConvAfterDense() =>
        Expect("LC0004", "[InputNetwork] [Dense(2, 3)] [[|Conv2d(3, 3, 1, 1)|]] public partial class Bad { }", "before the first Dense");

    [Fact] public void LC0005_NoLayers() =>
        Expect("LC0005", "[InputNetwork] public partial class [|Bad|] { }", "declares no layers");

    [Fact] public void LC0006_ArchitectureWithoutInputNetwork() =>
        Expect("LC0006", "public class Plain { } [[|EquivariantModel(typeof(Plain), Channels = new[] { 2 }, Outputs = 1)|]] public partial class Bad { }", "not marked [InputNetwork]");

    private const string Arch = "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Net { } ";

    [Fact] public void LC0007_ChannelsMissing() =>
        Expect("LC0007", Arch + "[[|EquivariantModel(typeof(Net), Outputs = 1)|]] public partial class Bad { }", "are missing");

    [Fact] public void LC0007_ChannelsNonPositive() =>
        Expect("LC0007", Arch + "[EquivariantModel(typeof(Net), [|Channels = new[] { 4, 0 }|], Outputs = 1)] public partial class Bad { }", "non-positive width (0)");

    [Fact] public void LC0008_OutputsMissing() =>
        Expect("LC0008", Arch + "[[|EquivariantModel(typeof(Net), Channels = new[] { 4 })|]] public partial class Bad { }", "set Outputs");

    [Fact] public void LC0008_NegativeHeadHidden() =>
        Expect("LC0008", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 4 }, Outputs = 2, [|HeadHidden = -1|])] public partial class Bad { }", "HeadHidden = -1");

    [Fact] public void LC0009_TensorTooLarge() =>
        Expect("LC0009", "[InputNetwork] [[|Dense(100000, 100000)|]] public partial class Bad { }", "10000000000 weights");

    [Fact] public void LC0009_LayerParametersOverflow() =>
        Expect("LC0009", Arch + "[[|EquivariantModel(typeof(Net), Channels = new[] { 60000, 60000 }, Outputs = 1)|]] public partial class Bad { }", "more than 2147483647");

    [Fact] public void LC0009_NetworkParametersOverflow() =>
        Expect("LC0009", "[InputNetwork] [Dense(2, 46340)] [[|Dense(46340, 46340)|]] [Dense(46340, 1)] public partial class Bad { }", "Layers 1 to 2 have 2147580960 weights and biases");

    [Fact] public void LC0009_HeadParametersOverflow() =>
        Expect("LC0009", Arch + "[[|EquivariantModel(typeof(Net), Channels = new[] { 4 }, Outputs = int.MaxValue, HeadHidden = 2)|]] public partial class Bad { }", "The invariant head");

    [Fact] public void LC0013_KeywordName() =>
        Expect("LC0013", "[InputNetwork] [Dense(2, 3)] public partial class [|@class|] { }", "C# keyword");

    /// <summary>Hint names are compared ignoring case: two types whose names differ only in case still get their own files.</summary>
    [Fact]
    public void TypesWhoseNamesDifferOnlyInCaseGetDistinctFiles()
    {
        var source = GeneratorHarness.Usings + "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Net { } " +
                     "[InputNetwork] [Dense(2, 4)] [Dense(4, 1)] public partial class NET { } " +
                     "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class M { } " +
                     "[EquivariantModel(typeof(NET), Channels = new[] { 2 }, Outputs = 1)] public partial class m { }";
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.Run.Diagnostics);
        Assert.Null(result.Run.Results.Single().Exception);
        var hints = result.Run.Results.Single().GeneratedSources.Select(g => g.HintName).ToList();
        Assert.Equal(hints.Count, hints.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Contains(hints, h => h.StartsWith("Net.", StringComparison.Ordinal) && h.EndsWith(".g.cs", StringComparison.Ordinal));   // still readable
        Assert.Contains(hints, h => h.StartsWith("NET.", StringComparison.Ordinal));
        Assert.Equal(8, hints.Count);                                  // 2 architectures × (C#, CUDA), 2 models × (C#, CUDA)
        Assert.Empty(result.Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact] public void LC0010_LayerWithoutInputNetwork() =>
        Expect("LC0010", "[[|Dense(2, 3)|]] public partial class Bad { }", "add [InputNetwork]");

    [Fact] public void LC0011_ArchitectureAndModelOnOneType() =>
        Expect("LC0011", Arch + "[[|InputNetwork|]] [Dense(2, 3)] [EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { }", "both [InputNetwork] and [EquivariantModel]");

    [Fact] public void LC0011_ModelWithBaseClass() =>
        Expect("LC0011", Arch + "public class Base { } [EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class [|Bad|] : Base { }", "remove the base class");

    [Fact] public void LC0011_HeadHiddenWithEquivariantHead() =>
        Expect("LC0011", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, Head = HeadKind.Equivariant, [|HeadHidden = 8|])] public partial class Bad { }", "HeadHidden applies only");

    [Fact] public void LC0012_UndefinedEnumValue() =>
        Expect("LC0012", Arch + "[EquivariantModel(typeof(Net), [|Symmetry = (Symmetry)7|], Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { }", "HiddenNeuron, AllNeuron");

    [Fact] public void LC0011_PoolingWithEquivariantHead() =>
        Expect("LC0011", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, Head = HeadKind.Equivariant, [|Pooling = HeadPooling.Max|])] public partial class Bad { }", "Pooling applies only");

    [Fact] public void LC0012_UndefinedPooling() =>
        Expect("LC0012", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, [|Pooling = (HeadPooling)5|])] public partial class Bad { }", "Mean, Max, MeanAndMax");

    [Fact] public void LC0012_UndefinedInputActivation() =>
        Expect("LC0012", "[InputNetwork([|Activation = (InputActivation)9|])] [Dense(2, 3)] public partial class Bad { }", "ReLU, Sine, Tanh");

    [Fact] public void LC0012_NonFiniteOutputOffset() =>
        Expect("LC0012", "[InputNetwork([|OutputOffset = float.PositiveInfinity|])] [Dense(2, 3)] public partial class Bad { }", "a finite float");

    [Fact] public void LC0013_GenericType() =>
        Expect("LC0013", "[InputNetwork] [Dense(2, 3)] public partial class [|Bad|]<T> { }", "is generic");

    /// <summary>
    /// Every descriptor in the catalog (found by reflection, so a new one cannot be forgotten) has a row in the
    /// release-tracking file with the same id, category, severity and title, and every row has a descriptor;
    /// docs/diagnostics.md lists the same ids.
    /// </summary>
    [Fact]
    public void DiagnosticsCatalogMatchesTheReleaseFile()
    {
        var descriptors = typeof(gen::LayerCompiler.Generator.Diagnostics.Descriptors)
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .OrderBy(d => d.Id, StringComparer.Ordinal).ToList();
        Assert.True(descriptors.Count >= 14, $"found only {descriptors.Count} descriptors");
        Assert.Equal(descriptors.Count, descriptors.Select(d => d.Id).Distinct().Count());

        string root = Path.Combine(AppContext.BaseDirectory, "../../../../../");
        var rows = File.ReadAllLines(Path.Combine(root, "Generator/AnalyzerReleases.Unshipped.md"))
            .Where(l => l.StartsWith("LC", StringComparison.Ordinal))
            .Select(l => l.Split('|').Select(c => c.Trim()).ToArray())
            .OrderBy(c => c[0], StringComparer.Ordinal).ToList();
        Assert.Equal(descriptors.Select(d => d.Id), rows.Select(r => r[0]));
        foreach (var (d, r) in descriptors.Zip(rows))
        {
            Assert.Equal(d.Category, r[1]);
            Assert.Equal(d.DefaultSeverity.ToString(), r[2]);
            Assert.Equal(d.Title.ToString(), r[3]);
        }

        string docs = File.ReadAllText(Path.Combine(root, "docs/diagnostics.md"));
        foreach (var d in descriptors) Assert.Contains($"| {d.Id} |", docs);
    }

    public static IEnumerable<object[]> Garbage() => new[]
    {
        "[InputNetwork] [Dense(\"a\", 3)] public partial class G1 { }",
        "[EquivariantModel(null)] public partial class G2 { }",
        "[EquivariantModel(typeof(int), Channels = new[] { 1 }, Outputs = 1)] public partial class G3 { }",
        "[EquivariantModel(typeof(Missing), Channels = null, Outputs = 1)] public partial class G4 { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N5 { } [EquivariantModel(typeof(N5), Channels = new[] { 1 }, Outputs = 1)] public partial struct G5 { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N6 { } [EquivariantModel(typeof(N6), Channels = new int[0], Outputs = -5, Head = (HeadKind)9)] public partial class G6 { }",
        "[InputNetwork] [Dense(int.MaxValue, int.MaxValue)] [Dense(int.MaxValue, 1)] public partial class G7 { }",
        "[InputNetwork(Omega0 = float.NaN)] [Dense(2, 2)] public partial class G8 { }",
        "[InputNetwork] [Dense(-1, -1)] [Conv2d(-1, 0, -3, 0)] public partial class G9 { }",
        "[InputNetwork] [Dense(2, 3)] partial class G10 { } partial class G10 { }",
        "[InputNetwork] [Dense(2, 3)] public partial record G11 { }",
        "public partial class G12 { [InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Inner { } [EquivariantModel(typeof(Inner), Channels = new[] { 2 }, Outputs = 1)] public partial class M { } }",
    }.Select(s => new object[] { s });

    /// <summary>Whatever the input, the generator reports or generates; it never throws (no CS8785/AD0001).</summary>
    [Theory]
    [MemberData(nameof(Garbage))]
    public void GeneratorNeverThrows(string source)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + source); // the harness asserts no exception
        Assert.DoesNotContain(result.Run.Diagnostics, d => d.Id == "LC0099");
    }
}
