using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Modules;

public class ActivationTests
{
    [Theory]
    // Reference values: Python's math.erf (correctly rounded to about 1 ulp).
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(1.5, 0.9661051464753108)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(2.5, 0.999593047982555)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(4.0, 0.9999999845827421)]
    [InlineData(5.5, 0.9999999999999927)]
    [InlineData(1e-10, 1.1283791670955126e-10)]
    public void ErfIsFloat64Accurate(double x, double expected)
    {
        Assert.True(Math.Abs(Activations.Erf(x) - expected) <= 2e-15 * Math.Abs(expected), $"erf({x}) = {Activations.Erf(x):R}");
        Assert.True(Math.Abs(Activations.ErfReference(x) - expected) <= 1e-15 * Math.Abs(expected), $"erfReference({x}) = {Activations.ErfReference(x):R}");
        Assert.Equal(-Activations.Erf(x), Activations.Erf(-x));
    }

    [Fact]
    public void ErfEdgeCases()
    {
        Assert.Equal(0.0, Activations.Erf(0.0));
        Assert.Equal(1.0, Activations.Erf(40));
        Assert.Equal(-1.0, Activations.Erf(double.NegativeInfinity));
        Assert.True(double.IsNaN(Activations.Erf(double.NaN)));
        Assert.Equal(-0.0, Activations.Erf(-0.0));
        Assert.True(double.IsNegative(Activations.Erf(-0.0)));
    }

    [Fact]
    public void TabulatedErfMatchesTheReferenceEverywhere()
    {
        // Erf (Taylor below 1/8, Chebyshev tables up to 6) against the slow series / continued fraction,
        // on a dense grid that hits every interval, its ends and the switch points.
        double worst = 0;
        for (int i = 1; i <= 70000; i++)
        {
            double x = i * 1e-4;
            double e = Activations.ErfReference(x);
            worst = Math.Max(worst, Math.Abs(Activations.Erf(x) - e) / e);
            Assert.Equal(-Activations.Erf(x), Activations.Erf(-x));
        }
        Assert.True(worst < 4e-15, $"worst relative error {worst:E2}");
        foreach (double x in new[] { 1e-300, 1e-20, 1e-8, 0.125 - 1e-17, 0.125, 2.5 - 1e-15, 2.5, 6 - 1e-15 })
            Assert.True(Math.Abs(Activations.Erf(x) - Activations.ErfReference(x)) <= 4e-15 * Activations.ErfReference(x), $"x = {x:R}");
    }

    [Fact]
    public void GeluMatchesPyTorch()
    {
        // Produced once with torch 1.13 (Debian python3-torch): y = F.gelu(x); y.sum().backward(); x.grad.
        float[] x = { -6f, -3f, -1.5f, -0.7f, -1e-3f, 0f, 2e-4f, 0.3f, 1f, 2.2f, 4f, 9f };
        float[] y = { 0f, -0.00404986739f, -0.10021086f, -0.169374511f, -0.000499601127f, 0f, 0.000100015975f, 0.185373425f, 0.841344714f, 2.16941261f, 3.99987316f, 9f };
        float[] dy = { -2.98023224e-08f, -0.0119456053f, -0.127469152f, 0.0233858526f, 0.499202192f, 0.5f, 0.500159681f, 0.732327759f, 1.08331537f, 1.06414068f, 1.00050366f, 1f };
        var outY = new float[x.Length];
        Activations.GeluForward(x, outY);
        // PyTorch computes ½x(1 + erf(x/√2)) in float32, where 1 + erf cancels for negative x (absolute error
        // up to ~|x|·6e-8, e.g. torch gives gelu(−3) = −0.00404987 for the exact −0.00404969); we compute in
        // float64 and round once. Hence rtol 3e-7 plus atol 3e-7.
        GradCheck.AssertClose(outY, GradCheck.ToDouble(y), 3e-7, 3e-7, "gelu");
        Assert.Equal(-3 * 0.0013498980316301, outY[1], 1e-9); // −3·Φ(−3)
        var ones = Enumerable.Repeat(1f, x.Length).ToArray();
        var grad = new float[x.Length];
        Activations.GeluBackward(x, ones, grad);
        GradCheck.AssertClose(grad, GradCheck.ToDouble(dy), 3e-7, 1e-7, "gelu'");
    }

    [Fact]
    public void GeluGradientMatchesFiniteDifferences()
    {
        var rng = new Rng(11);
        var layer = new GELU();
        var x = GradCheck.RandomTensor(rng, 2.5f, 4, 9);
        var r = GradCheck.RandomTensor(rng, 1f, 4, 9);
        var y = layer.Forward(x);
        var xd = GradCheck.ToDouble(x.Data);
        GradCheck.AssertClose(y.Data, xd.Select(Activations.Gelu).ToArray(), 1e-7, 1e-9, "y");
        var dx = layer.Backward(r);
        var rd = GradCheck.ToDouble(r.Data);
        var reference = GradCheck.Numeric(v => GradCheck.Dot(rd, v.Select(Activations.Gelu).ToArray()), xd);
        GradCheck.AssertClose(dx.Data, reference, 1e-6, 1e-7, "dx");
    }

    [Fact]
    public void ReluForwardBackwardAndFiniteDifferences()
    {
        var rng = new Rng(12);
        var layer = new ReLU();
        var x = GradCheck.RandomTensor(rng, 1f, 3, 13);
        x.Data[0] = 0f;
        var r = GradCheck.RandomTensor(rng, 1f, 3, 13);
        var y = layer.Forward(x);
        for (int i = 0; i < x.Length; i++) Assert.Equal(Math.Max(x.Data[i], 0f), y.Data[i]);
        var dx = layer.Backward(r);
        Assert.Equal(0f, dx.Data[0]); // derivative at 0 taken as 0, as PyTorch
        var xd = GradCheck.ToDouble(x.Data);
        var rd = GradCheck.ToDouble(r.Data);
        var reference = GradCheck.Numeric(v => GradCheck.Dot(rd, v.Select(a => Math.Max(a, 0)).ToArray()), xd);
        reference[0] = 0; // the kink: central difference gives r/2 there
        GradCheck.AssertClose(dx.Data, reference, 1e-6, 1e-7, "dx");
    }

    [Fact]
    public void ReluPropagatesNaNAndWorksInPlace()
    {
        float[] x = { float.NaN, -1f, 2f, -0f, 3f, -4f, 5f, -6f, 7f, float.NaN };
        var y = new float[x.Length];
        Activations.ReluForward(x, y);
        Assert.True(float.IsNaN(y[0]) && float.IsNaN(y[9]));
        Assert.Equal(new[] { 0f, 2f, 0f, 3f, 0f, 5f, 0f, 7f }, y[1..9]);
        Activations.ReluForward(x, x);
        Assert.Equal(y[1..9], x[1..9]);
    }
}
