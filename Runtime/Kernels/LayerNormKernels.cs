using System;

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
/// </remarks>
public static class LayerNormKernels
{
    public const float Epsilon = 1e-5f;

    /// <summary>Normalizes <paramref name="rows"/> rows of <paramref name="width"/> values; stores each row's mean and 1/σ.</summary>
    public static void Forward(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        Span<float> y, Span<float> mean, Span<float> invStd)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var yr = y.Slice(r * width, width);
            double s = 0;
            for (int c = 0; c < width; c++) s += xr[c];
            double mu = s / width, v = 0;
            for (int c = 0; c < width; c++) { double d = xr[c] - mu; v += d * d; }
            float m = (float)mu, inv = (float)(1.0 / Math.Sqrt(v / width + Epsilon));
            mean[r] = m; invStd[r] = inv;
            for (int c = 0; c < width; c++) yr[c] = (xr[c] - m) * inv * weight[c] + bias[c];
        }
    }

    /// <summary>Input gradient into <paramref name="gx"/> (overwritten); parameter gradients added to <paramref name="gw"/>, <paramref name="gb"/>.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, int rows, int width, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd, Span<float> gx, Span<double> gw, Span<double> gb)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var gr = gy.Slice(r * width, width);
            var dr = gx.Slice(r * width, width);
            float m = mean[r], inv = invStd[r];
            double sg = 0, sgx = 0;
            for (int c = 0; c < width; c++)
            {
                float xh = (xr[c] - m) * inv;
                float g = gr[c] * weight[c];
                sg += g; sgx += (double)g * xh;
                gw[c] += (double)gr[c] * xh;
                gb[c] += gr[c];
            }
            float a = (float)(sg / width), k = (float)(sgx / width);
            for (int c = 0; c < width; c++)
            {
                float xh = (xr[c] - m) * inv;
                dr[c] = (gr[c] * weight[c] - a - xh * k) * inv;
            }
        }
    }
}
