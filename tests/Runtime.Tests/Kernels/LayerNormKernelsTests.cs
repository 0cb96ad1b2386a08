using LayerCompiler.Runtime.Kernels;
using LayerCompiler.TestSupport;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>
/// LayerNormKernels on their own, for widths that take the 8-wide vector path, its scalar tail, or only the scalar loop:
/// forward against a float64 definition; the input gradient against float64 central differences of that definition; the
/// parameter gradients against their float64 sums; accumulation into gw, gb that already hold values.
/// </summary>
public class LayerNormKernelsTests
{
    private static float[] Random(Rng rng, int n, double mean, double scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(mean + scale * rng.Normal());
        return a;
    }

    /// <summary>float64 LayerNorm of every row, as the kernels' remarks define it.</summary>
    private static double[] Reference(double[] x, int rows, int width, double[] w, double[] b)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0; for (int k = 0; k < width; k++) mean += x[r * width + k]; mean /= width;
            double v = 0; for (int k = 0; k < width; k++) v += (x[r * width + k] - mean) * (x[r * width + k] - mean); v /= width;
            double inv = 1 / Math.Sqrt(v + LayerNormKernels.Epsilon);
            for (int k = 0; k < width; k++) y[r * width + k] = (x[r * width + k] - mean) * inv * w[k] + b[k];
        }
        return y;
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(32)]
    public void ForwardMatchesTheFloat64Definition(int width)
    {
        const int rows = 7;
        var rng = new Rng((ulong)width);
        // An offset of 3 and rows of very different scales: the variance must not lose what the mean cancels.
        var x = Random(rng, rows * width, 3, 1);
        for (int r = 0; r < rows; r++) for (int k = 0; k < width; k++) x[r * width + k] *= (float)Math.Pow(10, r - 3);
        var w = Random(rng, width, 1, 0.3); var b = Random(rng, width, 0, 0.2);
        var y = new float[x.Length]; var mean = new float[rows]; var inv = new float[rows];
        LayerNormKernels.Forward(x, rows, width, w, b, y, mean, inv);
        var expected = Reference(GradCheck.ToDouble(x), rows, width, GradCheck.ToDouble(w), GradCheck.ToDouble(b));
        GradCheck.AssertClose(y, expected, 1e-5, 1e-5, $"y (width {width})");
        for (int r = 0; r < rows; r++)
        {
            double m = 0; for (int k = 0; k < width; k++) m += x[r * width + k];
            Assert.Equal((float)(m / width), mean[r], (float)Math.Abs(m / width) * 1e-6f);
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(32)]
    public void GradientsMatchFloat64CentralDifferences(int width)
    {
        const int rows = 5;
        var rng = new Rng(100 + (ulong)width);
        var x = Random(rng, rows * width, 0.5, 2); var w = Random(rng, width, 1, 0.3); var b = Random(rng, width, 0, 0.2);
        var gy = Random(rng, rows * width, 0, 1);
        var y = new float[x.Length]; var mean = new float[rows]; var inv = new float[rows];
        LayerNormKernels.Forward(x, rows, width, w, b, y, mean, inv);
        var gx = new float[x.Length];
        // gw, gb accumulate: start them from known values.
        var gw = new double[width]; var gb = new double[width];
        for (int k = 0; k < width; k++) { gw[k] = 0.25 * k; gb[k] = -0.5 * k; }
        LayerNormKernels.Backward(x, gy, rows, width, w, mean, inv, gx, gw, gb);

        double[] x64 = GradCheck.ToDouble(x), w64 = GradCheck.ToDouble(w), b64 = GradCheck.ToDouble(b), g64 = GradCheck.ToDouble(gy);
        double Loss() { var r = Reference(x64, rows, width, w64, b64); double s = 0; for (int i = 0; i < r.Length; i++) s += r[i] * g64[i]; return s; }
        GradCheck.AssertClose(gx, GradCheck.Numeric(_ => Loss(), x64), 1e-4, 1e-4, $"gx (width {width})");
        var nw = GradCheck.Numeric(_ => Loss(), w64); var nb = GradCheck.Numeric(_ => Loss(), b64);
        for (int k = 0; k < width; k++)
        {
            Assert.True(Math.Abs(gw[k] - 0.25 * k - nw[k]) <= 1e-4 + 1e-4 * Math.Abs(nw[k]), $"gw[{k}]: {gw[k] - 0.25 * k} vs {nw[k]}");
            Assert.True(Math.Abs(gb[k] + 0.5 * k - nb[k]) <= 1e-4 + 1e-4 * Math.Abs(nb[k]), $"gb[{k}]: {gb[k] + 0.5 * k} vs {nb[k]}");
        }
    }
}
