using LayerCompiler.Runtime.Tests.Training;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Modules;

/// <summary>
/// The vectorized EquivariantNorm against its definition written as plain scalar loops (one pass over
/// the entries with i % c, double sums), with and without the fused ReLU: forward, input gradient and
/// parameter gradients bit for bit, and the input gradient against float64 finite differences.
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

    /// <summary>The definition, scalar: returns y, and the mean and 1/σ per (network, tensor, channel).</summary>
    private static (float[][] Y, float[] Mean, float[] InvStd) ReferenceForward(WeightSpaceBatch x, float[] w, float[] b, bool relu = false)
    {
        int c = x.Channels, T = x.Tensors.Length;
        var y = x.Tensors.Select(t => new float[t.Data.Length]).ToArray();
        var means = new float[x.Batch * T * c];
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
                    means[(n * T + t) * c + ch] = (float)mean;
                    invStd[(n * T + t) * c + ch] = (float)(1.0 / Math.Sqrt(Math.Max(0, sq[ch] / count - mean * mean) + EquivariantNorm.Epsilon));
                }
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c, s = (n * T + t) * c + ch;
                    float h = (x.Tensors[t].Data[n * size + i] - means[s]) * invStd[s];
                    float z = h * w[t * c + ch] + b[t * c + ch];
                    y[t][n * size + i] = relu && z <= 0 ? 0 : z;
                }
            }
        return (y, means, invStd);
    }

    /// <summary>
    /// The backward's definition, scalar: x̂ recomputed; ĝ = gy (zero where the ReLU'd output was ≤ 0); sums Σĝx̂, Σĝ
    /// (float within blocks of entries, double across blocks); gx = ((ĝ·w − w·Σĝ/count) − x̂·w·Σĝx̂/count)·invStd in float.
    /// </summary>
    private static (float[][] Gx, float[] Gw, float[] Gb) ReferenceBackward(WeightSpaceBatch x, float[] means, float[] invStd, WeightSpaceBatch gy, float[] w, float[] b, bool relu = false)
    {
        int c = gy.Channels, T = gy.Tensors.Length, batch = gy.Batch;
        var gx = gy.Tensors.Select(t => new float[t.Data.Length]).ToArray();
        var pw = new double[batch, T * c]; var pb = new double[batch, T * c];
        for (int n = 0; n < batch; n++)
            for (int t = 0; t < T; t++)
            {
                int size = gy.Tensors[t].Data.Length / batch, count = size / c;
                float Hat(int i) { int s = (n * T + t) * c + i % c; return (x.Tensors[t].Data[n * size + i] - means[s]) * invStd[s]; }
                float G(int i) { float h = Hat(i); int ch = i % c; return relu && h * w[t * c + ch] + b[t * c + ch] <= 0 ? 0 : gy.Tensors[t].Data[n * size + i]; }
                // Per channel: blocks of GradientSumBlock entries summed in float, in order; the blocks added in double.
                for (int ch = 0; ch < c; ch++)
                    for (int e0 = 0; e0 < count; e0 += EquivariantNorm.GradientSumBlock)
                    {
                        float fw = 0, fb = 0;
                        for (int e = e0; e < Math.Min(count, e0 + EquivariantNorm.GradientSumBlock); e++)
                        {
                            int i = e * c + ch;
                            fw += G(i) * Hat(i); fb += G(i);
                        }
                        pw[n, t * c + ch] += fw; pb[n, t * c + ch] += fb;
                    }
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    float wc = w[t * c + ch];
                    float a = (float)(wc * pb[n, t * c + ch] / count), k = (float)(wc * pw[n, t * c + ch] / count);
                    gx[t][n * size + i] = ((G(i) * wc - a) - Hat(i) * k) * invStd[(n * T + t) * c + ch];
                }
            }
        var gw = new float[T * c]; var gb = new float[T * c];
        for (int n = 0; n < batch; n++)
            for (int j = 0; j < T * c; j++) { gw[j] += (float)pw[n, j]; gb[j] += (float)pb[n, j]; }
        return (gx, gw, gb);
    }

    [Theory]
    [InlineData(32, 5, false)]   // the reference channel count: vector paths only
    [InlineData(13, 3, false)]   // 8 + 4 + 1: every vector width and the scalar tail
    [InlineData(1, 4, false)]
    [InlineData(6, 20, false)]
    [InlineData(32, 5, true)]    // with the ReLU fused into the same pass
    [InlineData(13, 3, true)]
    [InlineData(1, 4, true)]
    public void VectorizedEqualsTheScalarDefinitionBitForBit(int channels, int batch, bool relu)
    {
        var x = Random(batch, channels, 1, scale: 3, shift: 0.5);
        var norm = new EquivariantNorm(x.Tensors.Length, channels);
        var rng = new Rng(2);
        for (int i = 0; i < norm.Weight.Data.Length; i++) { norm.Weight.Data[i] = (float)(1 + 0.3 * rng.Normal()); norm.Bias.Data[i] = (float)(0.2 * rng.Normal()); }
        var y = norm.Forward(x, relu);
        var (ey, means, invStd) = ReferenceForward(x, norm.Weight.Data, norm.Bias.Data, relu);
        for (int t = 0; t < ey.Length; t++) Assert.Equal(ey[t], y.Tensors[t].Data);
        if (relu) Assert.Contains(y.Tensors[0].Data, v => v == 0);

        var gy = Random(batch, channels, 3);
        var gx = norm.Backward(gy);
        var (egx, egw, egb) = ReferenceBackward(x, means, invStd, gy, norm.Weight.Data, norm.Bias.Data, relu);
        for (int t = 0; t < egx.Length; t++) Assert.Equal(egx[t], gx.Tensors[t].Data);
        Assert.Equal(egw, norm.Weight.Grad.Data);
        Assert.Equal(egb, norm.Bias.Grad.Data);
    }

    /// <summary>The fused ReLU is bitwise the normalization followed by the activation's own forward and backward passes.</summary>
    [Theory]
    [InlineData(32, 4)]
    [InlineData(13, 3)]
    public void FusedReluIsBitwiseTheSeparateActivation(int channels, int batch)
    {
        var x = Random(batch, channels, 6, scale: 2, shift: -0.3);
        var fused = new EquivariantNorm(x.Tensors.Length, channels);
        var plain = new EquivariantNorm(x.Tensors.Length, channels);
        var rng = new Rng(7);
        for (int i = 0; i < fused.Weight.Data.Length; i++)
        {
            fused.Weight.Data[i] = plain.Weight.Data[i] = (float)(1 + 0.3 * rng.Normal());
            fused.Bias.Data[i] = plain.Bias.Data[i] = (float)(0.2 * rng.Normal());
        }
        var act = new WeightSpaceActivation(Activation.ReLU);
        var yf = fused.Forward(x, relu: true);
        var yp = act.Forward(plain.Forward(x));
        for (int t = 0; t < yf.Tensors.Length; t++) Assert.Equal(yp.Tensors[t].Data, yf.Tensors[t].Data);
        var gy = Random(batch, channels, 8);
        var gf = fused.Backward(gy);
        var gp = plain.Backward(act.Backward(gy));
        for (int t = 0; t < gf.Tensors.Length; t++) Assert.Equal(gp.Tensors[t].Data, gf.Tensors[t].Data);
        Assert.Equal(plain.Weight.Grad.Data, fused.Weight.Grad.Data);
        Assert.Equal(plain.Bias.Grad.Data, fused.Bias.Grad.Data);
        // The mask did something: some outputs were clipped, and their gradient is gone.
        Assert.Contains(yf.Tensors[0].Data, v => v == 0);
        Assert.NotEqual(plain.Backward(gy).Tensors[0].Data, gf.Tensors[0].Data);
    }

    [Fact]
    public void BackwardRejectsAGradientOfTheWrongShape()
    {
        var x = Random(3, 4, 9);
        var norm = new EquivariantNorm(x.Tensors.Length, 4);
        norm.Forward(x);
        var ex = Assert.Throws<ArgumentException>(() => norm.Backward(Random(2, 4, 10)));
        Assert.Contains("gradient", ex.Message);
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
