using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// Each training kernel of the ILGPU device trainer (<see cref="IlgpuTrainingOps"/>, <see cref="IlgpuNorm"/>,
/// <see cref="IlgpuPooling"/>) against the CPU module it implements, forward and backward: relative error ≤ 1e-5 (most
/// are the CPU's arithmetic in the CPU's order, so on ILGPU's CPU accelerator they come out bitwise equal), parameter
/// gradients added to nonzero buffers.
/// </summary>
public class TrainingKernelTests
{
    private const double Tolerance = 1e-5;
    private static IlgpuDevice Dev => TestDevice.Shared;

    private static MemoryBuffer1D<float, Stride1D.Dense> Up(float[] data) => Dev.Accelerator.Allocate1D(data);
    private static MemoryBuffer1D<float, Stride1D.Dense> Zeros(long n) { var b = Dev.Accelerator.Allocate1D<float>(Math.Max(1, n)); b.MemSetToZero(); return b; }
    private static float[] Down(ArrayView<float> v) { var a = new float[v.Length]; v.CopyToCPU(a); return a; }

    private static void Close(float[] device, float[] cpu, string what)
    {
        double err = TestUtil.RelativeError(device, cpu);
        Assert.True(err <= Tolerance, $"{what}: relative error {err:E2}");
    }

    public static WS Space(string name) => name switch
    {
        "mlp5-hidden" => Mlp5.CreateWeightSpace(Symmetry.HiddenNeuron),
        "mlp5-all" => Mlp5.CreateWeightSpace(Symmetry.AllNeuron),
        "cnn-hidden" => SmallCnn.CreateWeightSpace(Symmetry.HiddenNeuron),
        "cnn-all" => SmallCnn.CreateWeightSpace(Symmetry.AllNeuron),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("mlp5-hidden", 3, false)]
    [InlineData("mlp5-hidden", 3, true)]
    [InlineData("mlp5-all", 13, true)]
    [InlineData("cnn-hidden", 2, true)]
    public void NormMatchesEquivariantNorm(string spaceName, int channels, bool relu)
    {
        var space = Space(spaceName);
        const int batch = 5;
        var cpu = new EquivariantNorm(space.Tensors.Count, channels);
        var w = TestUtil.RandomVector(cpu.Weight.Length, 1); var b = TestUtil.RandomVector(cpu.Bias.Length, 2, 0.5);
        w.CopyTo(cpu.Weight.Data, 0); b.CopyTo(cpu.Bias.Data, 0);
        var gw0 = TestUtil.RandomVector(w.Length, 3); var gb0 = TestUtil.RandomVector(b.Length, 4);
        gw0.CopyTo(cpu.Weight.Grad.Data, 0); gb0.CopyTo(cpu.Bias.Grad.Data, 0);
        var x = TestUtil.Random(space, batch, channels, 5, 2);
        var g = TestUtil.Random(space, batch, channels, 6);
        var xFlat = x.Flatten(); var gFlat = g.Flatten();
        var y = cpu.Forward(x, relu).Flatten();
        var gx = cpu.Backward(g).Flatten();

        using var norm = new IlgpuNorm(Dev, space, channels);
        using var dw = Up(w); using var db = Up(b); using var dx = Up(xFlat); using var dy = Zeros(xFlat.Length);
        using var dg = Up(gFlat); using var dgx = Zeros(xFlat.Length); using var dgw = Up(gw0); using var dgb = Up(gb0);
        norm.Forward(dw.View, db.View, dx.View, dy.View, batch, relu);
        norm.Backward(dw.View, db.View, dx.View, dg.View, dgx.View, dgw.View, dgb.View, batch);
        Close(Down(dy.View), y, "forward");
        Close(Down(dgx.View), gx, "input gradient");
        Close(Down(dgw.View), cpu.Weight.Grad.Data, "weight gradient");
        Close(Down(dgb.View), cpu.Bias.Grad.Data, "bias gradient");
        // In place (gx = g), as the executor runs it.
        norm.Backward(dw.View, db.View, dx.View, dg.View, dg.View, dgw.View, dgb.View, batch);
        Close(Down(dg.View), gx, "input gradient in place");
    }

