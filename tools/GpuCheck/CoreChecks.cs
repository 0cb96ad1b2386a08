using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using LayerCompiler.Gpu;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>Correctness checks of the CUDA runtime: each compares GPU results with the CPU or with what the API promises.</summary>
public static class CoreChecks
{
    public const double Tolerance = 1e-5;

    public const string SaxpySource = """
        extern "C" __global__ void saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y)
        {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = a * x[i] + y[i];
        }
        """;

    /// <summary>Grid-stride accumulation, then a warp-shuffle reduction within warps and across the block's warps.</summary>
    public const string ReduceSource = """
        __device__ __forceinline__ float warp_sum(float v)
        {
            for (int offset = 16; offset > 0; offset >>= 1)
                v += __shfl_down_sync(0xffffffffu, v, offset);
            return v;
        }

        extern "C" __global__ void block_reduce_sum(const float* __restrict__ x, float* __restrict__ partial, long long n)
        {
            __shared__ float warp_totals[32];
            float acc = 0.0f;
            long long stride = (long long)gridDim.x * blockDim.x;
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
                acc += x[i];
            acc = warp_sum(acc);
            int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
            if (lane == 0) warp_totals[warp] = acc;
            __syncthreads();
            if (warp == 0)
            {
                int warps = (blockDim.x + 31) >> 5;
                float v = lane < warps ? warp_totals[lane] : 0.0f;
                v = warp_sum(v);
                if (lane == 0) partial[blockIdx.x] = v;
            }
        }
        """;

    public const string ArgsSource = """
        struct Pair { int a; float b; };

        extern "C" __global__ void echo_args(int i, float f, long long l, double d, unsigned char b, Pair p, float* out)
        {
            if (blockIdx.x == 0 && threadIdx.x == 0)
            {
                out[0] = (float)i; out[1] = f; out[2] = (float)l; out[3] = (float)d;
                out[4] = (float)b; out[5] = (float)p.a; out[6] = p.b;
            }
        }
        """;

    public const string Grid2DSource = """
        extern "C" __global__ void index_2d(float* out, int width, int height)
        {
            int x = blockIdx.x * blockDim.x + threadIdx.x;
            int y = blockIdx.y * blockDim.y + threadIdx.y;
            if (x < width && y < height) out[y * width + x] = (float)(y * 1000 + x);
        }
        """;

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Pair(int A, float B);

    public static void Register(CheckRegistry r)
    {
        r.AddCheck("device-info", "device attributes are sane and NVRTC loads", DeviceInfo);
        r.AddCheck("buffer-copies", "host<->device and device<->device copies, zero and fill", BufferCopies);
        r.AddCheck("saxpy", "y = a*x + y on 10,000,019 floats vs the CPU (relative error <= 1e-5)", Saxpy);
        r.AddCheck("block-reduction", "two-pass warp-shuffle block reduction of 2^24 floats vs a double CPU sum (<= 1e-5)", Reduction);
        r.AddCheck("kernel-args", "int, float, long long, double, uchar and struct arguments arrive intact", KernelArgsCheck);
        r.AddCheck("grid-2d", "2-D grid and block indices", Grid2D);
        r.AddCheck("stream", "launch and copy on a non-blocking stream, then stream synchronize", StreamCheck);
        r.AddCheck("compile-error", "a bad kernel raises CudaException with the NVRTC log and the kernel name", CompileError);
        r.AddCheck("missing-kernel", "looking up a kernel that is not in the module raises CUDA_ERROR_NOT_FOUND", MissingKernel);
        r.AddCheck("cubin-cache", "second compile is a cache hit; a corrupt entry is recompiled", CubinCacheCheck);
        r.AddCheck("event-timing", "CUDA events measure a positive time around real work", EventTiming);
    }

