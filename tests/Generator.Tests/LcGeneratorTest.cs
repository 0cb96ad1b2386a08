extern alias gen;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using LcGenerator = gen::LayerCompiler.Generator.LayerCompilerGenerator;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Roslyn's generator test, set up for LayerCompiler: the diagnostics expected are marked in the source
/// (<c>{|LC0003:…|}</c>), every other error of the compilation, generated sources included, fails the test.
/// The reference assemblies are the net10.0 targeting pack restored with the project (a &lt;PackageDownload&gt;),
/// never downloaded at test time; LayerCompiler's own assemblies (attributes, runtime, GPU backend) are added.
/// </summary>
public sealed class LcGeneratorTest : CSharpSourceGeneratorTest<LcGenerator, DefaultVerifier>
{
    public static readonly ReferenceAssemblies Net10 = new("net10.0",
        new PackageIdentity("Microsoft.NETCore.App.Ref", "10.0.12"), Path.Combine("ref", "net10.0"));

    private readonly LanguageVersion _language;

    public LcGeneratorTest(string source, LanguageVersion language = LanguageVersion.Latest)
    {
        _language = language;
        ReferenceAssemblies = Net10;
        TestState.Sources.Add(("Source0.cs", GeneratorHarness.Usings + source));
        foreach (var assembly in new[] { typeof(LayerCompiler.InputNetworkAttribute).Assembly, typeof(LayerCompiler.Runtime.Tensor).Assembly, typeof(LayerCompiler.Gpu.CudaDevice).Assembly })
            TestState.AdditionalReferences.Add(MetadataReference.CreateFromFile(assembly.Location));
        // The generated text is checked by the snapshot tests; here it must only compile clean (its errors would fail the test).
        TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
    }

    protected override ParseOptions CreateParseOptions() =>
        ((CSharpParseOptions)base.CreateParseOptions()).WithLanguageVersion(_language);

    protected override CompilationOptions CreateCompilationOptions() =>
        ((CSharpCompilationOptions)base.CreateCompilationOptions()).WithNullableContextOptions(_language >= LanguageVersion.CSharp8 ? NullableContextOptions.Enable : NullableContextOptions.Disable);

    /// <summary>Runs the generator on <paramref name="markedSource"/> (usings added) and verifies the marked diagnostics.</summary>
    public static Task VerifyAsync(string markedSource, LanguageVersion language = LanguageVersion.Latest) => new LcGeneratorTest(markedSource, language).RunAsync();
}
