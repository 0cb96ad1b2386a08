using LayerCompiler.Runtime.Losses;

namespace LayerCompiler.Runtime.Tests.Losses;

public class LossTests
{
    // Gradient checks: float32 analytic gradient vs central differences (h = 1e-6) of a float64
    // re-implementation; tolerance rtol 1e-5, atol 1e-7.

    private static double CrossEntropyRef(double[] z, int[] labels, int classes, double eps)
    {
        int batch = labels.Length;
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            var row = z.Skip(b * classes).Take(classes).ToArray();
            double max = row.Max();
            double logZ = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            for (int c = 0; c < classes; c++)
            {
                double target = (c == labels[b] ? 1 - eps : 0) + eps / classes;
                total -= target * (row[c] - logZ);
            }
        }
        return total / batch;
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void SoftmaxCrossEntropyGradientMatchesFiniteDifferences(float smoothing)
    {
        var rng = new Rng(31);
        var logits = GradCheck.RandomTensor(rng, 2f, 5, 4);
        int[] labels = { 0, 3, 1, 1, 2 };
        var (loss, grad) = new SoftmaxCrossEntropy(smoothing).Compute(logits, labels);
        var z = GradCheck.ToDouble(logits.Data);
        Assert.Equal(CrossEntropyRef(z, labels, 4, smoothing), loss, 1e-6);
        GradCheck.AssertClose(grad.Data, GradCheck.Numeric(v => CrossEntropyRef(v, labels, 4, smoothing), z), 1e-5, 1e-7, "dz");
    }

    [Fact]
    public void SoftmaxCrossEntropyMatchesPyTorchAndIsStable()
    {
        // F.cross_entropy(logits, labels) and label_smoothing=0.1, torch 1.13 (Debian python3-torch).
        var logits = new Tensor(new float[] { 2f, -1f, 0.5f, 0.1f, 0.2f, 0.3f, -3f, 4f, 1f, 1000f, -1000f, 0f }, 4, 3);
        int[] labels = { 0, 2, 1, 1 };
        var (loss, grad) = new SoftmaxCrossEntropy().Compute(logits, labels);
        Assert.Equal(500.323181f, loss, 1e-3f);
        Assert.All(grad.Data, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(-0.25f, grad.Data[10], 1e-6f); // row 3: p(label) ≈ 0, so grad = (0 − 1)/4
        Assert.Equal(475.446503f, new SoftmaxCrossEntropy(0.1f).Compute(logits, labels).Loss, 1e-3f);
    }

    [Fact]
    public void SoftmaxCrossEntropyRejectsBadLabels()
    {
        var ce = new SoftmaxCrossEntropy();
        var logits = new Tensor(2, 3);
        Assert.Contains("label 3 at row 1", Assert.Throws<ArgumentOutOfRangeException>(() => ce.Compute(logits, new[] { 0, 3 })).Message);
        Assert.Throws<ArgumentException>(() => ce.Compute(logits, new[] { 0 }));
    }

    [Fact]
    public void MeanSquaredErrorValueAndGradient()
    {
        var rng = new Rng(32);
        var p = GradCheck.RandomTensor(rng, 1f, 3, 4);
        var t = GradCheck.RandomTensor(rng, 1f, 3, 4);
        var (loss, grad) = new MeanSquaredError().Compute(p, t);
        var td = GradCheck.ToDouble(t.Data);
        double Ref(double[] v) => v.Select((a, i) => (a - td[i]) * (a - td[i])).Sum() / v.Length;
        var pd = GradCheck.ToDouble(p.Data);
        Assert.Equal(Ref(pd), loss, 1e-6);
        GradCheck.AssertClose(grad.Data, GradCheck.Numeric(Ref, pd), 1e-5, 1e-7, "dp");

        // F.mse_loss, torch 1.13.
        var z = new Tensor(new float[] { 3f, -2f, 0f, 50f, -80f, 0.5f }, 3, 2);
        var y = new Tensor(new float[] { 1f, 0f, 0.3f, 1f, 0f, 0.7f }, 3, 2);
        Assert.Equal(1468.18835f, new MeanSquaredError().Compute(z, y).Loss, 1e-2f);
    }

    [Fact]
    public void BinaryCrossEntropyWithLogitsValueGradientAndStability()
    {
        var rng = new Rng(33);
        var z = GradCheck.RandomTensor(rng, 3f, 4, 3);
        var t = new Tensor(4, 3);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.NextDouble();
        var (loss, grad) = new BinaryCrossEntropyWithLogits().Compute(z, t);
        var td = GradCheck.ToDouble(t.Data);
        double Ref(double[] v)
        {
            double s = 0;
            for (int i = 0; i < v.Length; i++)
            {
                double sig = 1 / (1 + Math.Exp(-v[i]));
                s -= td[i] * Math.Log(sig) + (1 - td[i]) * Math.Log(1 - sig);
            }
            return s / v.Length;
        }
        var zd = GradCheck.ToDouble(z.Data);
        Assert.Equal(Ref(zd), loss, 1e-6);
        GradCheck.AssertClose(grad.Data, GradCheck.Numeric(Ref, zd), 1e-5, 1e-7, "dz");

        // F.binary_cross_entropy_with_logits, torch 1.13; the logits 50 and −80 would overflow a naive form.
        var zz = new Tensor(new float[] { 3f, -2f, 0f, 50f, -80f, 0.5f }, 3, 2);
        var yy = new Tensor(new float[] { 1f, 0f, 0.3f, 1f, 0f, 0.7f }, 3, 2);
        var (l2, g2) = new BinaryCrossEntropyWithLogits().Compute(zz, yy);
        Assert.Equal(0.248789907f, l2, 1e-6f);
        Assert.All(g2.Data, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void LossesRejectMismatchedShapes()
    {
        Assert.Throws<ArgumentException>(() => new MeanSquaredError().Compute(new Tensor(2, 3), new Tensor(3, 2)));
        Assert.Throws<ArgumentException>(() => new BinaryCrossEntropyWithLogits().Compute(new Tensor(2, 3), new Tensor(6)));
    }

    [Fact]
    public void AccuracyAndConfusionMatrix()
    {
        var logits = new Tensor(new float[]
        {
            0.9f, 0.1f, 0.0f,   // pred 0
            0.2f, 0.7f, 0.1f,   // pred 1
            0.1f, 0.1f, 0.8f,   // pred 2
            0.5f, 0.5f, 0.0f,   // tie -> first, pred 0
            0.0f, 0.3f, 0.2f,   // pred 1
        }, 5, 3);
        int[] labels = { 0, 1, 1, 1, 2 };
        Assert.Equal(0.4f, Metrics.Accuracy(logits, labels), 1e-6f);
        var m = Metrics.ConfusionMatrix(logits, labels, 3);
        int[,] expected = { { 1, 0, 0 }, { 1, 1, 1 }, { 0, 1, 0 } };
        Assert.Equal(expected, m);
        Assert.Equal(new[] { 0, 1, 2, 0, 1 }, Metrics.ArgMax(logits));
        Assert.Throws<ArgumentException>(() => Metrics.ConfusionMatrix(logits, labels, 4));
    }
}
