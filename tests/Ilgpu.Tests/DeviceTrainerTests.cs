using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// The device-resident <see cref="IlgpuStepExecutor"/> against the CPU <see cref="ModuleStepExecutor"/> on the same model
/// (same seed): losses and parameters after a few steps ≤ 1e-5 relative, two device runs bitwise equal, the runtime's
/// <see cref="Trainer"/> driving it (validation, best-epoch restore, checkpoint resume), state dicts in the CPU keys, and
/// clear refusals for what has no device kernel.
/// </summary>
public class DeviceTrainerTests
{
    private const double Tolerance = 1e-5;

    /// <summary>An equivariant network from a config and a kernel factory (the generated layers of a test model).</summary>
    private sealed class Net(ModelConfig config, WS space, Func<LayerPlan, IEquivariantKernel> kernels, ulong seed) : EquivariantNetwork(config, space, kernels, seed);

    /// <summary>A model, CPU or on the test device, by name.</summary>
    private static EquivariantNetwork Model(string name, bool device) => name switch
    {
        // Depth-5 input network, all-neuron, mean-and-max pooling, hidden head layer, ReLU fused into the layers.
        "depth5-meanmax" => device ? new Depth5AllMeanMax(TestDevice.Shared, seed: 5) : new Depth5AllMeanMax(seed: 5),
        // The same layers with normalization (ReLU fused into it) and max pooling, linear head.
        "depth5-norm-max" => new Net(new ModelConfig(Symmetry.AllNeuron, new[] { 3, 2 }, Activation.ReLU, HeadKind.Invariant, 4, Normalize: true, Pooling: HeadPooling.Max),
            Depth5AllMeanMax.CreateWeightSpace(), Kernels(device, Depth5AllMeanMax.CreateKernel, Depth5AllMeanMax.CreateIlgpuKernel), 6),
        // Hidden-neuron depth-5 layers (2 → 3 channels), no activation, mean pooling.
        "depth5-hidden-linear" => new Net(new ModelConfig(Symmetry.HiddenNeuron, new[] { 2, 3 }, Activation.None, HeadKind.Invariant, 3, HeadHidden: 4),
            Depth5Editor.CreateWeightSpace(), Kernels(device, Depth5Editor.CreateKernel, Depth5Editor.CreateIlgpuKernel), 7),
        _ => throw new ArgumentException(name),
    };

    private static Func<LayerPlan, IEquivariantKernel> Kernels(bool device, Func<LayerPlan, IEquivariantKernel> cpu, Func<IlgpuDevice, LayerPlan, IlgpuEquivariantKernel> ilgpu) =>
        device ? plan => ilgpu(TestDevice.Shared, plan) : cpu;

    private static TrainerOptions Options(string name) => name switch
    {
        "reference" => TrainerOptions.Reference(),
        "clip-smooth-decayall" => new TrainerOptions { LearningRate = 2e-2f, ClipGradNorm = 0.3f, LabelSmoothing = 0.1f, DecayAllParameters = true, AmsGrad = false, WeightDecay = 0.01 },
        _ => throw new ArgumentException(name),
    };

    private static (WeightSpaceBatch X, int[] Labels) Batch(WS space, int step, int batch, int classes) =>
        (TestUtil.Random(space, batch, 1, 40 + (ulong)step), Enumerable.Range(0, batch).Select(i => (i * 3 + step) % classes).ToArray());

