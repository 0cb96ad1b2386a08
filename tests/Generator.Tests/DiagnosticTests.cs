extern alias gen;
using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// One test per way of triggering each diagnostic: markup <c>{|LC0003:…|}</c> marks its id and the exact span it must
/// land on (Roslyn's generator-testing library, which also fails on any other error, generated sources included);
/// the message is checked for the phrase that says what to change.
/// </summary>
public class DiagnosticTests
{
    private static async Task Expect(string id, string markedSource, string? messageContains = null)
    {
        Assert.Contains("{|" + id + ":", markedSource);
        await LcGeneratorTest.VerifyAsync(markedSource);

        // The message, and that nothing is generated for the broken declaration.
        var source = System.Text.RegularExpressions.Regex.Replace(GeneratorHarness.Usings + markedSource, @"\{\|LC\d{4}:|\|\}", "");
        var result = GeneratorHarness.Run(source);
        var d = Assert.Single(result.Run.Diagnostics, x => x.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        if (messageContains != null) Assert.Contains(messageContains, d.GetMessage());
        Assert.DoesNotContain(result.Run.Results.Single().GeneratedSources, s => s.HintName.StartsWith("Bad"));
    }

    [Fact] public Task LC0001_TypeNotPartial() =>
        Expect("LC0001", "[InputNetwork] [Dense(2, 3)] public class {|LC0001:Bad|} { }", "must be declared partial");

    [Fact] public Task LC0001_ContainingTypeNotPartial() =>
        Expect("LC0001", "public class {|LC0001:Outer|} { [InputNetwork] [Dense(2, 3)] public partial class Bad { } }", "'Outer'");

    [Fact] public Task LC0002_NonPositiveSize() =>
        Expect("LC0002", "[InputNetwork] [Dense(2, 3)] [{|LC0002:Dense(3, 0)|}] public partial class Bad { }", "out = 0");

    [Fact] public Task LC0002_NonPositiveKernel() =>
        Expect("LC0002", "[InputNetwork] [{|LC0002:Conv2d(1, 3, 0, 3)|}] [Dense(3, 1)] public partial class Bad { }", "kernel height = 0");

    [Fact] public Task LC0002_NonPositiveOmega0() =>
        Expect("LC0002", "[InputNetwork(Activation = InputActivation.Sine, {|LC0002:Omega0 = -1f|})] [Dense(2, 3)] public partial class Bad { }", "Omega0 = -1f is not a positive finite frequency; the sine activation computes sin(Omega0 · x)");

    [Fact] public Task LC0002_NonFiniteOmega0() =>
        Expect("LC0002", "[InputNetwork({|LC0002:Omega0 = float.NaN|})] [Dense(2, 3)] public partial class Bad { }", "Omega0 = NaN is not a positive finite frequency");

    [Fact] public Task LC0003_DimensionsDoNotChain() =>
        Expect("LC0003", "[InputNetwork] [Dense(2, 3)] [{|LC0003:Dense(4, 1)|}] public partial class Bad { }", "Layer 2 takes 4 inputs but layer 1 produces 3");

    [Fact] public Task LC0004_ConvAfterDense() =>
        Expect("LC0004", "[InputNetwork] [Dense(2, 3)] [{|LC0004:Conv2d(3, 3, 1, 1)|}] public partial class Bad { }", "before the first Dense");

    [Fact] public Task LC0005_NoLayers() =>
        Expect("LC0005", "[InputNetwork] public partial class {|LC0005:Bad|} { }", "declares no layers");

    [Fact] public Task LC0006_ArchitectureWithoutInputNetwork() =>
        Expect("LC0006", "public class Plain { } [{|LC0006:EquivariantModel(typeof(Plain), Channels = new[] { 2 }, Outputs = 1)|}] public partial class Bad { }", "not marked [InputNetwork]");

    private const string Arch = "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Net { } ";

    [Fact] public Task LC0007_ChannelsMissing() =>
        Expect("LC0007", Arch + "[{|LC0007:EquivariantModel(typeof(Net), Outputs = 1)|}] public partial class Bad { }", "are missing");

    [Fact] public Task LC0007_ChannelsNonPositive() =>
        Expect("LC0007", Arch + "[EquivariantModel(typeof(Net), {|LC0007:Channels = new[] { 4, 0 }|}, Outputs = 1)] public partial class Bad { }", "non-positive width (0)");

    [Fact] public Task LC0008_OutputsMissing() =>
        Expect("LC0008", Arch + "[{|LC0008:EquivariantModel(typeof(Net), Channels = new[] { 4 })|}] public partial class Bad { }", "set Outputs");

    [Fact] public Task LC0008_NegativeHeadHidden() =>
        Expect("LC0008", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 4 }, Outputs = 2, {|LC0008:HeadHidden = -1|})] public partial class Bad { }", "HeadHidden = -1");

    [Fact] public Task LC0009_TensorTooLarge() =>
        Expect("LC0009", "[InputNetwork] [{|LC0009:Dense(100000, 100000)|}] public partial class Bad { }", "10000000000 weights");

    [Fact] public Task LC0009_LayerParametersOverflow() =>
        Expect("LC0009", Arch + "[{|LC0009:EquivariantModel(typeof(Net), Channels = new[] { 60000, 60000 }, Outputs = 1)|}] public partial class Bad { }", "more than 2147483647");

    [Fact] public Task LC0009_NetworkParametersOverflow() =>
        Expect("LC0009", "[InputNetwork] [Dense(2, 46340)] [{|LC0009:Dense(46340, 46340)|}] [Dense(46340, 1)] public partial class Bad { }", "Layers 1 to 2 have 2147580960 weights and biases");

    [Fact] public Task LC0009_HeadParametersOverflow() =>
        Expect("LC0009", Arch + "[{|LC0009:EquivariantModel(typeof(Net), Channels = new[] { 4 }, Outputs = int.MaxValue, HeadHidden = 2)|}] public partial class Bad { }", "The invariant head");

    [Fact] public Task LC0013_KeywordName() =>
        Expect("LC0013", "[InputNetwork] [Dense(2, 3)] public partial class {|LC0013:@class|} { }", "C# keyword");

    [Fact] public Task LC0002_ZeroOmega0() =>
        Expect("LC0002", "[InputNetwork({|LC0002:Omega0 = 0f|})] [Dense(2, 3)] public partial class Bad { }", "Omega0 = 0f is not a positive finite frequency");

    [Fact] public Task LC0009_ConvLayerParametersExceedALong() =>
        Expect("LC0009", "[InputNetwork] [Conv2d(1, 1, 40000, 40000)] [Dense(1, 1)] public partial class N { } [{|LC0009:EquivariantModel(typeof(N), Channels = new[] { 2 }, Outputs = 1)|}] public partial class Bad { }", "has about ");

    [Fact] public Task LC0013_StaticModel() =>
        Expect("LC0013", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public static partial class {|LC0013:Bad|} { }", "remove 'static'");

    [Fact] public Task LC0013_RecordModel() =>
        Expect("LC0013", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial record {|LC0013:Bad|} { }", "is a record");

    /// <summary>[EquivariantModel] is only valid on classes (CS0592 at the attribute, from the compiler); LC0013 says why.</summary>
    [Fact] public Task LC0013_StructModel() =>
        Expect("LC0013", Arch + "[{|CS0592:EquivariantModel|}(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial struct {|LC0013:Bad|} { }", "is a struct");

    [Fact] public Task LC0013_ModelWithPrimaryConstructor() =>
        Expect("LC0013", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad{|LC0013:(int width)|} { }", "primary constructor");

    [Fact] public Task LC0014_ArchitectureMemberNamedDepth() =>
        Expect("LC0014", "[InputNetwork] [Dense(2, 3)] public partial class Bad { public int {|LC0014:Depth|}; }", "generates the constant 'Depth'");

    [Fact] public Task LC0014_ArchitectureMethodOverloadingCreateWeightSpace() =>
        Expect("LC0014", "[InputNetwork] [Dense(2, 3)] public partial class Bad { public static int {|LC0014:CreateWeightSpace|}(int x) => x; }", "'CreateWeightSpace'");

    [Fact] public Task LC0014_ArchitectureNestedTypeNamedNetwork() =>
        Expect("LC0014", "[InputNetwork] [Dense(2, 3)] public partial class Bad { public class {|LC0014:Network|} { } }", "the nested class 'Network'");

    [Fact] public Task LC0014_ArchitectureNamedLikeItsGeneratedMember() =>
        Expect("LC0014", "namespace Bad { [InputNetwork] [Dense(2, 3)] public partial class {|LC0014:Network|} { } }", "rename the type");

    [Fact] public Task LC0014_ModelFieldNamedConfiguration() =>
        Expect("LC0014", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { private readonly int {|LC0014:Configuration|}; }", "the field 'Configuration'");

    [Fact] public Task LC0014_ModelNestedTypeNamedLikeItsKernel() =>
        Expect("LC0014", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2, 3 }, Outputs = 1)] public partial class Bad { private sealed class {|LC0014:FusedKernel_2x3|} { } }", "fused 2 → 3 channel kernel");

    [Fact] public Task LC0014_ModelMemberNamedLikeACudaMember() =>
        Expect("LC0014", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { public void {|LC0014:CreateCudaKernel|}() { } }", "CreateCudaKernel");

    [Fact] public Task LC0014_ModelConstructorTakingASeed() =>
        Expect("LC0014", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { private {|LC0014:Bad|}(ulong s) { } }", "the constructor Bad(ulong seed = 0)");

    [Fact] public Task LC0015_FeatureTensorTimesChannelsOverflows() =>
        Expect("LC0015", "[InputNetwork] [Dense(1, 60000)] [Dense(60000, 1)] public partial class N { } [{|LC0015:EquivariantModel(typeof(N), Channels = new[] { 40000 }, Outputs = 1)|}] public partial class Bad { }",
            "holds 180001 weights × 40000 channels = 7200040000 feature values per network (the largest tensor, W1, has 60000 entries)");

    [Fact] public Task LC0015_EquivariantHeadChannelsOverflow() =>
        Expect("LC0015", "[InputNetwork] [Dense(1, 60000)] [Dense(60000, 1)] public partial class N { } [{|LC0015:EquivariantModel(typeof(N), Channels = new[] { 2 }, Outputs = 40000, Head = HeadKind.Equivariant)|}] public partial class Bad { }",
            "2 → 40000 channels");

    /// <summary>Each tensor's block fits (60000 × 20000), all of them together do not (180001 × 20000): the GPU backend's statistics region would overflow.</summary>
    [Fact] public Task LC0015_AllTensorsTogetherOverflow() =>
        Expect("LC0015", "[InputNetwork] [Dense(1, 60000)] [Dense(60000, 1)] public partial class N { } [{|LC0015:EquivariantModel(typeof(N), Symmetry = Symmetry.AllNeuron, Channels = new[] { 20000, 2 }, Outputs = 1)|}] public partial class Bad { }",
            "180001 weights × 20000 channels = 3600020000");

    /// <summary>Under C# 7.3 the generated code (nullable annotations) would not compile: each attribute is reported, nothing is generated.</summary>
    [Fact] public Task LC0016_LanguageVersionTooOld() =>
        LcGeneratorTest.VerifyAsync("[{|LC0016:InputNetwork|}] [Dense(2, 3)] [Dense(3, 1)] public partial class Net { } " +
            "[{|LC0016:EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)|}] public partial class Model { }",
            Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp7_3);

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

    [Fact] public Task LC0010_LayerWithoutInputNetwork() =>
        Expect("LC0010", "[{|LC0010:Dense(2, 3)|}] public partial class Bad { }", "add [InputNetwork]");

    [Fact] public Task LC0011_ArchitectureAndModelOnOneType() =>
        Expect("LC0011", Arch + "[{|LC0011:InputNetwork|}] [Dense(2, 3)] [EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { }", "both [InputNetwork] and [EquivariantModel]");

    [Fact] public Task LC0011_ModelWithBaseClass() =>
        Expect("LC0011", Arch + "public class Base { } [EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] public partial class {|LC0011:Bad|} : Base { }", "remove the base class");

    [Fact] public Task LC0011_HeadHiddenWithEquivariantHead() =>
        Expect("LC0011", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, Head = HeadKind.Equivariant, {|LC0011:HeadHidden = 8|})] public partial class Bad { }", "HeadHidden applies only");

    [Fact] public Task LC0012_UndefinedEnumValue() =>
        Expect("LC0012", Arch + "[EquivariantModel(typeof(Net), {|LC0012:Symmetry = (Symmetry)7|}, Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { }", "HiddenNeuron, AllNeuron, SignedHiddenNeuron");

    [Fact] public Task LC0002_NonPositiveStride() =>
        Expect("LC0002", "[InputNetwork] [{|LC0002:Conv2d(1, 3, 3, 3, Stride = 0)|}] [Dense(3, 1)] public partial class Bad { }", "Stride = 0");

    [Fact] public Task LC0019_OnlyOneInputSize() =>
        Expect("LC0019", "[InputNetwork({|LC0019:InputHeight = 28|})] [Conv2d(1, 3, 3, 3)] [Dense(3, 1)] public partial class Bad { }", "give both as positive image sizes");

    [Fact] public Task LC0019_NegativeInputSize() =>
        Expect("LC0019", "[InputNetwork({|LC0019:InputHeight = -2|}, InputWidth = 5)] [Conv2d(1, 3, 3, 3)] [Dense(3, 1)] public partial class Bad { }", "InputHeight = -2");

    [Fact] public Task LC0019_FeatureMapVanishes() =>
        Expect("LC0019", "[InputNetwork(InputHeight = 28, InputWidth = 28)] [Conv2d(1, 16, 3, 3, Stride = 2)] [Conv2d(16, 16, 3, 3, Stride = 2)] [Conv2d(16, 16, 3, 3, Stride = 2)] [{|LC0019:Conv2d(16, 16, 3, 3, Stride = 2)|}] [Dense(16, 10)] public partial class Bad { }",
            "Layer 4 (Conv2d 3×3, stride 2) gets a 2×2 feature map from a 28×28 input");

    [Fact] public Task LC0019_DenseInputsAreNotWholeImages() =>
        Expect("LC0019", "[{|LC0019:InputNetwork(InputHeight = 28, InputWidth = 28)|}] [Dense(100, 10)] public partial class Bad { }", "not a whole number of 28×28 images");

    [Fact] public Task LC0019_ImageTooLarge() =>
        Expect("LC0019", "[{|LC0019:InputNetwork(InputHeight = 100000, InputWidth = 100000)|}] [Conv2d(1, 1, 1, 1)] [Dense(1, 1)] public partial class Bad { }", "exceeds");

    [Fact] public Task LC0019_FeatureMapTooLarge() =>
        Expect("LC0019", "[InputNetwork(InputHeight = 40000, InputWidth = 40000)] [{|LC0019:Conv2d(1, 100000, 1, 1)|}] [Dense(100000, 1)] public partial class Bad { }", "more than 2147483647");

    [Fact] public Task LC0017_SignedSymmetryIsNotGeneratedYet() =>
        Expect("LC0017", Arch + "[EquivariantModel(typeof(Net), {|LC0017:Symmetry = Symmetry.SignedHiddenNeuron|}, Channels = new[] { 2 }, Outputs = 1)] public partial class Bad { }", "not generated yet");

    // [ProductModel] (issue 17): product layers over a dense network's graph.
    private const string Siren = "[InputNetwork(Activation = InputActivation.Sine)] [Dense(2, 3)] [Dense(3, 3)] [Dense(3, 1)] public partial class Siren { } ";

    [Fact] public Task LC0018_SignedProductModelOverAReluNetwork() =>
        Expect("LC0018", Arch + "[{|LC0018:ProductModel(typeof(Net), Symmetry = Symmetry.SignedHiddenNeuron, Outputs = 2)|}] public partial class Bad { }", "uses ReLU, which does not commute with sign flips");

    [Fact] public Task LC0018_ProductModelOverACnn() =>
        Expect("LC0018", "[InputNetwork] [Conv2d(1, 2, 3, 3)] [Dense(2, 1)] public partial class Cnn { } [{|LC0018:ProductModel(typeof(Cnn), Outputs = 2)|}] public partial class Bad { }", "has Conv2d layers");

    [Fact] public Task LC0018_SignedHiddenLayerWithoutReference() =>
        Expect("LC0018", "[InputNetwork(Activation = InputActivation.Tanh)] [Dense(2, 3)] [Dense(3, 3, Bias = false)] [Dense(3, 3)] [Dense(3, 1)] public partial class Deep { } " +
            "[{|LC0018:ProductModel(typeof(Deep), Symmetry = Symmetry.SignedHiddenNeuron, Outputs = 2)|}] public partial class Bad { }", "hidden layer 2 of 'Deep' has no bias");

    [Fact] public Task LC0018_DropoutOutsideZeroOne() =>
        Expect("LC0018", Arch + "[ProductModel(typeof(Net), Outputs = 2, {|LC0018:Dropout = 1f|})] public partial class Bad { }", "Dropout = 1f is not a probability in [0, 1)");

    [Fact] public Task LC0002_ProductModelWithoutFeatures() =>
        Expect("LC0002", Arch + "[ProductModel(typeof(Net), Outputs = 2, {|LC0002:Features = 0|})] public partial class Bad { }", "Features = 0");

    [Fact] public Task LC0002_ProductModelWithoutLayers() =>
        Expect("LC0002", Arch + "[ProductModel(typeof(Net), Outputs = 2, {|LC0002:Layers = -1|})] public partial class Bad { }", "at least one product layer");

    [Fact] public Task LC0008_ProductModelWithoutOutputs() =>
        Expect("LC0008", Arch + "[{|LC0008:ProductModel(typeof(Net))|}] public partial class Bad { }", "set Outputs");

    [Fact] public Task LC0012_ProductModelUndefinedSymmetry() =>
        Expect("LC0012", Arch + "[ProductModel(typeof(Net), {|LC0012:Symmetry = (Symmetry)9|}, Outputs = 2)] public partial class Bad { }", "HiddenNeuron, AllNeuron, SignedHiddenNeuron");

    [Fact] public Task LC0011_ProductAndEquivariantModelOnOneType() =>
        Expect("LC0011", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1)] [{|LC0011:ProductModel(typeof(Net), Outputs = 2)|}] public partial class Bad { }", "both [EquivariantModel] and [ProductModel]");

    [Fact] public Task LC0013_StaticProductModel() =>
        Expect("LC0013", Arch + "[ProductModel(typeof(Net), Outputs = 2)] public static partial class {|LC0013:Bad|} { }", "derives from LayerCompiler.Runtime.Modules.ProductNetwork");

    [Fact] public Task LC0006_ProductModelOverAPlainType() =>
        Expect("LC0006", "public class Plain { } [{|LC0006:ProductModel(typeof(Plain), Outputs = 1)|}] public partial class Bad { }", "not marked [InputNetwork]");

    /// <summary>The sign symmetry is generated for product models (LC0017 stays for [EquivariantModel]): a SIREN's declaration compiles clean.</summary>
    [Fact]
    public void SignedProductModelOverASirenGeneratesCleanCode()
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + Siren +
            "[ProductModel(typeof(Siren), Symmetry = Symmetry.SignedHiddenNeuron, Features = 4, Layers = 2, Outputs = 3, Normalize = true, Dropout = 0.25f)] public partial class Good { }");
        Assert.Empty(result.Run.Diagnostics);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
        var source = result.Run.Results.Single().GeneratedSources.Single(g => g.HintName == "Good.g.cs").SourceText.ToString();
        Assert.Contains("global::LayerCompiler.Symmetry.SignedHiddenNeuron, 4, 2, 3, 0, true, 0.25f", source);
        Assert.Contains("MessagesBackward(s, 3, 1, 3);", source);
    }

    [Fact] public Task LC0011_PoolingWithEquivariantHead() =>
        Expect("LC0011", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, Head = HeadKind.Equivariant, {|LC0011:Pooling = HeadPooling.Max|})] public partial class Bad { }", "Pooling applies only");

    [Fact] public Task LC0012_UndefinedPooling() =>
        Expect("LC0012", Arch + "[EquivariantModel(typeof(Net), Channels = new[] { 2 }, Outputs = 1, {|LC0012:Pooling = (HeadPooling)5|})] public partial class Bad { }", "Mean, Max, MeanAndMax");

    [Fact] public Task LC0012_UndefinedInputActivation() =>
        Expect("LC0012", "[InputNetwork({|LC0012:Activation = (InputActivation)9|})] [Dense(2, 3)] public partial class Bad { }", "ReLU, Sine, Tanh");

    [Fact] public Task LC0012_NonFiniteOutputOffset() =>
        Expect("LC0012", "[InputNetwork({|LC0012:OutputOffset = float.PositiveInfinity|})] [Dense(2, 3)] public partial class Bad { }", "a finite float");

    [Fact] public Task LC0013_GenericType() =>
        Expect("LC0013", "[InputNetwork] [Dense(2, 3)] public partial class {|LC0013:Bad|}<T> { }", "is generic");

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
