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
}
