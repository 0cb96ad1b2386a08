using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;
using Xunit.Abstractions;

namespace LayerCompiler.Gpu.Tests;

// Small models for the device-training tests: the 2→4→4→1 MLP space, 2 channels (3 layers: the 2 → 2 module serves two).
[InputNetwork]
[Dense(2, 4)]
[Dense(4, 4)]
[Dense(4, 1)]
public partial class Mlp2x4x4x1 { }

[EquivariantModel(typeof(Mlp2x4x4x1), Channels = new[] { 2, 2, 2 }, Outputs = 3, HeadHidden = 5, Normalize = true)]
public partial class TrainStepNormClassifier { }

[EquivariantModel(typeof(Mlp2x4x4x1), Channels = new[] { 2, 2 }, Activation = Activation.GELU, Outputs = 3)]
public partial class TrainStepGeluClassifier { }

[EquivariantModel(typeof(Mlp2x4x4x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 2 }, Activation = Activation.GELU, Outputs = 4, Normalize = true)]
public partial class TrainStepAllNeuronClassifier { }

// Max pooling in the invariant head: the maximum alone, and mean and maximum side by side.
[EquivariantModel(typeof(Mlp2x4x4x1), Channels = new[] { 2, 2 }, Outputs = 3, Normalize = true, Pooling = HeadPooling.Max)]
public partial class TrainStepMaxClassifier { }

[EquivariantModel(typeof(Mlp2x4x4x1), Channels = new[] { 2, 2 }, Activation = Activation.GELU, Outputs = 3, Pooling = HeadPooling.MeanAndMax)]
public partial class TrainStepMeanMaxClassifier { }

/// <summary>A model the device trainer runs, with the CPU model and options it is checked against.</summary>
public sealed record TrainerCase(string Name, Func<ulong, EquivariantNetwork> Create, Func<int, int, CudaLayerSource> Sources, CudaTrainerOptions Options)
{
    public override string ToString() => Name;

    public static IEnumerable<TrainerCase> Emulated() => new[]
    {
        new TrainerCase("2-4-4-1 3 layers (one module twice), norm relu hidden-head", s => new TrainStepNormClassifier(s), TrainStepNormClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 8 }),
        new TrainerCase("2-4-4-1 gelu, smoothing, clipping", s => new TrainStepGeluClassifier(s), TrainStepGeluClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 8, LabelSmoothing = 0.1f, ClipGradNorm = 0.5f, DecayAllParameters = true }),
        new TrainerCase("2-4-4-1 all-neuron norm gelu, Adam", s => new TrainStepAllNeuronClassifier(s), TrainStepAllNeuronClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 8, DecoupledWeightDecay = false, AmsGrad = false, WeightDecay = 1e-2 }),
        new TrainerCase("cnn relu", s => new CnnClassifier(s), CnnClassifier.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 8 }),
        new TrainerCase("2-4-4-1 max pooling, norm relu", s => new TrainStepMaxClassifier(s), TrainStepMaxClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 8 }),
        new TrainerCase("2-4-4-1 mean-and-max pooling, gelu, clipping", s => new TrainStepMeanMaxClassifier(s), TrainStepMeanMaxClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 8, ClipGradNorm = 0.5f }),
    };
}

/// <summary>
/// The CPU side of a training step, exactly as <c>Trainer</c> runs it: zero gradients, forward, softmax cross-entropy,
/// backward, clipping, AdamW (or Adam) step.
/// </summary>
public sealed class CpuStepper
{
    public EquivariantNetwork Model { get; }
    public Adam Optimizer { get; }
    private readonly SoftmaxCrossEntropy _ce;
    private readonly CudaTrainerOptions _o;

