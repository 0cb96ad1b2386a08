using LayerCompiler.Runtime.Losses;

namespace LayerCompiler.Runtime.Tests.Losses;

public class RegressionMetricsTests
{
    /// <summary>τ-b by its definition, O(n²), in double.</summary>
    private static double KendallBruteForce(float[] x, float[] y)
    {
        long c = 0, d = 0, tx = 0, ty = 0;
        for (int i = 0; i < x.Length; i++)
            for (int j = i + 1; j < x.Length; j++)
            {
                int sx = Math.Sign(x[i] - x[j]), sy = Math.Sign(y[i] - y[j]);
                if (sx == 0 && sy == 0) continue;
                if (sx == 0) tx++;
                else if (sy == 0) ty++;
                else if (sx == sy) c++;
                else d++;
            }
        return (c - d) / Math.Sqrt((double)(c + d + tx) * (c + d + ty));
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(10, 1)]
    [InlineData(57, 2)]
    [InlineData(200, 3)]
    public void KendallTauEqualsTheDefinitionWithAndWithoutTies(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n]; var y = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)rng.Normal();
            y[i] = 0.5f * x[i] + (float)rng.Normal();
        }
        Assert.Equal(KendallBruteForce(x, y), RegressionMetrics.KendallTau(x, y), 12);
        // Ties: round to a coarse grid.
        var xt = x.Select(v => MathF.Round(v * 2) / 2).ToArray();
        var yt = y.Select(v => MathF.Round(v)).ToArray();
        if (xt.Distinct().Count() > 1 && yt.Distinct().Count() > 1)
            Assert.Equal(KendallBruteForce(xt, yt), RegressionMetrics.KendallTau(xt, yt), 12);
    }

    [Fact]
    public void KendallTauKnownValues()
    {
        Assert.Equal(1.0, RegressionMetrics.KendallTau(new float[] { 1, 2, 3, 4 }, new float[] { 10, 20, 30, 40 }), 12);
        Assert.Equal(-1.0, RegressionMetrics.KendallTau(new float[] { 1, 2, 3, 4 }, new float[] { 4, 3, 2, 1 }), 12);
        // SciPy: kendalltau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) = -0.47140452079103173
        Assert.Equal(-0.47140452079103173, RegressionMetrics.KendallTau(new float[] { 12, 2, 1, 12, 2 }, new float[] { 1, 4, 7, 1, 0 }), 12);
        Assert.True(double.IsNaN(RegressionMetrics.KendallTau(new float[] { 1, 1, 1 }, new float[] { 1, 2, 3 })));
    }

    [Fact]
    public void RSquaredKnownValues()
    {
        Assert.Equal(1.0, RegressionMetrics.RSquared(new float[] { 1, 2, 3 }, new float[] { 1, 2, 3 }), 12);
        Assert.Equal(0.0, RegressionMetrics.RSquared(new float[] { 2, 2, 2 }, new float[] { 1, 2, 3 }), 12);
        // 1 − (0.25 + 0 + 0.25) / 2
        Assert.Equal(0.75, RegressionMetrics.RSquared(new float[] { 1.5f, 2, 2.5f }, new float[] { 1, 2, 3 }), 12);
    }

    [Fact]
    public void BadInputIsAClearError()
    {
        Assert.Contains("3 predictions for 2", Assert.Throws<ArgumentException>(() => RegressionMetrics.KendallTau(new float[3], new float[2])).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => RegressionMetrics.RSquared(new[] { float.NaN }, new[] { 1f })).Message);
    }
}
