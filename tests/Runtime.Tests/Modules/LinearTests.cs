using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Modules;

public class LinearTests
{
    [Fact]
    public void HasPyTorchNamesShapesAndInitBounds()
    {
        var lin = new Linear(50, 7, new Rng(1));
        var named = lin.NamedParameters().ToArray();
        Assert.Equal(new[] { "weight", "bias" }, named.Select(n => n.Name));
        Assert.Equal(new[] { 7, 50 }, lin.Weight.Shape);
        Assert.Equal(new[] { 7 }, lin.Bias!.Shape);
        Assert.True(lin.Weight.Decay);
        Assert.False(lin.Bias.Decay);
        float bound = 1f / MathF.Sqrt(50);
        Assert.All(lin.Weight.Data, v => Assert.InRange(v, -bound, bound));
        Assert.All(lin.Bias.Data, v => Assert.InRange(v, -bound, bound));
        // 350 uniform draws cover the range: the extremes come close to ±bound.
        Assert.True(lin.Weight.Data.Max() > 0.9f * bound && lin.Weight.Data.Min() < -0.9f * bound);

        var same = new Linear(50, 7, new Rng(1));
        Assert.Equal(lin.Weight.Data, same.Weight.Data);
        Assert.Equal(lin.Bias.Data, same.Bias!.Data);
        Assert.NotEqual(lin.Weight.Data, new Linear(50, 7, new Rng(2)).Weight.Data);

        var noBias = new Linear(3, 2, bias: false, new Rng(1));
        Assert.Null(noBias.Bias);
        Assert.Equal(new[] { "weight" }, noBias.NamedParameters().Select(n => n.Name));
    }

    [Theory]
    [InlineData(3, 5, 4, true)]
    [InlineData(2, 11, 6, false)]
    [InlineData(5, 17, 9, true)]   // lengths that are not multiples of the vector width or of 4
    public void GradientsMatchFiniteDifferencesOfAFloat64Reference(int rows, int inF, int outF, bool bias)
    {
        // Loss L = Σ R ⊙ Linear(x) for a fixed random R, so dL/dy = R.
        // Tolerance: float32 analytic gradients against exact float64 ones, rtol 1e-5, atol 1e-6.
        var rng = new Rng(42);
        var lin = new Linear(inF, outF, rng, bias);
        var x = GradCheck.RandomTensor(rng, 1f, rows, inF);
        var r = GradCheck.RandomTensor(rng, 1f, rows, outF);

        var y = lin.Forward(x);
        double[] xd = GradCheck.ToDouble(x.Data), wd = GradCheck.ToDouble(lin.Weight.Data), rd = GradCheck.ToDouble(r.Data);
        double[]? bd = bias ? GradCheck.ToDouble(lin.Bias!.Data) : null;
        GradCheck.AssertClose(y.Data, GradCheck.LinearRef(xd, wd, bd, rows, inF, outF), 1e-5, 1e-6, "y");

        var dx = lin.Backward(r);
        GradCheck.AssertClose(dx.Data, GradCheck.Numeric(v => GradCheck.Dot(rd, GradCheck.LinearRef(v, wd, bd, rows, inF, outF)), xd), 1e-5, 1e-6, "dx");
        GradCheck.AssertClose(lin.Weight.Grad.Data, GradCheck.Numeric(v => GradCheck.Dot(rd, GradCheck.LinearRef(xd, v, bd, rows, inF, outF)), wd), 1e-5, 1e-6, "dW");
        if (bias)
            GradCheck.AssertClose(lin.Bias!.Grad.Data, GradCheck.Numeric(v => GradCheck.Dot(rd, GradCheck.LinearRef(xd, wd, v, rows, inF, outF)), bd!), 1e-5, 1e-6, "db");
    }

