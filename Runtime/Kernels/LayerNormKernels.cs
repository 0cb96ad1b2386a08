using System;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// LayerNorm over the last axis of a block of rows (PyTorch: <c>nn.LayerNorm(width)</c>): each row of
/// <c>width</c> values is standardized by its own mean and variance, then scaled and shifted per column.
/// The one implementation of this math: <see cref="Modules.ChannelLayerNorm"/> applies it to weight-space features
/// (a row = one entry's channels), the product model to node and edge features.
/// </summary>
/// <remarks>
/// Arithmetic: per row, mean = Σx/width and var = Σ(x − mean)²/width in double (biased, as PyTorch);
/// invStd = (float)(1/√(var + ε)); x̂ = (x − (float)mean)·invStd and y = x̂·w + b in float.
/// Backward with ĝ = gy·w: gx = invStd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) (the means in double), gw += Σ_rows gy·x̂,
/// gb += Σ_rows gy (in double, rows in order, so a caller that sums its blocks in a fixed order is deterministic).
/// With 256-bit vectors the columns go 8 at a time: the row sums (mean, variance, mean(ĝ), mean(ĝ·x̂)) then add in
/// 8 double lanes before one horizontal sum, so they may differ from a serial sum in the last bit of a double; the
/// per-element float arithmetic and the per-column gw, gb sums are the same operations either way.
/// </remarks>
public static class LayerNormKernels
{
    public const float Epsilon = 1e-5f;

    /// <summary>Normalizes <paramref name="rows"/> rows of <paramref name="width"/> values; stores each row's mean and 1/σ.</summary>
    public static void Forward(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Span<float> y, Span<float> mean, Span<float> invStd)
    {
        int vec = Vector256.IsHardwareAccelerated ? width & ~7 : 0;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var yr = y.Slice(r * width, width);
            var s0 = Vector256<double>.Zero; var s1 = Vector256<double>.Zero;
            int c = 0;
            for (; c < vec; c += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(xr.Slice(c, 8)));
                s0 += lo; s1 += hi;
            }
            double s = Vector256.Sum(s0 + s1);
            for (; c < width; c++) s += xr[c];
            double mu = s / width, v = 0;
            var m0 = Vector256.Create(mu);
            s0 = Vector256<double>.Zero; s1 = Vector256<double>.Zero;
            for (c = 0; c < vec; c += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(xr.Slice(c, 8)));
                lo -= m0; hi -= m0;
                s0 += lo * lo; s1 += hi * hi;
            }
            v = Vector256.Sum(s0 + s1);
            for (; c < width; c++) { double d = xr[c] - mu; v += d * d; }
            float m = (float)mu, inv = (float)(1.0 / Math.Sqrt(v / width + Epsilon));
            mean[r] = m; invStd[r] = inv;
            var mv = Vector256.Create(m); var iv = Vector256.Create(inv);
            for (c = 0; c < vec; c += 8)
                ((Vector256.Create(xr.Slice(c, 8)) - mv) * iv * Vector256.Create(weight.Slice(c, 8)) + Vector256.Create(bias.Slice(c, 8))).CopyTo(yr.Slice(c, 8));
            for (; c < width; c++) yr[c] = (xr[c] - m) * inv * weight[c] + bias[c];
        }
    }

    /// <summary>Input gradient into <paramref name="gx"/> (overwritten); parameter gradients added to <paramref name="gw"/>, <paramref name="gb"/>.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, int rows, int width, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> gx, Span<double> gw, Span<double> gb)
    {
        int vec = Vector256.IsHardwareAccelerated ? width & ~7 : 0;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var gr = gy.Slice(r * width, width);
            var dr = gx.Slice(r * width, width);
            float m = mean[r], inv = invStd[r];
            var mv = Vector256.Create(m); var iv = Vector256.Create(inv);
            var sg0 = Vector256<double>.Zero; var sg1 = Vector256<double>.Zero;
            var sx0 = Vector256<double>.Zero; var sx1 = Vector256<double>.Zero;
            int c = 0;
            for (; c < vec; c += 8)
            {
                var gv = Vector256.Create(gr.Slice(c, 8));
                var xh = (Vector256.Create(xr.Slice(c, 8)) - mv) * iv;
                var (glo, ghi) = Vector256.Widen(gv * Vector256.Create(weight.Slice(c, 8)));
                var (xlo, xhi) = Vector256.Widen(xh);
                var (ylo, yhi) = Vector256.Widen(gv);
                sg0 += glo; sg1 += ghi;
                sx0 += glo * xlo; sx1 += ghi * xhi;
                (Vector256.Create((ReadOnlySpan<double>)gw.Slice(c, 4)) + ylo * xlo).CopyTo(gw.Slice(c, 4));
                (Vector256.Create((ReadOnlySpan<double>)gw.Slice(c + 4, 4)) + yhi * xhi).CopyTo(gw.Slice(c + 4, 4));
                (Vector256.Create((ReadOnlySpan<double>)gb.Slice(c, 4)) + ylo).CopyTo(gb.Slice(c, 4));
                (Vector256.Create((ReadOnlySpan<double>)gb.Slice(c + 4, 4)) + yhi).CopyTo(gb.Slice(c + 4, 4));
            }
            double sg = Vector256.Sum(sg0 + sg1), sgx = Vector256.Sum(sx0 + sx1);
            for (; c < width; c++)
            {
                float xh = (xr[c] - m) * inv;
                float g = gr[c] * weight[c];
                sg += g; sgx += (double)g * xh;
                gw[c] += (double)gr[c] * xh;
                gb[c] += gr[c];
            }
            float a = (float)(sg / width), k = (float)(sgx / width);
            var av = Vector256.Create(a); var kv = Vector256.Create(k);
            for (c = 0; c < vec; c += 8)
            {
                var xh = (Vector256.Create(xr.Slice(c, 8)) - mv) * iv;
                ((Vector256.Create(gr.Slice(c, 8)) * Vector256.Create(weight.Slice(c, 8)) - av - xh * kv) * iv).CopyTo(dr.Slice(c, 8));
            }
            for (; c < width; c++)
            {
                float xh = (xr[c] - m) * inv;
                dr[c] = (gr[c] * weight[c] - a - xh * k) * inv;
            }
        }
    }
}