    [Theory]
    [InlineData("mlp5-hidden", HeadPooling.Mean, false)]
    [InlineData("mlp5-hidden", HeadPooling.Max, true)]
    [InlineData("mlp5-all", HeadPooling.MeanAndMax, true)]
    [InlineData("cnn-hidden", HeadPooling.MeanAndMax, false)]
    [InlineData("cnn-all", HeadPooling.Max, false)]
    public void PoolingMatchesInvariantPooling(string spaceName, HeadPooling pooling, bool ties)
    {
        var space = Space(spaceName);
        const int batch = 4, channels = 3;
        var cpu = new InvariantPooling(space, channels, pooling);
        // Inputs rounded to whole numbers make most maxima tied: the first entry holding the maximum must win on both sides.
        var x = TestUtil.Random(space, batch, channels, 7, ties ? 1.5 : 1);
        if (ties) foreach (var t in x.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = MathF.Round(t.Data[i]);
        var y = cpu.Forward(x);
        var g = new Tensor(TestUtil.RandomVector(batch * cpu.FeatureCount, 8), batch, cpu.FeatureCount);
        var gx = cpu.Backward(g).Flatten();

        using var pool = new IlgpuPooling(Dev, space, channels, pooling);
        Assert.Equal(cpu.FeatureCount, pool.FeatureCount);
        var xFlat = x.Flatten();
        using var dx = Up(xFlat); using var dy = Zeros(y.Length); using var dg = Up(g.Data); using var dgx = Zeros(xFlat.Length);
        pool.Forward(dx.View, dy.View, batch);
        pool.Backward(dg.View, dgx.View, batch);
        Assert.Equal(y.Data.Select(BitConverter.SingleToInt32Bits), Down(dy.View).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(gx.Select(BitConverter.SingleToInt32Bits), Down(dgx.View).Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(7, 13, 5, true)]
    [InlineData(3, 4, 10, false)]
    public void DenseMatchesLinear(int rows, int inF, int outF, bool bias)
    {
        var cpu = new Linear(inF, outF, new Rng(9), bias);
        var gw0 = TestUtil.RandomVector(cpu.Weight.Length, 10); gw0.CopyTo(cpu.Weight.Grad.Data, 0);
        var gb0 = TestUtil.RandomVector(outF, 11); if (bias) gb0.CopyTo(cpu.Bias!.Grad.Data, 0);
        var x = new Tensor(TestUtil.RandomVector(rows * inF, 12), rows, inF);
        var gy = new Tensor(TestUtil.RandomVector(rows * outF, 13), rows, outF);
        var y = cpu.Forward(x).Data.ToArray();
        var gx = cpu.Backward(gy).Data.ToArray();

        var ops = new IlgpuTrainingOps(Dev);
        using var dx = Up(x.Data); using var dw = Up(cpu.Weight.Data); using var db = Up(bias ? cpu.Bias!.Data : new float[outF]);
        using var dy = Zeros(rows * outF); using var dgy = Up(gy.Data); using var dgx = Zeros(rows * inF);
        using var dgw = Up(gw0); using var dgb = Up(gb0);
        ops.LinearForward(dx.View, dw.View, bias ? db.View : null, dy.View, rows, inF, outF);
        ops.LinearBackward(dx.View, dw.View, dgy.View, dgx.View, dgw.View, bias ? dgb.View : null, rows, inF, outF);
        Close(Down(dy.View), y, "forward");
        Close(Down(dgx.View), gx, "input gradient");
        Close(Down(dgw.View), cpu.Weight.Grad.Data, "weight gradient");
        if (bias) Close(Down(dgb.View), cpu.Bias!.Grad.Data, "bias gradient");
        else Assert.Equal(gb0, Down(dgb.View));
    }

    [Fact]
    public void ReluMatchesActivations()
    {
        var x = TestUtil.RandomVector(1000, 14); x[3] = 0f; x[4] = -0f;
        var g = TestUtil.RandomVector(1000, 15);
        var y = new float[1000]; var gx = new float[1000];
        Activations.ReluForward(x, y);
        Activations.ReluBackward(y, g, gx);
        var ops = new IlgpuTrainingOps(Dev);
        using var dx = Up(x); using var dy = Zeros(1000); using var dg = Up(g);
        ops.Relu(dx.View, dy.View);
        ops.ReluBackward(dy.View, dg.View, dg.View);
        Assert.Equal(y.Select(BitConverter.SingleToInt32Bits), Down(dy.View).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(gx.Select(BitConverter.SingleToInt32Bits), Down(dg.View).Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void CrossEntropyMatchesSoftmaxCrossEntropy(float smoothing)
    {
        const int batch = 37, classes = 10;
        var logits = TestUtil.RandomVector(batch * classes, 16, 4);
        logits[5] = 80f; logits[6] = 80f;   // large and tied logits
        var labels = Enumerable.Range(0, batch).Select(i => (i * 7) % classes).ToArray();
        var (loss, grad) = new SoftmaxCrossEntropy(smoothing).Compute(new Tensor(logits, batch, classes), labels);
        var ops = new IlgpuTrainingOps(Dev);
        using var dz = Up(logits); using var dgrad = Zeros(logits.Length); using var dloss = Zeros(1);
        using var dl = Dev.Accelerator.Allocate1D(labels); using var rows = Dev.Accelerator.Allocate1D<double>(batch);
        ops.CrossEntropy(dz.View, dl.View, dgrad.View, rows.View, dloss.View, batch, classes, smoothing);
        float deviceLoss = Down(dloss.View)[0];
        Assert.True(Math.Abs(deviceLoss - loss) <= Tolerance * Math.Abs(loss), $"loss {deviceLoss} vs {loss}");
        Close(Down(dgrad.View), grad.Data, "logit gradient");
    }

    [Theory]
    [InlineData(0.05f)]   // clips
    [InlineData(1e6f)]    // does not
    public void ClippingMatchesClipGradNorm(float maxNorm)
    {
        var parameters = new[] { new Parameter(3000), new Parameter(5000), new Parameter(7) };
        ulong seed = 17;
        foreach (var p in parameters) TestUtil.RandomVector(p.Length, seed++, 0.01).CopyTo(p.Grad.Data, 0);
        var flat = parameters.SelectMany(p => p.Grad.Data).ToArray();
        float norm = GradientClipping.ClipGradNorm(parameters, maxNorm);
        var ops = new IlgpuTrainingOps(Dev);
        using var dg = Up(flat); using var partial = Dev.Accelerator.Allocate1D<double>(IlgpuTrainingOps.ClipScratch(flat.Length)); using var scale = Zeros(2);
        ops.ClipGradNorm(dg.View, maxNorm, partial.View, scale.View);
        Close(Down(dg.View), parameters.SelectMany(p => p.Grad.Data).ToArray(), "clipped gradients");
        Assert.True(Math.Abs(Down(scale.View)[1] - norm) <= Tolerance * norm, $"norm {Down(scale.View)[1]} vs {norm}");
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void AdamWMatchesAdamW(bool amsgrad, bool decayAll)
    {
        var parameters = new[] { new Parameter(50), new Parameter(7) { Decay = false }, new Parameter(4, 3) };
        ulong seed = 30;
        foreach (var p in parameters) TestUtil.RandomVector(p.Length, seed++).CopyTo(p.Data, 0);
        var flat = parameters.SelectMany(p => p.Data).ToArray();
        var decays = parameters.SelectMany(p => Enumerable.Repeat(decayAll || p.Decay ? 1 : 0, p.Length)).ToArray();
        const double wd = 0.05;
        var cpu = new AdamW(parameters, 1e-2f, 0.9, 0.999, 1e-8, wd, amsgrad) { DecayAllParameters = decayAll };
        var ops = new IlgpuTrainingOps(Dev);
        using var dp = Up(flat); using var dg = Zeros(flat.Length); using var m = Zeros(flat.Length); using var v = Zeros(flat.Length);
        using var vmax = Zeros(flat.Length); using var dd = Dev.Accelerator.Allocate1D(decays);
        for (int step = 1; step <= 4; step++)
        {
            float lr = 1e-2f / step;
            cpu.LearningRate = lr;
            foreach (var p in parameters) TestUtil.RandomVector(p.Length, seed++, step == 3 ? 0 : 1).CopyTo(p.Grad.Data, 0);  // step 3: zero gradients
            dg.View.CopyFromCPU(parameters.SelectMany(p => p.Grad.Data).ToArray());
            cpu.Step();
            ops.AdamW(dp.View, dg.View, m.View, v.View, vmax.View, dd.View, lr, step, 0.9, 0.999, 1e-8, wd, amsgrad);
            Close(Down(dp.View), parameters.SelectMany(p => p.Data).ToArray(), $"parameters after step {step}");
        }
        var state = cpu.StateDict();
        Close(Down(m.View), Enumerable.Range(0, 3).SelectMany(i => state[$"state.{i}.exp_avg"].Data).ToArray(), "exp_avg");
        Close(Down(v.View), Enumerable.Range(0, 3).SelectMany(i => state[$"state.{i}.exp_avg_sq"].Data).ToArray(), "exp_avg_sq");
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var space = Space("mlp5-hidden");
        using var norm = new IlgpuNorm(Dev, space, 2);
        using var small = Zeros(5);
        var e = Assert.Throws<ArgumentException>(() => norm.Forward(small.View, small.View, small.View, small.View, 1, false));
        Assert.Contains("holds 5 floats", e.Message);
        Assert.Throws<InvalidOperationException>(() => norm.Backward(small.View, small.View, small.View, small.View, small.View, small.View, small.View, 1));
        using var pool = new IlgpuPooling(Dev, space, 2, HeadPooling.Max);
        Assert.Throws<InvalidOperationException>(() => pool.Backward(small.View, small.View, 1));
        var ops = new IlgpuTrainingOps(Dev);
        Assert.Throws<ArgumentOutOfRangeException>(() => ops.ClipGradNorm(small.View, 0f, default, small.View));
    }
}