    private static float[] Flat(Dictionary<string, Tensor> state) => state.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.Data).ToArray();

    /// <summary>Four steps (the third with a smaller batch, the rate changing each step); losses, logits and the parameters.</summary>
    private static (float[] Losses, float[] Logits, float[] Parameters, float[] Moments) Run(IStepExecutor executor, EquivariantNetwork model, float smoothing,
        Action? afterStep = null)
    {
        executor.SetTraining(true);
        var objective = new ClassificationObjective(smoothing);
        var losses = new List<float>(); var logits = new List<float>();
        for (int step = 0; step < 4; step++)
        {
            executor.LearningRate = 1e-2f * (1f - 0.2f * step);
            var (x, labels) = Batch(model.Space, step, step == 2 ? 3 : 6, model.Config.Outputs);
            var r = executor.Step(x, new TrainingTargets(labels, null), objective);
            losses.Add(r.Loss); logits.AddRange(r.Outputs.Data);
            afterStep?.Invoke();
        }
        return (losses.ToArray(), logits.ToArray(), Flat(executor.StateDict()), Flat(executor.OptimizerStateDict()));
    }

    [Theory]
    [InlineData("depth5-meanmax", "reference")]
    [InlineData("depth5-norm-max", "clip-smooth-decayall")]
    [InlineData("depth5-hidden-linear", "reference")]
    public void StepsMatchTheCpuExecutorAndRepeatBitwise(string modelName, string optionsName)
    {
        var options = Options(optionsName);
        var cpuModel = Model(modelName, device: false);
        // Elements whose true gradient is zero in some step (a layer's bias and constant terms before a normalization, which
        // subtracts them again): their float gradient is rounding noise (1e-8 against 0.1), which Adam turns into a step of
        // up to ±lr in a direction that differs between any two summation orders. They are compared by a bound on their
        // drift (≤ 2·Σlr); every other element to 1e-5.
        var named = cpuModel.NamedParameters().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Parameter).ToArray();
        var noise = new bool[named.Sum(p => p.Length)];
        void MarkNoise()
        {
            var g = named.SelectMany(p => p.Grad.Data).ToArray();
            float max = g.Max(Math.Abs);
            for (int i = 0; i < g.Length; i++) if (Math.Abs(g[i]) <= 1e-5f * max) noise[i] = true;
        }
        var cpu = Run(ModuleStepExecutor.For(cpuModel, options), cpuModel, options.LabelSmoothing, MarkNoise);
        var devModel = Model(modelName, device: true);
        using var dev = new IlgpuStepExecutor(TestDevice.Shared, devModel, options);
        var d = Run(dev, devModel, options.LabelSmoothing);
        Assert.Equal(4, dev.StepCount);
        Assert.True(TestUtil.RelativeError(d.Losses, cpu.Losses) <= Tolerance, $"losses {string.Join(", ", d.Losses)} vs {string.Join(", ", cpu.Losses)}");
        Assert.True(TestUtil.RelativeError(d.Logits, cpu.Logits) <= Tolerance, $"logits: relative error {TestUtil.RelativeError(d.Logits, cpu.Logits):E2}");
        float[] Keep(float[] v, bool keep) => v.Where((_, i) => noise[i] != keep).ToArray();
        Assert.True(TestUtil.RelativeError(Keep(d.Parameters, true), Keep(cpu.Parameters, true)) <= Tolerance,
            $"parameters: relative error {TestUtil.RelativeError(Keep(d.Parameters, true), Keep(cpu.Parameters, true)):E2}");
        double sumLr = Enumerable.Range(0, 4).Sum(s => 1e-2 * (1 - 0.2 * s));
        var dn = Keep(d.Parameters, false); var cn = Keep(cpu.Parameters, false);
        for (int i = 0; i < dn.Length; i++) Assert.True(Math.Abs(dn[i] - cn[i]) <= 2 * sumLr, $"zero-gradient element drifted {dn[i]} vs {cn[i]}");
        Assert.True(TestUtil.RelativeError(d.Moments, cpu.Moments) <= Tolerance, $"optimizer state: relative error {TestUtil.RelativeError(d.Moments, cpu.Moments):E2}");

        var againModel = Model(modelName, device: true);
        using var again = new IlgpuStepExecutor(TestDevice.Shared, againModel, options);
        var a = Run(again, againModel, options.LabelSmoothing);
        Assert.Equal(d.Losses.Select(BitConverter.SingleToInt32Bits), a.Losses.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(d.Parameters.Select(BitConverter.SingleToInt32Bits), a.Parameters.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(d.Moments.Select(BitConverter.SingleToInt32Bits), a.Moments.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void TheTrainerDrivesItLikeTheCpuExecutor()
    {
        var options = new TrainerOptions { Epochs = 2, BatchSize = 4, EvalBatchSize = 5, LearningRate = 1e-2f, WarmupSteps = 1, Seed = 3 };
        var space = Depth5AllMeanMax.CreateWeightSpace();
        var train = new InMemoryWeightDataset(TestUtil.Random(space, 10, 1, 50), Enumerable.Range(0, 10).Select(i => i % 4).ToArray());
        var val = new InMemoryWeightDataset(TestUtil.Random(space, 6, 1, 51), Enumerable.Range(0, 6).Select(i => (i + 1) % 4).ToArray());
        var cpuModel = new Depth5AllMeanMax(seed: 5);
        var cpuHistory = new Trainer(ModuleStepExecutor.For(cpuModel, options), options).Fit(train, val);
        var devModel = new Depth5AllMeanMax(TestDevice.Shared, seed: 5);
        using var dev = new IlgpuStepExecutor(TestDevice.Shared, devModel, options);
        var devHistory = new Trainer(dev, options).Fit(train, val);
        Assert.Equal(cpuHistory.Epochs.Count, devHistory.Epochs.Count);
        Assert.Equal(cpuHistory.BestEpoch, devHistory.BestEpoch);
        for (int e = 0; e < cpuHistory.Epochs.Count; e++)
        {
            Assert.True(Math.Abs(cpuHistory.Epochs[e].TrainLoss - devHistory.Epochs[e].TrainLoss) <= Tolerance * Math.Abs(cpuHistory.Epochs[e].TrainLoss), $"epoch {e + 1} train loss");
            Assert.True(Math.Abs(cpuHistory.Epochs[e].ValidationLoss!.Value - devHistory.Epochs[e].ValidationLoss!.Value) <= Tolerance * Math.Abs(cpuHistory.Epochs[e].ValidationLoss!.Value), $"epoch {e + 1} validation loss");
            Assert.Equal(cpuHistory.Epochs[e].ValidationMetric, devHistory.Epochs[e].ValidationMetric);
        }
        // The trainer restored the best epoch through LoadStateDict: the CPU model and the device agree.
        var cpuParams = Flat(cpuModel.StateDict());
        Assert.True(TestUtil.RelativeError(Flat(devModel.StateDict()), cpuParams) <= Tolerance);
        Assert.True(TestUtil.RelativeError(Flat(dev.StateDict()), cpuParams) <= Tolerance);
    }

    [Fact]
    public void StateDictsRoundTripAndResumeBitwise()
    {
        var options = TrainerOptions.Reference();
        var objective = new ClassificationObjective();
        var space = Depth5AllMeanMax.CreateWeightSpace();
        using var a = new IlgpuStepExecutor(TestDevice.Shared, new Depth5AllMeanMax(TestDevice.Shared, seed: 5), options);
        for (int s = 0; s < 2; s++) { var (x, l) = Batch(space, s, 5, 4); a.Step(x, new TrainingTargets(l, null), objective); }
        var model = a.StateDict(); var opt = a.OptimizerStateDict();
        Assert.Equal(options.CreateOptimizer(new Depth5AllMeanMax(seed: 1)).StateDict().Keys.OrderBy(k => k, StringComparer.Ordinal), opt.Keys.OrderBy(k => k, StringComparer.Ordinal));
        // A fresh executor (another seed) resumed from those dicts takes the next step bitwise as the first one does.
        using var b = new IlgpuStepExecutor(TestDevice.Shared, new Depth5AllMeanMax(TestDevice.Shared, seed: 99), options);
        b.LoadStateDict(model); b.LoadOptimizerStateDict(opt);
        Assert.Equal(2, b.StepCount);
        var (x2, l2) = Batch(space, 2, 5, 4);
        float la = a.Step(x2, new TrainingTargets(l2, null), objective).Loss;
        var (x3, l3) = Batch(space, 2, 5, 4);
        float lb = b.Step(x3, new TrainingTargets(l3, null), objective).Loss;
        Assert.Equal(BitConverter.SingleToInt32Bits(la), BitConverter.SingleToInt32Bits(lb));
        Assert.Equal(Flat(a.StateDict()).Select(BitConverter.SingleToInt32Bits), Flat(b.StateDict()).Select(BitConverter.SingleToInt32Bits));
        var bad = new Dictionary<string, Tensor>(opt); bad.Remove("step");
        Assert.Contains("missing 'step'", Assert.Throws<InvalidOperationException>(() => b.LoadOptimizerStateDict(bad)).Message);
    }

    [Fact]
    public void NonFiniteLossThrowsBeforeAnythingChanges()
    {
        var options = TrainerOptions.Reference();
        var model = new Depth5AllMeanMax(TestDevice.Shared, seed: 5);
        ((Linear)model.Head!.Layers[^1]).Bias!.Data[1] = float.NaN;   // NaN logits
        using var ex = new IlgpuStepExecutor(TestDevice.Shared, model, options);
        var before = Flat(ex.StateDict());
        var (x, l) = Batch(model.Space, 0, 3, 4);
        Assert.Throws<NonFiniteLossException>(() => ex.Step(x, new TrainingTargets(l, null), new ClassificationObjective()));
        Assert.Equal(0, ex.StepCount);
        Assert.Equal(before.Select(BitConverter.SingleToInt32Bits), Flat(ex.StateDict()).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void UnsupportedModelsAndObjectivesAreRefusedWithTheReason()
    {
        var options = TrainerOptions.Reference();
        var dev = TestDevice.Shared;
        var cpuLayers = new Depth5AllMeanMax(seed: 1);
        Assert.Contains("(IlgpuDevice, seed) constructor", Assert.Throws<NotSupportedException>(() => new IlgpuStepExecutor(dev, cpuLayers, options)).Message);
        // The head and the activation are checked before the layers (no kernels need compiling for these two).
        var editor = new Depth5Editor(seed: 1);
        Assert.Contains("equivariant head", IlgpuStepExecutor.WhyUnsupported(dev, editor, options));
        var gelu = new Depth2Classifier(seed: 1);
        Assert.Contains("GELU", IlgpuStepExecutor.WhyUnsupported(dev, gelu, options));
        Assert.Contains("Regression", IlgpuStepExecutor.WhyUnsupported(dev, new Depth5AllMeanMax(dev, seed: 1), options with { Task = TrainingTask.Regression }));
        using var ex = new IlgpuStepExecutor(dev, new Depth5AllMeanMax(dev, seed: 1), options);
        var (x, l) = Batch(ex.Model.Space, 0, 3, 4);
        Assert.Throws<NotSupportedException>(() => ex.Step(x, new TrainingTargets(null, new Tensor(3, 4)), new RegressionObjective()));
        Assert.Throws<ArgumentOutOfRangeException>(() => ex.Step(x, new TrainingTargets(new[] { 0, 1, 9 }, null), new ClassificationObjective()));
    }
}
