using System.Runtime.Intrinsics;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>
/// <see cref="ProductSimd.Gemm"/>, the blocked product of the generated product kernels' edge passes: bitwise the same as
/// one <see cref="ProductSimd.RowsAddStrided"/> per output row (the per-row form the fused kernels used before), for
/// row counts and widths that hit every block (4 × 16, 4 × 8, single rows, scalar tails) and for both operand layouts
/// the kernels use (rows of edges times a matrix; a column of per-edge coefficients times the edges), and close to a
/// float64 product.
/// </summary>
public class ProductSimdTests
{
    public static IEnumerable<object[]> Shapes() => new[]
    {
        new object[] { 1, 1, 1 }, new object[] { 3, 5, 7 }, new object[] { 4, 16, 32 }, new object[] { 7, 24, 11 },
        new object[] { 9, 40, 40 }, new object[] { 64, 64, 32 }, new object[] { 13, 3, 4 }, new object[] { 6, 33, 2 },
        // 6-row blocks: with a rest of 4 or 8 rows (32, 38), an odd count (7, 13 × 16), and none (6).
        new object[] { 32, 32, 20 }, new object[] { 38, 16, 5 }, new object[] { 7, 32, 3 }, new object[] { 13, 16, 9 }, new object[] { 6, 48, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GemmIsBitwiseTheRowByRowSum(int m, int n, int k)
    {
        var rng = new Rng((ulong)(m * 1000 + n * 10 + k));
        float R() => (float)rng.Normal();
        foreach (bool columns in new[] { false, true })
        {
            // Rows of A: a[i * k + p] (edges × features); columns: a[p * m + i] (coefficients per edge, one column per output row).
            int ais = columns ? 1 : k, aps = columns ? m : 1;
            int bs = n + 3, ys = n + 2;
            var a = new float[m * k];
            var b = new float[k * bs];
            var y0 = new float[m * ys];
            for (int i = 0; i < a.Length; i++) a[i] = R();
            for (int i = 0; i < b.Length; i++) b[i] = R();
            for (int i = 0; i < y0.Length; i++) y0[i] = R();
            var expected = (float[])y0.Clone();
            for (int i = 0; i < m; i++) ProductSimd.RowsAddStrided(b, bs, a.AsSpan(i * ais), aps, k, expected.AsSpan(i * ys, n));
            var actual = (float[])y0.Clone();
            ProductSimd.Gemm(a, ais, aps, b, bs, actual, ys, m, n, k);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"m={m} n={n} k={k} columns={columns}: Gemm differs from the row-by-row sums");
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = y0[i * ys + j];
                    for (int p = 0; p < k; p++) s += (double)a[i * ais + p * aps] * b[p * bs + j];
                    Assert.True(Math.Abs(actual[i * ys + j] - s) <= 1e-5 * (1 + Math.Abs(s)) * k, $"({i}, {j}): {actual[i * ys + j]} vs {s}");
                }
            // The padding between rows of Y is not written.
            for (int i = 0; i < m; i++)
                for (int j = n; j < ys && i * ys + j < y0.Length; j++) Assert.Equal(y0[i * ys + j], actual[i * ys + j]);
        }
    }

    [Fact]
    public void GemmRefusesSpansThatAreTooShort()
    {
        var a = new float[4 * 8];
        var b = new float[8 * 8];
        var y = new float[4 * 8];
        Assert.Throws<ArgumentException>(() => ProductSimd.Gemm(a, 8, 1, b, 8, y.AsSpan(1), 8, 4, 8, 8));
        Assert.Throws<ArgumentException>(() => ProductSimd.Gemm(a.AsSpan(1), 8, 1, b, 8, y, 8, 4, 8, 8));
        Assert.Throws<ArgumentException>(() => ProductSimd.Gemm(a, 8, 1, b.AsSpan(1), 8, y, 8, 4, 8, 8));
    }