    public CpuStepper(EquivariantNetwork model, CudaTrainerOptions o)
    {
        Model = model; _o = o;
        Optimizer = o.DecoupledWeightDecay
            ? new AdamW(model.Parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, o.AmsGrad) { DecayAllParameters = o.DecayAllParameters }
            : new Adam(model.Parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, o.AmsGrad) { DecayAllParameters = o.DecayAllParameters };
        _ce = new SoftmaxCrossEntropy(o.LabelSmoothing);
    }

    /// <summary>One step; returns loss, correct count and a copy of the gradients before clipping.</summary>
    public (float Loss, int Correct, float[] Gradients) Step(WeightSpaceBatch x, int[] labels, float lr)
    {
        Model.ZeroGrad();
        var logits = Model.Forward(x);
        var (loss, grad) = _ce.Compute(logits, labels);
        var pred = Metrics.ArgMax(logits);
        int correct = pred.Where((p, i) => p == labels[i]).Count();
        Model.Backward(grad);
        var grads = Flat(Model, p => p.Grad.Data);
        if (_o.ClipGradNorm is float clip) GradientClipping.ClipGradNorm(Model.Parameters(), clip);
        Optimizer.LearningRate = lr;
        Optimizer.Step();
        return (loss, correct, grads);
    }

    public static float[] Flat(EquivariantNetwork m, Func<Parameter, float[]> f) => m.Parameters().SelectMany(f).ToArray();

    public static (WeightSpaceBatch X, int[] Labels) Batch(EquivariantNetwork m, int batch, int classes, ulong seed)
    {
        var x = TestUtil.Random(m.Space, batch, 1, seed);
        var rng = new Rng(seed + 1000);
        return (x, Enumerable.Range(0, batch).Select(_ => rng.NextInt(classes)).ToArray());
    }
}

/// <summary>
/// Comparing parameters after Adam steps on two float implementations. Elements whose true gradient is zero hold rounding
/// noise on both sides (e.g. ~1e-9 for the bias and broadcast terms of an equivariant layer followed by EquivariantNorm, whose
/// per-tensor mean the norm removes, so the loss does not depend on them), and Adam scales any nonzero gradient to a step of
/// up to ±lr: there two implementations step differently, both validly (neither step changes the loss). Those elements (CPU
/// gradient ≤ 1e-6 of the largest, at any step so far, collected in <c>noise</c>) are left out of the relative error;
/// their drift (the largest |device − CPU| among them, relative to 1 + |CPU value|) is returned for a bound of about the
/// learning rates' sum.
/// </summary>
public static class TrainerParity
{
    public static (double Error, int Masked, double MaxMaskedDrift) Parameters(float[] device, float[] cpu, float[] cpuGrads, bool[] noise)
    {
        float max = cpuGrads.Max(MathF.Abs);
        for (int i = 0; i < cpuGrads.Length; i++) if (MathF.Abs(cpuGrads[i]) <= 1e-6f * max) noise[i] = true;
        Assert.DoesNotContain(device, float.IsNaN);
        var d = device.Where((_, i) => !noise[i]).ToArray();
        var c = cpu.Where((_, i) => !noise[i]).ToArray();
        double drift = 0;
        for (int i = 0; i < cpu.Length; i++) if (noise[i]) drift = Math.Max(drift, Math.Abs(device[i] - cpu[i]) / (1 + Math.Abs(cpu[i])));
        return (TestUtil.RelativeError(d, c), noise.Count(b => b), drift);
    }
}

