using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace LayerCompiler.Bench;

/// <summary>Min / median / max of several timed runs of one measurement (in its unit: GB/s, GFLOP/s).</summary>
public readonly record struct Spread(double Min, double Median, double Max, int Runs)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new Spread(double.NaN, double.NaN, double.NaN, 0);
        var v = new double[values.Count];
        for (int i = 0; i < v.Length; i++) v[i] = values[i];
        Array.Sort(v);
        int n = v.Length;
        double median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        return new Spread(v[0], median, v[n - 1], n);
    }

    public override string ToString() => Runs == 0 ? "n/a" : $"{Min:F1} / {Median:F1} / {Max:F1} (n={Runs})";
}

/// <summary>
/// This machine's measured ceilings, in-process: streaming memory bandwidth (GB/s, 1e9 bytes/s, counting
/// bytes read + bytes written, not write-allocate traffic) and the FMA peak (GFLOP/s, 2 flops per FMA lane),
/// both using every core. <see cref="BandwidthGBs"/> is the best median of the copy (regular and non-temporal
/// stores) and triad kernels (<see cref="BandwidthKernel"/> names it),
/// <see cref="FmaGFlops"/> the best median of the vector widths tried; <see cref="Isa"/> names that width.
/// </summary>
public sealed record MachineCeilings(double BandwidthGBs, double FmaGFlops, string Isa)
{
    /// <summary>Copy b[i] = a[i]: 2 × array bytes per run.</summary>
    public Spread Copy { get; init; }
    /// <summary>Copy with non-temporal (streaming) stores, which skip the write-allocate read of the
    /// destination: 2 × array bytes per run. Runs = 0 where not available (no Vector256/512 acceleration).</summary>
    public Spread CopyNonTemporal { get; init; }
    /// <summary>Triad a[i] = b[i] + s·c[i]: 3 × array bytes per run.</summary>
    public Spread Triad { get; init; }
    /// <summary>"copy", "copy-nt" or "triad": the kernel whose median is <see cref="BandwidthGBs"/>.</summary>
    public string BandwidthKernel { get; init; } = "";
    /// <summary>FMA peak with Vector256 (Vector128 where Vector256 is not accelerated).</summary>
    public Spread Fma256 { get; init; }
    /// <summary>FMA peak with Vector512; Runs = 0 when Vector512 is not hardware accelerated.</summary>
    public Spread Fma512 { get; init; }
    public int Threads { get; init; }
    /// <summary>Size of each array of the bandwidth kernels.</summary>
    public long ArrayBytes { get; init; }
    /// <summary>Wall time the measurement took.</summary>
    public TimeSpan Elapsed { get; init; }

    public const long DefaultArrayBytes = 256L << 20;

    /// <summary>Measures with every core, 256 MB arrays, spending about <paramref name="budget"/> in total
    /// (at least three timed runs per kernel, so very small budgets take longer).</summary>
    public static MachineCeilings Measure(TimeSpan budget) => Measure(budget, Environment.ProcessorCount, DefaultArrayBytes);

    public static MachineCeilings Measure(TimeSpan budget, int threads, long arrayBytes)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        if (arrayBytes < 64 * threads) throw new ArgumentOutOfRangeException(nameof(arrayBytes));
        var total = Stopwatch.StartNew();
        double seconds = Math.Max(budget.TotalSeconds, 0.05);
        bool has512 = Vector512.IsHardwareAccelerated;
        // Budget shares: bandwidth 60 % (copy, non-temporal copy, triad), FMA 40 % (one or two widths).
        double bwShare = 0.20 * seconds;
        double fmaShare = (has512 ? 0.20 : 0.40) * seconds;

        Spread copy, copyNt = new Spread(double.NaN, double.NaN, double.NaN, 0), triad;
        long n = arrayBytes / sizeof(float);
        n -= n % (16 * threads);
        unsafe
        {
            float* a = Alloc(n), b = Alloc(n), c = Alloc(n);
            try
            {
                FillRandom(a, n, threads, 1);
                FillRandom(b, n, threads, 2);
                FillRandom(c, n, threads, 3);
                copy = Repeat(bwShare, () => TimeParallel(threads, n, (lo, hi) => CopyKernel(a, b, lo, hi)),
                    t => 2.0 * n * sizeof(float) / t / 1e9);
                if (Vector256.IsHardwareAccelerated)
                    copyNt = Repeat(bwShare, () => TimeParallel(threads, n, (lo, hi) => CopyNonTemporalKernel(a, b, lo, hi)),
                        t => 2.0 * n * sizeof(float) / t / 1e9);
                triad = Repeat(bwShare, () => TimeParallel(threads, n, (lo, hi) => TriadKernel(a, b, c, 1.0001f, lo, hi)),
                    t => 3.0 * n * sizeof(float) / t / 1e9);
            }
            finally
            {
                NativeMemory.AlignedFree(a);
                NativeMemory.AlignedFree(b);
                NativeMemory.AlignedFree(c);
            }
        }