    /// <summary>The vectorized edge activation and its backward against the per-value formula in float64 (a few float ulps),
    /// for feature counts with and without a tail of fewer than 8, and a value's result independent of its position
    /// (the tail goes through the same vector function).</summary>
    [Theory]
    [InlineData(3, 2, 32)]
    [InlineData(2, 3, 11)]
    [InlineData(1, 4, 4)]
    public void EdgeSiluMatchesTheFormula(int outs, int ins, int d)
    {
        var rng = new Rng((ulong)(outs * 100 + ins * 10 + d));
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(3 * rng.Normal()); return a; }
        int n = outs * ins * d;
        float[] x = R(n), z = R(n), src = R(ins * d), dst = R(outs * d), g = R(n);
        var y = new float[n];
        ProductSimd.EdgeSilu(x, z, src, dst, y, outs, ins, d);
        var gz = new float[n];
        var gSrc = new float[ins * d];
        var gDst = new float[outs * d];
        ProductSimd.EdgeSiluBackward(g, z, src, dst, gz, gSrc, gDst, outs, ins, d);
        var eSrc = new double[ins * d];
        var eDst = new double[outs * d];
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
                for (int c = 0; c < d; c++)
                {
                    int at = (j * ins + i) * d + c;
                    double u = (double)(z[at] + src[i * d + c] + dst[j * d + c]);
                    double sg = 1 / (1 + Math.Exp(-u));
                    double ey = x[at] + u * sg, eg = g[at] * sg * (1 + u * (1 - sg));
                    Assert.True(Math.Abs(y[at] - ey) <= 1e-6 * (1 + Math.Abs(ey)), $"y[{at}] = {y[at]} vs {ey}");
                    Assert.True(Math.Abs(gz[at] - eg) <= 1e-6 * (1 + Math.Abs(eg)), $"gz[{at}] = {gz[at]} vs {eg}");
                    eSrc[i * d + c] += eg; eDst[j * d + c] += eg;
                }
        for (int q = 0; q < eSrc.Length; q++) Assert.True(Math.Abs(gSrc[q] - eSrc[q]) <= 1e-5 * (1 + Math.Abs(eSrc[q])), $"gSrc[{q}]");
        for (int q = 0; q < eDst.Length; q++) Assert.True(Math.Abs(gDst[q] - eDst[q]) <= 1e-5 * (1 + Math.Abs(eDst[q])), $"gDst[{q}]");

