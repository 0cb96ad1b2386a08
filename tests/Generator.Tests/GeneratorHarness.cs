extern alias gen;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using LcGenerator = gen::LayerCompiler.Generator.LayerCompilerGenerator;

namespace LayerCompiler.Generator.Tests;

/// <summary>Runs the generator through CSharpGeneratorDriver on in-memory sources.</summary>
public static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Where(p => Path.GetFileName(p).StartsWith("System.") || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        refs.Add(MetadataReference.CreateFromFile(typeof(LayerCompiler.InputNetworkAttribute).Assembly.Location));
        refs.Add(MetadataReference.CreateFromFile(typeof(LayerCompiler.Runtime.Tensor).Assembly.Location));
        refs.Add(MetadataReference.CreateFromFile(typeof(LayerCompiler.Gpu.CudaDevice).Assembly.Location));
        return refs.ToImmutableArray();
    });

    /// <summary>The references without the GPU backend (LayerCompiler.Gpu): a project that takes only the core runtime.</summary>
    public static ImmutableArray<MetadataReference> CpuOnlyReferences => References.Value
        .Where(r => !string.Equals(Path.GetFileName(r.Display), "LayerCompiler.Gpu.dll", StringComparison.Ordinal)).ToImmutableArray();

    /// <summary>The references plus the ILGPU backend (LayerCompiler.Ilgpu and ILGPU): a project that takes the ILGPU backend.</summary>
    public static ImmutableArray<MetadataReference> IlgpuReferences => References.Value
        .Add(MetadataReference.CreateFromFile(typeof(LayerCompiler.Ilgpu.IlgpuDevice).Assembly.Location))
        .Add(MetadataReference.CreateFromFile(typeof(global::ILGPU.Context).Assembly.Location));

    public static CSharpCompilation Compile(params string[] sources) => Compile(References.Value, sources);

    public static CSharpCompilation Compile(ImmutableArray<MetadataReference> references, params string[] sources) =>
        CSharpCompilation.Create("UserAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest), path: $"Source{i}.cs")),
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(new[] { new LcGenerator().AsSourceGenerator() },
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest));

    public sealed record Result(GeneratorDriver Driver, GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> CompileDiagnostics);

    public static Result Run(params string[] sources) => Run(CreateDriver(), Compile(sources));

    public static Result Run(GeneratorDriver driver, Compilation input)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(input, out var output, out var diags);
        var run = driver.GetRunResult();
        Assert.Empty(run.Results.SelectMany(r => r.Exception == null ? Array.Empty<Exception>() : new[] { r.Exception }));
        Assert.DoesNotContain(diags, d => d.Id is "CS8785" or "AD0001");
        return new Result(driver, run, output, output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray());
    }

    public const string Usings = "using LayerCompiler;\n";
}
