using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Gpu;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// Timings of generated CUDA layers, batch resident on the device, with CUDA events (median of the timed runs after
/// warm-up, random data). The bound each is compared with: the bytes that must move (each input read once, each output
/// written once; parameters included) divided by the device-to-device copy bandwidth measured in the same process.
/// Forward: x read, y written. Forward + backward: that, plus x and gy read and gx written (parameter gradients are
/// parameter-sized). Before timing, the first networks' outputs are checked against the C# kernel.
/// </summary>
public static class LayerBenchmarks
{
    public const int Batch = 512;

    public const string FillSource = """
        // Uniform values in [-scale, scale) from a hash of the index (splitmix64), so large batches need no host data.
        extern "C" __global__ void lc_bench_fill(float* p, long long n, unsigned long long seed, float scale)
        {
            long long stride = (long long)gridDim.x * blockDim.x;
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
            {
                unsigned long long z = (unsigned long long)i * 0x9E3779B97F4A7C15ull + seed;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                z ^= z >> 31;
                p[i] = scale * ((float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
            }
        }
        """;

    public static void Register(CheckRegistry r)
    {
        r.AddBenchmark("layer-siren32-fwd", $"32 → 32 layer on SIREN 2→32→32→1, batch {Batch}: forward (ms, % of measured d2d bandwidth)",
            c => Single(c, LayerCase.Siren(32, 32, 32), backward: false));
        r.AddBenchmark("layer-siren32-fwdbwd", $"32 → 32 layer on SIREN 2→32→32→1, batch {Batch}: forward + backward (input and parameter gradients)",
            c => Single(c, LayerCase.Siren(32, 32, 32), backward: true));
        r.AddBenchmark("layer-width-sweep", $"32 → 32 layer on SIREN 2→h→h→1, h = 32..512, batch ≤ {Batch} (as memory allows): forward and forward + backward",
            Sweep);
    }

    private static readonly Dictionary<CudaDevice, double> D2dCache = new();

    /// <summary>Device-to-device copy bandwidth (read + write GB/s, median of 10 copies of 256 MiB), measured once per process.</summary>
    public static double MeasuredBandwidthGBs(CheckContext c)
    {
        if (D2dCache.TryGetValue(c.Device, out double cached)) return cached;
        var d = c.Device;
        var (free, _) = d.MemoryInfo();
        long bytes = Math.Min(256L << 20, (free - (256L << 20)) / 2) & ~((1L << 20) - 1);
        long n = bytes / sizeof(float);
        using var a = d.Allocate(n);
        using var b = d.Allocate(n);
        a.Fill(1f);
        using var stream = d.CreateStream();
        var ms = Time(d, stream, 3, 10, () => b.CopyFromAsync(a, stream));
        double gbs = 2.0 * bytes / (Median(ms) * 1e-3) / 1e9;
        D2dCache[c.Device] = gbs;
        return gbs;
    }

    internal static List<double> Time(CudaDevice d, CudaStream stream, int warmup, int runs, Action op)
    {
        using var start = d.CreateEvent();
        using var end = d.CreateEvent();
        for (int i = 0; i < warmup; i++) op();
        stream.Synchronize();
        var samples = new List<double>(runs);
        for (int i = 0; i < runs; i++)
        {
            start.Record(stream);
            op();
            end.Record(stream);
            samples.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        return samples;
    }

    internal static double Median(IReadOnlyList<double> xs) => BandwidthBenchmarks.Median(xs);

    /// <summary>Device buffers of one layer benchmark: random inputs, outputs, gradients.</summary>
    private sealed class Buffers : IDisposable
    {
        public CudaBuffer W = null!, B = null!, X = null!, Y = null!, Gy = null!, Gx = null!, Gw = null!, Gb = null!;
        public void Dispose() { foreach (var b in new[] { W, B, X, Y, Gy, Gx, Gw, Gb }) b?.Dispose(); }
    }

    private static Buffers Allocate(CudaDevice d, CudaModule fill, CudaEquivariantKernel k, int batch, bool backward)
    {
        var buf = new Buffers();
        try
        {
            var plan = k.Plan;
            buf.W = d.Allocate(plan.WeightCount);
            buf.B = d.Allocate(plan.BiasCount);
            buf.X = d.Allocate(k.InputLength(batch));
            buf.Y = d.Allocate(k.OutputLength(batch));
            Fill(fill, buf.W, 1, (float)plan.InitStd(0));
            Fill(fill, buf.B, 2, 1f);
            Fill(fill, buf.X, 3, 1f);
            if (backward)
            {
                buf.Gy = d.Allocate(k.OutputLength(batch));
                buf.Gx = d.Allocate(k.InputLength(batch));
                buf.Gw = d.Allocate(plan.WeightCount);
                buf.Gb = d.Allocate(plan.BiasCount);
                Fill(fill, buf.Gy, 4, 1f);
                buf.Gw.Zero();
                buf.Gb.Zero();
            }
            d.Synchronize();
            return buf;
        }
        catch
        {
            buf.Dispose();
            throw;
        }
    }

    private static void Fill(CudaModule fill, CudaBuffer b, ulong seed, float scale)
    {
        using var args = new KernelArgs().Add(b).Add(b.Length).Add(seed * 0x2545F4914F6CDD1DUL).Add(scale);
        fill["lc_bench_fill"].Launch((int)Math.Min(CudaKernel.GridFor(b.Length, 256), 65536), 256, args);
    }

    /// <summary>The first networks of the device output against the C# kernel on the same inputs.</summary>
    private static double SpotCheck(LayerCase lc, CudaEquivariantKernel k, Buffers buf, int batch, int networks)
    {
        var plan = k.Plan;
        var space = plan.Space;
        var w = buf.W.ToArray();
        var b = buf.B.ToArray();
        var x = new WeightSpaceBatch(space, networks, lc.Cin);
        var y = new WeightSpaceBatch(space, networks, lc.Cout);
        long xo = 0, yo = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            buf.X.CopyTo(x.Tensors[t].Data, xo);
            buf.Y.CopyTo(y.Tensors[t].Data, yo);
            xo += (long)batch * space.Tensors[t].Size * lc.Cin;
            yo += (long)batch * space.Tensors[t].Size * lc.Cout;
        }
        var yCpu = new WeightSpaceBatch(space, networks, lc.Cout);
        lc.Cpu(plan).Forward(w, b, x, yCpu);
        return CoreChecks.RelativeError(y.Flatten(), yCpu.Flatten());
    }

