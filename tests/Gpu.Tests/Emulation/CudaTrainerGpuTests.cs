using LayerCompiler.Gpu;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tests.Generated;
using Xunit.Abstractions;

namespace LayerCompiler.Gpu.Tests;

// The reference classifier's shape at test size (SIREN 2→32→32→1 space, EquivariantNorm, ReLU), and a GELU model with a hidden head.
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 8, 8, 8 }, Outputs = 10, Normalize = true)]
public partial class GpuTrainNormClassifier { }

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 8, 8 }, Activation = Activation.GELU, Outputs = 10, HeadHidden = 16)]
public partial class GpuTrainGeluClassifier { }

// The reference shape with the mean and the maximum pooled side by side.
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 8, 8, 8 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.MeanAndMax)]
public partial class GpuTrainMeanMaxClassifier { }

/// <summary>
/// <see cref="CudaTrainer"/> through NVRTC and the driver against the CPU model, loss and AdamW: one full training step
/// (loss, correct count, gradients and parameters ≤ 1e-5) and 20 steps with a learning-rate schedule, with mean, max and
/// mean-and-max pooling. Reported as skipped (with the reason) where there is no GPU; CudaTrainerEmulationTests run the same
/// trainer on the CPU emulator.
/// </summary>
public class CudaTrainerGpuTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _cacheDir = Path.Combine(Path.GetTempPath(), "lc-cubin-train-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cacheDir)) Directory.Delete(_cacheDir, recursive: true);
    }

    private CudaDevice OpenDevice()
    {
        var d = CudaDevice.Open();
        d.Cache = new CubinCache(_cacheDir);
        return d;
    }

    private static IEnumerable<TrainerCase> Cases() => TrainerCase.Emulated().Select(c => c with { Options = c.Options with { MaxBatch = 64 } }).Concat(new[]
    {
        new TrainerCase("siren 8x3 norm", s => new GpuTrainNormClassifier(s), GpuTrainNormClassifier.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 64 }),
        new TrainerCase("siren 8x2 gelu hidden head, clipping", s => new GpuTrainGeluClassifier(s), GpuTrainGeluClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 64, ClipGradNorm = 1f, LabelSmoothing = 0.05f }),
        new TrainerCase("siren 4x3 max pooling", s => new SirenClassifierMax(s), SirenClassifierMax.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 64 }),
        new TrainerCase("siren 8x3 norm mean-and-max pooling", s => new GpuTrainMeanMaxClassifier(s), GpuTrainMeanMaxClassifier.CudaSources.ForChannels,
            new CudaTrainerOptions { MaxBatch = 64 }),
    });

    [CudaFact]
    public void AFullTrainingStepMatchesTheCpuModel()
    {
        using var device = OpenDevice();
        var failures = new List<string>();
        foreach (var c in Cases())
        {
            var cpu = new CpuStepper(c.Create(1), c.Options);
            var probe = c.Create(2);
            using var trainer = new CudaTrainer(device, c.Create(1), c.Sources, c.Options);
            var (x, labels) = CpuStepper.Batch(cpu.Model, 64, trainer.Classes, 3);
            var (loss, correct, grads) = cpu.Step(x, labels, c.Options.LearningRate);
            var r = trainer.Step(x, labels);
            trainer.CopyGradientsTo(probe);
            double eg = TestUtil.RelativeError(CpuStepper.Flat(probe, p => p.Grad.Data), grads);
            trainer.CopyParametersTo(probe);
            var noise = new bool[grads.Length];
            var (ep, masked, drift) = TrainerParity.Parameters(CpuStepper.Flat(probe, p => p.Data), CpuStepper.Flat(cpu.Model, p => p.Data), grads, noise);
            output.WriteLine($"{c}: loss {r.Loss:R} (CPU {loss:R}), correct {r.Correct} (CPU {correct}), gradients {eg:E2}, parameters {ep:E2} ({masked} with zero true gradient: drift {drift:E2})");
            if (!(Math.Abs(r.Loss - loss) <= 1e-5 * Math.Abs(loss))) failures.Add($"{c}: loss {r.Loss} vs {loss}");
            if (r.Correct != correct) failures.Add($"{c}: correct {r.Correct} vs {correct}");
            if (!(eg <= 1e-5)) failures.Add($"{c}: gradient relative error {eg}");
            if (!(ep <= 1e-5)) failures.Add($"{c}: parameter relative error {ep}");
            if (!(drift <= 2.0 * c.Options.LearningRate)) failures.Add($"{c}: zero-gradient drift {drift}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [CudaFact]
    public void TwentyStepsTrackTheCpuModelAndAreDeterministic() => TwentySteps("siren 8x3 norm");

    // Max pooling routes each feature's gradient to one entry (the first holding the maximum): 20 steps in which the device
    // must keep routing it as the CPU does for the parameters to stay within 1e-4.
    [CudaFact]
    public void TwentyStepsWithMaxPoolingTrackTheCpuModelAndAreDeterministic() => TwentySteps("siren 8x3 norm mean-and-max pooling");

    private void TwentySteps(string name)
    {
        using var device = OpenDevice();
        var c = Cases().First(x => x.Name == name);
        const int steps = 20, batch = 64;
        var schedule = new WarmupCosineSchedule(c.Options.LearningRate, 3, steps, 1e-4f);
        var cpu = new CpuStepper(c.Create(4), c.Options);
        var probe = c.Create(5);
        var noise = new bool[CpuStepper.Flat(cpu.Model, p => p.Data).Length];
        var losses = new List<float>();
        using (var trainer = new CudaTrainer(device, c.Create(4), c.Sources, c.Options))
        {
            for (int s = 0; s < steps; s++)
            {
                var (x, labels) = CpuStepper.Batch(cpu.Model, batch, 10, 100 + (ulong)s);
                float lr = schedule.At(s);
                var (loss, _, grads) = cpu.Step(x, labels, lr);
                trainer.LearningRate = lr;
                var r = trainer.Step(x, labels);
                losses.Add(r.Loss);
                trainer.CopyParametersTo(probe);
                var (ep, masked, drift) = TrainerParity.Parameters(CpuStepper.Flat(probe, p => p.Data), CpuStepper.Flat(cpu.Model, p => p.Data), grads, noise);
                output.WriteLine($"step {s + 1}: loss {r.Loss:R} (CPU {loss:R}), parameters {ep:E2} ({masked} with zero true gradient: drift {drift:E2})");
                // Two float implementations of the same optimization drift apart slowly: 1e-4 after 20 steps (a wrong
                // update would differ by about lr per step).
                Assert.True(Math.Abs(r.Loss - loss) <= 1e-4 * Math.Abs(loss), $"step {s + 1}: loss {r.Loss} vs {loss}");
                Assert.True(ep <= 1e-4, $"step {s + 1}: parameter relative error {ep}");
            }
            Assert.Equal(steps, trainer.StepCount);
        }
        // The same run again: bitwise the same losses (no atomics anywhere).
        using var again = new CudaTrainer(device, c.Create(4), c.Sources, c.Options);
        for (int s = 0; s < steps; s++)
        {
            var (x, labels) = CpuStepper.Batch(cpu.Model, batch, 10, 100 + (ulong)s);
            again.LearningRate = schedule.At(s);
            Assert.Equal(losses[s], again.Step(x, labels).Loss);
        }
    }

    [CudaFact]
    public void ANonFiniteLossOnTheDeviceLeavesEverythingAlone()
    {
        using var device = OpenDevice();
        var c = Cases().First();
        using var trainer = new CudaTrainer(device, c.Create(6), c.Sources, c.Options);
        var (x, labels) = CpuStepper.Batch(trainer.Model, 16, trainer.Classes, 7);
        trainer.Step(x, labels);
        var before = trainer.StateDict();
        x.Tensors[1].Data[0] = float.PositiveInfinity;
        Assert.Throws<NonFiniteLossException>(() => trainer.Step(x, labels));
        Assert.Equal(1, trainer.StepCount);
        var after = trainer.StateDict();
        foreach (var k in before.Keys) Assert.Equal(before[k].Data, after[k].Data);
    }
}
