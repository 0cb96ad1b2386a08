using System.Runtime.InteropServices;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu.Tests;

/// <summary>Tests of the CUDA runtime that need no GPU and run everywhere.</summary>
public class LibrarySearchTests
{
    /// <summary>A fake machine: a set of directories and files, and environment variables.</summary>
    private static LibrarySearchEnvironment FakeEnv(Dictionary<string, string> vars, string[] dirs, string[] files, string? home = "/home/u")
    {
        var dirSet = new HashSet<string>(dirs);
        IEnumerable<string> Match(IEnumerable<string> items, string dir, string pattern)
        {
            var rx = new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*") + "$");
            return items.Where(p => Path.GetDirectoryName(p) == dir && rx.IsMatch(Path.GetFileName(p)));
        }
        return new LibrarySearchEnvironment
        {
            GetEnvironmentVariable = n => vars.TryGetValue(n, out var v) ? v : null,
            DirectoryExists = dirSet.Contains,
            EnumerateFiles = (d, p) => Match(files, d, p).ToArray(),
            EnumerateDirectories = (d, p) => Match(dirs, d, p).ToArray(),
            HomeDirectory = home,
        };
    }

    [Fact]
    public void CudaCandidatesStartWithTheSonameThenLdLibraryPathThenSystemDirs()
    {
        var env = FakeEnv(new() { ["LD_LIBRARY_PATH"] = "/drv/a:/drv/b" }, Array.Empty<string>(), Array.Empty<string>());
        var c = LibrarySearch.CudaCandidates(env);
        Assert.Equal("libcuda.so.1", c[0]);
        Assert.Equal("/drv/a/libcuda.so.1", c[1]);
        Assert.Equal("/drv/b/libcuda.so.1", c[2]);
        Assert.Equal("/usr/lib/x86_64-linux-gnu/libcuda.so.1", c[3]);
        Assert.True(c.ToList().IndexOf("libcuda.so") > c.ToList().IndexOf("/usr/lib/wsl/lib/libcuda.so.1"));
        Assert.Equal(c.Count, c.Distinct().Count());
    }

    [Fact]
    public void ExplicitOverridesComeFirst()
    {
        var env = FakeEnv(new() { ["LAYERCOMPILER_LIBCUDA"] = "/x/libcuda.so.1", ["LAYERCOMPILER_NVRTC"] = "/y/libnvrtc.so.12" },
            Array.Empty<string>(), Array.Empty<string>());
        Assert.Equal("/x/libcuda.so.1", LibrarySearch.CudaCandidates(env)[0]);
        Assert.Equal("/y/libnvrtc.so.12", LibrarySearch.NvrtcCandidates(env)[0]);
    }

