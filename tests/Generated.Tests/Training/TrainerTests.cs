using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;
using Xunit.Abstractions;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Generated.Tests.Training;

/// <summary>The training loop on a generated model (<see cref="TrainerTestClassifier"/>, over 3→4→2 MLPs).</summary>
public sealed class TrainerTests : IDisposable
{
    private readonly ITestOutputHelper _out;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lc-trainer-" + Guid.NewGuid().ToString("N"));

    public TrainerTests(ITestOutputHelper output)
    {
        _out = output;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private string FilePath(string name) => Path.Combine(_dir, name);

    /// <summary>The three permutation-invariant statistics the synthetic labels are made of.</summary>
    private static (double B1, double W2Row0, double W2Row1) Statistics(WeightSpaceBatch w, int n)
    {
        var b1 = w.Tensors[1].Data.AsSpan(n * 4, 4);
        var w2 = w.Tensors[2].Data.AsSpan(n * 8, 8);
        double s0 = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < 4; i++) { s0 += b1[i]; s1 += w2[i]; s2 += w2[4 + i]; }
        return (s0 / 4, s1 / 4, s2 / 4);
    }

    /// <summary>
    /// Random 3→4→2 networks labelled by which of three permutation-invariant statistics is largest:
    /// the mean hidden bias (b1), the mean of W2's first row, the mean of W2's second row.
    /// </summary>
    private static InMemoryWeightDataset Synthetic(WS space, int count, ulong seed)
    {
        var w = TestUtil.Random(space, count, 1, seed);
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            var (s0, s1, s2) = Statistics(w, n);
            labels[n] = s0 >= s1 && s0 >= s2 ? 0 : s1 >= s2 ? 1 : 2;
        }
        return new InMemoryWeightDataset(w, labels);
    }

    /// <summary>The same networks with the three statistics as regression targets.</summary>
    private static InMemoryWeightDataset SyntheticRegression(WS space, int count, ulong seed)
    {
        var w = TestUtil.Random(space, count, 1, seed);
        var t = new float[count * 3];
        for (int n = 0; n < count; n++)
        {
            var (s0, s1, s2) = Statistics(w, n);
            t[3 * n] = (float)s0; t[3 * n + 1] = (float)s1; t[3 * n + 2] = (float)s2;
        }
        return new InMemoryWeightDataset(w, t, 3);
    }

    private static TrainerOptions Options(ulong seed = 5, int epochs = 12) => new()
    {
        Epochs = epochs, BatchSize = 32, EvalBatchSize = 256, LearningRate = 1e-2f, WeightDecay = 5e-4, AmsGrad = true,
        WarmupSteps = 10, ClipGradNorm = 5f, Seed = seed,
        Augmentation = new WeightAugmentation { PermuteHidden = true, NoiseStd = 0.01f, DropoutP = 0.01f },
        Normalization = InputNormalization.PerTensor,
    };

    private static void AssertBitwiseEqual(Module a, Module b)
    {
        var pa = a.NamedParameters().ToList();
        var pb = b.NamedParameters().ToList();
        Assert.Equal(pa.Select(p => p.Name), pb.Select(p => p.Name));
        for (int i = 0; i < pa.Count; i++)
            Assert.True(pa[i].Parameter.Data.AsSpan().SequenceEqual(pb[i].Parameter.Data), $"parameter {pa[i].Name} differs");
    }

    private sealed class SyncProgress : IProgress<TrainingProgress>
    {
        private readonly Action<TrainingProgress> _action;
        public SyncProgress(Action<TrainingProgress> action) => _action = action;
        public void Report(TrainingProgress value) => _action(value);
    }

    [Fact]
    public void LearnsAPermutationInvariantLabelAndCutsTheLossTenfold()
    {
        var model = new TrainerTestClassifier(1);
        var train = Synthetic(model.Space, 512, 100);
        var val = Synthetic(model.Space, 256, 200);
        // The normalizer is given up front so that the loss before training is measured on the same inputs.
        var options = Options() with { Normalizer = InputNormalizer.Fit(new[] { train.Networks }, NormalizationGranularity.PerTensor) };
        var trainer = new Trainer(model, options);
        var (lossBefore, accBefore) = trainer.Evaluate(train);
        var history = trainer.Fit(train, val);
        var (lossAfter, accAfter) = trainer.Evaluate(train);
        var (valLoss, valAcc) = trainer.Evaluate(val);
        _out.WriteLine($"train loss {lossBefore:0.0000} -> {lossAfter:0.0000} ({lossBefore / lossAfter:0.0}x), accuracy {accBefore:0.000} -> {accAfter:0.000}; validation {valLoss:0.0000} / {valAcc:0.000}");
        _out.WriteLine(history.ToCsv());

        Assert.InRange(lossBefore, 0.9, 1.4); // about ln 3 at initialization
        Assert.True(lossAfter * 10 <= lossBefore, $"training loss fell from {lossBefore} to {lossAfter} only");
        Assert.True(valAcc >= 0.9, $"validation accuracy {valAcc}");
        // The model was selected on validation accuracy and restored.
        Assert.Equal(history.Epochs.Max(e => e.ValidationMetric), history.BestMetric);
        Assert.Equal(valAcc, history.BestMetric);
        Assert.True(history.Epochs[history.BestEpoch!.Value - 1].IsBest);
        Assert.Equal(12, history.Epochs.Count);
        Assert.Equal(12 * 16, history.Last!.Step);
    }

    [Fact]
    public void RegressionOnInvariantStatisticsReducesTheError()
    {
        var model = new TrainerTestClassifier(2);
        var train = SyntheticRegression(model.Space, 256, 300);
        var val = SyntheticRegression(model.Space, 128, 400);
        var trainer = new Trainer(model, Options(epochs: 10) with { Task = TrainingTask.Regression, Augmentation = new WeightAugmentation { PermuteHidden = true } });
        var (before, accBefore) = trainer.Evaluate(train);
        var history = trainer.Fit(train, val);
        var (after, _) = trainer.Evaluate(val);
        _out.WriteLine($"regression MSE {before:0.0000} -> validation {after:0.0000} ({before / after:0.0}x)");
        Assert.Null(accBefore);
        Assert.Null(history.Last!.TrainMetric);
        Assert.Equal("validation_loss", history.SelectionMetric);
        Assert.Null(history.MetricName);
        Assert.True(after * 3 <= before, $"MSE fell from {before} to {after} only");
    }

    /// <summary>A lower-is-better metric and an objective of the caller's plug in: the loop reports the metric and selects on it.</summary>
    [Fact]
    public void ACustomObjectiveAndALowerIsBetterMetricPlugIn()
    {
        var model = new TrainerTestClassifier(2);
        var train = SyntheticRegression(model.Space, 128, 310);
        var val = SyntheticRegression(model.Space, 64, 410);
        var objective = new CountingObjective();
        var options = Options(epochs: 4) with { Task = TrainingTask.Regression, Selection = SelectionMetric.ValidationMetric, RestoreBest = false, CheckpointPath = FilePath("custom.safetensors") };
        var trainer = new Trainer(ModuleStepExecutor.For(model, options), options, objective, new MeanAbsoluteError());
        var history = trainer.Fit(train, val);

        Assert.Equal(4 * 4 + 4 * 1, objective.Calls);   // 4 training steps and 1 validation batch per epoch
        Assert.Equal("mae", history.MetricName);
        Assert.Equal("validation_mae", history.SelectionMetric);
        Assert.All(history.Epochs, e => Assert.NotNull(e.ValidationMetric));
        var best = history.Epochs.MinBy(e => e.ValidationMetric)!;
        Assert.Equal(best.Epoch, history.BestEpoch);
        Assert.Equal(best.ValidationMetric, history.BestMetric);
        Assert.EndsWith(" objective=counting-mse metric=mae train=128", Checkpoint.Read(options.CheckpointPath!).Info.Config);
    }

    private sealed class CountingObjective : ITrainingObjective
    {
        private readonly RegressionObjective _mse = new();
        public int Calls;
        public string Name => "counting-mse";
        public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets) { Calls++; return _mse.Compute(outputs, targets); }
    }

    private sealed class MeanAbsoluteError : IMetric
    {
        public string Name => "mae";
        public bool HigherIsBetter => false;
        public IMetricAccumulator Start() => new Accumulator();
        private sealed class Accumulator : IMetricAccumulator
        {
            private double _sum; private long _count;
            public void Add(Tensor outputs, TrainingTargets targets)
            {
                var y = targets.RequireValues("mae");
                for (int i = 0; i < y.Length; i++) _sum += Math.Abs(outputs.Data[i] - y.Data[i]);
                _count += y.Length;
            }
            public double Result => _sum / _count;
        }
    }

    [Fact]
    public void SameSeedGivesBitwiseIdenticalParametersAndAnotherSeedDoesNot()
    {
        TrainerTestClassifier Run(ulong seed)
        {
            var model = new TrainerTestClassifier(3);
            var train = Synthetic(model.Space, 96, 500);
            new Trainer(model, Options(seed, epochs: 3) with { RestoreBest = false }).Fit(train, Synthetic(model.Space, 32, 501));
            return model;
        }
        var a = Run(7);
        var b = Run(7);
        var c = Run(8);
        AssertBitwiseEqual(a, b);
        Assert.False(a.Parameters().First().Data.AsSpan().SequenceEqual(c.Parameters().First().Data));
    }

    [Fact]
    public void ResumingFromAnEpochCheckpointGivesTheSameFinalParametersAsAnUninterruptedRun()
    {
        var space = Mlp3x4x2.CreateWeightSpace(Symmetry.HiddenNeuron);
        var train = Synthetic(space, 100, 600);
        var val = Synthetic(space, 40, 601);
        var options = Options(9, epochs: 5) with { Normalization = InputNormalization.PerEntry };

        var straight = new TrainerTestClassifier(4);
        var straightHistory = new Trainer(straight, options with { CheckpointPath = FilePath("straight.safetensors") }).Fit(train, val);

        // Interrupted after epoch 2 (cancelled from the progress callback, as a user's Ctrl+C would).
        string path = FilePath("interrupted.safetensors");
        var interrupted = new TrainerTestClassifier(4);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd && p.Epoch == 2) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new Trainer(interrupted, options with { CheckpointPath = path }).Fit(train, val, progress, cts.Token));
        var saved = Checkpoint.Read(path);
        Assert.Equal(2, saved.Info.Epoch);
        Assert.Equal(2 * 4, saved.Info.Step);
        Assert.Equal(9UL, saved.Info.Seed);

        // A fresh process: a model with another initialization, a new trainer, resume from the file.
        var resumed = new TrainerTestClassifier(12345);
        var resumedTrainer = new Trainer(resumed, options with { CheckpointPath = path });
        var history = resumedTrainer.Resume(path, train, val);

        AssertBitwiseEqual(straight, resumed);
        Assert.Equal(straightHistory.Epochs.Select(e => e.TrainLoss), history.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(straightHistory.Epochs.Select(e => e.ValidationMetric), history.Epochs.Select(e => e.ValidationMetric));
        Assert.Equal(straightHistory.BestEpoch, history.BestEpoch);
        Assert.Equal(5, Checkpoint.Read(path).Info.Epoch);
        var normalizer = resumedTrainer.Normalizer!;
        Assert.Equal(NormalizationGranularity.PerEntry, normalizer.Granularity);

        // Resuming with another seed would not continue the same run: refused.
        var ex = Assert.Throws<CheckpointMismatchException>(() => new Trainer(new TrainerTestClassifier(4), options with { Seed = 10 }).Resume(path, train, val));
        Assert.Contains("saved: task=Classification", ex.Message);
        Assert.Contains(" seed=9 ", ex.Message);
        Assert.Contains(" seed=10 ", ex.Message);
    }

    [Fact]
    public void EpochCheckpointsHoldHistoryBestParametersAndNormalizer()
    {
        var model = new TrainerTestClassifier(5);
        var train = Synthetic(model.Space, 64, 700);
        var val = Synthetic(model.Space, 32, 701);
        var options = Options(epochs: 3) with { CheckpointPath = FilePath("run.safetensors"), BestModelPath = FilePath("best.safetensors") };
        var trainer = new Trainer(model, options);
        var history = trainer.Fit(train, val);

        var c = Checkpoint.Read(options.CheckpointPath!);
        Assert.Equal(3, c.Info.Epoch);
        Assert.Equal(history.BestMetric, c.Info.BestMetric);
        Assert.Equal(history.BestEpoch, c.Info.BestEpoch);
        Assert.Equal($"{options.Describe()} objective=cross_entropy metric=accuracy train=64", c.Info.Config);
        var saved = TrainingHistory.FromJson(c.Info.Custom["history"]);
        Assert.Equal(history.Epochs, saved.Epochs);
        Assert.Equal(model.NamedParameters().Count(), c.ExtraWithPrefix("best.").Count);
        Assert.NotEmpty(c.ExtraWithPrefix("normalizer."));

        // The best-model file holds the selected parameters, which the model holds after RestoreBest.
        var best = new TrainerTestClassifier(6);
        var info = Checkpoint.LoadModel(options.BestModelPath!, best).Info;
        Assert.Equal(history.BestEpoch, info.BestEpoch);
        AssertBitwiseEqual(model, best);
        Assert.Equal(new[] { "best.safetensors", "run.safetensors" }, Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void NaNInTheInputsStopsTrainingWithTheStepNamed()
    {
        var model = new TrainerTestClassifier(7);
        var train = Synthetic(model.Space, 128, 800);
        train.Networks.Tensors[2].Data[37 * 8 + 3] = float.NaN; // one weight of network 37
        long lastStep = 0;
        var progress = new SyncProgress(p => lastStep = p.Step);
        var options = Options(epochs: 2) with { Normalization = InputNormalization.None, Augmentation = null };
        var ex = Assert.Throws<NonFiniteLossException>(() => new Trainer(model, options).Fit(train, null, progress));
        _out.WriteLine(ex.Message);
        Assert.Equal(lastStep + 1, ex.Step);           // the failing step is the one after the last completed step
        Assert.InRange(ex.Step, 1, 4);                 // network 37 is seen during the first epoch (4 steps)
        Assert.Contains($"loss became NaN at step {ex.Step}", ex.Message);
        // The guard fires before the update: no parameter is NaN.
        Assert.All(model.Parameters(), p => Assert.All(p.Data, v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void AHugeLearningRateStopsTrainingWithTheStepNamed()
    {
        var model = new TrainerTestClassifier(8);
        var train = Synthetic(model.Space, 128, 900);
        var options = Options(epochs: 3) with { LearningRate = 1e30f, WarmupSteps = 0, ClipGradNorm = null, Cosine = false };
        var ex = Assert.Throws<NonFiniteLossException>(() => new Trainer(model, options).Fit(train));
        _out.WriteLine(ex.Message);
        Assert.True(ex.Step >= 2, $"step {ex.Step}");
        Assert.Contains($"at step {ex.Step}", ex.Message);
    }

    [Fact]
    public void ProgressReportsStepsEpochsAndAnEstimate()
    {
        var model = new TrainerTestClassifier(9);
        var train = Synthetic(model.Space, 70, 1000); // 3 steps per epoch, the last one smaller
        var reports = new List<TrainingProgress>();
        var history = new Trainer(model, Options(epochs: 2)).Fit(train, null, new SyncProgress(reports.Add));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, reports.Select(r => r.Step));
        Assert.Equal(new[] { ProgressKind.Step, ProgressKind.Step, ProgressKind.EpochEnd, ProgressKind.Step, ProgressKind.Step, ProgressKind.EpochEnd },
            reports.Select(r => r.Kind));
        Assert.All(reports, r => { Assert.Equal(6, r.TotalSteps); Assert.Equal(3, r.StepsPerEpoch); Assert.Equal(2, r.Epochs); Assert.NotNull(r.Eta); });
        Assert.Equal(1.0, reports[^1].Fraction);
        Assert.Same(history.Epochs[1], reports[^1].Metrics);
        Assert.Null(history.BestEpoch); // no validation data, no selection
        Assert.Contains("epoch 2/2 step 6/6", reports[^1].ToString());
    }

    [Fact]
    public void InvalidSetupsFailBeforeTraining()
    {
        var model = new TrainerTestClassifier(10);
        var train = Synthetic(model.Space, 16, 1100);
        // Mlp3x4x2 has 3 inputs: the rotation augmentation cannot apply.
        var ex = Assert.Throws<InvalidOperationException>(() =>
            new Trainer(model, Options() with { Augmentation = WeightAugmentation.Reference() }).Fit(train));
        Assert.Contains("2 inputs", ex.Message);

        var bad = new InMemoryWeightDataset(train.Networks, Enumerable.Repeat(3, 16).ToArray());
        var trainer = new Trainer(new TrainerTestClassifier(10), Options(epochs: 1));
        var ex2 = Assert.Throws<ArgumentException>(() => trainer.Fit(bad));
        Assert.Contains("label 3 at network 0; the model has 3 classes", ex2.Message);
        // A setup error leaves the trainer usable; a trainer runs once.
        trainer.Fit(train);
        Assert.Throws<InvalidOperationException>(() => trainer.Fit(train));

        var other = TestUtil.Random(Mlp2x3x3x1.CreateWeightSpace(Symmetry.HiddenNeuron), 4, 1, 1);
        Assert.Throws<ArgumentException>(() => new Trainer(new TrainerTestClassifier(10), Options()).Fit(new InMemoryWeightDataset(other, new int[4])));
        Assert.Throws<ArgumentException>(() => new Trainer(new Depth5Editor(1), Options()));
    }
}
