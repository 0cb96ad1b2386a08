using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace LayerCompiler.Gpu.Native;

/// <summary>
/// What the library search may look at: environment variables and the file system. Abstracted so the
/// candidate order can be tested without touching the real machine.
/// </summary>
public sealed class LibrarySearchEnvironment
{
    public required Func<string, string?> GetEnvironmentVariable { get; init; }
    public required Func<string, bool> DirectoryExists { get; init; }
    /// <summary>(directory, search pattern) → full paths of matching files; empty when the directory is missing.</summary>
    public required Func<string, string, IEnumerable<string>> EnumerateFiles { get; init; }
    /// <summary>(directory, search pattern) → full paths of matching sub-directories; empty when the directory is missing.</summary>
    public required Func<string, string, IEnumerable<string>> EnumerateDirectories { get; init; }
    public string? HomeDirectory { get; init; }

    /// <summary>The real process environment and file system.</summary>
    public static LibrarySearchEnvironment Current { get; } = new()
    {
        GetEnvironmentVariable = Environment.GetEnvironmentVariable,
        DirectoryExists = Directory.Exists,
        EnumerateFiles = (dir, pattern) => SafeEnumerate(() => Directory.EnumerateFiles(dir, pattern)),
        EnumerateDirectories = (dir, pattern) => SafeEnumerate(() => Directory.EnumerateDirectories(dir, pattern)),
        HomeDirectory = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
    };

    private static IEnumerable<string> SafeEnumerate(Func<IEnumerable<string>> list)
    {
        try { return list().ToArray(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return Array.Empty<string>(); }
    }
}

/// <summary>
/// Ordered candidate lists for the native libraries behind the logical names <c>"cuda"</c> and <c>"nvrtc"</c>.
/// A candidate is either a bare soname (handed to the system loader, which applies LD_LIBRARY_PATH, the
/// ld.so cache and the default directories) or an absolute path. The first candidate that loads wins.
/// <para>Order for <c>cuda</c> (the driver):</para>
/// <list type="number">
/// <item><c>$LAYERCOMPILER_LIBCUDA</c> (an explicit path), if set;</item>
/// <item><c>libcuda.so.1</c> through the system loader;</item>
/// <item><c>libcuda.so.1</c> in each LD_LIBRARY_PATH entry, then /usr/lib/x86_64-linux-gnu, /usr/lib64, /usr/lib, /usr/lib/wsl/lib;</item>
/// <item><c>libcuda.so</c> (the development link) the same way.</item>
/// </list>
/// <para>Order for <c>nvrtc</c>:</para>
/// <list type="number">
/// <item><c>$LAYERCOMPILER_NVRTC</c> (an explicit path), if set;</item>
/// <item><c>libnvrtc.so.13</c>, <c>libnvrtc.so.12</c>, <c>libnvrtc.so</c> through the system loader;</item>
/// <item>the same three names in each toolkit directory: LD_LIBRARY_PATH entries, <c>$CUDA_HOME/lib64</c>,
/// <c>$CUDA_PATH/lib64</c>, <c>$CONDA_PREFIX/lib</c>, /usr/local/cuda/lib64, /usr/local/cuda-X.Y/lib64 (newest first),
/// /opt/cuda/lib64, /opt/conda/lib, /usr/lib/x86_64-linux-gnu;</item>
/// <item>fallback: any <c>libnvrtc.so.1*</c> in those directories and in Python wheel directories
/// (<c>site-packages/nvidia/cu13/lib</c>, <c>nvidia/cuda_nvrtc/lib</c>, <c>nvidia/cu12/lib</c>, and
/// <c>torch/lib</c> for hashed <c>libnvrtc-*.so.1*</c>), newest version first. Site-packages directories are
/// PYTHONPATH entries and <c>lib/python3*/{site,dist}-packages</c> under $VIRTUAL_ENV, $CONDA_PREFIX, the parent of
/// every <c>.../bin</c> entry of PATH, ~/.local, ~/.venv, ~/venv, ~/.pyenv/versions/*, /usr/local, /usr, /opt/conda
/// and every /opt/* directory.</item>
/// </list>
/// When the driver's major version is known, NVRTC candidates whose major version is newer than the driver
/// (their CUBIN may not load) are moved after all others, keeping their relative order.
/// </summary>
public static class LibrarySearch
{
    public const string CudaLogicalName = "cuda";
    public const string NvrtcLogicalName = "nvrtc";