    [Fact]
    public void NvrtcCandidateOrder()
    {
        var env = FakeEnv(
            new() { ["LD_LIBRARY_PATH"] = "/ld", ["CUDA_HOME"] = "/cuda-home" },
            new[]
            {
                "/usr/local", "/usr/local/cuda-12.4", "/usr/local/cuda-12.10", "/usr/local/cuda-11.8",
                "/usr/local/lib", "/usr/local/lib/python3.11", "/usr/local/lib/python3.11/dist-packages",
                "/usr/local/lib/python3.11/dist-packages/nvidia/cuda_nvrtc/lib",
                "/usr/local/lib/python3.11/dist-packages/nvidia/cu13/lib",
                "/usr/local/lib/python3.11/dist-packages/torch/lib",
                "/ld",
            },
            new[]
            {
                "/usr/local/lib/python3.11/dist-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
                "/usr/local/lib/python3.11/dist-packages/nvidia/cu13/lib/libnvrtc.so.13",
                "/usr/local/lib/python3.11/dist-packages/torch/lib/libnvrtc-1a2b3c.so.12",
                "/usr/local/lib/python3.11/dist-packages/torch/lib/libnvrtc-builtins-1a2b3c.so.12.1",
                "/ld/libnvrtc.so.12.1.105", "/ld/libnvrtc.so.12.4.99",
            });
        var c = LibrarySearch.NvrtcCandidates(env).ToList();

        // System loader first, newest major first.
        Assert.Equal(new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so" }, c.Take(3));
        // Then toolkit directories: LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda, then versioned toolkits newest first.
        int Idx(string s) { int i = c.IndexOf(s); Assert.True(i >= 0, $"missing {s}"); return i; }
        Assert.True(Idx("/ld/libnvrtc.so.13") < Idx("/cuda-home/lib64/libnvrtc.so.13"));
        Assert.True(Idx("/cuda-home/lib64/libnvrtc.so") < Idx("/usr/local/cuda/lib64/libnvrtc.so.13"));
        Assert.True(Idx("/usr/local/cuda/lib64/libnvrtc.so") < Idx("/usr/local/cuda-12.10/lib64/libnvrtc.so.13"));
        Assert.True(Idx("/usr/local/cuda-12.10/lib64/libnvrtc.so") < Idx("/usr/local/cuda-12.4/lib64/libnvrtc.so.13"));
        Assert.True(Idx("/usr/local/cuda-12.4/lib64/libnvrtc.so") < Idx("/usr/local/cuda-11.8/lib64/libnvrtc.so.13"));
        // Then the fallbacks found by listing: versioned files newest first, then wheels (cu13 before cuda_nvrtc), then torch.
        Assert.True(Idx("/usr/lib/x86_64-linux-gnu/libnvrtc.so") < Idx("/ld/libnvrtc.so.12.4.99"));
        Assert.True(Idx("/ld/libnvrtc.so.12.4.99") < Idx("/ld/libnvrtc.so.12.1.105"));
        string site = "/usr/local/lib/python3.11/dist-packages/";
        Assert.True(Idx("/ld/libnvrtc.so.12.1.105") < Idx(site + "nvidia/cu13/lib/libnvrtc.so.13"));
        Assert.True(Idx(site + "nvidia/cu13/lib/libnvrtc.so.13") < Idx(site + "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"));
        Assert.Equal(c.Count - 1, Idx(site + "torch/lib/libnvrtc-1a2b3c.so.12"));
        Assert.DoesNotContain(c, p => p.Contains("builtins"));
        Assert.Equal(c.Count, c.Distinct().Count());
    }

    [Fact]
    public void NvrtcNewerThanTheDriverGoesLast()
    {
        var env = FakeEnv(new(), Array.Empty<string>(), Array.Empty<string>());
        var plain = LibrarySearch.NvrtcCandidates(env).ToList();
        var withDriver12 = LibrarySearch.NvrtcCandidates(env, driverMajor: 12).ToList();
        Assert.Equal("libnvrtc.so.13", plain[0]);
        Assert.Equal("libnvrtc.so.12", withDriver12[0]);
        Assert.Equal("libnvrtc.so", withDriver12[1]);
        Assert.All(withDriver12.SkipWhile(p => LibrarySearch.NvrtcMajorOf(p) != 13), p => Assert.Equal(13, LibrarySearch.NvrtcMajorOf(p)));
        Assert.Equal(plain.OrderBy(x => x), withDriver12.OrderBy(x => x));
        Assert.Equal(plain, LibrarySearch.NvrtcCandidates(env, driverMajor: 13));
    }

    [Theory]
    [InlineData("libnvrtc.so.12", 12)]
    [InlineData("/a/b/libnvrtc.so.13.0.48", 13)]
    [InlineData("/t/libnvrtc-abc123.so.12", 12)]
    [InlineData("libnvrtc.so", null)]
    [InlineData("libcuda.so.1", null)]
    public void NvrtcMajorFromFileName(string path, int? major) => Assert.Equal(major, LibrarySearch.NvrtcMajorOf(path));

    [Fact]
    public void RegisteredNamesHaveCandidates()
    {
        var cuda = CudaLibraries.Candidates("cuda");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LAYERCOMPILER_LIBCUDA"))) Assert.Equal("libcuda.so.1", cuda[0]);
        else Assert.Equal("libcuda.so.1", cuda[1]);
        Assert.Contains("libnvrtc.so.12", CudaLibraries.Candidates("nvrtc"));
        Assert.Empty(CudaLibraries.Candidates("not-a-library"));
    }
}

public class CubinCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lc-cubin-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void KeyChangesWithEachInput()
    {
        string[] opts = { "--gpu-arch=sm_90", "-std=c++17" };
        string k = CubinCache.ComputeKey("src", opts, "sm_90", "12.8");
        Assert.Equal(64, k.Length);
        Assert.Equal(k, CubinCache.ComputeKey("src", (string[])opts.Clone(), "sm_90", "12.8"));
        var others = new[]
        {
            CubinCache.ComputeKey("src ", opts, "sm_90", "12.8"),
            CubinCache.ComputeKey("src", new[] { "--gpu-arch=sm_90", "-std=c++17", "--use_fast_math" }, "sm_90", "12.8"),
            CubinCache.ComputeKey("src", new[] { "-std=c++17", "--gpu-arch=sm_90" }, "sm_90", "12.8"),
            CubinCache.ComputeKey("src", opts, "sm_80", "12.8"),
            CubinCache.ComputeKey("src", opts, "sm_90", "12.9"),
            CubinCache.ComputeKey("src", opts, "sm_90", "13.0"),
        };
        Assert.DoesNotContain(k, others);
        Assert.Equal(others.Length, others.Distinct().Count());
    }