        // One edge's features moved to another position (another lane, or into the tail) give bitwise the same result.
        if (d % 8 != 0)
        {
            var shifted = new float[8 + d];
            var y1 = new float[8 + d];
            z.AsSpan(0, d).CopyTo(shifted.AsSpan(8 - 3));
            var xs = new float[8 + d]; x.AsSpan(0, d).CopyTo(xs.AsSpan(8 - 3));
            var ss = new float[8 + d]; src.AsSpan(0, d).CopyTo(ss.AsSpan(8 - 3));
            var ds = new float[8 + d]; dst.AsSpan(0, d).CopyTo(ds.AsSpan(8 - 3));
            ProductSimd.EdgeSilu(xs, shifted, ss, ds, y1, 1, 1, 8 + d);
            Assert.True(y1.AsSpan(8 - 3, d).SequenceEqual(y.AsSpan(0, d)), "a value's result depends on its lane");
        }
    }

    /// <summary><see cref="ProductSimd.Exp"/> against float64 over its range (a dense grid, random points and the ends), the
    /// clamping beyond it, and σ built on it.</summary>
    [Fact]
    public void ExpIsCloseToTheTrueExponential()
    {
        var xs = new List<float>();
        for (double x = -87.3; x <= 88; x += 1.0 / 64) xs.Add((float)x);
        var rng = new Rng(7);
        for (int q = 0; q < 20000; q++) xs.Add((float)(rng.NextDouble() * 175.3 - 87.3));
        xs.AddRange(new[] { -87.33654f, 88f, 0f, -0f, 1e-8f, -1e-8f, 0.34657f, -0.34657f });
        double worst = 0;
        for (int at = 0; at + 8 <= xs.Count; at += 8)
        {
            var v = Vector256.Create(xs.GetRange(at, 8).ToArray());
            var e = ProductSimd.Exp(v);
            for (int l = 0; l < 8; l++)
            {
                double want = Math.Exp(xs[at + l]);
                worst = Math.Max(worst, Math.Abs(e.GetElement(l) - want) / want);
            }
        }
        Assert.True(worst <= 2e-7, $"worst relative error {worst:E3}");
        var far = ProductSimd.Exp(Vector256.Create(-1000f, -100f, 100f, 1000f, float.NegativeInfinity, float.PositiveInfinity, -87.5f, 88.5f));
        Assert.Equal((float)Math.Exp(-87.33654f), far.GetElement(0), 1e-44f);
        Assert.True(float.IsFinite(far.GetElement(3)) && far.GetElement(3) == far.GetElement(5) && far.GetElement(0) == far.GetElement(4), "beyond the range the ends are returned");
        // A NaN is not clamped into a number: it stays NaN (training's non-finite checks must still see it).
        Assert.True(float.IsNaN(ProductSimd.Exp(Vector256.Create(float.NaN)).GetElement(0)), "exp(NaN)");
        Assert.True(float.IsNaN(ProductSimd.Sigmoid(Vector256.Create(float.NaN)).GetElement(0)), "σ(NaN)");
        var s = ProductSimd.Sigmoid(Vector256.Create(-200f, -20f, -1f, 0f, 1f, 20f, 200f, 3.5f));
        float[] u = { -200f, -20f, -1f, 0f, 1f, 20f, 200f, 3.5f };
        for (int l = 0; l < 8; l++) Assert.True(Math.Abs(s.GetElement(l) - 1 / (1 + Math.Exp(-u[l]))) <= 1e-7, $"σ({u[l]})");
    }

    /// <summary><see cref="ProductSimd.MessageGradients"/> is bitwise the per-value loop it replaced in the generated
    /// messages' backward, for feature counts with and without a tail of fewer than 8.</summary>
    [Theory]
    [InlineData(5, 32)]
    [InlineData(3, 11)]
    [InlineData(2, 4)]
    public void MessageGradientsIsBitwiseThePerValueLoop(int ins, int d)
    {
        var rng = new Rng((ulong)(ins * 100 + d));
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)rng.Normal(); return a; }
        const int outs = 7;
        float[] gmj = R(d), gmb = R(ins * d), hf = R(ins * d), hbj = R(d), efb = R(ins * 2 * d), ghf0 = R(ins * d), ghb0 = R(d);
        float[] gfb = new float[ins * 2 * d], ghf = (float[])ghf0.Clone(), ghb = (float[])ghb0.Clone();
        ProductSimd.MessageGradients(gmj, gmb, hf, hbj, efb, gfb, ghf, ghb, 1f / ins, 1f / outs, ins, d);
        float[] egfb = new float[ins * 2 * d], eghf = (float[])ghf0.Clone(), eghb = (float[])ghb0.Clone();
        for (int i = 0; i < ins; i++)
            for (int c = 0; c < d; c++)
            {
                float f = gmj[c] * (1f / ins), r = gmb[i * d + c] * (1f / outs);
                egfb[i * 2 * d + c] = f * hf[i * d + c];
                eghf[i * d + c] += f * efb[i * 2 * d + c];
                egfb[i * 2 * d + d + c] = r * hbj[c];
                eghb[c] += r * efb[i * 2 * d + d + c];
            }
        Assert.True(egfb.AsSpan().SequenceEqual(gfb), "edge projection gradients");
        Assert.True(eghf.AsSpan().SequenceEqual(ghf), "source node gradients");
        Assert.True(eghb.AsSpan().SequenceEqual(ghb), "destination node gradient");
        Assert.Throws<ArgumentException>(() => ProductSimd.MessageGradients(gmj, gmb, hf, hbj, efb.AsSpan(1), gfb, ghf, ghb, 1f / ins, 1f / outs, ins, d));
    }
}