    public static readonly string[] NvrtcSonames = { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so" };

    private static readonly string[] SystemLibDirs = { "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/lib/wsl/lib" };

    public static IReadOnlyList<string> CudaCandidates(LibrarySearchEnvironment env)
    {
        var list = new List<string>();
        AddIfSet(list, env.GetEnvironmentVariable("LAYERCOMPILER_LIBCUDA"));
        var dirs = SplitPath(env.GetEnvironmentVariable("LD_LIBRARY_PATH")).Concat(SystemLibDirs).ToList();
        foreach (string name in new[] { "libcuda.so.1", "libcuda.so" })
        {
            list.Add(name);
            foreach (string d in dirs) list.Add(Path.Combine(d, name));
        }
        return Dedup(list);
    }

    public static IReadOnlyList<string> NvrtcCandidates(LibrarySearchEnvironment env, int? driverMajor = null)
    {
        var list = new List<string>();
        AddIfSet(list, env.GetEnvironmentVariable("LAYERCOMPILER_NVRTC"));
        list.AddRange(NvrtcSonames);

        var toolkitDirs = ToolkitLibDirs(env);
        foreach (string d in toolkitDirs)
            foreach (string name in NvrtcSonames)
                list.Add(Path.Combine(d, name));

        // Fallback: versioned files found by listing directories, newest first within each directory.
        foreach (string d in toolkitDirs.Where(env.DirectoryExists))
            list.AddRange(SortByVersionDescending(env.EnumerateFiles(d, "libnvrtc.so.1*")));
        foreach (string site in SitePackagesDirs(env))
        {
            foreach (string sub in new[] { "nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib", "nvidia/cu12/lib" })
            {
                string d = Path.Combine(site, sub);
                if (env.DirectoryExists(d)) list.AddRange(SortByVersionDescending(env.EnumerateFiles(d, "libnvrtc.so.1*")));
            }
            string torch = Path.Combine(site, "torch/lib");
            if (env.DirectoryExists(torch))
                list.AddRange(SortByVersionDescending(env.EnumerateFiles(torch, "libnvrtc-*.so.1*")
                    .Where(p => !Path.GetFileName(p).Contains("builtins", StringComparison.Ordinal))));
        }

        var deduped = Dedup(list);
        if (driverMajor is int dm)
        {
            // Stable partition: NVRTC newer than the driver goes last.
            var ok = deduped.Where(c => !(NvrtcMajorOf(c) is int m && m > dm));
            var newer = deduped.Where(c => NvrtcMajorOf(c) is int m && m > dm);
            return ok.Concat(newer).ToArray();
        }
        return deduped;
    }

    /// <summary>Directories where a CUDA toolkit keeps its libraries, in search order.</summary>
    public static IReadOnlyList<string> ToolkitLibDirs(LibrarySearchEnvironment env)
    {
        var dirs = new List<string>();
        dirs.AddRange(SplitPath(env.GetEnvironmentVariable("LD_LIBRARY_PATH")));
        foreach (string v in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            string? root = env.GetEnvironmentVariable(v);
            if (!string.IsNullOrWhiteSpace(root)) dirs.Add(Path.Combine(root, "lib64"));
        }
        string? conda = env.GetEnvironmentVariable("CONDA_PREFIX");
        if (!string.IsNullOrWhiteSpace(conda)) dirs.Add(Path.Combine(conda, "lib"));
        dirs.Add("/usr/local/cuda/lib64");
        if (env.DirectoryExists("/usr/local"))
        {
            var versioned = env.EnumerateDirectories("/usr/local", "cuda-*")
                .OrderByDescending(d => ParseVersion(Path.GetFileName(d).Substring("cuda-".Length)), VersionComparer.Instance)
                .ThenBy(d => d, StringComparer.Ordinal);
            dirs.AddRange(versioned.Select(d => Path.Combine(d, "lib64")));
        }
        dirs.Add("/opt/cuda/lib64");
        dirs.Add("/opt/conda/lib");
        dirs.Add("/usr/lib/x86_64-linux-gnu");
        return Dedup(dirs);
    }

    /// <summary>Python site-packages directories that may hold NVIDIA wheels (PyTorch brings NVRTC this way).</summary>
    public static IReadOnlyList<string> SitePackagesDirs(LibrarySearchEnvironment env)
    {
        var dirs = new List<string>();
        dirs.AddRange(SplitPath(env.GetEnvironmentVariable("PYTHONPATH")));
        var prefixes = new List<string>();
        foreach (string v in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
        {
            string? p = env.GetEnvironmentVariable(v);
            if (!string.IsNullOrWhiteSpace(p)) prefixes.Add(p);
        }
        // Interpreters on PATH: a ".../bin" entry names the prefix above it (a venv, conda, pyenv, /usr/local).
        foreach (string p in SplitPath(env.GetEnvironmentVariable("PATH")))
        {
            string trimmed = p.TrimEnd('/');
            if (trimmed.EndsWith("/bin", StringComparison.Ordinal) && trimmed.Length > 4) prefixes.Add(trimmed[..^4]);
        }
        if (!string.IsNullOrEmpty(env.HomeDirectory))
        {
            string home = env.HomeDirectory;
            prefixes.Add(Path.Combine(home, ".local"));
            prefixes.Add(Path.Combine(home, ".venv"));
            prefixes.Add(Path.Combine(home, "venv"));
            string pyenv = Path.Combine(home, ".pyenv", "versions");
            if (env.DirectoryExists(pyenv))
                prefixes.AddRange(env.EnumerateDirectories(pyenv, "*").OrderByDescending(d => d, StringComparer.Ordinal));
        }
        prefixes.Add("/usr/local");
        prefixes.Add("/usr");
        prefixes.Add("/opt/conda");
        if (env.DirectoryExists("/opt"))
            prefixes.AddRange(env.EnumerateDirectories("/opt", "*").OrderBy(d => d, StringComparer.Ordinal));

        foreach (string prefix in Dedup(prefixes))
        {
            string lib = Path.Combine(prefix, "lib");
            if (!env.DirectoryExists(lib)) continue;
            var pythons = env.EnumerateDirectories(lib, "python3*")
                .OrderByDescending(d => ParseVersion(Path.GetFileName(d).Substring("python".Length)), VersionComparer.Instance)
                .ThenBy(d => d, StringComparer.Ordinal);
            foreach (string py in pythons)
                foreach (string kind in new[] { "site-packages", "dist-packages" })
                {
                    string d = Path.Combine(py, kind);
                    if (env.DirectoryExists(d)) dirs.Add(d);
                }
        }
        return Dedup(dirs);
    }

    /// <summary>The NVRTC major version encoded in a candidate's file name (<c>libnvrtc.so.12.8.93</c> → 12), or null.</summary>
    public static int? NvrtcMajorOf(string candidate)
    {
        string name = Path.GetFileName(candidate);
        int i = name.IndexOf(".so.", StringComparison.Ordinal);
        if (i < 0 || !name.StartsWith("libnvrtc", StringComparison.Ordinal)) return null;
        string rest = name.Substring(i + 4);
        int end = 0;
        while (end < rest.Length && char.IsAsciiDigit(rest[end])) end++;
        return end > 0 && int.TryParse(rest.AsSpan(0, end), out int m) ? m : null;
    }

    internal static IEnumerable<string> SortByVersionDescending(IEnumerable<string> paths) =>
        paths.OrderByDescending(p => VersionAfterSo(Path.GetFileName(p)), VersionComparer.Instance)
             .ThenBy(p => p, StringComparer.Ordinal);

    private static int[] VersionAfterSo(string name)
    {
        int i = name.IndexOf(".so.", StringComparison.Ordinal);
        return i < 0 ? Array.Empty<int>() : ParseVersion(name.Substring(i + 4));
    }

    private static int[] ParseVersion(string s)
    {
        var parts = new List<int>();
        foreach (string p in s.Split('.'))
        {
            if (!int.TryParse(p, out int v)) break;
            parts.Add(v);
        }
        return parts.ToArray();
    }

    private sealed class VersionComparer : IComparer<int[]>
    {
        public static readonly VersionComparer Instance = new();
        public int Compare(int[]? a, int[]? b)
        {
            a ??= Array.Empty<int>(); b ??= Array.Empty<int>();
            for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
            {
                int x = i < a.Length ? a[i] : -1, y = i < b.Length ? b[i] : -1;
                if (x != y) return x.CompareTo(y);
            }
            return 0;
        }
    }

    private static IEnumerable<string> SplitPath(string? value) =>
        string.IsNullOrEmpty(value) ? Array.Empty<string>()
            : value.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void AddIfSet(List<string> list, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value)) list.Add(value.Trim());
    }

    private static string[] Dedup(IEnumerable<string> items)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return items.Where(seen.Add).ToArray();
    }
}
