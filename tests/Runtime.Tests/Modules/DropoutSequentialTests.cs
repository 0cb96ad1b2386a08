using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Modules;

public class DropoutTests
{
    [Fact]
    public void EvalIsIdentity()
    {
        var d = new Dropout(0.5f, new Rng(1));
        d.Eval();
        var x = GradCheck.RandomTensor(new Rng(2), 1f, 4, 8);
        Assert.Same(x, d.Forward(x));
        var g = GradCheck.RandomTensor(new Rng(3), 1f, 4, 8);
        Assert.Same(g, d.Backward(g));
    }

    [Fact]
    public void TrainZeroesAboutPAndScalesSurvivors()
    {
        const float p = 0.3f;
        var d = new Dropout(p, new Rng(7));
        var x = new Tensor(200, 100);
        Array.Fill(x.Data, 2f);
        var y = d.Forward(x);
        int zeros = y.Data.Count(v => v == 0f);
        // 20,000 Bernoulli(0.3) draws: standard deviation ≈ 65, so ±600 is far outside chance.
        Assert.InRange(zeros, 6000 - 600, 6000 + 600);
        float kept = 2f / (1f - p);
        Assert.All(y.Data, v => Assert.True(v == 0f || v == kept));

        var g = new Tensor(200, 100);
        Array.Fill(g.Data, 1f);
        var dx = d.Backward(g);
        for (int i = 0; i < x.Length; i++) Assert.Equal(y.Data[i] == 0f ? 0f : 1f / (1f - p), dx.Data[i]);
    }

    [Fact]
    public void SameSeedSameMask()
    {
        var x = GradCheck.RandomTensor(new Rng(4), 1f, 16, 16);
        var a = new Dropout(0.5f, new Rng(99)).Forward(x).Clone();
        var b = new Dropout(0.5f, new Rng(99)).Forward(x).Clone();
        var c = new Dropout(0.5f, new Rng(100)).Forward(x).Clone();
        Assert.Equal(a.Data, b.Data);
        Assert.NotEqual(a.Data, c.Data);
    }

    [Fact]
    public void ExtremeProbabilities()
    {
        var x = GradCheck.RandomTensor(new Rng(4), 1f, 3, 5);
        Assert.Same(x, new Dropout(0f, new Rng(1)).Forward(x));
        Assert.All(new Dropout(1f, new Rng(1)).Forward(x).Data, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(1.5f, new Rng(1)));
    }

    /// <summary>FillMask32 is exactly its definition: element 2k tests draw k's low 32 bits, element 2k+1 its high 32 bits,
    /// against round(p·2³²); lengths that are odd, shorter than a vector, and longer than one 256-word buffer.</summary>
    [Theory]
    [InlineData(0.2f, 1)]
    [InlineData(0.2f, 7)]
    [InlineData(0.5f, 255)]
    [InlineData(0.9f, 1000)]
    public void FillMask32IsItsDefinition(float p, int n)
    {
        var mask = new float[n];
        Dropout.FillMask32(mask, p, new Rng(11));
        var rng = new Rng(11);
        uint threshold = (uint)Math.Round(p * 4294967296.0);
        float scale = 1f / (1f - p);
        ulong draw = 0;
        for (int i = 0; i < n; i++)
        {
            if (i % 2 == 0) draw = rng.NextUInt64();
            uint word = i % 2 == 0 ? (uint)draw : (uint)(draw >> 32);
            Assert.Equal(word < threshold ? 0f : scale, mask[i]);
        }
    }

    [Fact]
    public void FillMask32DropsAboutP()
    {
        var mask = new float[100_000];
        Dropout.FillMask32(mask, 0.3f, new Rng(3));
        // 100,000 Bernoulli(0.3) draws: standard deviation ≈ 145, so ±1,500 is far outside chance.
        Assert.InRange(mask.Count(v => v == 0f), 30_000 - 1_500, 30_000 + 1_500);
        Assert.All(mask, v => Assert.True(v == 0f || v == 1f / 0.7f));
        Dropout.FillMask32(mask, 0f, new Rng(3));
        Assert.All(mask, v => Assert.Equal(1f, v));
        Dropout.FillMask32(mask, 1f, new Rng(3));
        Assert.All(mask, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.FillMask32(mask, -0.1f, new Rng(3)));
    }
}

public class SequentialTests
{
    [Fact]
    public void ChildrenAreNamedByIndex()
    {
        var rng = new Rng(1);
        var net = new Sequential(new Linear(3, 4, rng), new GELU(), new Linear(4, 2, rng));
        Assert.Equal(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }, net.NamedParameters().Select(n => n.Name));
        Assert.Equal(3 * 4 + 4 + 4 * 2 + 2, net.ParameterCount());
        net.Eval();
        Assert.False(net[1].IsTraining);
    }

    [Fact]
    public void LinearGeluLinearGradientsMatchFiniteDifferences()
    {
        // Loss L = Σ R ⊙ net(x); reference: float64 re-implementation, central differences (see GradCheck).
        // Tolerance rtol 1e-4, atol 1e-6: float32 forward/backward through two products and GELU.
        const int rows = 4, inF = 5, hid = 7, outF = 3;
        var rng = new Rng(21);
        var l1 = new Linear(inF, hid, rng);
        var l2 = new Linear(hid, outF, rng);
        var net = new Sequential(l1, new GELU(), l2);
        var x = GradCheck.RandomTensor(rng, 1.5f, rows, inF);
        var r = GradCheck.RandomTensor(rng, 1f, rows, outF);
        net.Forward(x);
        var dx = net.Backward(r);

        double[] xd = GradCheck.ToDouble(x.Data), w1 = GradCheck.ToDouble(l1.Weight.Data), b1 = GradCheck.ToDouble(l1.Bias!.Data);
        double[] w2 = GradCheck.ToDouble(l2.Weight.Data), b2 = GradCheck.ToDouble(l2.Bias!.Data), rd = GradCheck.ToDouble(r.Data);
        double Loss(double[] xx, double[] ww1, double[] bb1, double[] ww2, double[] bb2)
        {
            var h = GradCheck.LinearRef(xx, ww1, bb1, rows, inF, hid).Select(Activations.Gelu).ToArray();
            return GradCheck.Dot(rd, GradCheck.LinearRef(h, ww2, bb2, rows, hid, outF));
        }
        const double rtol = 1e-4, atol = 1e-6;
        GradCheck.AssertClose(dx.Data, GradCheck.Numeric(v => Loss(v, w1, b1, w2, b2), xd), rtol, atol, "dx");
        GradCheck.AssertClose(l1.Weight.Grad.Data, GradCheck.Numeric(v => Loss(xd, v, b1, w2, b2), w1), rtol, atol, "0.weight");
        GradCheck.AssertClose(l1.Bias.Grad.Data, GradCheck.Numeric(v => Loss(xd, w1, v, w2, b2), b1), rtol, atol, "0.bias");
        GradCheck.AssertClose(l2.Weight.Grad.Data, GradCheck.Numeric(v => Loss(xd, w1, b1, v, b2), w2), rtol, atol, "2.weight");
        GradCheck.AssertClose(l2.Bias.Grad.Data, GradCheck.Numeric(v => Loss(xd, w1, b1, w2, v), b2), rtol, atol, "2.bias");
    }
}
