using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.Tests.Optim;

public class OptimizerStateDictTests
{
    private static void FakeStep(Sequential net, Optimizer opt, int t)
    {
        // A deterministic pseudo-gradient that depends on the parameters and the step.
        opt.ZeroGrad();
        foreach (var p in net.Parameters())
            for (int i = 0; i < p.Length; i++) p.Grad.Data[i] = p.Data[i] * 0.5f + MathF.Sin(i + t);
        opt.Step();
    }

    private static Sequential Net() => new(new Linear(3, 4, new Rng(5)), new ReLU(), new Linear(4, 2, new Rng(6)));

    public static IEnumerable<object[]> Makers() => new[]
    {
        new object[] { "adam-amsgrad", (Func<IEnumerable<Parameter>, Optimizer>)(ps => new Adam(ps, 0.01f, amsgrad: true, weightDecay: 0.1)) },
        new object[] { "adamw", (Func<IEnumerable<Parameter>, Optimizer>)(ps => new AdamW(ps, 0.01f)) },
        new object[] { "sgd-momentum", (Func<IEnumerable<Parameter>, Optimizer>)(ps => new Sgd(ps, 0.01f, momentum: 0.9, nesterov: true)) },
    };

    [Theory]
    [MemberData(nameof(Makers))]
    public void RoundTripResumesBitwiseIdentically(string name, Func<IEnumerable<Parameter>, Optimizer> make)
    {
        var net = Net();
        var opt = make(net.Parameters());
        var schedule = new WarmupCosineSchedule(0.01f, 2, 10);
        for (int t = 0; t < 4; t++) { schedule.Apply(opt, opt.StepCount); FakeStep(net, opt, t); }
        var modelState = net.StateDict();
        var optState = opt.StateDict();
        for (int t = 4; t < 8; t++) { schedule.Apply(opt, opt.StepCount); FakeStep(net, opt, t); }

        var net2 = Net();
        var opt2 = make(net2.Parameters());
        net2.LoadStateDict(modelState);
        opt2.LoadStateDict(optState);
        Assert.Equal(4, opt2.StepCount);
        Assert.Equal(optState["lr"].Data[0], opt2.LearningRate);
        for (int t = 4; t < 8; t++) { schedule.Apply(opt2, opt2.StepCount); FakeStep(net2, opt2, t); }

        foreach (var ((n1, p1), (_, p2)) in net.NamedParameters().Zip(net2.NamedParameters()))
            Assert.True(p1.Data.AsSpan().SequenceEqual(p2.Data), $"{name}: parameter {n1} differs after resuming");
        foreach (var (key, t1) in opt.StateDict())
            Assert.True(t1.Data.AsSpan().SequenceEqual(opt2.StateDict()[key].Data), $"{name}: state {key} differs");
    }

    [Fact]
    public void KeysFollowPyTorchNaming()
    {
        var net = Net();
        var keys = new Adam(net.Parameters(), amsgrad: true).StateDict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        Assert.Contains("state.3.exp_avg", keys);
        Assert.Contains("state.0.exp_avg_sq", keys);
        Assert.Contains("state.2.max_exp_avg_sq", keys);
        Assert.Contains("step", keys);
        Assert.Contains("lr", keys);
        Assert.Equal(4 * 3 + 2, keys.Length);
        Assert.Equal(new[] { "lr", "step" }, new Sgd(net.Parameters(), 0.1f).StateDict().Keys.OrderBy(k => k, StringComparer.Ordinal));
    }

    [Fact]
    public void MismatchesAreListedAndNothingChanges()
    {
        var net = Net();
        var sgdState = new Sgd(net.Parameters(), 0.1f, momentum: 0.9).StateDict();
        var adam = new Adam(net.Parameters());
        var ex = Assert.Throws<InvalidOperationException>(() => adam.LoadStateDict(sgdState));
        Assert.Contains("missing 'state.0.exp_avg'", ex.Message);
        Assert.Contains("unexpected 'state.0.momentum_buffer'", ex.Message);

        var other = new Adam(Net().Parameters()).StateDict();
        other["state.1.exp_avg"] = new Tensor(5);
        other["step"].Data[0] = 7;
        other.Remove("lr");
        ex = Assert.Throws<InvalidOperationException>(() => adam.LoadStateDict(other));
        Assert.Contains("shape mismatch for 'state.1.exp_avg'", ex.Message);
        Assert.Contains("missing 'lr'", ex.Message);
        Assert.Equal(0, adam.StepCount);

        // A model with a different number of parameters.
        var small = new Adam(new Linear(3, 4, new Rng(1)).Parameters()).StateDict();
        ex = Assert.Throws<InvalidOperationException>(() => adam.LoadStateDict(small));
        Assert.Contains("missing 'state.2.exp_avg'", ex.Message);
    }