    /// <summary>Largest batch ≤ <see cref="Batch"/> whose buffers (and scratch) fit in 60% of free memory.</summary>
    private static int FitBatch(CudaDevice d, CudaLayerSource layer, bool backward)
    {
        var (free, _) = d.MemoryInfo();
        long perNetwork = (layer.EntriesPerNetwork * (layer.InChannels + layer.OutChannels) * (backward ? 2 : 1) + layer.ScratchFloats(1)) * sizeof(float);
        long fit = (long)(0.6 * free) / Math.Max(1, perNetwork);
        return (int)Math.Clamp(fit, 1, Math.Min(Batch, layer.MaxBatch));
    }

    private sealed record Timing(int Batch, double MedianMs, double MinMs, double MaxMs, double Bytes, double GBs, double Fraction, List<double> Samples,
        Dictionary<string, double> KernelMs, double SpotError);

    private static Timing Measure(CheckContext c, LayerCase lc, bool backward, int? batchOverride = null, bool breakdown = true)
    {
        var d = c.Device;
        double d2d = MeasuredBandwidthGBs(c);
        var plan = lc.Plan();
        using var k = lc.Cuda(d, plan);
        int batch = batchOverride ?? FitBatch(d, k.Layer, backward);
        using var fill = d.Compile(FillSource, new[] { "lc_bench_fill" });
        using var buf = Allocate(d, fill, k, batch, backward);
        using var stream = d.CreateStream();

        void Op()
        {
            k.Forward(buf.W, buf.B, buf.X, buf.Y, batch, stream);
            if (backward) k.Backward(buf.W, buf.X, buf.Gy, buf.Gx, buf.Gw, buf.Gb, batch, stream);
        }

        // Correctness before timing.
        Op();
        stream.Synchronize();
        double spot = SpotCheck(lc, k, buf, batch, Math.Min(2, batch));
        if (!(spot <= CoreChecks.Tolerance))
            throw new InvalidOperationException($"{lc.Name}: device output differs from the C# kernel before timing (relative error {spot:0.0e+00}).");

        var samples = Time(d, stream, c.Options.Warmup, c.Options.Runs, Op);
        double median = Median(samples);
        long x = k.InputLength(batch), y = k.OutputLength(batch), p = plan.WeightCount + plan.BiasCount;
        // Forward: x read, y written, parameters read. Backward: x and gy read, gx written, parameters read, gradients written.
        double bytes = (backward ? (x + y + p) + (2.0 * x + y + 2.0 * p) : x + y + p) * sizeof(float);
        double gbs = bytes / (median * 1e-3) / 1e9;

        var kernelMs = new Dictionary<string, double>();
        if (breakdown)
        {
            // One event after every launch: per-kernel GPU time, median over a few passes.
            var events = new List<(string Kernel, CudaEvent Event)>();
            var perKernel = new Dictionary<string, List<double>>();
            using var start = d.CreateEvent();
            try
            {
                k.LaunchObserver = (step, _) =>
                {
                    var e = d.CreateEvent();
                    e.Record(stream);
                    events.Add((step.Pass + ":" + step.Kernel, e));
                };
                for (int rep = 0; rep < Math.Max(3, c.Options.Runs / 5); rep++)
                {
                    start.Record(stream);
                    Op();
                    var prev = start;
                    var seen = new Dictionary<string, double>();
                    foreach (var (name, e) in events)
                    {
                        double ms = CudaEvent.ElapsedMilliseconds(prev, e);
                        seen[name] = seen.GetValueOrDefault(name) + ms;
                        prev = e;
                    }
                    foreach (var (name, ms) in seen)
                    {
                        if (!perKernel.TryGetValue(name, out var list)) perKernel[name] = list = new List<double>();
                        list.Add(ms);
                    }
                    foreach (var (_, e) in events) e.Dispose();
                    events.Clear();
                }
            }
            finally
            {
                k.LaunchObserver = null;
                foreach (var (_, e) in events) e.Dispose();
            }
            foreach (var (name, list) in perKernel) kernelMs[name] = Median(list);
        }
        return new Timing(batch, median, samples.Min(), samples.Max(), bytes, gbs, gbs / d2d, samples, kernelMs, spot);
    }

