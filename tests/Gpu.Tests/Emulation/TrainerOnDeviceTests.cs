using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using Xunit.Abstractions;

namespace LayerCompiler.Gpu.Tests;

/// <summary>
/// The runtime's one <see cref="Trainer"/> driving <see cref="CudaTrainer"/> as its step executor, on the emulated device:
/// the loop (order, augmentation, normalization, schedule, validation, selection, checkpoints) is the CPU run's, only the
/// steps run on the device.
/// </summary>
public sealed class TrainerOnDeviceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trainer-device-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TrainerCase Case = TrainerCase.Emulated().First();

    private static InMemoryWeightDataset Data(int count, ulong seed)
    {
        var space = Case.Create(0).Space;
        var w = TestUtil.Random(space, count, 1, seed);
        return new InMemoryWeightDataset(w, Enumerable.Range(0, count).Select(i => (int)((uint)(i * 7 + (int)seed) % 3)).ToArray());
    }

    private TrainerOptions Options(int epochs) => new()
    {
        Epochs = epochs, BatchSize = 8, EvalBatchSize = 8, LearningRate = 5e-3f, WarmupSteps = 2, Seed = 11,
        Augmentation = new WeightAugmentation { PermuteHidden = true, NoiseStd = 0.01f }, Normalization = InputNormalization.PerEntry,
        CheckpointPath = Path.Combine(_dir, $"run-{Guid.NewGuid():N}.safetensors"),
    };

    private static CudaTrainer Device(TrainerOptions o) =>
        new(new EmulatedTrainingDevice(), Case.Create(3), Case.Sources, CudaTrainerOptions.From(o) with { MaxBatch = 8 });

    [HostCompilerFact]
    public void TheTrainerOnTheDeviceFollowsTheCpuRun()
    {
        var train = Data(20, 1);   // 3 steps per epoch: 8, 8, 4 networks
        var val = Data(8, 2);
        var options = Options(epochs: 2);
        var cpuModel = Case.Create(3);
        var cpu = new Trainer(cpuModel, options with { CheckpointPath = null }).Fit(train, val);
        using var device = Device(options);
        var trainer = new Trainer(device, options);
        var gpu = trainer.Fit(train, val);

        Assert.Equal(cpu.Epochs.Count, gpu.Epochs.Count);
        for (int e = 0; e < cpu.Epochs.Count; e++)
        {
            EpochMetrics a = cpu.Epochs[e], b = gpu.Epochs[e];
            output.WriteLine($"epoch {e + 1}: train loss {b.TrainLoss:R} (CPU {a.TrainLoss:R}), validation loss {b.ValidationLoss:R} (CPU {a.ValidationLoss:R}), lr {b.LearningRate:R}");
            Assert.Equal(a.Step, b.Step);
            Assert.Equal(a.LearningRate, b.LearningRate);   // the schedule is the trainer's, not the device's
            Assert.True(Math.Abs(a.TrainLoss - b.TrainLoss) <= 1e-5 * a.TrainLoss, $"epoch {e + 1} train loss {b.TrainLoss} vs {a.TrainLoss}");
            Assert.True(Math.Abs(a.ValidationLoss!.Value - b.ValidationLoss!.Value) <= 1e-5 * a.ValidationLoss.Value, $"epoch {e + 1} validation loss {b.ValidationLoss} vs {a.ValidationLoss}");
        }
        Assert.Equal(cpu.BestEpoch, gpu.BestEpoch);
        Assert.Equal(6, device.StepCount);
        // The device holds the best epoch's parameters at the end (RestoreBest): the trainer's copy, uploaded back bitwise.
        // (Not compared with the CPU model's: elements with zero true gradient take rounding-noise steps of up to ±lr,
        // different on each side and with the emulator's block order; see docs/gpu.md.)
        output.WriteLine($"best epoch {gpu.BestEpoch} of {gpu.Epochs.Count}");
        var best = trainer.BestState!;
        foreach (var (key, t) in device.StateDict()) Assert.Equal(best[key].Data, t.Data);

        // The checkpoint holds the device's state in the CPU keys: the CPU model loads it.
        var saved = Checkpoint.Read(options.CheckpointPath!);
        Assert.Equal(2, saved.Info.Epoch);
        Assert.Equal(6, saved.Info.Step);
        var fromDevice = Case.Create(0);
        fromDevice.LoadStateDict(saved.Model);
    }

    [HostCompilerFact]
    public void ARunInterruptedOnTheDeviceResumesOnTheCpuWithTheSameLoop()
    {
        var train = Data(20, 3);
        var val = Data(8, 4);
        var options = Options(epochs: 3);
        using var cts = new CancellationTokenSource();
        using (var device = Device(options))
        {
            var stopAfterOne = new SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd && p.Epoch == 1) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => new Trainer(device, options).Fit(train, val, stopAfterOne, cts.Token));
        }
        var saved = Checkpoint.Read(options.CheckpointPath!);
        Assert.Equal(1, saved.Info.Epoch);

        // Another initialization: everything comes from the checkpoint.
        var history = new Trainer(Case.Create(42), options).Resume(options.CheckpointPath!, train, val);
        Assert.Equal(3, history.Epochs.Count);
        Assert.Equal(9, history.Last!.Step);
        Assert.Equal(TrainingHistory.FromJson(saved.Info.Custom["history"]).Epochs[0], history.Epochs[0]);

        // ... and ends where a run on the CPU alone ends, up to the device's rounding in the first epoch.
        var straight = new Trainer(Case.Create(3), options with { CheckpointPath = null }).Fit(train, val);
        for (int e = 0; e < 3; e++)
        {
            double a = straight.Epochs[e].ValidationLoss!.Value, b = history.Epochs[e].ValidationLoss!.Value;
            output.WriteLine($"epoch {e + 1}: validation loss {b:R} (CPU alone {a:R})");
            Assert.True(Math.Abs(a - b) <= 1e-5 * a, $"epoch {e + 1}: validation loss {b} vs {a}");
        }
    }

    [HostCompilerFact]
    public void AnObjectiveTheDeviceDoesNotComputeIsRefusedNamingIt()
    {
        var options = Options(epochs: 1) with { CheckpointPath = null };
        using var device = Device(options);
        var ex = Assert.Throws<NotSupportedException>(() => new Trainer(device, options, new ClassificationObjective(0.2f)).Fit(Data(8, 5)));
        Assert.Contains("label smoothing 0", ex.Message);
        Assert.Contains("cross_entropy(smoothing=0.2)", ex.Message);
        Assert.Equal(0, device.StepCount);
    }

    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
