using System;
using System.Collections.Generic;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Models;

/// <summary>
/// Equivariant per-channel normalization: for each network, tensor and channel, the entries are
/// standardized by their own mean and variance (statistics over all entries are invariant to
/// permutations, so the map stays equivariant), then scaled and shifted by a learned value per tensor
/// and channel (<c>weight</c> starts at 1, <c>bias</c> at 0).
/// </summary>
public sealed class EquivariantNorm : Module
{
    public const float Epsilon = 1e-5f;
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    private readonly int _tensors, _channels;
    private WeightSpaceBatch? _xhat, _output, _grad;
    private float[] _invStd = Array.Empty<float>();

    public EquivariantNorm(int tensors, int channels)
    {
        _tensors = tensors; _channels = channels;
        Weight = new Parameter(tensors, channels) { Decay = false };
        Bias = new Parameter(tensors, channels) { Decay = false };
        Array.Fill(Weight.Data, 1f);
    }

    protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", Weight), ("bias", Bias) };

    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        if (x.Channels != _channels || x.Tensors.Length != _tensors) throw new ArgumentException($"EquivariantNorm expects {_tensors} tensors of {_channels} channels.");
        if (_output == null || _output.Batch != x.Batch)
        {
            _output = new WeightSpaceBatch(x.Space, x.Batch, _channels);
            _xhat = new WeightSpaceBatch(x.Space, x.Batch, _channels);
            _invStd = new float[x.Batch * _tensors * _channels];
        }
        var xhat = _xhat!; var y = _output;
        int c = _channels;
        Parallel.For(0, x.Batch, n =>
        {
            Span<double> sum = stackalloc double[c];
            Span<double> sq = stackalloc double[c];
            Span<float> mean = stackalloc float[c];
            Span<float> inv = stackalloc float[c];
            Span<float> wt = stackalloc float[c];
            Span<float> bt = stackalloc float[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = x.Tensors[t].Length / x.Batch;
                int count = size / c;
                var xs = x.Tensors[t].Data.AsSpan(n * size, size);
                var hs = xhat.Tensors[t].Data.AsSpan(n * size, size);
                var ys = y.Tensors[t].Data.AsSpan(n * size, size);
                // Per channel, the entries in order (the same sums, bit for bit, as one pass over i with
                // i % c); channels are contiguous, so a row of channels is a few vector operations.
                ChannelSums(xs, count, c, sum, sq);
                for (int ch = 0; ch < c; ch++)
                {
                    double m = sum[ch] / count;
                    double var = Math.Max(0, sq[ch] / count - m * m);
                    float invStd = (float)(1.0 / Math.Sqrt(var + Epsilon));
                    _invStd[(n * _tensors + t) * c + ch] = invStd;
                    mean[ch] = (float)m; inv[ch] = invStd;
                    wt[ch] = Weight.Data[t * c + ch]; bt[ch] = Bias.Data[t * c + ch];
                }
                for (int e = 0; e < count; e++)
                {
                    var xr = xs.Slice(e * c, c); var hr = hs.Slice(e * c, c); var yr = ys.Slice(e * c, c);
                    int ch = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ch + 8 <= c; ch += 8)
                        {
                            var h = (Vector256.Create(xr.Slice(ch, 8)) - Vector256.Create(mean.Slice(ch, 8))) * Vector256.Create(inv.Slice(ch, 8));
                            h.CopyTo(hr.Slice(ch, 8));
                            (h * Vector256.Create(wt.Slice(ch, 8)) + Vector256.Create(bt.Slice(ch, 8))).CopyTo(yr.Slice(ch, 8));
                        }
                    for (; ch < c; ch++)
                    {
                        float h = (xr[ch] - mean[ch]) * inv[ch];
                        hr[ch] = h;
                        yr[ch] = h * wt[ch] + bt[ch];
                    }
                }
            }
        });
        return y;
    }

    /// <summary>sum[ch] = Σ_e x[e·c + ch], sq[ch] = Σ_e x² (in double, entries in order, per channel).</summary>
    private static void ChannelSums(ReadOnlySpan<float> xs, int count, int c, Span<double> sum, Span<double> sq)
    {
        sum.Clear(); sq.Clear();
        int ch = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; ch + 8 <= c; ch += 8)
            {
                // Eight channels' running sums in registers across all entries.
                var s0 = Vector256<double>.Zero; var s1 = s0; var q0 = s0; var q1 = s0;
                for (int e = 0; e < count; e++)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.Create(xs.Slice(e * c + ch, 8)));
                    s0 += lo; s1 += hi;
                    q0 += lo * lo; q1 += hi * hi;
                }
                s0.CopyTo(sum.Slice(ch, 4)); s1.CopyTo(sum.Slice(ch + 4, 4));
                q0.CopyTo(sq.Slice(ch, 4)); q1.CopyTo(sq.Slice(ch + 4, 4));
            }
        for (; ch < c; ch++)
        {
            double s = 0, q = 0;
            for (int e = 0; e < count; e++) { double v = xs[e * c + ch]; s += v; q += v * v; }
            sum[ch] = s; sq[ch] = q;
        }
    }

    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        var xhat = _xhat ?? throw new InvalidOperationException("Backward called before Forward.");
        int c = _channels, batch = xhat.Batch;
        if (_grad == null || _grad.Batch != batch) _grad = new WeightSpaceBatch(xhat.Space, batch, c);
        var g = _grad;
        // Per-network partial parameter gradients, summed in network order (deterministic).
        var partW = new double[batch, _tensors * c];
        var partB = new double[batch, _tensors * c];
        Parallel.For(0, batch, n =>
        {
            Span<double> sg = stackalloc double[c];
            Span<double> sgh = stackalloc double[c];
            Span<double> pw = stackalloc double[c];
            Span<double> pb = stackalloc double[c];
            Span<float> wt = stackalloc float[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = xhat.Tensors[t].Length / batch;
                int count = size / c;
                var hs = xhat.Tensors[t].Data.AsSpan(n * size, size);
                var gys = gradOutput.Tensors[t].Data.AsSpan(n * size, size);
                var gxs = g.Tensors[t].Data.AsSpan(n * size, size);
                for (int ch = 0; ch < c; ch++) wt[ch] = Weight.Data[t * c + ch];
                // Per channel, entries in order: the same double sums as one pass over i with i % c.
                sg.Clear(); sgh.Clear(); pw.Clear(); pb.Clear();
                int c0 = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; c0 + 4 <= c; c0 += 4)
                    {
                        var w4 = Vector128.Create(wt.Slice(c0, 4));
                        var aG = Vector256<double>.Zero; var aGH = aG; var aW = aG; var aB = aG;
                        for (int e = 0; e < count; e++)
                        {
                            var gy = Vector128.Create(gys.Slice(e * c + c0, 4));
                            var h = Vector128.Create(hs.Slice(e * c + c0, 4));
                            var gh = Vector256.WidenLower(Vector256.Create(gy * w4, Vector128<float>.Zero));  // float product, then double
                            var hd = Vector256.WidenLower(Vector256.Create(h, Vector128<float>.Zero));
                            aG += gh;
                            aGH += gh * hd;
                            aW += Vector256.WidenLower(Vector256.Create(gy * h, Vector128<float>.Zero));
                            aB += Vector256.WidenLower(Vector256.Create(gy, Vector128<float>.Zero));
                        }
                        aG.CopyTo(sg.Slice(c0, 4)); aGH.CopyTo(sgh.Slice(c0, 4)); aW.CopyTo(pw.Slice(c0, 4)); aB.CopyTo(pb.Slice(c0, 4));
                    }
                for (; c0 < c; c0++)
                {
                    double aG = 0, aGH = 0, aW = 0, aB = 0;
                    for (int e = 0; e < count; e++)
                    {
                        int i = e * c + c0;
                        double gh = gys[i] * wt[c0];
                        aG += gh; aGH += gh * hs[i];
                        aW += gys[i] * hs[i];
                        aB += gys[i];
                    }
                    sg[c0] = aG; sgh[c0] = aGH; pw[c0] = aW; pb[c0] = aB;
                }
                for (int ch = 0; ch < c; ch++) { partW[n, t * c + ch] = pw[ch]; partB[n, t * c + ch] = pb[ch]; }
                var invs = _invStd.AsSpan((n * _tensors + t) * c, c);
                var cnt = Vector256.Create((double)count);
                for (int e = 0; e < count; e++)
                {
                    int ch = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ch + 4 <= c; ch += 4)
                        {
                            int i = e * c + ch;
                            var gh = Vector256.WidenLower(Vector256.Create(Vector128.Create(gys.Slice(i, 4)) * Vector128.Create(wt.Slice(ch, 4)), Vector128<float>.Zero));
                            var hd = Vector256.WidenLower(Vector256.Create(Vector128.Create(hs.Slice(i, 4)), Vector128<float>.Zero));
                            var inv = Vector256.WidenLower(Vector256.Create(Vector128.Create(invs.Slice(ch, 4)), Vector128<float>.Zero));
                            // Same operations in the same order as the scalar line below.
                            var v = inv * ((gh - Vector256.Create(sg.Slice(ch, 4)) / cnt) - hd * Vector256.Create(sgh.Slice(ch, 4)) / cnt);
                            Vector256.Narrow(v, Vector256<double>.Zero).GetLower().CopyTo(gxs.Slice(i, 4));
                        }
                    for (; ch < c; ch++)
                    {
                        int i = e * c + ch;
                        double gh = gys[i] * wt[ch];
                        gxs[i] = (float)(invs[ch] * (gh - sg[ch] / count - hs[i] * sgh[ch] / count));
                    }
                }
            }
        });
        for (int n = 0; n < batch; n++)
            for (int j = 0; j < _tensors * c; j++) { Weight.Grad.Data[j] += (float)partW[n, j]; Bias.Grad.Data[j] += (float)partB[n, j]; }
        return g;
    }
}