    private static BenchmarkResult Single(CheckContext c, LayerCase lc, bool backward)
    {
        var t = Measure(c, lc, backward, batchOverride: null);
        double d2d = MeasuredBandwidthGBs(c);
        var metrics = new Dictionary<string, double>
        {
            ["batch"] = t.Batch,
            ["median_ms"] = t.MedianMs,
            ["min_ms"] = t.MinMs,
            ["max_ms"] = t.MaxMs,
            ["ideal_bytes"] = t.Bytes,
            ["gbps_median"] = t.GBs,
            ["d2d_gbps"] = d2d,
            ["fraction_of_d2d"] = t.Fraction,
            ["spot_check_rel_error"] = t.SpotError,
            ["runs"] = t.Samples.Count,
        };
        foreach (var (k, v) in t.KernelMs) metrics["kernel_ms." + k] = v;
        string kernels = string.Join(", ", t.KernelMs.OrderByDescending(kv => kv.Value).Take(4).Select(kv => $"{kv.Key.Split(':')[1]} {kv.Value:F3}"));
        return new BenchmarkResult(t.MedianMs, "ms",
            $"{lc.Name}, batch {t.Batch}, {(backward ? "forward + backward" : "forward")}: median {t.MedianMs:F3} ms (min {t.MinMs:F3}, max {t.MaxMs:F3}) over {t.Samples.Count} runs; " +
            $"{t.Bytes / 1e6:F1} MB must move → {t.GBs:F0} GB/s = {100 * t.Fraction:F0}% of the measured {d2d:F0} GB/s d2d copy; slowest kernels (ms): {kernels}")
        {
            Metrics = metrics,
            SamplesMs = t.Samples,
        };
    }

    private static BenchmarkResult Sweep(CheckContext c)
    {
        var metrics = new Dictionary<string, double> { ["d2d_gbps"] = MeasuredBandwidthGBs(c) };
        var lines = new List<string>();
        var fractions = new List<double>();
        foreach (int h in LayerCase.SweepWidths)
        {
            var lc = LayerCase.Siren(h, 32, 32);
            var f = Measure(c, lc, backward: false, breakdown: false);
            var fb = Measure(c, lc, backward: true, breakdown: false);
            string p = $"h{h}_";
            metrics[p + "fwd_batch"] = f.Batch;
            metrics[p + "fwd_median_ms"] = f.MedianMs;
            metrics[p + "fwd_ideal_bytes"] = f.Bytes;
            metrics[p + "fwd_gbps"] = f.GBs;
            metrics[p + "fwd_fraction_of_d2d"] = f.Fraction;
            metrics[p + "fwdbwd_batch"] = fb.Batch;
            metrics[p + "fwdbwd_median_ms"] = fb.MedianMs;
            metrics[p + "fwdbwd_ideal_bytes"] = fb.Bytes;
            metrics[p + "fwdbwd_gbps"] = fb.GBs;
            metrics[p + "fwdbwd_fraction_of_d2d"] = fb.Fraction;
            fractions.Add(f.Fraction);
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"h={h}: fwd {f.MedianMs:F3} ms (batch {f.Batch}, {100 * f.Fraction:F0}%), fwd+bwd {fb.MedianMs:F3} ms (batch {fb.Batch}, {100 * fb.Fraction:F0}%)"));
        }
        double mean = fractions.Average();
        return new BenchmarkResult(100 * mean, "% of d2d (fwd, mean over widths)", string.Join("; ", lines)) { Metrics = metrics };
    }
}