    internal static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.NextDouble();
        return a;
    }

    /// <summary>max |actual - expected| / max |expected| (norm-wise relative error).</summary>
    internal static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs((double)expected[i]));
        }
        return maxDiff / Math.Max(maxRef, double.Epsilon);
    }

    private static CheckResult DeviceInfo(CheckContext c)
    {
        var d = c.Device;
        if (d.SmCount <= 0 || d.TotalMemory <= 0 || d.ComputeCapability.Major < 3 || d.WarpSize != 32)
            return CheckResult.Fail($"odd attributes: {d}");
        if (d.NvrtcVersion is null) return CheckResult.Fail("NVRTC not available: " + d.NvrtcError);
        var (free, total) = d.MemoryInfo();
        return new CheckResult(true, $"{d.Name}, {d.ComputeCapability.Arch}, {d.SmCount} SMs, NVRTC {d.NvrtcVersion}, {free >> 20} of {total >> 20} MiB free")
        {
            Metrics = { ["free_bytes"] = free, ["total_bytes"] = total },
        };
    }

    private static CheckResult BufferCopies(CheckContext c)
    {
        var d = c.Device;
        const int n = 1 << 20;
        float[] data = RandomFloats(n, 11);
        using var a = d.Upload(data);
        using var b = d.Allocate(n);
        b.CopyFrom(a);
        float[] back = b.ToArray();
        if (!back.AsSpan().SequenceEqual(data)) return CheckResult.Fail("device-to-device copy differs from the source");
        b.Zero();
        if (Array.Exists(b.ToArray(), v => v != 0f)) return CheckResult.Fail("Zero() left non-zero values");
        b.Fill(-2.75f);
        if (Array.Exists(b.ToArray(), v => v != -2.75f)) return CheckResult.Fail("Fill(-2.75) wrote other values");
        var part = new float[100];
        a.CopyTo(part, offset: n - 100);
        if (!part.AsSpan().SequenceEqual(data.AsSpan(n - 100))) return CheckResult.Fail("offset copy to host differs");
        return CheckResult.Pass($"{n} floats round-trip exactly; zero, fill and offset copies correct");
    }

    private static CheckResult Saxpy(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(SaxpySource, new[] { "saxpy" });
        const int n = 10_000_019;
        const float alpha = 2.5f;
        float[] x = RandomFloats(n, 1), y = RandomFloats(n, 2);
        using var dx = d.Upload(x);
        using var dy = d.Upload(y);
        using var args = new KernelArgs().Add(n).Add(alpha).Add(dx).Add(dy);
        module["saxpy"].Launch(CudaKernel.GridFor(n, 256), 256, args);
        d.Synchronize();
        float[] got = dy.ToArray();
        var expected = new float[n];
        for (int i = 0; i < n; i++) expected[i] = alpha * x[i] + y[i];
        double err = RelativeError(got, expected);
        var r = new CheckResult(err <= Tolerance, $"n={n}, relative error {err:0.00e+00} (limit {Tolerance:0e+00}), cached={module.FromCache}")
        {
            Metrics = { ["relative_error"] = err, ["n"] = n },
        };
        return r;
    }

    private static CheckResult Reduction(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(ReduceSource, new[] { "block_reduce_sum" });
        var k = module["block_reduce_sum"];
        const int n = 1 << 24, threads = 256;
        int blocks = Math.Min(1024, d.SmCount * 4);
        float[] x = RandomFloats(n, 3);
        using var dx = d.Upload(x);
        using var partial = d.Allocate(blocks);
        using var total = d.Allocate(1);
        using var args = new KernelArgs();
        k.Launch(blocks, threads, args.Add(dx).Add(partial).Add((long)n));
        args.Clear();
        k.Launch(1, 1024, args.Add(partial).Add(total).Add((long)blocks));
        double got = total.ToArray()[0];
        double expected = 0;
        foreach (float v in x) expected += v;
        double err = Math.Abs(got - expected) / Math.Abs(expected);
        return new CheckResult(err <= Tolerance, $"n={n}, {blocks} blocks: GPU {got:F3} vs CPU {expected:F3}, relative error {err:0.00e+00}")
        {
            Metrics = { ["relative_error"] = err, ["n"] = n },
        };
    }

    private static CheckResult KernelArgsCheck(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(ArgsSource, new[] { "echo_args" });
        using var output = d.Allocate(8);
        output.Fill(float.NaN);
        const long big = 3L << 33;
        using var args = new KernelArgs()
            .Add(-42).Add(3.5f).Add(big).Add(0.1).AddValue((byte)200).AddValue(new Pair(7, -0.25f)).Add(output);
        module["echo_args"].Launch(1, 32, args);
        float[] o = output.ToArray();
        float[] expected = { -42f, 3.5f, big, 0.1f, 200f, 7f, -0.25f };
        for (int i = 0; i < expected.Length; i++)
            if (o[i] != expected[i])
                return CheckResult.Fail($"argument {i}: kernel saw {o[i]}, expected {expected[i]} (all: {string.Join(", ", o)})");
        return CheckResult.Pass($"7 arguments in {args.ValueBytes} bytes arrived intact");
    }

    private static CheckResult Grid2D(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(Grid2DSource, new[] { "index_2d" });
        const int w = 1000, h = 333;
        using var output = d.Allocate((long)w * h);
        module["index_2d"].Launch(CudaKernel.GridFor(w, 16), CudaKernel.GridFor(h, 16), 1, 16, 16, 1, 0, null, output, w, h);
        float[] o = output.ToArray();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (o[y * w + x] != y * 1000 + x) return CheckResult.Fail($"element ({x},{y}) = {o[y * w + x]}");
        return CheckResult.Pass($"{w}x{h} elements indexed correctly");
    }

    private static CheckResult StreamCheck(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(SaxpySource, new[] { "saxpy" });
        const int n = 1 << 20;
        using var stream = d.CreateStream(nonBlocking: true);
        using var x = d.Allocate(n);
        using var y = d.Allocate(n);
        using var y2 = d.Allocate(n);
        x.Fill(2f);
        y.Fill(1f);
        d.Synchronize(); // memsets run on the legacy default stream, which a non-blocking stream does not wait for
        using var args = new KernelArgs().Add(n).Add(3f).Add(x).Add(y);
        for (int i = 0; i < 4; i++) module["saxpy"].Launch(CudaKernel.GridFor(n, 256), 256, args, stream);
        y2.CopyFromAsync(y, stream);
        stream.Synchronize();
        float[] got = y2.ToArray();
        return Array.TrueForAll(got, v => v == 25f)
            ? CheckResult.Pass("4 launches and an async copy on a non-blocking stream give 25 everywhere")
            : CheckResult.Fail($"expected 25, found e.g. {Array.Find(got, v => v != 25f)}");
    }

    private static CheckResult CompileError(CheckContext c)
    {
        const string bad = """
            extern "C" __global__ void deliberately_broken(float* y)
            {
                y[threadIdx.x] = this_identifier_does_not_exist;
            }
            """;
        try
        {
            using var m = c.Device.Compile(bad, new[] { "deliberately_broken" });
            return CheckResult.Fail("compiling a broken kernel succeeded");
        }
        catch (CudaException e)
        {
            bool ok = e.Api == CudaApi.Nvrtc && e.ErrorName == "NVRTC_ERROR_COMPILATION" && e.KernelName == "deliberately_broken"
                && e.CompileLog is not null && e.CompileLog.Contains("this_identifier_does_not_exist", StringComparison.Ordinal)
                && e.Message.Contains("deliberately_broken", StringComparison.Ordinal)
                && e.Message.Contains("this_identifier_does_not_exist", StringComparison.Ordinal);
            string firstLogLine = (e.CompileLog ?? "").Split('\n')[0].Trim();
            return new CheckResult(ok, ok ? $"{e.ErrorName}; log: {firstLogLine}" : "unexpected exception: " + e.Message);
        }
    }

    private static CheckResult MissingKernel(CheckContext c)
    {
        try
        {
            using var m = c.Device.Compile(SaxpySource, new[] { "saxpy", "not_in_this_module" });
            return CheckResult.Fail("looking up a missing kernel succeeded");
        }
        catch (CudaException e)
        {
            bool ok = e.ErrorName == "CUDA_ERROR_NOT_FOUND" && e.KernelName == "not_in_this_module";
            return new CheckResult(ok, ok ? e.ErrorName : "unexpected exception: " + e.Message);
        }
    }

    private static CheckResult CubinCacheCheck(CheckContext c)
    {
        var d = c.Device;
        string dir = Path.Combine(Path.GetTempPath(), "gpu-check-cubin-" + Guid.NewGuid().ToString("N"));
        var saved = d.Cache;
        d.Cache = new CubinCache(dir);
        try
        {
            string src = SaxpySource + "\n// gpu-check " + Guid.NewGuid() + "\n";
            var sw = Stopwatch.StartNew();
            bool first, second, third;
            string key;
            using (var m = d.Compile(src, new[] { "saxpy" })) { first = m.FromCache; key = m.CacheKey; }
            double compileMs = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            using (var m = d.Compile(src, new[] { "saxpy" })) second = m.FromCache;
            double cachedMs = sw.Elapsed.TotalMilliseconds;
            File.WriteAllBytes(d.Cache.PathFor(key), new byte[] { 1, 2, 3 });
            using (var m = d.Compile(src, new[] { "saxpy" }))
            {
                third = m.FromCache;
                // The recompiled module must still work.
                using var x = d.Allocate(1); using var y = d.Allocate(1);
                x.Fill(1f); y.Fill(1f);
                m["saxpy"].Launch(1, 1, 1, 1, 1, 1, 0, null, 1, 2f, x, y);
                if (y.ToArray()[0] != 3f) return CheckResult.Fail("kernel from the recompiled module gave a wrong result");
            }
            bool ok = !first && second && !third;
            return new CheckResult(ok, $"first from cache={first}, second={second}, after corruption={third}; compile {compileMs:F0} ms, cached load {cachedMs:F1} ms")
            {
                Metrics = { ["compile_ms"] = compileMs, ["cached_load_ms"] = cachedMs },
            };
        }
        finally
        {
            d.Cache = saved;
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static CheckResult EventTiming(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(SaxpySource, new[] { "saxpy" });
        const int n = 1 << 24;
        using var x = d.Allocate(n);
        using var y = d.Allocate(n);
        x.Fill(1f); y.Zero();
        using var stream = d.CreateStream();
        using var start = d.CreateEvent();
        using var end = d.CreateEvent();
        using var args = new KernelArgs().Add(n).Add(1f).Add(x).Add(y);
        start.Record(stream);
        for (int i = 0; i < 20; i++) module["saxpy"].Launch(CudaKernel.GridFor(n, 256), 256, args, stream);
        end.Record(stream);
        float ms = CudaEvent.ElapsedMilliseconds(start, end);
        double gbps = 20.0 * 3 * 4 * n / (ms * 1e-3) / 1e9;
        bool ok = ms > 0 && y.ToArray()[n - 1] == 20f;
        return new CheckResult(ok, $"20 saxpy launches on 2^24 floats: {ms:F3} ms (~{gbps:F0} GB/s effective)")
        {
            Metrics = { ["elapsed_ms"] = ms, ["saxpy_gbps"] = gbps },
        };
    }
}