    [Fact]
    public void KeyFieldsCannotBleedIntoEachOther()
    {
        Assert.NotEqual(CubinCache.ComputeKey("a", new[] { "bc" }, "sm_90", "12.8"), CubinCache.ComputeKey("ab", new[] { "c" }, "sm_90", "12.8"));
        Assert.NotEqual(CubinCache.ComputeKey("s", new[] { "a", "b" }, "sm_90", "12.8"), CubinCache.ComputeKey("s", new[] { "a b" }, "sm_90", "12.8"));
        Assert.NotEqual(CubinCache.ComputeKey("s", Array.Empty<string>(), "sm_90", "12.8"), CubinCache.ComputeKey("s", new[] { "" }, "sm_90", "12.8"));
    }

    [Fact]
    public void DefaultDirectoryFollowsTheEnvironment()
    {
        string? None(string _) => null;
        Assert.Equal(Path.Combine("/lc", "cubin"), CubinCache.DefaultDirectory(n => n == "LAYERCOMPILER_CACHE" ? "/lc" : "/xdg", "/home/u"));
        Assert.Equal(Path.Combine("/xdg", "layercompiler", "cubin"), CubinCache.DefaultDirectory(n => n == "XDG_CACHE_HOME" ? "/xdg" : null, "/home/u"));
        Assert.Equal(Path.Combine("/home/u", ".cache", "layercompiler", "cubin"), CubinCache.DefaultDirectory(None, "/home/u"));
        Assert.StartsWith(Path.GetTempPath(), CubinCache.DefaultDirectory(None, ""));
    }

    [Fact]
    public void RoundTripAndNoTempFilesLeft()
    {
        var cache = new CubinCache(_dir);
        byte[] image = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        Assert.False(cache.TryRead("k1", out _));
        Assert.True(cache.Write("k1", image));
        Assert.True(cache.TryRead("k1", out var back));
        Assert.Equal(image, back);
        Assert.Equal(new[] { "k1.cubin" }, Directory.GetFiles(_dir).Select(Path.GetFileName));
        Assert.True(cache.Write("k1", new byte[] { 1, 2, 3 }));   // overwrite in place
        Assert.True(cache.TryRead("k1", out back));
        Assert.Equal(new byte[] { 1, 2, 3 }, back);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("garbage")]
    [InlineData("empty")]
    public void CorruptEntryIsRejectedAndDeleted(string damage)
    {
        var cache = new CubinCache(_dir);
        cache.Write("k", Enumerable.Range(0, 500).Select(i => (byte)i).ToArray());
        string path = cache.PathFor("k");
        byte[] data = File.ReadAllBytes(path);
        switch (damage)
        {
            case "truncate": File.WriteAllBytes(path, data[..^10]); break;
            case "flip": data[^1] ^= 0xFF; File.WriteAllBytes(path, data); break;
            case "garbage": File.WriteAllText(path, "not a cubin"); break;
            case "empty": File.WriteAllBytes(path, Array.Empty<byte>()); break;
        }
        Assert.False(cache.TryRead("k", out _));
        Assert.False(File.Exists(path));
    }
}

public class CudaExceptionTests
{
    [Fact]
    public void DriverErrorMessageNamesFunctionCodeAndContext()
    {
        var e = new CudaException(CudaApi.Driver, 2, "CUDA_ERROR_OUT_OF_MEMORY", "cuMemAlloc_v2", "out of memory", "allocating 4096 bytes");
        Assert.Equal("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory while allocating 4096 bytes", e.Message);
        Assert.Equal(2, e.Code);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Null(e.CompileLog);
    }

    [Fact]
    public void CompileErrorMessageCarriesKernelAndFullLog()
    {
        string log = "saxpy.cu(3): error: identifier \"y\" is undefined\n\n1 error detected in the compilation of \"saxpy.cu\".\n";
        var e = new CudaException(CudaApi.Nvrtc, 6, "NVRTC_ERROR_COMPILATION", "nvrtcCompileProgram",
            context: "compiling saxpy.cu for sm_90", compileLog: log, kernelName: "saxpy");
        Assert.StartsWith("nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION (6) [kernel 'saxpy'] while compiling saxpy.cu for sm_90\n--- NVRTC log ---\n", e.Message);
        Assert.Contains("identifier \"y\" is undefined", e.Message);
        Assert.Contains("1 error detected", e.Message);
        Assert.EndsWith("--- end of NVRTC log ---", e.Message);
        Assert.Equal(log, e.CompileLog);
        Assert.Equal("saxpy", e.KernelName);
        Assert.Equal(CudaApi.Nvrtc, e.Api);
    }