        Spread fma256 = MeasureFma(fmaShare, threads, wide: false, out string isa256);
        Spread fma512 = has512 ? MeasureFma(fmaShare, threads, wide: true, out _) : new Spread(double.NaN, double.NaN, double.NaN, 0);
        bool use512 = has512 && fma512.Median > fma256.Median;
        string isa = use512 ? "Vector512 (" + X86Features() + ")" : isa256;
        double bandwidth = copy.Median;
        string bwKernel = "copy";
        if (copyNt.Runs > 0 && copyNt.Median > bandwidth) { bandwidth = copyNt.Median; bwKernel = "copy-nt"; }
        if (triad.Median > bandwidth) { bandwidth = triad.Median; bwKernel = "triad"; }
        double peak = use512 ? fma512.Median : fma256.Median;
        return new MachineCeilings(bandwidth, peak, isa)
        {
            Copy = copy, CopyNonTemporal = copyNt, Triad = triad, BandwidthKernel = bwKernel, Fma256 = fma256, Fma512 = fma512,
            Threads = threads, ArrayBytes = n * sizeof(float), Elapsed = total.Elapsed,
        };
    }

    /// <summary>
    /// The FMA peak right now (GFLOP/s, median of a short burst of runs with the widest accelerated
    /// vector): for pairing with a measurement taken just after it on a machine whose speed drifts.
    /// </summary>
    public static double FmaPeakNow(double seconds, int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        bool wide = Vector512.IsHardwareAccelerated;
        return MeasureFma(Math.Max(seconds, 0.02), threads, wide, out _).Median;
    }

    /// <summary>
    /// The Vector256 FMA peak of one core in flops per second of CPU time (the process's processor time, Environment.CpuUsage,
    /// with this thread the only busy one): on a machine shared with other processes a core's wall-clock share drifts, but
    /// the work per CPU-second does not, so a kernel timed in CPU seconds can be compared with it. The best of
    /// <paramref name="runs"/> runs of about 20 ms.
    /// </summary>
    public static double FmaPeakPerCpuSecond(int runs = 10)
    {
        int lanes = Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count;
        Func<long, float, float> chain = Vector256.IsHardwareAccelerated ? FmaChains256 : FmaChains128;
        chain(1000, 1f);
        const long iters = 2_000_000;
        double best = 0;
        for (int r = 0; r < Math.Max(1, runs); r++)
        {
            var t0 = Environment.CpuUsage.TotalTime;
            _sink += chain(iters, 1f + 0.001f * r);
            double cpu = (Environment.CpuUsage.TotalTime - t0).TotalSeconds;
            if (cpu > 0) best = Math.Max(best, 2.0 * Chains * lanes * iters / cpu / 1e9);
        }
        return best;
    }

    public override string ToString() =>
        $"bandwidth {BandwidthGBs:F1} GB/s ({BandwidthKernel}; copy {Copy}, copy-nt {CopyNonTemporal}, triad {Triad}); FMA peak {FmaGFlops:F1} GFLOP/s " +
        $"(V256 {Fma256}, V512 {Fma512}); {Isa}; {Threads} threads, arrays {ArrayBytes >> 20} MB";

    // ---------------------------------------------------------------------------------------------
    // Harness

    /// <summary>One warm-up, then timed runs until the share is spent (3 ≤ runs ≤ 100).</summary>
    private static Spread Repeat(double shareSeconds, Func<double> run, Func<double, double> rate)
    {
        run();
        var rates = new List<double>();
        double spent = 0;
        while (rates.Count < 3 || (spent < shareSeconds && rates.Count < 100))
        {
            double t = run();
            spent += t;
            rates.Add(rate(t));
        }
        return Spread.Of(rates);
    }

    private unsafe delegate void RangeKernel(long lo, long hi);

    /// <summary>Runs the kernel on <paramref name="threads"/> contiguous, 64-byte aligned chunks of [0, n) in parallel; seconds.</summary>
    private static double TimeParallel(int threads, long n, RangeKernel kernel)
    {
        long chunk = n / threads;
        chunk -= chunk % 16;
        var sw = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            long lo = i * chunk;
            long hi = i == threads - 1 ? n : lo + chunk;
            kernel(lo, hi);
        });
        return sw.Elapsed.TotalSeconds;
    }

    private static unsafe float* Alloc(long n) => (float*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);

    /// <summary>Random floats in [-1, 1) (never time on zeros); also first-touches every page.</summary>
    private static unsafe void FillRandom(float* p, long n, int threads, ulong seed)
    {
        long chunk = n / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            long lo = i * chunk, hi = i == threads - 1 ? n : lo + chunk;
            ulong s = seed * 0x9E3779B97F4A7C15UL + (ulong)i * 0xD1B54A32D192ED03UL + 1;
            for (long k = lo; k < hi; k++)
            {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                p[k] = (float)((s >> 40) * (1.0 / (1UL << 23)) - 1.0);
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // Bandwidth kernels (ranges are multiples of 16 floats except possibly the last one's end)

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void CopyKernel(float* src, float* dst, long lo, long hi)
    {
        long i = lo;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 64 <= hi; i += 64)
            {
                var v0 = Vector512.Load(src + i);
                var v1 = Vector512.Load(src + i + 16);
                var v2 = Vector512.Load(src + i + 32);
                var v3 = Vector512.Load(src + i + 48);
                v0.Store(dst + i); v1.Store(dst + i + 16); v2.Store(dst + i + 32); v3.Store(dst + i + 48);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= hi; i += 32)
            {
                var v0 = Vector256.Load(src + i);
                var v1 = Vector256.Load(src + i + 8);
                var v2 = Vector256.Load(src + i + 16);
                var v3 = Vector256.Load(src + i + 24);
                v0.Store(dst + i); v1.Store(dst + i + 8); v2.Store(dst + i + 16); v3.Store(dst + i + 24);
            }
        }
        else
        {
            for (; i + 4 <= hi; i += 4) Vector128.Load(src + i).Store(dst + i);
        }
        for (; i < hi; i++) dst[i] = src[i];
    }

    /// <summary>Copy with streaming stores (chunks start 64-byte aligned: buffers are 64-byte aligned and
    /// chunk boundaries are multiples of 16 floats).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void CopyNonTemporalKernel(float* src, float* dst, long lo, long hi)
    {
        long i = lo;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 64 <= hi; i += 64)
            {
                var v0 = Vector512.LoadAligned(src + i);
                var v1 = Vector512.LoadAligned(src + i + 16);
                var v2 = Vector512.LoadAligned(src + i + 32);
                var v3 = Vector512.LoadAligned(src + i + 48);
                v0.StoreAlignedNonTemporal(dst + i); v1.StoreAlignedNonTemporal(dst + i + 16);
                v2.StoreAlignedNonTemporal(dst + i + 32); v3.StoreAlignedNonTemporal(dst + i + 48);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= hi; i += 32)
            {
                var v0 = Vector256.LoadAligned(src + i);
                var v1 = Vector256.LoadAligned(src + i + 8);
                var v2 = Vector256.LoadAligned(src + i + 16);
                var v3 = Vector256.LoadAligned(src + i + 24);
                v0.StoreAlignedNonTemporal(dst + i); v1.StoreAlignedNonTemporal(dst + i + 8);
                v2.StoreAlignedNonTemporal(dst + i + 16); v3.StoreAlignedNonTemporal(dst + i + 24);
            }
        }
        for (; i < hi; i++) dst[i] = src[i];
        if (Sse.IsSupported) Sse.StoreFence();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TriadKernel(float* a, float* b, float* c, float s, long lo, long hi)
    {
        long i = lo;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i + 32 <= hi; i += 32)
            {
                Vector512.FusedMultiplyAdd(vs, Vector512.Load(c + i), Vector512.Load(b + i)).Store(a + i);
                Vector512.FusedMultiplyAdd(vs, Vector512.Load(c + i + 16), Vector512.Load(b + i + 16)).Store(a + i + 16);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i + 16 <= hi; i += 16)
            {
                Vector256.FusedMultiplyAdd(vs, Vector256.Load(c + i), Vector256.Load(b + i)).Store(a + i);
                Vector256.FusedMultiplyAdd(vs, Vector256.Load(c + i + 8), Vector256.Load(b + i + 8)).Store(a + i + 8);
            }
        }
        else
        {
            var vs = Vector128.Create(s);
            for (; i + 4 <= hi; i += 4) (Vector128.Load(b + i) + vs * Vector128.Load(c + i)).Store(a + i);
        }
        for (; i < hi; i++) a[i] = b[i] + s * c[i];
    }

    // ---------------------------------------------------------------------------------------------
    // FMA peak: 12 independent register-resident chains per thread (covers latency 4 × 2 pipes with margin)

    private const int Chains = 12;

    private static Spread MeasureFma(double shareSeconds, int threads, bool wide, out string isa)
    {
        int lanes;
        Func<long, float, float> chain;
        if (wide)
        {
            lanes = Vector512<float>.Count; chain = FmaChains512; isa = "Vector512 (" + X86Features() + ")";
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            lanes = Vector256<float>.Count; chain = FmaChains256; isa = "Vector256 (" + X86Features() + ")";
        }
        else
        {
            lanes = Vector128<float>.Count; chain = FmaChains128;
            isa = "Vector128 (" + (AdvSimd.IsSupported ? "AdvSimd" : X86Features()) + ")";
        }
        // Calibrate so that one run takes about 1/8 of the share (at least ~5 ms).
        chain(1000, 1f);
        long calib = 200_000;
        double tc = TimeFma(threads, calib, chain);
        double target = Math.Max(shareSeconds / 8, 0.005);
        long iters = Math.Max(10_000, (long)(calib * target / Math.Max(tc, 1e-6)));
        double flopsPerRun = 2.0 * Chains * lanes * (double)iters * threads;
        return Repeat(shareSeconds, () => TimeFma(threads, iters, chain), t => flopsPerRun / t / 1e9);
    }

    private static float _sink;

    private static double TimeFma(int threads, long iters, Func<long, float, float> chain)
    {
        var sums = new float[threads];
        var sw = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => sums[i] = chain(iters, 1f + 0.001f * i));
        double t = sw.Elapsed.TotalSeconds;
        float s = 0; foreach (var v in sums) s += v;
        _sink += s; // keep the results alive
        return t;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains512(long iters, float seed)
    {
        // acc ← acc·m + k converges to k / (1 − m): no overflow, no denormals.
        var m = Vector512.Create(0.999999f);
        var k = Vector512.Create(seed * 1e-6f);
        Vector512<float> a0 = Vector512.Create(seed), a1 = a0 + k, a2 = a1 + k, a3 = a2 + k, a4 = a3 + k, a5 = a4 + k,
            a6 = a5 + k, a7 = a6 + k, a8 = a7 + k, a9 = a8 + k, a10 = a9 + k, a11 = a10 + k;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, k); a1 = Vector512.FusedMultiplyAdd(a1, m, k);
            a2 = Vector512.FusedMultiplyAdd(a2, m, k); a3 = Vector512.FusedMultiplyAdd(a3, m, k);
            a4 = Vector512.FusedMultiplyAdd(a4, m, k); a5 = Vector512.FusedMultiplyAdd(a5, m, k);
            a6 = Vector512.FusedMultiplyAdd(a6, m, k); a7 = Vector512.FusedMultiplyAdd(a7, m, k);
            a8 = Vector512.FusedMultiplyAdd(a8, m, k); a9 = Vector512.FusedMultiplyAdd(a9, m, k);
            a10 = Vector512.FusedMultiplyAdd(a10, m, k); a11 = Vector512.FusedMultiplyAdd(a11, m, k);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains256(long iters, float seed)
    {
        var m = Vector256.Create(0.999999f);
        var k = Vector256.Create(seed * 1e-6f);
        Vector256<float> a0 = Vector256.Create(seed), a1 = a0 + k, a2 = a1 + k, a3 = a2 + k, a4 = a3 + k, a5 = a4 + k,
            a6 = a5 + k, a7 = a6 + k, a8 = a7 + k, a9 = a8 + k, a10 = a9 + k, a11 = a10 + k;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, k); a1 = Vector256.FusedMultiplyAdd(a1, m, k);
            a2 = Vector256.FusedMultiplyAdd(a2, m, k); a3 = Vector256.FusedMultiplyAdd(a3, m, k);
            a4 = Vector256.FusedMultiplyAdd(a4, m, k); a5 = Vector256.FusedMultiplyAdd(a5, m, k);
            a6 = Vector256.FusedMultiplyAdd(a6, m, k); a7 = Vector256.FusedMultiplyAdd(a7, m, k);
            a8 = Vector256.FusedMultiplyAdd(a8, m, k); a9 = Vector256.FusedMultiplyAdd(a9, m, k);
            a10 = Vector256.FusedMultiplyAdd(a10, m, k); a11 = Vector256.FusedMultiplyAdd(a11, m, k);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains128(long iters, float seed)
    {
        var m = Vector128.Create(0.999999f);
        var k = Vector128.Create(seed * 1e-6f);
        Vector128<float> a0 = Vector128.Create(seed), a1 = a0 + k, a2 = a1 + k, a3 = a2 + k, a4 = a3 + k, a5 = a4 + k,
            a6 = a5 + k, a7 = a6 + k, a8 = a7 + k, a9 = a8 + k, a10 = a9 + k, a11 = a10 + k;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, m, k); a1 = Vector128.FusedMultiplyAdd(a1, m, k);
            a2 = Vector128.FusedMultiplyAdd(a2, m, k); a3 = Vector128.FusedMultiplyAdd(a3, m, k);
            a4 = Vector128.FusedMultiplyAdd(a4, m, k); a5 = Vector128.FusedMultiplyAdd(a5, m, k);
            a6 = Vector128.FusedMultiplyAdd(a6, m, k); a7 = Vector128.FusedMultiplyAdd(a7, m, k);
            a8 = Vector128.FusedMultiplyAdd(a8, m, k); a9 = Vector128.FusedMultiplyAdd(a9, m, k);
            a10 = Vector128.FusedMultiplyAdd(a10, m, k); a11 = Vector128.FusedMultiplyAdd(a11, m, k);
        }
        return Vector128.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    private static string X86Features()
    {
        var f = new List<string>();
        if (Avx512F.IsSupported) f.Add("AVX-512F");
        if (Avx2.IsSupported) f.Add("AVX2");
        if (Fma.IsSupported) f.Add("FMA3");
        if (AdvSimd.IsSupported) f.Add("AdvSimd");
        return f.Count == 0 ? "no SIMD FMA detected" : string.Join("+", f);
    }
}

