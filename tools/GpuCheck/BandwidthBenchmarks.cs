using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Gpu;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// Memory-bandwidth probes. A copy of B bytes reads B and writes B, so bandwidth is reported as 2·B / time
/// (GB = 10^9 bytes). The median of the timed runs (after warm-up, each timed with CUDA events) is the headline;
/// it serves as the practical HBM ceiling for judging memory-bound kernels.
/// </summary>
public static class BandwidthBenchmarks
{
    /// <summary>float4-vectorized grid-stride copy: the bandwidth a plain kernel can reach.</summary>
    public const string CopyKernelSource = """
        struct alignas(16) v4 { float x, y, z, w; };

        extern "C" __global__ void copy_v4(const v4* __restrict__ src, v4* __restrict__ dst, long long n4)
        {
            long long stride = (long long)gridDim.x * blockDim.x;
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride)
                dst[i] = src[i];
        }

        extern "C" __global__ void empty_kernel() { }
        """;

    public static void Register(CheckRegistry r)
    {
        r.AddBenchmark("d2d-copy-bandwidth", "cuMemcpyDtoDAsync between two large buffers (read+write GB/s)", MemcpyBandwidth);
        r.AddBenchmark("copy-kernel-bandwidth", "float4 grid-stride copy kernel between two large buffers (read+write GB/s)", KernelBandwidth);
        r.AddBenchmark("launch-overhead", "back-to-back empty kernel launches on one stream (µs per launch)", LaunchOverhead);
    }

    /// <summary>Buffer size: the requested size, shrunk to fit two buffers in free memory with 512 MiB to spare.</summary>
    private static long BufferFloats(CheckContext c)
    {
        var (free, _) = c.Device.MemoryInfo();
        long bytes = Math.Min(c.Options.BandwidthBytes, (free - (512L << 20)) / 2);
        bytes &= ~((1L << 20) - 1); // whole MiB, so also a multiple of 16
        if (bytes < (1L << 20)) throw new InvalidOperationException($"Not enough free device memory ({free >> 20} MiB) for the bandwidth test.");
        return bytes / sizeof(float);
    }

    private static BenchmarkResult Measure(CheckContext c, long floats, string what, Action<CudaStream> op)
    {
        var d = c.Device;
        using var stream = d.CreateStream();
        using var start = d.CreateEvent();
        using var end = d.CreateEvent();
        for (int i = 0; i < c.Options.Warmup; i++) op(stream);
        stream.Synchronize();
        var samples = new List<double>(c.Options.Runs);
        for (int i = 0; i < c.Options.Runs; i++)
        {
            start.Record(stream);
            op(stream);
            end.Record(stream);
            samples.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        long bytes = floats * sizeof(float);
        double median = Median(samples), best = samples.Min();
        double gbps = 2.0 * bytes / (median * 1e-3) / 1e9;
        double bestGbps = 2.0 * bytes / (best * 1e-3) / 1e9;
        var metrics = new Dictionary<string, double>
        {
            ["buffer_bytes"] = bytes,
            ["median_ms"] = median,
            ["min_ms"] = best,
            ["max_ms"] = samples.Max(),
            ["gbps_median"] = gbps,
            ["gbps_best"] = bestGbps,
            ["runs"] = samples.Count,
        };
        string vsPeak = "";
        if (d.TheoreticalBandwidthGBs is double peak)
        {
            metrics["theoretical_gbps"] = peak;
            metrics["fraction_of_theoretical"] = gbps / peak;
            vsPeak = $", {100 * gbps / peak:F0}% of the {peak:F0} GB/s theoretical peak";
        }
        return new BenchmarkResult(gbps, "GB/s",
            $"{what}: median {median:F3} ms over {samples.Count} runs of {bytes >> 20} MiB (best {bestGbps:F0} GB/s){vsPeak}")
        {
            Metrics = metrics,
            SamplesMs = samples,
        };
    }

    private static BenchmarkResult MemcpyBandwidth(CheckContext c)
    {
        long n = BufferFloats(c);
        using var src = c.Device.Allocate(n);
        using var dst = c.Device.Allocate(n);
        src.Fill(1.5f);
        dst.Zero();
        var result = Measure(c, n, "cuMemcpyDtoDAsync", s => dst.CopyFromAsync(src, s));
        Verify(dst, n, 1.5f);
        return result;
    }

    private static BenchmarkResult KernelBandwidth(CheckContext c)
    {
        var d = c.Device;
        long n = BufferFloats(c);
        using var module = d.Compile(CopyKernelSource, new[] { "copy_v4", "empty_kernel" });
        using var src = d.Allocate(n);
        using var dst = d.Allocate(n);
        src.Fill(2.5f);
        dst.Zero();
        const int threads = 256;
        int blocks = d.SmCount * 8;
        using var args = new KernelArgs().Add(src).Add(dst).Add(n / 4);
        var k = module["copy_v4"];
        var result = Measure(c, n, $"copy_v4 ({blocks}x{threads})", s => k.Launch(blocks, threads, args, s));
        Verify(dst, n, 2.5f);
        return result;
    }

    private static BenchmarkResult LaunchOverhead(CheckContext c)
    {
        var d = c.Device;
        using var module = d.Compile(CopyKernelSource, new[] { "copy_v4", "empty_kernel" });
        var k = module["empty_kernel"];
        using var args = new KernelArgs();
        using var stream = d.CreateStream();
        using var start = d.CreateEvent();
        using var end = d.CreateEvent();
        const int launches = 1000;
        for (int i = 0; i < 100; i++) k.Launch(1, 32, args, stream);
        stream.Synchronize();
        var samples = new List<double>();
        for (int r = 0; r < Math.Max(3, c.Options.Runs / 3); r++)
        {
            start.Record(stream);
            for (int i = 0; i < launches; i++) k.Launch(1, 32, args, stream);
            end.Record(stream);
            samples.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        double usPerLaunch = Median(samples) * 1e3 / launches;
        return new BenchmarkResult(usPerLaunch, "us/launch", $"{launches} empty launches per run, median of {samples.Count} runs (GPU time)")
        {
            Metrics = { ["us_per_launch"] = usPerLaunch },
            SamplesMs = samples,
        };
    }

    private static void Verify(CudaBuffer dst, long n, float expected)
    {
        var head = new float[16];
        dst.CopyTo(head);
        var tail = new float[16];
        dst.CopyTo(tail, n - 16);
        if (Array.Exists(head, v => v != expected) || Array.Exists(tail, v => v != expected))
            throw new InvalidOperationException($"copy did not produce {expected} at both ends of the buffer");
    }

    internal static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
