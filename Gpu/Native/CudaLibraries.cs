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
using System.Reflection;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

namespace LayerCompiler.Gpu.Native;

/// <summary>
/// The one <see cref="NativeLibrary.SetDllImportResolver"/> of the LayerCompiler.Runtime assembly.
/// A resolver can be set only once per assembly, so every native library this assembly imports under a
/// logical name (today <c>"cuda"</c> and <c>"nvrtc"</c>; later e.g. <c>"cublas"</c>) is registered here with
/// <see cref="Register"/> and resolved by the same callback. Names that are not registered fall back to the
/// runtime's default probing. See <see cref="LibrarySearch"/> for the search order.
/// </summary>
public static class CudaLibraries
{
    private static readonly object Gate = new();
    private static bool _resolverSet;
    private static readonly Dictionary<string, Func<IReadOnlyList<string>>> Providers = new(StringComparer.Ordinal)
    {
        [LibrarySearch.CudaLogicalName] = () => LibrarySearch.CudaCandidates(LibrarySearchEnvironment.Current),
        [LibrarySearch.NvrtcLogicalName] = () => LibrarySearch.NvrtcCandidates(LibrarySearchEnvironment.Current, DriverMajorHint),
    };
    private static readonly Dictionary<string, LoadOutcome> Loaded = new(StringComparer.Ordinal);

    private sealed record LoadOutcome(IntPtr Handle, string? Path, IReadOnlyList<string> Tried);

    /// <summary>
    /// The driver's major CUDA version once known (set when a device is opened); the NVRTC search uses it to
    /// prefer an NVRTC that is not newer than the driver.
    /// </summary>
    public static int? DriverMajorHint { get; internal set; }

    /// <summary>
    /// Installs the assembly's import resolver once; safe to call from any thread, any number of times.
    /// Every class holding imports calls it from its static constructor.
    /// </summary>
    internal static void EnsureResolver()
    {
        if (Volatile.Read(ref _resolverSet)) return;
        lock (Gate)
        {
            if (_resolverSet) return;
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
            Volatile.Write(ref _resolverSet, true);
        }
    }

    /// <summary>
    /// Adds (or replaces, before its first load) the candidate list for a logical library name used in this
    /// assembly's <c>[LibraryImport]</c> attributes.
    /// </summary>
    internal static void Register(string logicalName, Func<IReadOnlyList<string>> candidates)
    {
        lock (Gate)
        {
            if (Loaded.ContainsKey(logicalName))
                throw new InvalidOperationException($"Native library '{logicalName}' was already resolved; register it before first use.");
            Providers[logicalName] = candidates;
        }
        EnsureResolver();
    }

    /// <summary>Candidates that would be tried, in order, for a registered logical name.</summary>
    public static IReadOnlyList<string> Candidates(string logicalName)
    {
        Func<IReadOnlyList<string>>? provider;
        lock (Gate) Providers.TryGetValue(logicalName, out provider);
        return provider is null ? Array.Empty<string>() : provider();
    }

    /// <summary>
    /// Loads the library behind a logical name (once; later calls return the same outcome).
    /// On failure <paramref name="reason"/> says what was searched ("searched N candidates: a, b, …").
    /// </summary>
    public static bool TryLoad(string logicalName, out string? path, out string reason)
    {
        EnsureResolver();
        var outcome = LoadOnce(logicalName);
        path = outcome?.Path;
        if (outcome is null) { reason = $"'{logicalName}' is not a registered native library"; return false; }
        if (outcome.Handle != IntPtr.Zero) { reason = ""; return true; }
        reason = $"searched {outcome.Tried.Count} candidates: {Summarize(outcome.Tried)}";
        return false;
    }

    /// <summary>The file the logical name was loaded from (the soname when the system loader found it), or null.</summary>
    public static string? LoadedPath(string logicalName)
    {
        lock (Gate) return Loaded.TryGetValue(logicalName, out var o) && o.Handle != IntPtr.Zero ? o.Path : null;
    }

    internal static string DisplayName(string logicalName) => logicalName switch
    {
        LibrarySearch.CudaLogicalName => "libcuda.so.1",
        LibrarySearch.NvrtcLogicalName => "libnvrtc.so (13 or 12)",
        _ => logicalName,
    };

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        var outcome = LoadOnce(libraryName);
        return outcome?.Handle ?? IntPtr.Zero; // Zero: let the runtime probe as usual (and report DllNotFoundException).
    }

    private static LoadOutcome? LoadOnce(string logicalName)
    {
        Func<IReadOnlyList<string>>? provider;
        lock (Gate)
        {
            if (Loaded.TryGetValue(logicalName, out var done)) return done;
            if (!Providers.TryGetValue(logicalName, out provider)) return null;
        }
        // Search outside the lock is fine: loading twice yields the same handle, and the first record wins.
        var candidates = provider();
        var outcome = new LoadOutcome(IntPtr.Zero, null, candidates);
        foreach (string candidate in candidates)
        {
            if (Path.IsPathRooted(candidate) && !File.Exists(candidate)) continue;
            if (logicalName == LibrarySearch.NvrtcLogicalName && Path.IsPathRooted(candidate)) PreloadNvrtcBuiltins(candidate);
            if (NativeLibrary.TryLoad(candidate, out IntPtr handle))
            {
                outcome = new LoadOutcome(handle, candidate, candidates);
                break;
            }
        }
        lock (Gate)
        {
            if (Loaded.TryGetValue(logicalName, out var first)) return first;
            Loaded[logicalName] = outcome;
            return outcome;
        }
    }

    /// <summary>
    /// NVRTC opens <c>libnvrtc-builtins.so.X.Y</c> by soname at compile time. Some wheels lack a RUNPATH, so a
    /// directory that is not on LD_LIBRARY_PATH would not be searched; loading the builtins from the same
    /// directory first makes the later lookup by soname find the already-loaded copy.
    /// </summary>
    private static void PreloadNvrtcBuiltins(string nvrtcPath)
    {
        try
        {
            string? dir = Path.GetDirectoryName(nvrtcPath);
            if (dir is null || !Directory.Exists(dir)) return;
            int? major = LibrarySearch.NvrtcMajorOf(nvrtcPath);
            foreach (string b in LibrarySearch.SortByVersionDescending(Directory.EnumerateFiles(dir, "libnvrtc-builtins*.so*")))
            {
                string name = Path.GetFileName(b);
                int so = name.IndexOf(".so.", StringComparison.Ordinal);
                if (major is int m && so >= 0 && !name.Substring(so + 4).StartsWith(m + ".", StringComparison.Ordinal)
                    && name.Substring(so + 4) != m.ToString()) continue;
                if (NativeLibrary.TryLoad(b, out _)) return;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static string Summarize(IReadOnlyList<string> tried)
    {
        const int Shown = 4;
        string head = string.Join(", ", tried.Take(Shown));
        return tried.Count <= Shown ? head : head + ", ...";
    }

}