    [Fact]
    public void BackwardAccumulatesParameterGradients()
    {
        var rng = new Rng(3);
        var lin = new Linear(6, 4, rng);
        var x = GradCheck.RandomTensor(rng, 1f, 3, 6);
        var g = GradCheck.RandomTensor(rng, 1f, 3, 4);
        lin.Forward(x);
        lin.Backward(g);
        var w1 = (float[])lin.Weight.Grad.Data.Clone();
        var b1 = (float[])lin.Bias!.Grad.Data.Clone();
        lin.Backward(g);
        for (int i = 0; i < w1.Length; i++) Assert.Equal(2 * w1[i], lin.Weight.Grad.Data[i], 1e-5f);
        for (int i = 0; i < b1.Length; i++) Assert.Equal(2 * b1[i], lin.Bias.Grad.Data[i], 1e-5f);
        lin.ZeroGrad();
        Assert.All(lin.Weight.Grad.Data, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void LargeParallelProductsMatchFloat64AndDoNotDependOnTheSplit()
    {
        // 64·72·37 multiply-adds exceed DenseKernels.ParallelThreshold, so the batch is split across threads.
        const int rows = 64, inF = 72, outF = 37;
        var rng = new Rng(9);
        var lin = new Linear(inF, outF, rng);
        var x = GradCheck.RandomTensor(rng, 1f, rows, inF);
        var g = GradCheck.RandomTensor(rng, 1f, rows, outF);
        var y = lin.Forward(x).Clone();
        var dx = lin.Backward(g).Clone();
        var dw = lin.Weight.Grad.Data.ToArray();

        double[] xd = GradCheck.ToDouble(x.Data), wd = GradCheck.ToDouble(lin.Weight.Data), gd = GradCheck.ToDouble(g.Data);
        GradCheck.AssertClose(y.Data, GradCheck.LinearRef(xd, wd, GradCheck.ToDouble(lin.Bias!.Data), rows, inF, outF), 1e-5, 1e-5, "y");
        var dxRef = new double[rows * inF];
        var dwRef = new double[outF * inF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < inF; i++)
                {
                    dxRef[r * inF + i] += gd[r * outF + o] * wd[o * inF + i];
                    dwRef[o * inF + i] += gd[r * outF + o] * xd[r * inF + i];
                }
        GradCheck.AssertClose(dx.Data, dxRef, 1e-5, 1e-5, "dx");
        GradCheck.AssertClose(dw, dwRef, 1e-5, 1e-5, "dW");

        // Each output row computed alone (one row: below the threshold, single-threaded) is bitwise
        // identical to the same row of the parallel batch.
        var one = new float[outF];
        var oneDx = new float[inF];
        for (int r = 0; r < rows; r++)
        {
            DenseKernels.LinearForward(x.Data.AsSpan(r * inF, inF).ToArray(), lin.Weight.Data, lin.Bias.Data, one, 1, inF, outF);
            Assert.True(one.AsSpan().SequenceEqual(y.Data.AsSpan(r * outF, outF)), $"forward row {r} differs");
            DenseKernels.LinearBackwardInput(g.Data.AsSpan(r * outF, outF).ToArray(), lin.Weight.Data, oneDx, 1, inF, outF);
            Assert.True(oneDx.AsSpan().SequenceEqual(dx.Data.AsSpan(r * inF, inF)), $"backward row {r} differs");
        }

        // And a second pass is bitwise identical.
        lin.ZeroGrad();
        Assert.Equal(y.Data, lin.Forward(x).Data);
        Assert.Equal(dx.Data, lin.Backward(g).Data);
        Assert.Equal(dw, lin.Weight.Grad.Data);
    }

    [Fact]
    public void ReusesItsOutputBufferForTheSameBatchSize()
    {
        var rng = new Rng(5);
        var lin = new Linear(4, 3, rng);
        var a = lin.Forward(new Tensor(2, 4));
        var b = lin.Forward(new Tensor(2, 4));
        Assert.Same(a, b);
        Assert.NotSame(a, lin.Forward(new Tensor(5, 4)));
    }

    [Fact]
    public void ShapeErrorsAreClear()
    {
        var lin = new Linear(4, 3, new Rng(1));
        var ex = Assert.Throws<ArgumentException>(() => lin.Forward(new Tensor(2, 5)));
        Assert.Contains("expected 4", ex.Message);
        Assert.Throws<ArgumentException>(() => lin.Forward(new Tensor(8)));
        Assert.Throws<InvalidOperationException>(() => new Linear(4, 3, new Rng(1)).Backward(new Tensor(2, 3)));
        lin.Forward(new Tensor(2, 4));
        Assert.Contains("expected [2, 3]", Assert.Throws<ArgumentException>(() => lin.Backward(new Tensor(3, 3))).Message);
    }

    [Fact]
    public void DotAndAxpyHelpersWork()
    {
        var a = Enumerable.Range(1, 19).Select(i => (float)i).ToArray();
        var b = Enumerable.Range(1, 19).Select(i => 0.5f).ToArray();
        Assert.Equal(95f, DenseKernels.Dot(a, b));
        var y = new float[19];
        DenseKernels.Axpy(2f, a, y);
        Assert.Equal(a.Select(v => 2 * v), y);
    }
}