/// <summary>The roofline bound of one kernel run: the time it cannot beat on the measured machine.</summary>
public readonly record struct RooflineBound(double Bytes, double Flops, double MemorySeconds, double ComputeSeconds)
{
    /// <summary>max(bytes / bandwidth, flops / peak).</summary>
    public double Seconds => Math.Max(MemorySeconds, ComputeSeconds);
    public bool MemoryBound => MemorySeconds >= ComputeSeconds;
    /// <summary>Arithmetic intensity in flops per byte.</summary>
    public double Intensity => Bytes > 0 ? Flops / Bytes : double.PositiveInfinity;
    /// <summary>How close a measured time comes to the bound: 100 % = at the ceiling.</summary>
    public double PercentOfBound(double measuredSeconds) => measuredSeconds > 0 ? 100.0 * Seconds / measuredSeconds : double.NaN;
    public double PercentOfBound(TimeSpan measured) => PercentOfBound(measured.TotalSeconds);
    public override string ToString() =>
        $"bound {Seconds * 1e3:F3} ms ({(MemoryBound ? "memory" : "compute")}-bound; memory {MemorySeconds * 1e3:F3} ms, compute {ComputeSeconds * 1e3:F3} ms)";
}

/// <summary>Roofline helper: bytes that must move (each input read once, each output written once) and
/// flops, against the measured <see cref="MachineCeilings"/>.</summary>
public static class Roofline
{
    public static RooflineBound Bound(double bytes, double flops, MachineCeilings ceilings)
    {
        ArgumentNullException.ThrowIfNull(ceilings);
        if (bytes < 0 || flops < 0) throw new ArgumentOutOfRangeException(bytes < 0 ? nameof(bytes) : nameof(flops));
        double mem = bytes / (ceilings.BandwidthGBs * 1e9);
        double comp = flops / (ceilings.FmaGFlops * 1e9);
        return new RooflineBound(bytes, flops, mem, comp);
    }

    /// <summary>max(bytes / bandwidth, flops / peak), in seconds.</summary>
    public static double BoundSeconds(double bytes, double flops, MachineCeilings ceilings) => Bound(bytes, flops, ceilings).Seconds;

    /// <summary>100 × bound / measured (100 % = at the ceiling).</summary>
    public static double PercentOfBound(double measuredSeconds, double bytes, double flops, MachineCeilings ceilings) =>
        Bound(bytes, flops, ceilings).PercentOfBound(measuredSeconds);
}
