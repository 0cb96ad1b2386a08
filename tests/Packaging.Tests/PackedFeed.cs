using System.IO.Compression;
using System.Xml.Linq;

namespace LayerCompiler.Packaging.Tests;

/// <summary>
/// The packages, packed once per test run with the README's command into a fresh folder feed. The version is unique
/// to the run, so no package from an earlier run (in a NuGet cache or anywhere else) can stand in for these.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    private readonly TempDirectory _root = new();

    public string Version { get; } = "0.0.0-t" + Guid.NewGuid().ToString("N");

    public string FeedPath => _root.File("feed");

    public string Root => _root.Path;

    public PackedFeed()
    {
        // Outputs go to a private artifacts folder: the repository's bin/obj (which the running tests were built
        // from) are left alone and nothing is reused from them.
        Dotnet.Run(Dotnet.RepositoryRoot, null,
            "pack", "LayerCompiler.Packages.slnf", "-c", "Release", "-o", FeedPath,
            "--artifacts-path", _root.File("artifacts"), "-p:Version=" + Version).ShouldSucceed();
    }

    public string PackagePath(string id) => Path.Combine(FeedPath, $"{id}.{Version}.nupkg");

    /// <summary>Entry names of a package, sorted, '/'-separated.</summary>
    public string[] Entries(string id)
    {
        using var zip = ZipFile.OpenRead(PackagePath(id));
        return zip.Entries.Select(e => e.FullName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The dependencies of a package's nuspec: (id, version, exclude attribute or "").</summary>
    public (string Id, string Version, string Exclude)[] Dependencies(string id)
    {
        using var zip = ZipFile.OpenRead(PackagePath(id));
        using var stream = zip.GetEntry(id + ".nuspec")!.Open();
        var nuspec = XDocument.Load(stream);
        return nuspec.Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => ((string)e.Attribute("id")!, (string)e.Attribute("version")!, (string?)e.Attribute("exclude") ?? ""))
            .ToArray();
    }

    public void Dispose() => _root.Dispose();
}