    [Fact]
    public void DescriptionEqualToNameIsNotRepeated()
    {
        var e = new CudaException(CudaApi.Nvrtc, 5, "NVRTC_ERROR_INVALID_OPTION", "nvrtcCompileProgram", "NVRTC_ERROR_INVALID_OPTION");
        Assert.Equal("nvrtcCompileProgram failed: NVRTC_ERROR_INVALID_OPTION (5)", e.Message);
    }

    [Fact]
    public void BuiltInNameTablesCoverCommonCodes()
    {
        Assert.Equal("CUDA_ERROR_NO_DEVICE", CuDriver.KnownName(100));
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", CuDriver.KnownName(2));
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", CuDriver.KnownName(700));
        Assert.Equal("CUDA_ERROR_UNRECOGNIZED_12345", CuDriver.KnownName(12345));
        Assert.Equal("NVRTC_ERROR_COMPILATION", Nvrtc.KnownName(6));
        Assert.Equal("NVRTC_ERROR_UNRECOGNIZED_77", Nvrtc.KnownName(77));
    }
}

public class KernelArgsTests
{
    [Fact]
    public unsafe void PackingLayout()
    {
        using var a = new KernelArgs();
        a.Add(7).Add(2.5f).Add(-3L).AddPointer(0xDEAD_BEEF_0000UL).Add(true).Add(1.25).Add((uint)9);
        Assert.Equal(7, a.Count);
        // int@0, float@4, long@8, ptr@16, bool@24, double@32 (aligned up from 25), uint@40
        Assert.Equal(new[] { 0, 4, 8, 16, 24, 32, 40 }, Enumerable.Range(0, a.Count).Select(a.OffsetOf));
        Assert.Equal(44, a.ValueBytes);
        for (int i = 0; i < a.Count; i++) Assert.Equal(a.ValueBlock + a.OffsetOf(i), a.ArgumentPointer(i));

        byte* v = (byte*)a.ValueBlock;
        Assert.Equal(7, *(int*)v);
        Assert.Equal(2.5f, *(float*)(v + 4));
        Assert.Equal(-3L, *(long*)(v + 8));
        Assert.Equal(0xDEAD_BEEF_0000UL, *(ulong*)(v + 16));
        Assert.Equal((byte)1, v[24]);
        Assert.Equal(1.25, *(double*)(v + 32));
        Assert.Equal(9u, a.Read<uint>(6));

        // The void* array handed to cuLaunchKernel holds exactly these pointers.
        void** table = a.Pointers;
        for (int i = 0; i < a.Count; i++) Assert.Equal(a.ArgumentPointer(i), (IntPtr)table[i]);
    }

    [Fact]
    public void GrowingKeepsEveryPointerValid()
    {
        using var a = new KernelArgs(capacity: 1);
        for (int i = 0; i < 100; i++) a.Add((long)i * 3);
        Assert.Equal(100, a.Count);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(i * 8, a.OffsetOf(i));
            Assert.Equal((long)i * 3, a.Read<long>(i));
            Assert.Equal(a.ValueBlock + i * 8, a.ArgumentPointer(i));
        }
    }

    [Fact]
    public void ClearReusesTheMemory()
    {
        using var a = new KernelArgs();
        a.Add(1).Add(2);
        IntPtr block = a.ValueBlock;
        a.Clear();
        Assert.Equal(0, a.Count);
        a.Add(5f);
        Assert.Equal(block, a.ValueBlock);
        Assert.Equal(0, a.OffsetOf(0));
        Assert.Equal(5f, a.Read<float>(0));
    }

    [Fact]
    public void StructsAreCopiedByValue()
    {
        using var a = new KernelArgs();
        a.Add((byte)0 == 0).AddValue(new Float3(1, 2, 3));
        Assert.Equal(8, a.OffsetOf(1));
        Assert.Equal(new Float3(1, 2, 3), a.Read<Float3>(1));
    }

    [Fact]
    public void FromBoxedValues()
    {
        using var a = KernelArgs.From(new object[] { 1, 2f, 3L, 4UL, 5.0, (short)6, (byte)7, true, (nint)8 });
        Assert.Equal(9, a.Count);
        Assert.Equal(1, a.Read<int>(0));
        Assert.Equal(2f, a.Read<float>(1));
        Assert.Equal(3L, a.Read<long>(2));
        Assert.Equal(4UL, a.Read<ulong>(3));
        Assert.Equal(5.0, a.Read<double>(4));
        Assert.Equal((short)6, a.Read<short>(5));
        Assert.Equal((byte)7, a.Read<byte>(6));
        Assert.Equal((byte)1, a.Read<byte>(7));
        Assert.Equal(8L, a.Read<long>(8));
        Assert.Throws<ArgumentException>(() => KernelArgs.From(new object[] { "text" }));
        Assert.Throws<ArgumentNullException>(() => KernelArgs.From(new object?[] { null }!));
    }

    [Fact]
    public void BadIndexAndUseAfterDispose()
    {
        var a = new KernelArgs();
        a.Add(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.OffsetOf(1));
        a.Dispose();
        Assert.Throws<ObjectDisposedException>(() => a.Add(2));
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Float3(float X, float Y, float Z);
}