/// <summary>
/// <see cref="CudaTrainer"/> on the CPU emulator of CUDA C (<see cref="EmulatedTrainingDevice"/>): the generated layer kernels
/// and the training kernels, launched by the trainer exactly as on a device, against the CPU model, loss and optimizer.
/// </summary>
public class CudaTrainerEmulationTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases() => TrainerCase.Emulated().Select(c => new object[] { c });

    private double Compare(string what, float[] device, float[] cpu, double tol)
    {
        Assert.DoesNotContain(device, float.IsNaN);
        double e = TestUtil.RelativeError(device, cpu);
        output.WriteLine($"{what}: relative error {e:E2}");
        Assert.True(e <= tol, $"{what}: relative error {e}");
        return e;
    }

    private void CompareParameters(string what, float[] device, float[] cpu, float[] cpuGrads, bool[] noise, float lrSum)
    {
        var (e, masked, drift) = TrainerParity.Parameters(device, cpu, cpuGrads, noise);
        output.WriteLine($"{what} ({masked} of {cpu.Length} with zero true gradient left out): relative error {e:E2}");
        Assert.True(e <= 1e-5, $"{what}: relative error {e}");
        Assert.True(drift <= 2.0 * lrSum, $"{what}: an element with zero true gradient moved {drift} (learning rates sum to {lrSum})");
    }

    [HostCompilerTheory]
    [MemberData(nameof(Cases))]
    public void TrainingStepsMatchTheCpuModel(TrainerCase c)
    {
        const int batch = 6, steps = 3;
        var cpu = new CpuStepper(c.Create(3), c.Options);
        var probe = c.Create(99);
        using var dev = new EmulatedTrainingDevice();
        using var trainer = new CudaTrainer(dev, c.Create(3), c.Sources, c.Options, ownsDevice: true);
        Assert.Equal(cpu.Model.Config.Outputs, trainer.Classes);
        bool[]? noise = null;
        float lrSum = 0;
        for (int step = 1; step <= steps; step++)
        {
            var (x, labels) = CpuStepper.Batch(cpu.Model, step == 2 ? batch - 1 : batch, trainer.Classes, 40 + (ulong)step);   // step 2: a smaller batch
            float lr = c.Options.LearningRate * (1 + 0.5f * step);
            var (loss, correct, grads) = cpu.Step(x, labels, lr);
            noise ??= new bool[grads.Length];
            long up = dev.UploadedWords, down = dev.DownloadedWords;
            trainer.LearningRate = lr;
            var r = trainer.Step(x, labels);
            // Only the batch goes up and the result (loss and correct count, 2 doubles) comes down.
            Assert.Equal(x.Length + labels.Length, dev.UploadedWords - up);
            Assert.Equal(4, dev.DownloadedWords - down);
            output.WriteLine($"step {step}: loss {r.Loss:R} (CPU {loss:R}), correct {r.Correct} (CPU {correct})");
            Assert.True(Math.Abs(r.Loss - loss) <= 1e-5 * Math.Abs(loss), $"loss {r.Loss} vs {loss}");
            Assert.Equal(correct, r.Correct);
            Assert.Equal(step, trainer.StepCount);

            trainer.CopyGradientsTo(probe);
            Compare($"step {step} gradients", CpuStepper.Flat(probe, p => p.Grad.Data), grads, 1e-5);
            trainer.CopyParametersTo(probe);
            CompareParameters($"step {step} parameters", CpuStepper.Flat(probe, p => p.Data), CpuStepper.Flat(cpu.Model, p => p.Data), grads, noise!, lrSum += lr);
        }
        foreach (var (name, p) in probe.NamedParameters())
        {
            var q = cpu.Model.NamedParameters().First(n => n.Name == name).Parameter;
            output.WriteLine($"  {name}: relative error {TestUtil.RelativeError(p.Data, q.Data):E2}");
        }

        // The optimizer state in the CPU optimizer's keys and layout.
        var state = trainer.OptimizerStateDict();
        var cpuState = cpu.Optimizer.StateDict();
        Assert.Equal(cpuState.Keys.Order(), state.Keys.Order());
        Assert.Equal(cpuState["step"].Data, state["step"].Data);
        Assert.Equal(cpuState["lr"].Data, state["lr"].Data);
        var parameters = cpu.Model.Parameters().ToList();
        foreach (var key in cpuState.Keys.Where(k => k.StartsWith("state.")))
        {
            // The moments of elements with zero true gradient hold rounding noise on both sides (see CompareParameters).
            int i = int.Parse(key.Split('.')[1]);
            int start = parameters.Take(i).Sum(p => p.Length);
            var keep = Enumerable.Range(0, parameters[i].Length).Where(j => !noise![start + j]).ToArray();
            double e = TestUtil.RelativeError(keep.Select(j => state[key].Data[j]).ToArray(), keep.Select(j => cpuState[key].Data[j]).ToArray());
            Assert.True(e <= 1e-4, $"{key}: relative error {e}");
        }
        output.WriteLine($"{dev.Launches} launches in {dev.Runs} emulator runs");
    }

    [HostCompilerFact]
    public void ForwardEvaluateAndStateMatchTheCpuModel()
    {
        var c = TrainerCase.Emulated().First();
        var cpu = c.Create(5);
        using var trainer = new CudaTrainer(new EmulatedTrainingDevice(), c.Create(5), c.Sources, c.Options);
        var (x, labels) = CpuStepper.Batch(cpu, 7, 3, 50);
        var logits = cpu.Forward(x);
        var y = trainer.Forward(x);
        Assert.Equal(logits.Shape, y.Shape);
        Compare("logits", y.Data, logits.Data, 1e-5);
        var (loss, _) = new SoftmaxCrossEntropy().Compute(logits, labels);
        var r = trainer.Evaluate(x, labels);
        Assert.True(Math.Abs(r.Loss - loss) <= 1e-5 * loss);
        Assert.Equal(Metrics.ArgMax(logits).Where((p, i) => p == labels[i]).Count(), r.Correct);
        Assert.Equal(0, trainer.StepCount);

        // StateDict: the CPU model's keys and shapes; the initial parameters exactly.
        var sd = trainer.StateDict();
        var cpuSd = cpu.StateDict();
        Assert.Equal(cpuSd.Keys.Order(), sd.Keys.Order());
        foreach (var (k, t) in cpuSd) { Assert.Equal(t.Shape, sd[k].Shape); Assert.Equal(t.Data, sd[k].Data); }

        // LoadParameters: another model's parameters replace the device's.
        var other = c.Create(6);
        trainer.LoadParameters(other);
        Compare("logits after LoadParameters", trainer.Forward(x).Data, other.Forward(x).Data, 1e-5);
        Assert.Throws<ArgumentException>(() => trainer.LoadParameters(new TrainStepGeluClassifier(0)));
    }

    [HostCompilerFact]
    public void StepsAreDeterministicAndOptimizerStateRoundTrips()
    {
        var c = TrainerCase.Emulated().First();
        var model = c.Create(7);
        (Dictionary<string, Tensor>, Dictionary<string, Tensor>) Run(bool reload)
        {
            using var t = new CudaTrainer(new EmulatedTrainingDevice(), c.Create(7), c.Sources, c.Options);
            var (x1, l1) = CpuStepper.Batch(model, 6, 3, 60);
            var (x2, l2) = CpuStepper.Batch(model, 6, 3, 61);
            t.Step(x1, l1);
            if (reload)
            {
                // A checkpoint round trip between steps: parameters and optimizer state out, a fresh trainer in.
                var m = c.Create(0);
                t.CopyParametersTo(m);
                var st = t.OptimizerStateDict();
                using var t2 = new CudaTrainer(new EmulatedTrainingDevice(), m, c.Sources, c.Options);
                t2.LoadOptimizerStateDict(st);
                Assert.Equal(1, t2.StepCount);
                t2.Step(x2, l2);
                return (t2.StateDict(), t2.OptimizerStateDict());
            }
            t.Step(x2, l2);
            return (t.StateDict(), t.OptimizerStateDict());
        }
        var (p1, s1) = Run(false);
        // The same steps with every kernel's blocks and threads in a shuffled order (as a GPU may schedule them).
        Dictionary<string, Tensor> p2, s2;
        using (CudaEmulator.Schedule(0x5eed)) (p2, s2) = Run(false);
        var (p3, s3) = Run(true);
        foreach (var k in p1.Keys) { Assert.Equal(p1[k].Data, p2[k].Data); Assert.Equal(p1[k].Data, p3[k].Data); }
        foreach (var k in s1.Keys) { Assert.Equal(s1[k].Data, s2[k].Data); Assert.Equal(s1[k].Data, s3[k].Data); }
    }

    [HostCompilerFact]
    public void ANonFiniteLossThrowsAndLeavesTheParametersAlone()
    {
        var c = TrainerCase.Emulated().First();
        using var trainer = new CudaTrainer(new EmulatedTrainingDevice(), c.Create(8), c.Sources, c.Options);
        var (x, labels) = CpuStepper.Batch(trainer.Model, 4, 3, 70);
        trainer.Step(x, labels);
        var before = trainer.StateDict();
        var opt = trainer.OptimizerStateDict();
        x.Tensors[0].Data[3] = float.NaN;
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Step(x, labels));
        Assert.Equal(2, e.Step);
        Assert.Equal(1, trainer.StepCount);
        var after = trainer.StateDict();
        foreach (var k in before.Keys) Assert.Equal(before[k].Data, after[k].Data);
        var opt2 = trainer.OptimizerStateDict();
        foreach (var k in opt.Keys) Assert.Equal(opt[k].Data, opt2[k].Data);
    }

    [Fact]
    public void UnsupportedModelsAndBadBatchesAreRejected()
    {
        Assert.Throws<NotSupportedException>(() => new CudaTrainer(new EmulatedTrainingDevice(), new Depth5Editor(0), Depth5Editor.CudaSources.ForChannels, null));
        Assert.Throws<ArgumentException>(() => new CudaTrainer(new EmulatedTrainingDevice(), new TrainStepNormClassifier(0), TrainStepAllNeuronClassifier.CudaSources.ForChannels, null));
        Assert.Throws<NotSupportedException>(() => CudaTrainingKernels.PoolingCode((HeadPooling)7));   // a pooling without a kernel
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaTrainerOptions { MaxBatch = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaTrainerOptions { ClipGradNorm = 0 }.Validate());
    }

    [Fact]
    public void OptionsFromTheCpuTrainerOptions()
    {
        var t = Runtime.Training.TrainerOptions.Reference(seed: 3) with { BatchSize = 256, ClipGradNorm = 2f, LabelSmoothing = 0.1f, DecayAllParameters = true };
        var o = CudaTrainerOptions.From(t);
        Assert.Equal(new CudaTrainerOptions
        {
            LearningRate = 5e-3f, WeightDecay = 5e-4, AmsGrad = true, Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, DecoupledWeightDecay = true,
            DecayAllParameters = true, ClipGradNorm = 2f, LabelSmoothing = 0.1f, MaxBatch = 256,
        }, o);
    }

    [HostCompilerFact]
    public void BadBatchesAreRejectedBeforeAnythingRuns()
    {
        var c = TrainerCase.Emulated().First();
        var dev = new EmulatedTrainingDevice();
        using var trainer = new CudaTrainer(dev, c.Create(9), c.Sources, c.Options with { MaxBatch = 4 });
        var (x, labels) = CpuStepper.Batch(trainer.Model, 5, 3, 80);
        int launches = dev.Launches;
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Step(x, labels));                     // batch > MaxBatch
        var (x4, l4) = CpuStepper.Batch(trainer.Model, 4, 3, 81);
        Assert.Throws<ArgumentException>(() => trainer.Step(x4, labels));                             // label count
        l4[1] = 3;
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Step(x4, l4));                       // label range
        Assert.Throws<ArgumentException>(() => trainer.Step(new WeightSpaceBatch(trainer.Model.Space, 4, 2), l4));   // channels
        Assert.Equal(launches, dev.Launches);
        Assert.Equal(0, trainer.StepCount);
    }
}