    [Fact]
    public void LargeStepCountsAreExact()
    {
        var opt = new Sgd(new[] { new Parameter(1) }, 0.1f);
        var state = opt.StateDict();
        int big = (3 << 24) + 12345;
        state["step"] = new Tensor(new float[] { big & 0xFFFFFF, big >> 24 }, 2);
        opt.LoadStateDict(state);
        Assert.Equal(big, opt.StepCount);
        opt.Step();
        var again = opt.StateDict()["step"].Data;
        Assert.Equal(big + 1, (int)again[0] | ((int)again[1] << 24));
    }
}

public class ScheduleClipGuardTests
{
    [Fact]
    public void WarmupCosineKeyPoints()
    {
        var s = new WarmupCosineSchedule(1e-3f, warmupSteps: 100, totalSteps: 1100, minLr: 1e-5f);
        Assert.Equal(0f, s.At(0));
        Assert.Equal(5e-4f, s.At(50), 1e-9f);
        Assert.Equal(1e-3f, s.At(100), 1e-9f);
        // Halfway through the cosine: the midpoint of base and min.
        Assert.Equal((1e-3f + 1e-5f) / 2, s.At(600), 1e-9f);
        // A quarter of the way: min + (base − min)·½(1 + cos(π/4)).
        Assert.Equal((float)(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.Cos(Math.PI / 4))), s.At(350), 1e-9f);
        Assert.Equal(1e-5f, s.At(1100), 1e-12f);
        Assert.Equal(1e-5f, s.At(5000), 1e-12f);
        for (int t = 100; t < 1100; t++) Assert.True(s.At(t + 1) <= s.At(t), $"not decreasing at {t}");

        var opt = new Adam(new[] { new Parameter(1) });
        Assert.Equal(s.At(600), s.Apply(opt, 600));
        Assert.Equal(s.At(600), opt.LearningRate);

        var noWarmup = new WarmupCosineSchedule(0.1f, 0, 10);
        Assert.Equal(0.1f, noWarmup.At(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(0.1f, 20, 10));
    }

    [Fact]
    public void ClipGradNormScalesToTheMaximum()
    {
        var a = new Parameter(2);
        var b = new Parameter(1);
        a.Grad.Data[0] = 3f; a.Grad.Data[1] = 4f; b.Grad.Data[0] = 12f;   // norm 13
        float norm = GradientClipping.ClipGradNorm(new[] { a, b }, 6.5f);
        Assert.Equal(13f, norm);
        float coef = (float)(6.5 / (13 + 1e-6));
        Assert.Equal(3f * coef, a.Grad.Data[0]);
        Assert.Equal(4f * coef, a.Grad.Data[1]);
        Assert.Equal(12f * coef, b.Grad.Data[0]);
        Assert.Equal(6.5, Math.Sqrt(a.Grad.Data.Concat(b.Grad.Data).Sum(v => (double)v * v)), 1e-5);

        // Under the maximum: untouched.
        Assert.Equal(6.5f, GradientClipping.ClipGradNorm(new[] { a, b }, 100f), 1e-5f);
        Assert.Equal(12f * coef, b.Grad.Data[0]);
    }

    [Fact]
    public void ClipGradNormNonFinite()
    {
        var a = new Parameter(2);
        a.Grad.Data[0] = float.NaN;
        a.Grad.Data[1] = 1f;
        Assert.True(float.IsNaN(GradientClipping.ClipGradNorm(new[] { a }, 1f)));
        Assert.True(float.IsNaN(a.Grad.Data[1]));   // as PyTorch: the NaN coefficient spreads
        a.Grad.Data[0] = float.PositiveInfinity;
        Assert.Throws<InvalidOperationException>(() => GradientClipping.ClipGradNorm(new[] { a }, 1f, errorIfNonFinite: true));
    }

    [Fact]
    public void LossGuardNamesTheStepAndTheValue()
    {
        LossGuard.Check(1.5f, 3);
        var ex = Assert.Throws<NonFiniteLossException>(() => LossGuard.Check(float.NaN, 123));
        Assert.Equal("loss became NaN at step 123; lower the learning rate or enable gradient clipping", ex.Message);
        Assert.Equal(123, ex.Step);
        Assert.True(float.IsNaN(ex.Loss));
        ex = Assert.Throws<NonFiniteLossException>(() => LossGuard.Check(float.PositiveInfinity, 7));
        Assert.Equal("loss became +Infinity at step 7; lower the learning rate or enable gradient clipping", ex.Message);
    }
}
