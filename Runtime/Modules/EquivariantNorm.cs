using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// Equivariant per-channel normalization: for each network, tensor and channel, the entries are
/// standardized by their own mean and variance (statistics over all entries are invariant to
/// permutations, so the map stays equivariant), then scaled and shifted by a learned value per tensor
/// and channel (<c>weight</c> starts at 1, <c>bias</c> at 0). Optionally a ReLU follows in the same pass
/// (<see cref="Forward(WeightSpaceBatch, bool)"/>), and <see cref="Backward"/> then differentiates both.
/// </summary>
/// <remarks>
/// Arithmetic (the definition the tests check bit for bit): per network, tensor and channel, the sums Σx and Σx²
/// in double over the entries in order; mean = (float)(Σx/count), invStd = (float)(1/√(max(0, Σx²/count − mean²) + ε))
/// (the mean in double there); x̂ = (x − mean)·invStd and y = x̂·w + b in float, with the ReLU y ≤ 0 → 0.
/// Backward: x̂ is recomputed from the input (bitwise the forward's, so nothing of batch size but the output is
/// stored); ĝ = the output gradient, zeroed where y ≤ 0 when the ReLU is fused; the sums Σĝ and Σĝ·x̂ (blocks of
/// <see cref="GradientSumBlock"/> entries summed in float, the blocks' sums added in double) give the parameter gradients and a = (float)(w·Σĝ/count), k = (float)(w·Σĝx̂/count);
/// then gx = ((ĝ·w − a) − x̂·k)·invStd in float.
/// </remarks>
public sealed class EquivariantNorm : Module
{
    public const float Epsilon = 1e-5f;
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    private readonly int _tensors, _channels;
    private WeightSpaceBatch? _input, _output, _grad;
    private float[] _mean = Array.Empty<float>(), _invStd = Array.Empty<float>();
    private bool _relu;
    private double[,] _partW = new double[0, 0], _partB = new double[0, 0];

    public EquivariantNorm(int tensors, int channels)
    {
        _tensors = tensors; _channels = channels;
        Weight = new Parameter(tensors, channels) { Decay = false };
        Bias = new Parameter(tensors, channels) { Decay = false };
        Array.Fill(Weight.Data, 1f);
    }

    protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", Weight), ("bias", Bias) };

    /// <summary>Whether the last <see cref="Forward(WeightSpaceBatch, bool)"/> applied the ReLU (so <see cref="Backward"/> differentiates it too).</summary>
    public bool AppliedRelu => _relu;

    /// <summary>The normalization alone. The input must not change before <see cref="Backward"/> (it is read again there).</summary>
    public WeightSpaceBatch Forward(WeightSpaceBatch x) => Forward(x, relu: false);

    /// <summary>
    /// The normalization, followed by a ReLU in the same pass when <paramref name="relu"/> is set (bitwise the
    /// normalization and then <see cref="Nn.Activations.ReluForward"/>). The input must not change before
    /// <see cref="Backward"/> (it is read again there).
    /// </summary>
    public WeightSpaceBatch Forward(WeightSpaceBatch x, bool relu)
    {
        if (x.Channels != _channels || x.Tensors.Length != _tensors) throw new ArgumentException($"EquivariantNorm expects {_tensors} tensors of {_channels} channels.");
        if (_output == null || _output.Batch != x.Batch || !ReferenceEquals(_output.Space, x.Space))
        {
            _output = new WeightSpaceBatch(x.Space, x.Batch, _channels);
            _mean = new float[x.Batch * _tensors * _channels];
            _invStd = new float[x.Batch * _tensors * _channels];
        }
        _input = x; _relu = relu;
        var y = _output;
        int c = _channels;
        Parallel.For(0, x.Batch, n =>
        {
            Span<double> sum = stackalloc double[c];
            Span<double> sq = stackalloc double[c];
            Span<float> wt = stackalloc float[c];
            Span<float> bt = stackalloc float[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = x.Tensors[t].Length / x.Batch;
                int count = size / c;
                var xs = x.Tensors[t].Data.AsSpan(n * size, size);
                var ys = y.Tensors[t].Data.AsSpan(n * size, size);
                // Per channel, the entries in order (the same sums, bit for bit, as one pass over i with
                // i % c); channels are contiguous, so a row of channels is a few vector operations.
                ChannelSums(xs, count, c, sum, sq);
                var mean = _mean.AsSpan((n * _tensors + t) * c, c);
                var inv = _invStd.AsSpan((n * _tensors + t) * c, c);
                for (int ch = 0; ch < c; ch++)
                {
                    double m = sum[ch] / count;
                    double var = Math.Max(0, sq[ch] / count - m * m);
                    inv[ch] = (float)(1.0 / Math.Sqrt(var + Epsilon));
                    mean[ch] = (float)m;
                    wt[ch] = Weight.Data[t * c + ch]; bt[ch] = Bias.Data[t * c + ch];
                }
                if (relu) Normalize<True>(xs, ys, count, c, mean, inv, wt, bt);
                else Normalize<False>(xs, ys, count, c, mean, inv, wt, bt);
            }
        });
        return y;
    }

