using LayerCompiler.Runtime;
namespace LayerCompiler.TestSupport;

/// <summary>
/// Finite-difference helpers. References are computed on float64 re-implementations of the layers,
/// by central differences f'(x) ≈ (f(x+h) − f(x−h)) / 2h with h = 1e-6 (truncation error O(h²) ≈ 1e-12,
/// rounding error ≈ 1e-16/h ≈ 1e-10), so the reference is exact for the purposes of a float32 check.
/// </summary>
public static class GradCheck
{
    public const double H = 1e-6;

    public static double[] Numeric(Func<double[], double> f, double[] x, double h = H)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double keep = x[i];
            x[i] = keep + h; double plus = f(x);
            x[i] = keep - h; double minus = f(x);
            x[i] = keep;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol, double atol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            Assert.True(err <= atol + rtol * Math.Abs(expected[i]),
                $"{what}[{i}]: got {actual[i]:R}, expected {expected[i]:R} (error {err:E2} > {atol:E1} + {rtol:E1}·|expected|)");
        }
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    public static Tensor RandomTensor(Rng rng, float scale, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(rng.Normal() * scale);
        return t;
    }

    /// <summary>float64 y = x·Wᵀ + b for x [rows, inF], W [outF, inF].</summary>
    public static double[] LinearRef(double[] x, double[] w, double[]? b, int rows, int inF, int outF)
    {
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b is null ? 0 : b[o];
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
