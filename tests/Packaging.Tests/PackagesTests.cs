using System.Globalization;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace LayerCompiler.Packaging.Tests;

/// <summary>
/// <c>dotnet pack</c> makes the packages the README's install section names, and a fresh project that takes them
/// with PackageReference builds and runs the README's quick start: the generator arrives with the runtime package.
/// </summary>
public sealed class PackagesTests(PackedFeed feed) : IClassFixture<PackedFeed>
{
    private const string GeneratorEntry = "analyzers/dotnet/cs/LayerCompiler.Generator.dll";

    [Fact]
    public void TheFeedHoldsSpecsRuntimeGpuAndIlgpuOnly()
    {
        var ids = Directory.GetFiles(feed.FeedPath, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "Gpu", "Ilgpu", "Runtime", "Specs" }.Select(n => $"LayerCompiler.{n}.{feed.Version}.nupkg"), ids);
    }

    [Fact]
    public void TheRuntimePackageCarriesTheGeneratorAsAnAnalyzerAndDependsOnSpecs()
    {
        var entries = feed.Entries("LayerCompiler.Runtime");
        Assert.Contains(GeneratorEntry, entries);
        Assert.Contains("lib/net10.0/LayerCompiler.Runtime.dll", entries);
        // The generator is a compiler plug-in, never something the user's code compiles against.
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && e.EndsWith("Generator.dll", StringComparison.Ordinal));
        // Specs at the same version; the generator is no dependency (third-party dependencies such as System.Numerics.Tensors may come and go).
        Assert.Equal(new[] { ("LayerCompiler.Specs", feed.Version) },
            feed.Dependencies("LayerCompiler.Runtime").Where(d => d.Id.StartsWith("LayerCompiler.", StringComparison.Ordinal)).Select(d => (d.Id, d.Version)));
    }

    [Fact]
    public void TheGeneratorIsBuiltAgainstARoslynTheSdkLoads()
    {
        // The SDK's compiler silently skips a generator built against a newer Roslyn than its own (CS9057).
        using var zip = ZipFile.OpenRead(feed.PackagePath("LayerCompiler.Runtime"));
        using var copy = new MemoryStream();
        using (var s = zip.GetEntry(GeneratorEntry)!.Open()) s.CopyTo(copy);
        copy.Position = 0;
        using var pe = new PEReader(copy);
        var md = pe.GetMetadataReader();
        var roslyn = md.AssemblyReferences.Select(md.GetAssemblyReference)
            .Single(r => md.GetString(r.Name) == "Microsoft.CodeAnalysis");
        Assert.True(roslyn.Version <= new Version(4, 14, 0, 0), $"the generator references Microsoft.CodeAnalysis {roslyn.Version}; keep Microsoft.CodeAnalysis.CSharp at 4.14.0 in Generator.csproj");
    }

    [Fact]
    public void TheGpuPackageLetsTheGeneratorFlowToItsUsers()
    {
        // The generator emits the CUDA sources in projects that reference LayerCompiler.Gpu; one that references only
        // that package must still get the generator through its dependency on the runtime package.
        var runtime = Assert.Single(feed.Dependencies("LayerCompiler.Gpu"), d => d.Id == "LayerCompiler.Runtime");
        Assert.Equal(feed.Version, runtime.Version);
        Assert.DoesNotContain("Analyzers", runtime.Exclude, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AFreshProjectTakesThePackagesAndRunsTheQuickStart()
    {
        string project = Path.Combine(feed.Root, "consumer");
        string packages = Path.Combine(feed.Root, "packages");
        Directory.CreateDirectory(project);
        // The folder feed is added to the machine's sources, which stay for the packages' own dependencies; so does the
        // machine's NuGet cache as a folder feed, so that those restore offline too. Neither can hold this run's version.
        string machineCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache
            ? cache : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string cacheSource = Directory.Exists(machineCache) ? $"""<add key="machine-nuget-cache" value="{machineCache}" />""" : "";
        File.WriteAllText(Path.Combine(project, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="layercompiler-test-feed" value="{feed.FeedPath}" />
                {cacheSource}
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(project, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <!-- As the repository builds its sample: numbers print the same in every culture. -->
                <InvariantGlobalization>true</InvariantGlobalization>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="LayerCompiler.Runtime" Version="{feed.Version}" />
              </ItemGroup>
            </Project>
            """);
        // The README's quick start as a program, exactly as the repository's sample runs it.
        File.Copy(Path.Combine(Dotnet.RepositoryRoot, "samples", "Quickstart", "Program.cs"), Path.Combine(project, "Program.cs"));

        // A private packages folder: the machine's NuGet cache is neither read for LayerCompiler nor filled with test versions.
        var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = packages };
        Dotnet.Run(project, environment, "build", "-c", "Release").ShouldSucceed();
        Assert.True(Directory.Exists(Path.Combine(packages, "layercompiler.runtime", feed.Version)), "LayerCompiler.Runtime was not restored into the private packages folder");
        var run = Dotnet.Run(project, environment, "run", "--no-build", "-c", "Release").ShouldSucceed();

        // Siren 2→32→32→1: (2+1)·32 + (32+1)·32 + (32+1)·1 weights.
        Assert.Contains("Weight space of Siren: 1185 weights in 6 tensors", run.Output);
        var invariance = Regex.Match(run.Output, @"max \|f\(x\) − f\(g·x\)\| under a random hidden-neuron permutation: (\S+)");
        Assert.True(invariance.Success, "the quick start did not print its invariance check\n" + run.Describe());
        double maxDiff = double.Parse(invariance.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(maxDiff < 1e-4, $"the packaged model is not invariant: max |f(x) − f(g·x)| = {maxDiff}\n{run.Describe()}");
        Assert.Matches(@"cross-entropy \d+\.\d{4}; parameter gradient norm", run.Output);
        Assert.Matches(@"INR 0 at \(−1,−1\), \(0,0\), \(1,1\): ", run.Output);
    }
}
