using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.Tests.Optim;

public class TrainingTests
{
    /// <summary>XOR of quadrants: label 1 where x₀·x₁ &gt; 0, points kept at least 0.1 from the axes.</summary>
    private static (Tensor X, int[] Y) XorData(int n, Rng rng)
    {
        var x = new Tensor(n, 2);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            float a, b;
            do { a = rng.Uniform(-1, 1); b = rng.Uniform(-1, 1); } while (MathF.Abs(a) < 0.1f || MathF.Abs(b) < 0.1f);
            x.Data[2 * i] = a;
            x.Data[2 * i + 1] = b;
            y[i] = a * b > 0 ? 1 : 0;
        }
        return (x, y);
    }

    [Fact]
    public void MlpLearnsXorWithAdam()
    {
        var rng = new Rng(2024);
        var (x, y) = XorData(256, rng);
        var net = new Sequential(new Linear(2, 32, rng), new GELU(), new Linear(32, 2, rng));
        var opt = new Adam(net.Parameters(), 0.01f);
        var ce = new SoftmaxCrossEntropy();
        float first = 0, last = 0;
        for (int step = 0; step < 400; step++)
        {
            opt.ZeroGrad();
            var logits = net.Forward(x);
            var (loss, grad) = ce.Compute(logits, y);
            LossGuard.Check(loss, step);
            if (step == 0) first = loss;
            last = loss;
            net.Backward(grad);
            opt.Step();
        }
        // Starts near ln 2 ≈ 0.69; must fall more than 10×.
        Assert.InRange(first, 0.6f, 0.8f);
        Assert.True(last < first / 10, $"loss fell from {first} to {last} only");
        Assert.True(Metrics.Accuracy(net.Forward(x), y) > 0.97f);
    }

    private static float[][] TrainRun()
    {
        // Large enough that the matrix products and GELU run on several threads.
        var rng = new Rng(77);
        var data = new Rng(78);
        const int batch = 128, inF = 64, hidden = 256, classes = 10;
        var net = new Sequential(new Linear(inF, hidden, rng), new GELU(), new Dropout(0.1f, rng.Fork()), new Linear(hidden, classes, rng));
        var opt = new AdamW(net.Parameters(), 1e-3f);
        var schedule = new WarmupCosineSchedule(1e-3f, 3, 12);
        var ce = new SoftmaxCrossEntropy(0.05f);
        var x = new Tensor(batch, inF);
        var y = new int[batch];
        for (int step = 0; step < 12; step++)
        {
            for (int i = 0; i < x.Length; i++) x.Data[i] = (float)data.Normal();
            for (int i = 0; i < batch; i++) y[i] = data.NextInt(classes);
            schedule.Apply(opt, step);
            opt.ZeroGrad();
            var (loss, grad) = ce.Compute(net.Forward(x), y);
            LossGuard.Check(loss, step);
            net.Backward(grad);
            GradientClipping.ClipGradNorm(net.Parameters(), 1f);
            opt.Step();
        }
        return net.Parameters().Select(p => (float[])p.Data.Clone()).ToArray();
    }

    [Fact]
    public void TwoIdenticalRunsAreBitwiseIdentical()
    {
        var a = TrainRun();
        var b = TrainRun();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(a[i].AsSpan().SequenceEqual(b[i]), $"parameter {i} differs between runs");
    }
}