    // Compile-time flags: the JIT specializes the generic methods per struct, so the ReLU test is free.
    private interface IFlag { static abstract bool On { get; } }
    private struct True : IFlag { public static bool On => true; }
    private struct False : IFlag { public static bool On => false; }

    /// <summary>y = x̂·w + b (ReLU'd when <typeparamref name="TRelu"/>), x̂ = (x − mean)·inv, row by row (entries are rows of c channels).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Normalize<TRelu>(ReadOnlySpan<float> xs, Span<float> ys, int count, int c,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> inv, ReadOnlySpan<float> wt, ReadOnlySpan<float> bt) where TRelu : struct, IFlag
    {
        if (xs.Length < count * c || ys.Length < count * c) throw new ArgumentException("Normalize: spans shorter than count × c.");
        ref float xr = ref MemoryMarshal.GetReference(xs); ref float yr = ref MemoryMarshal.GetReference(ys);
        ref float mr = ref MemoryMarshal.GetReference(mean); ref float sr = ref MemoryMarshal.GetReference(inv);
        ref float wr = ref MemoryMarshal.GetReference(wt); ref float br = ref MemoryMarshal.GetReference(bt);
        int cv = Vector256.IsHardwareAccelerated ? c & ~7 : 0;
        for (int e = 0; e < count; e++)
        {
            nuint row = (nuint)e * (nuint)c;
            // The channel vectors' parameters come from L1 each time: the rows stream contiguously, which is what counts.
            for (nuint ch = 0; ch < (nuint)cv; ch += 8)
            {
                var z = (Vector256.LoadUnsafe(ref xr, row + ch) - Vector256.LoadUnsafe(ref mr, ch)) * Vector256.LoadUnsafe(ref sr, ch)
                    * Vector256.LoadUnsafe(ref wr, ch) + Vector256.LoadUnsafe(ref br, ch);
                if (TRelu.On) z = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(z, Vector256<float>.Zero), Vector256<float>.Zero, z);
                z.StoreUnsafe(ref yr, row + ch);
            }
            for (int ch = cv; ch < c; ch++)
            {
                int i = (int)row + ch;
                float z = (xs[i] - mean[ch]) * inv[ch] * wt[ch] + bt[ch];
                ys[i] = TRelu.On && z <= 0f ? 0f : z;
            }
        }
    }

    /// <summary>sum[ch] = Σ_e x[e·c + ch], sq[ch] = Σ_e x² (in double, entries in order, per channel).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ChannelSums(ReadOnlySpan<float> xs, int count, int c, Span<double> sum, Span<double> sq)
    {
        if (xs.Length < count * c) throw new ArgumentException("ChannelSums: span shorter than count × c.");
        sum.Clear(); sq.Clear();
        ref float r = ref MemoryMarshal.GetReference(xs);
        int ch = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Blocks of 32 channels row by row (16 running sums in registers, contiguous reads), then blocks of 8.
            for (; ch + 32 <= c; ch += 32)
            {
                var s0 = Vector256<double>.Zero; var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0; var s5 = s0; var s6 = s0; var s7 = s0;
                var q0 = s0; var q1 = s0; var q2 = s0; var q3 = s0; var q4 = s0; var q5 = s0; var q6 = s0; var q7 = s0;
                for (int e = 0; e < count; e++)
                {
                    nuint i = (nuint)e * (nuint)c + (nuint)ch;
                    var (a0, a1) = Vector256.Widen(Vector256.LoadUnsafe(ref r, i));
                    var (a2, a3) = Vector256.Widen(Vector256.LoadUnsafe(ref r, i + 8));
                    var (a4, a5) = Vector256.Widen(Vector256.LoadUnsafe(ref r, i + 16));
                    var (a6, a7) = Vector256.Widen(Vector256.LoadUnsafe(ref r, i + 24));
                    s0 += a0; s1 += a1; s2 += a2; s3 += a3; s4 += a4; s5 += a5; s6 += a6; s7 += a7;
                    q0 += a0 * a0; q1 += a1 * a1; q2 += a2 * a2; q3 += a3 * a3; q4 += a4 * a4; q5 += a5 * a5; q6 += a6 * a6; q7 += a7 * a7;
                }
                Put(sum, ch, s0, s1, s2, s3, s4, s5, s6, s7);
                Put(sq, ch, q0, q1, q2, q3, q4, q5, q6, q7);
            }
            for (; ch + 8 <= c; ch += 8)
            {
                var s0 = Vector256<double>.Zero; var s1 = s0; var q0 = s0; var q1 = s0;
                for (int e = 0; e < count; e++)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)e * (nuint)c + (nuint)ch));
                    s0 += lo; s1 += hi;
                    q0 += lo * lo; q1 += hi * hi;
                }
                s0.CopyTo(sum.Slice(ch, 4)); s1.CopyTo(sum.Slice(ch + 4, 4));
                q0.CopyTo(sq.Slice(ch, 4)); q1.CopyTo(sq.Slice(ch + 4, 4));
            }
        }
        for (; ch < c; ch++)
        {
            double s = 0, q = 0;
            for (int e = 0, i = ch; e < count; e++, i += c) { double v = xs[i]; s += v; q += v * v; }
            sum[ch] = s; sq[ch] = q;
        }
    }

    /// <summary>Stores 32 channels' double sums (eight vectors of four) at <paramref name="ch"/>.</summary>
    private static void Put(Span<double> to, int ch, Vector256<double> v0, Vector256<double> v1, Vector256<double> v2, Vector256<double> v3,
        Vector256<double> v4, Vector256<double> v5, Vector256<double> v6, Vector256<double> v7)
    {
        v0.CopyTo(to.Slice(ch, 4)); v1.CopyTo(to.Slice(ch + 4, 4)); v2.CopyTo(to.Slice(ch + 8, 4)); v3.CopyTo(to.Slice(ch + 12, 4));
        v4.CopyTo(to.Slice(ch + 16, 4)); v5.CopyTo(to.Slice(ch + 20, 4)); v6.CopyTo(to.Slice(ch + 24, 4)); v7.CopyTo(to.Slice(ch + 28, 4));
    }

    /// <summary>
    /// Back-propagates through the last <see cref="Forward(WeightSpaceBatch, bool)"/> (and its ReLU when it had one):
    /// accumulates the weight and bias gradients, returns the input gradient.
    /// </summary>
    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        var x = _input ?? throw new InvalidOperationException("Backward called before Forward.");
        int c = _channels, batch = x.Batch;
        if (gradOutput.Batch != batch || gradOutput.Channels != c || gradOutput.Tensors.Length != _tensors)
            throw new ArgumentException($"EquivariantNorm.Backward expects the gradient of its last output ({batch} networks, {_tensors} tensors of {c} channels).");
        if (_grad == null || _grad.Batch != batch || !ReferenceEquals(_grad.Space, x.Space)) _grad = new WeightSpaceBatch(x.Space, batch, c);
        var g = _grad;
        bool relu = _relu;
        // Per-network partial parameter gradients, summed in network order (deterministic). Every entry is written
        // below, so the buffers are reused from step to step (fresh ones cost page faults of ~1 MB each per step).
        if (_partW.GetLength(0) != batch || _partW.GetLength(1) != _tensors * c)
        {
            _partW = new double[batch, _tensors * c];
            _partB = new double[batch, _tensors * c];
        }
        var partW = _partW; var partB = _partB;
        Parallel.For(0, batch, n =>
        {
            Span<double> pw = stackalloc double[c];
            Span<double> pb = stackalloc double[c];
            Span<float> wt = stackalloc float[c];
            Span<float> bt = stackalloc float[c];
            Span<float> a = stackalloc float[c];
            Span<float> k = stackalloc float[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = x.Tensors[t].Length / batch;
                int count = size / c;
                var xs = x.Tensors[t].Data.AsSpan(n * size, size);
                var gys = gradOutput.Tensors[t].Data.AsSpan(n * size, size);
                var gxs = g.Tensors[t].Data.AsSpan(n * size, size);
                var mean = _mean.AsSpan((n * _tensors + t) * c, c);
                var inv = _invStd.AsSpan((n * _tensors + t) * c, c);
                for (int ch = 0; ch < c; ch++) { wt[ch] = Weight.Data[t * c + ch]; bt[ch] = Bias.Data[t * c + ch]; }
                if (relu) GradientSums<True>(xs, gys, count, c, mean, inv, wt, bt, pw, pb);
                else GradientSums<False>(xs, gys, count, c, mean, inv, wt, bt, pw, pb);
                for (int ch = 0; ch < c; ch++)
                {
                    partW[n, t * c + ch] = pw[ch]; partB[n, t * c + ch] = pb[ch];
                    a[ch] = (float)(wt[ch] * pb[ch] / count);
                    k[ch] = (float)(wt[ch] * pw[ch] / count);
                }
                if (relu) InputGradient<True>(xs, gys, gxs, count, c, mean, inv, wt, bt, a, k);
                else InputGradient<False>(xs, gys, gxs, count, c, mean, inv, wt, bt, a, k);
            }
        });
        for (int n = 0; n < batch; n++)
            for (int j = 0; j < _tensors * c; j++) { Weight.Grad.Data[j] += (float)partW[n, j]; Bias.Grad.Data[j] += (float)partB[n, j]; }
        return g;
    }

    /// <summary>Entries per float partial sum in the backward's sums (see <see cref="GradientSums"/>).</summary>
    public const int GradientSumBlock = 8;

    /// <summary>
    /// pw[ch] = Σ_e ĝ·x̂, pb[ch] = Σ_e ĝ per channel: the entries in blocks of <see cref="GradientSumBlock"/> in order, each
    /// block summed in float (products in float) and added to a double total. Rows stream contiguously: the block's rows
    /// (8 × c floats) stay in L1 while each channel vector goes over them, and one widening per block instead of per entry
    /// keeps the pass near memory speed.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GradientSums<TRelu>(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, int count, int c,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> inv, ReadOnlySpan<float> wt, ReadOnlySpan<float> bt, Span<double> pw, Span<double> pb)
        where TRelu : struct, IFlag
    {
        if (xs.Length < count * c || gys.Length < count * c || pw.Length < c || pb.Length < c) throw new ArgumentException("GradientSums: spans too short.");
        pw.Clear(); pb.Clear();
        ref float xr = ref MemoryMarshal.GetReference(xs); ref float gr = ref MemoryMarshal.GetReference(gys);
        ref float mr = ref MemoryMarshal.GetReference(mean); ref float sr = ref MemoryMarshal.GetReference(inv);
        ref float wr = ref MemoryMarshal.GetReference(wt); ref float br = ref MemoryMarshal.GetReference(bt);
        ref double pwr = ref MemoryMarshal.GetReference(pw); ref double pbr = ref MemoryMarshal.GetReference(pb);
        int cv = Vector256.IsHardwareAccelerated ? c & ~7 : 0;
        for (int e0 = 0; e0 < count; e0 += GradientSumBlock)
        {
            int e1 = Math.Min(count, e0 + GradientSumBlock);
            for (nuint ch = 0; ch < (nuint)cv; ch += 8)
            {
                var m = Vector256.LoadUnsafe(ref mr, ch); var s = Vector256.LoadUnsafe(ref sr, ch);
                var w = Vector256.LoadUnsafe(ref wr, ch); var b = Vector256.LoadUnsafe(ref br, ch);
                var fp = Vector256<float>.Zero; var fb = fp;
                for (int e = e0; e < e1; e++)
                {
                    nuint i = (nuint)e * (nuint)c + ch;
                    var h = (Vector256.LoadUnsafe(ref xr, i) - m) * s;
                    var gy = Vector256.LoadUnsafe(ref gr, i);
                    if (TRelu.On) gy = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(h * w + b, Vector256<float>.Zero), Vector256<float>.Zero, gy);
                    fp += gy * h; fb += gy;
                }
                var (plo, phi) = Vector256.Widen(fp);
                var (blo, bhi) = Vector256.Widen(fb);
                (Vector256.LoadUnsafe(ref pwr, ch) + plo).StoreUnsafe(ref pwr, ch);
                (Vector256.LoadUnsafe(ref pwr, ch + 4) + phi).StoreUnsafe(ref pwr, ch + 4);
                (Vector256.LoadUnsafe(ref pbr, ch) + blo).StoreUnsafe(ref pbr, ch);
                (Vector256.LoadUnsafe(ref pbr, ch + 4) + bhi).StoreUnsafe(ref pbr, ch + 4);
            }
            for (int ch = cv; ch < c; ch++)
            {
                float fp = 0, fb = 0;
                for (int e = e0; e < e1; e++)
                {
                    int i = e * c + ch;
                    float h = (xs[i] - mean[ch]) * inv[ch];
                    float gy = TRelu.On && h * wt[ch] + bt[ch] <= 0f ? 0f : gys[i];
                    fp += gy * h; fb += gy;
                }
                pw[ch] += fp; pb[ch] += fb;
            }
        }
    }

    /// <summary>gx = ((ĝ·w − a) − x̂·k)·invStd per entry, in float, row by row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void InputGradient<TRelu>(ReadOnlySpan<float> xs, ReadOnlySpan<float> gys, Span<float> gxs, int count, int c,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> inv, ReadOnlySpan<float> wt, ReadOnlySpan<float> bt, ReadOnlySpan<float> a, ReadOnlySpan<float> k)
        where TRelu : struct, IFlag
    {
        if (xs.Length < count * c || gys.Length < count * c || gxs.Length < count * c) throw new ArgumentException("InputGradient: spans shorter than count × c.");
        ref float xr = ref MemoryMarshal.GetReference(xs); ref float gr = ref MemoryMarshal.GetReference(gys); ref float dr = ref MemoryMarshal.GetReference(gxs);
        ref float mr = ref MemoryMarshal.GetReference(mean); ref float sr = ref MemoryMarshal.GetReference(inv);
        ref float wr = ref MemoryMarshal.GetReference(wt); ref float br = ref MemoryMarshal.GetReference(bt);
        ref float ar = ref MemoryMarshal.GetReference(a); ref float kr = ref MemoryMarshal.GetReference(k);
        int cv = Vector256.IsHardwareAccelerated ? c & ~7 : 0;
        for (int e = 0; e < count; e++)
        {
            nuint row = (nuint)e * (nuint)c;
            for (nuint ch = 0; ch < (nuint)cv; ch += 8)
            {
                var s = Vector256.LoadUnsafe(ref sr, ch); var w = Vector256.LoadUnsafe(ref wr, ch);
                var h = (Vector256.LoadUnsafe(ref xr, row + ch) - Vector256.LoadUnsafe(ref mr, ch)) * s;
                var gy = Vector256.LoadUnsafe(ref gr, row + ch);
                if (TRelu.On) gy = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(h * w + Vector256.LoadUnsafe(ref br, ch), Vector256<float>.Zero), Vector256<float>.Zero, gy);
                ((((gy * w) - Vector256.LoadUnsafe(ref ar, ch)) - h * Vector256.LoadUnsafe(ref kr, ch)) * s).StoreUnsafe(ref dr, row + ch);
            }
            for (int ch = cv; ch < c; ch++)
            {
                int i = (int)row + ch;
                float h = (xs[i] - mean[ch]) * inv[ch];
                float gy = TRelu.On && h * wt[ch] + bt[ch] <= 0f ? 0f : gys[i];
                gxs[i] = ((gy * wt[ch] - a[ch]) - h * k[ch]) * inv[ch];
            }
        }
    }
}
