using LayerCompiler.Runtime.Models;
using LayerCompiler.Runtime.Tests.Training;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Tests.Nn;

/// <summary>
/// The vectorized EquivariantNorm against its definition written as plain scalar loops (one pass over
/// the entries with i % c, double sums): forward, input gradient and parameter gradients bit for bit,
/// and the input gradient against float64 finite differences.
/// </summary>
public class EquivariantNormTests
{
    private static WeightSpaceBatch Random(int batch, int channels, ulong seed, double scale = 1, double shift = 0)
    {
        var space = ReferenceMlp.Space(2, 7, 6, 3);
        var x = new WeightSpaceBatch(space, batch, channels);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(shift + scale * rng.Normal());
        return x;
    }

    /// <summary>The definition, scalar: returns y, x̂, 1/σ per (network, tensor, channel).</summary>
    private static (float[][] Y, float[][] Hat, float[] InvStd) ReferenceForward(WeightSpaceBatch x, float[] w, float[] b)
    {
        int c = x.Channels, T = x.Tensors.Length;
        var y = x.Tensors.Select(t => new float[t.Data.Length]).ToArray();
        var hat = x.Tensors.Select(t => new float[t.Data.Length]).ToArray();
        var invStd = new float[x.Batch * T * c];
        for (int n = 0; n < x.Batch; n++)
            for (int t = 0; t < T; t++)
            {
                int size = x.Tensors[t].Data.Length / x.Batch, count = size / c;
                var sum = new double[c]; var sq = new double[c];
                for (int i = 0; i < size; i++) { double v = x.Tensors[t].Data[n * size + i]; sum[i % c] += v; sq[i % c] += v * v; }
                for (int ch = 0; ch < c; ch++)
                {
                    double mean = sum[ch] / count;
                    invStd[(n * T + t) * c + ch] = (float)(1.0 / Math.Sqrt(Math.Max(0, sq[ch] / count - mean * mean) + EquivariantNorm.Epsilon));
                }
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    float mean = (float)(sum[ch] / count);
                    float h = (x.Tensors[t].Data[n * size + i] - mean) * invStd[(n * T + t) * c + ch];
                    hat[t][n * size + i] = h;
                    y[t][n * size + i] = h * w[t * c + ch] + b[t * c + ch];
                }
            }
        return (y, hat, invStd);
    }

    private static (float[][] Gx, float[] Gw, float[] Gb) ReferenceBackward(float[][] hat, float[] invStd, WeightSpaceBatch gy, float[] w)
    {
        int c = gy.Channels, T = gy.Tensors.Length, batch = gy.Batch;
        var gx = gy.Tensors.Select(t => new float[t.Data.Length]).ToArray();
        var pw = new double[batch, T * c]; var pb = new double[batch, T * c];
        for (int n = 0; n < batch; n++)
            for (int t = 0; t < T; t++)
            {
                int size = gy.Tensors[t].Data.Length / batch, count = size / c;
                var sg = new double[c]; var sgh = new double[c];
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    float g = gy.Tensors[t].Data[n * size + i], h = hat[t][n * size + i];
                    double gh = g * w[t * c + ch];
                    sg[ch] += gh; sgh[ch] += gh * h;
                    pw[n, t * c + ch] += g * h;
                    pb[n, t * c + ch] += g;
                }
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    float g = gy.Tensors[t].Data[n * size + i], h = hat[t][n * size + i];
                    double gh = g * w[t * c + ch];
                    gx[t][n * size + i] = (float)(invStd[(n * T + t) * c + ch] * (gh - sg[ch] / count - h * sgh[ch] / count));
                }
            }
        var gw = new float[T * c]; var gb = new float[T * c];
        for (int n = 0; n < batch; n++)
            for (int j = 0; j < T * c; j++) { gw[j] += (float)pw[n, j]; gb[j] += (float)pb[n, j]; }
        return (gx, gw, gb);
    }

    [Theory]
    [InlineData(32, 5)]   // the reference channel count: vector paths only
    [InlineData(13, 3)]   // 8 + 4 + 1: every vector width and the scalar tail
    [InlineData(1, 4)]
    [InlineData(6, 20)]
    public void VectorizedEqualsTheScalarDefinitionBitForBit(int channels, int batch)
    {
        var x = Random(batch, channels, 1, scale: 3, shift: 0.5);
        var norm = new EquivariantNorm(x.Tensors.Length, channels);
        var rng = new Rng(2);
        for (int i = 0; i < norm.Weight.Data.Length; i++) { norm.Weight.Data[i] = (float)(1 + 0.3 * rng.Normal()); norm.Bias.Data[i] = (float)(0.2 * rng.Normal()); }
        var y = norm.Forward(x);
        var (ey, hat, invStd) = ReferenceForward(x, norm.Weight.Data, norm.Bias.Data);
        for (int t = 0; t < ey.Length; t++) Assert.Equal(ey[t], y.Tensors[t].Data);

        var gy = Random(batch, channels, 3);
        var gx = norm.Backward(gy);
        var (egx, egw, egb) = ReferenceBackward(hat, invStd, gy, norm.Weight.Data);
        for (int t = 0; t < egx.Length; t++) Assert.Equal(egx[t], gx.Tensors[t].Data);
        Assert.Equal(egw, norm.Weight.Grad.Data);
        Assert.Equal(egb, norm.Bias.Grad.Data);
    }

    [Fact]
    public void InputGradientMatchesFloat64FiniteDifferences()
    {
        int c = 5, batch = 2;
        var x = Random(batch, c, 4);
        var norm = new EquivariantNorm(x.Tensors.Length, c);
        for (int i = 0; i < norm.Weight.Data.Length; i++) { norm.Weight.Data[i] = 1 + 0.1f * i % 3; norm.Bias.Data[i] = 0.05f * i; }
        var r = Random(batch, c, 5); // L = Σ r · y
        norm.Forward(x);
        var gx = norm.Backward(r);
        // Float64 evaluation of L through the scalar definition's math, central differences.
        double Loss(WeightSpaceBatch xx)
        {
            double l = 0;
            for (int n = 0; n < batch; n++)
                for (int t = 0; t < xx.Tensors.Length; t++)
                {
                    int size = xx.Tensors[t].Data.Length / batch, count = size / c;
                    for (int ch = 0; ch < c; ch++)
                    {
                        double s = 0, q = 0;
                        for (int e = 0; e < count; e++) { double v = xx.Tensors[t].Data[n * size + e * c + ch]; s += v; q += v * v; }
                        double mean = s / count, inv = 1 / Math.Sqrt(Math.Max(0, q / count - mean * mean) + EquivariantNorm.Epsilon);
                        for (int e = 0; e < count; e++)
                        {
                            int i = n * size + e * c + ch;
                            l += r.Tensors[t].Data[i] * ((xx.Tensors[t].Data[i] - mean) * inv * norm.Weight.Data[t * c + ch] + norm.Bias.Data[t * c + ch]);
                        }
                    }
                }
            return l;
        }
        var probe = Random(batch, c, 4);
        double maxErr = 0, maxG = 0;
        for (int t = 0; t < x.Tensors.Length; t++)
            for (int i = 0; i < x.Tensors[t].Data.Length; i += 7)
            {
                float keep = probe.Tensors[t].Data[i];
                probe.Tensors[t].Data[i] = keep + 1e-2f; double lp = Loss(probe);
                probe.Tensors[t].Data[i] = keep - 1e-2f; double lm = Loss(probe);
                probe.Tensors[t].Data[i] = keep;
                double fd = (lp - lm) / 2e-2;
                maxErr = Math.Max(maxErr, Math.Abs(fd - gx.Tensors[t].Data[i]));
                maxG = Math.Max(maxG, Math.Abs(fd));
            }
        Assert.True(maxErr < 2e-3 * Math.Max(1, maxG), $"max |fd - analytic| = {maxErr} (max |grad| {maxG})");
    }
}