public class CudaDeviceProbeTests
{
    [Fact]
    public void TryGetDefaultGivesAReasonWhenThereIsNoGpu()
    {
        bool ok = CudaDevice.TryGetDefault(out var device, out string reason);
        try
        {
            if (ok)
            {
                // A machine with a working driver: nothing to explain.
                Assert.NotNull(device);
                Assert.Equal("", reason);
                Assert.False(string.IsNullOrEmpty(device!.Name));
            }
            else
            {
                Assert.Null(device);
                Assert.False(string.IsNullOrWhiteSpace(reason));
                Assert.DoesNotContain("\n", reason);
            }
        }
        finally
        {
            device?.Dispose();
        }
    }

    [NoCudaFact]
    public void OpenThrowsCudaExceptionWithoutADriver()
    {
        var e = Assert.Throws<CudaException>(() => CudaDevice.Open());
        Assert.False(string.IsNullOrEmpty(e.ErrorName));
    }
}

public class NvrtcOptionTests
{
    [Fact]
    public void OptionsTargetTheDeviceArchWithoutFastMath()
    {
        Assert.Equal(new[] { "--gpu-architecture=sm_90", "-std=c++17" }, NvrtcCompiler.BuildOptions("sm_90", Array.Empty<string>()));
        Assert.Equal(new[] { "--gpu-architecture=sm_80", "-std=c++17", "--use_fast_math", "-DTILE=64" },
            NvrtcCompiler.BuildOptions("sm_80", new[] { "--use_fast_math", "-DTILE=64" }));
        Assert.Equal("sm_90", new ComputeCapability(9, 0).Arch);
        Assert.Equal("8.6", new ComputeCapability(8, 6).ToString());
    }
}

public class SitePackagesSearchTests
{
    [Fact]
    public void VirtualEnvPathAndPyenvAreSearched()
    {
        var dirs = new HashSet<string>
        {
            "/venv/lib", "/venv/lib/python3.12", "/venv/lib/python3.12/site-packages",
            "/tools/py/lib", "/tools/py/lib/python3.10", "/tools/py/lib/python3.10/site-packages",
            "/h/.pyenv/versions", "/h/.pyenv/versions/3.11.7", "/h/.pyenv/versions/3.11.7/lib",
            "/h/.pyenv/versions/3.11.7/lib/python3.11", "/h/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
            "/usr/lib", "/usr/lib/python3", "/usr/lib/python3/dist-packages",
        };
        IEnumerable<string> Children(string d, string pattern)
        {
            string prefix = pattern.TrimEnd('*');
            return dirs.Where(x => Path.GetDirectoryName(x) == d && Path.GetFileName(x).StartsWith(prefix, StringComparison.Ordinal)).ToArray();
        }
        var env = new LibrarySearchEnvironment
        {
            GetEnvironmentVariable = n => n switch { "VIRTUAL_ENV" => "/venv", "PATH" => "/tools/py/bin:/usr/bin:/bin", _ => null },
            DirectoryExists = dirs.Contains,
            EnumerateFiles = (_, _) => Array.Empty<string>(),
            EnumerateDirectories = Children,
            HomeDirectory = "/h",
        };
        var sites = LibrarySearch.SitePackagesDirs(env);
        Assert.Equal(new[]
        {
            "/venv/lib/python3.12/site-packages",
            "/tools/py/lib/python3.10/site-packages",
            "/usr/lib/python3/dist-packages",
            "/h/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
        }, sites);
    }
}
