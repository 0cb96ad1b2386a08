using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Every declaration is either valid (the generated sources compile clean) or an LC diagnostic at the user's source:
/// no compiler error may ever be located inside a generated file, and the generator never fails (LC0099).
/// The declarations are the ones that once compiled into errors inside generated files, and their neighbours.
/// </summary>
public class HostileDeclarationTests
{
    private const string Net = "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N { } ";
    private const string Wide = "[InputNetwork] [Dense(1, 60000)] [Dense(60000, 1)] public partial class N { } ";
    private static string Model(string options, string type = "public partial class M { }") =>
        $"[EquivariantModel(typeof(N), {options})] {type}";

    public static IEnumerable<object[]> Declarations() => new[]
    {
        // Sizes the generated code holds in an int.
        Wide + Model("Channels = new[] { 40000 }, Outputs = 1"),
        Wide + Model("Channels = new[] { 11900 }, Outputs = 1"),                                       // 180001 × 11900 just fits
        Wide + Model("Symmetry = Symmetry.AllNeuron, Channels = new[] { 11900, 2 }, Outputs = 1"),
        Wide + Model("Channels = new[] { 2, 11900 }, Outputs = 3, Head = HeadKind.Equivariant"),
        Wide + Model("Symmetry = Symmetry.AllNeuron, Channels = new[] { 20000, 2 }, Outputs = 1"),
        Wide + Model("Channels = new[] { 1, 40000 }, Outputs = 1"),
        Wide + Model("Channels = new[] { 40000, 1 }, Outputs = 2, Head = HeadKind.Equivariant"),
        Wide + Model("Channels = new[] { 2 }, Outputs = 40000, Head = HeadKind.Equivariant"),
        Wide + Model("Symmetry = Symmetry.AllNeuron, Channels = new[] { 40000, 2 }, Outputs = 1"),
        "[InputNetwork] [Dense(1000, 1000)] [Dense(1000, 1)] public partial class N { } " + Model("Channels = new[] { 4000 }, Outputs = 1"),
        "[InputNetwork] [Conv2d(1, 1, 40000, 40000)] [Dense(1, 1)] public partial class N { } " + Model("Channels = new[] { 2 }, Outputs = 1"),
        "[InputNetwork] [Conv2d(int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue)] [Dense(int.MaxValue, 1)] public partial class N { }",
        Net + Model("Channels = new[] { 1 }, Outputs = int.MaxValue, Head = HeadKind.Equivariant"),
        Net + Model("Channels = new[] { int.MaxValue }, Outputs = 1"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1, HeadHidden = int.MaxValue"),
        Net + Model("Channels = new[] { 2 }, Outputs = int.MaxValue, HeadHidden = int.MaxValue, Pooling = HeadPooling.MeanAndMax"),
        // Type kinds.
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public static partial class M { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial record M { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial record struct M { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial struct M { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class M(int width) { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public abstract partial class M { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "file partial class M { }"),
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public static partial class N { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial record N { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial record struct N { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public readonly partial struct N { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public ref partial struct N { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N(int width) { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] file partial class N { }",
        // Containing types and namespaces.
        "public partial interface I { [InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N { } }",
        "public static partial class O { " + Net + Model("Channels = new[] { 2 }, Outputs = 1") + " }",
        "public partial record struct O { " + Net + " }",
        "public ref partial struct O { " + Net + " }",
        "namespace @event { " + Net + Model("Channels = new[] { 2 }, Outputs = 1") + " }",
        "namespace A.@class.B { " + Net + " }",
        // Members named like generated ones, and types named like their generated members.
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N { public int Depth; public int WeightCount; public int Widths; public int TensorNames; public int CreateLayers; public int CreateWeightSpace; public int Network; public int NetworkCuda; }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class N { public static int CreateWeightSpace(int x) => x; public static void CreateLayers(int x) { } }",
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class M { public int Configuration; public int CreateWeightSpace; public int CreateKernel; public class FusedKernel_1x2 { } public int CudaSources; public int CreateCudaKernel; public M(ulong x) { } }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class M { protected static int Configuration() => 1; }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class M { private M(ulong seed) { } }"),
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Network { }",
        "[InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class CreateLayers { }",
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class Configuration { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class FusedKernel_1x2 { }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class CudaSources { }"),
        // Valid neighbours: these must compile clean.
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public sealed partial class M { public override string ToString() => \"\"; public void Forward() { } public M() : this(7) { } }"),
        Net + Model("Channels = new[] { 2 }, Outputs = 1", "public partial class M { public static int CreateKernels; public int Depth; }"),
        "[InputNetwork] [Conv2d(1, 2, 3, 3)] [Dense(2, 1)] public partial class N { public int Network; } " + Model("Channels = new[] { 2 }, Outputs = 1"),
        "[InputNetwork(Omega0 = 1e30f, OutputOffset = -3.4e38f, Activation = InputActivation.Sine)] [Dense(1, 1)] public partial class N { }",
        // Image classifiers: overflowing and degenerate geometries, and valid extremes.
        "[InputNetwork(InputHeight = int.MaxValue, InputWidth = int.MaxValue)] [Conv2d(1, 2, 3, 3, Stride = int.MaxValue)] [Dense(2, 1)] public partial class N { }",
        "[InputNetwork(InputHeight = 46000, InputWidth = 46000)] [Conv2d(1, 2, 1, 1)] [Dense(2, 1)] public partial class N { }",
        "[InputNetwork(InputHeight = 5, InputWidth = 5)] [Conv2d(1, 2, 3, 3, Stride = int.MaxValue)] [Dense(2, 1)] public partial class N { }",
        "[InputNetwork(InputHeight = 1, InputWidth = 1)] [Dense(1, 1)] public partial class N { }",
        "[InputNetwork(InputHeight = 2, InputWidth = 3, Activation = InputActivation.Sine)] [Conv2d(1, 1, 2, 3)] [Dense(1, 2, Bias = false)] public partial class N { public int Network; }",
        "[InputNetwork(InputHeight = 4, InputWidth = 4)] [Conv2d(1, 2, 3, 3)] [Dense(2, 1)] public partial class N { public int Classifier; }",
        "[InputNetwork(InputHeight = 4, InputWidth = 4)] [Conv2d(1, 2, 3, 3)] [Dense(2, 1)] public partial class Classifier { }",
    }.Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(Declarations))]
    public void ValidOrAnLcDiagnostic_NeverAnErrorInAGeneratedFile(string declaration)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + declaration);
        string report = string.Join("\n", result.Run.Diagnostics.Concat(result.CompileDiagnostics));
        Assert.DoesNotContain(result.Run.Diagnostics, d => d.Id == "LC0099");
        var inGenerated = result.CompileDiagnostics.Where(d => d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true).ToList();
        Assert.True(inGenerated.Count == 0, "errors inside generated files:\n" + report);
        // Any error at all must come with an LC diagnostic that says what to change.
        if (!result.CompileDiagnostics.IsEmpty)
            Assert.True(result.Run.Diagnostics.Any(d => d.Id.StartsWith("LC", StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error),
                "compiler errors without an LC diagnostic:\n" + report);
        // An LC diagnostic is never reported for a declaration whose generated code would compile:
        // every LC error points into the user's source (or, for a metadata architecture, at the model).
        Assert.All(result.Run.Diagnostics, d => Assert.Equal("Source0.cs", d.Location.GetLineSpan().Path));
    }
}

/// <summary>
/// An architecture from another assembly is parsed by the model's pipeline (this compilation's architecture pipeline never
/// sees it); its problems land on the model's attribute, and a valid one generates the model.
/// </summary>
public class MetadataArchitectureTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ABrokenArchitectureFromAnotherAssemblyIsReportedAtTheModelAttribute(bool projectReference)
    {
        // Compiled without the generator: the library's own build would have reported LC0002 itself.
        var library = GeneratorHarness.Compile(GeneratorHarness.Usings + "namespace Lib; [InputNetwork(Omega0 = -2f)] [Dense(2, 3)] [Dense(3, 1)] public partial class Remote { }");
        Assert.Empty(library.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        const string model = "[EquivariantModel(typeof(Lib.Remote), Channels = new[] { 2 }, Outputs = 1)] public partial class M { }";
        var source = GeneratorHarness.Usings + model;
        // A project reference in an IDE is a compilation reference (its symbols keep their syntax); a build reads the DLL.
        var reference = ReferenceTo(library, projectReference);
        var user = GeneratorHarness.Compile(GeneratorHarness.CpuOnlyReferences.Add(reference), source);
        var result = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), user);

        var d = Assert.Single(result.Run.Diagnostics);
        Assert.Equal("LC0002", d.Id);
        Assert.Contains("Omega0 = -2f", d.GetMessage());
        Assert.Equal(source.IndexOf("EquivariantModel", StringComparison.Ordinal), d.Location.SourceSpan.Start);
        Assert.Empty(result.Run.Results.Single().GeneratedSources);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AValidArchitectureFromAnotherAssemblyGeneratesTheModel(bool projectReference)
    {
        // Built with the generator, as a library declaring an architecture is: the model calls its CreateWeightSpace.
        var library = GeneratorHarness.Run(GeneratorHarness.Usings + "namespace Lib; [InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Remote { }").Output;
        var reference = ReferenceTo(library, projectReference);
        var user = GeneratorHarness.Compile(GeneratorHarness.CpuOnlyReferences.Add(reference),
            GeneratorHarness.Usings + "[EquivariantModel(typeof(Lib.Remote), Channels = new[] { 2 }, Outputs = 1)] public partial class M { }");
        var result = GeneratorHarness.Run(GeneratorHarness.CreateDriver(), user);
        Assert.Empty(result.Run.Diagnostics);
        Assert.Contains(result.Run.Results.Single().GeneratedSources, s => s.HintName == "M.g.cs");
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
    }

    /// <summary>A project reference as an IDE sees it (the compilation, symbols keep their syntax) or as a build does (the DLL).</summary>
    private static MetadataReference ReferenceTo(Compilation library, bool projectReference)
    {
        if (projectReference) return library.ToMetadataReference();
        using var image = new MemoryStream();
        Assert.True(library.Emit(image).Success);
        return MetadataReference.CreateFromImage(image.ToArray());
    }
}
