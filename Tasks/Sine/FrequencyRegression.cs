using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Reports;
using LayerCompiler.Tasks.Zoo;

namespace LayerCompiler.Tasks.Sine;

/// <summary>Training settings of a frequency regressor (AdamW, warmup then cosine, selection on validation MSE).</summary>
public sealed record RegressionTraining(int Epochs, int BatchSize, float LearningRate, double WeightDecay)
{
    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}.");
        if (BatchSize <= 0) throw new ArgumentException($"--batch must be positive, got {BatchSize}.");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"--lr must be positive, got {LearningRate}.");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentException($"--wd must be finite and >= 0, got {WeightDecay}.");
    }

    public TrainerOptions ToTrainerOptions(int trainCount, ulong seed, string tag, string? checkpoint)
    {
        int stepsPerEpoch = (trainCount + BatchSize - 1) / BatchSize;
        return new TrainerOptions
        {
            Task = TrainingTask.Regression, Epochs = Epochs, BatchSize = BatchSize, EvalBatchSize = 256, LearningRate = LearningRate, WeightDecay = WeightDecay,
            AmsGrad = true, Cosine = true, WarmupSteps = stepsPerEpoch, MinLearningRate = LearningRate * 0.01f, Seed = seed ^ 0x5111_E5EDUL,
            Normalization = InputNormalization.None, Selection = SelectionMetric.ValidationLoss, RestoreBest = true, CheckpointPath = checkpoint, Tag = tag,
        };
    }
}

/// <summary>One trained regressor: test and validation MSE in the target's own units (frequency²).</summary>
public sealed record FrequencyRun(string Model, int TrainCount, ulong Seed, double TestMse, double ValidationMse, int BestEpoch, int Epochs);

/// <summary>
/// Regressing the frequency of a sine wave from the weights of its INR (DWSNets' sine-regression task): a of sin(a·x) on a
/// sine-frequency zoo (the protocol's family), or b of a·sin(b·x) on a sine-waves zoo (whose amplitude varies too; see
/// <see cref="SineFamily"/>). Targets are standardized with the training INRs' mean and std for training; MSEs are reported
/// in the frequency's units.
/// </summary>
public static class FrequencyRegression
{
    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (selection on <paramref name="validation"/> MSE), resuming from
    /// <c>runDir/training-checkpoint.safetensors</c>, and evaluates it on <paramref name="test"/>; writes <c>runDir/result.json</c>.
    /// </summary>
    public static FrequencyRun Train(WeightModel model, ZooSplit train, ZooSplit validation, ZooSplit test, RegressionTraining training, ulong seed, string runDir,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, SineFamily? family = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        training.Validate();
        family ??= SineZoo.Waves;
        int column = family.FrequencyColumn;
        var y = SineZoo.Column(train, column);
        double mean = y.Average(v => (double)v), std = Math.Sqrt(y.Average(v => (v - mean) * (v - mean)));
        if (!(std > 1e-6)) std = 1;
        float[] Standardized(ZooSplit s) => SineZoo.Column(s, column).Select(v => (float)((v - mean) / std)).ToArray();
        model.FitInputs(train.Weights);
        OutputPaths.CreateDirectory(runDir, "The run directory");
        var options = training.ToTrainerOptions(train.Count, seed, family == SineZoo.Waves ? $"task=sine-frequency model={model.Kind}" : $"task={family.TaskName} target=a model={model.Kind}", Path.Combine(runDir, "training-checkpoint.safetensors"));
        var trainer = new Trainer(model.Executor(options), options);
        var history = WeightModelTraining.FitOrResume(trainer, new InMemoryWeightDataset(train.Weights, Standardized(train), 1),
            new InMemoryWeightDataset(validation.Weights, Standardized(validation), 1), progress, cancellation);
        double Mse(ZooSplit s)
        {
            var p = model.Predict(s.Weights).Data;
            var t = SineZoo.Column(s, column);
            double sum = 0;
            for (int i = 0; i < t.Length; i++) { double d = p[i] * std + mean - t[i]; sum += d * d; }
            return sum / t.Length;
        }
        var run = new FrequencyRun(model.Kind, train.Count, seed, Mse(test), Mse(validation), history.BestEpoch ?? 0, history.Epochs.Count);
        AtomicFile.WriteAllBytes(Path.Combine(runDir, "result.json"), JsonSerializer.SerializeToUtf8Bytes(run, new JsonSerializerOptions { WriteIndented = true }));
        return run;
    }

    /// <summary>
    /// The DWSNets plot: every model × training-set size × seed (one sub-directory each under <paramref name="outDir"/>, each
    /// resumable), then <c>results.md</c>, <c>results.json</c> and <c>report.html</c> (test MSE, log scale, against the number of
    /// training INRs). <paramref name="createModel"/> builds a fresh model of a kind for a seed.
    /// </summary>
    public static IReadOnlyList<FrequencyRun> Study(string zoo, IReadOnlyList<int> trainCounts, IReadOnlyList<string> models, IReadOnlyList<ulong> seeds,
        Func<string, ulong, WeightModel> createModel, RegressionTraining training, string outDir, Action<string>? log = null,
        Func<string, IProgress<TrainingProgress>?>? progressFor = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(createModel);
        training.Validate();
        if (trainCounts.Count == 0 || trainCounts.Any(n => n <= 0)) throw new ArgumentException("--train-counts must list positive numbers of training INRs.");
        var (reader, family) = SineZoo.Open(zoo, "sine regress", new[] { SineZoo.Frequency, SineZoo.Waves });
        log?.Invoke($"Predicting the {family.FrequencyName} of {family.Function} ({family.TaskName} zoo).");
        int available = reader.Manifest.Split("train").Count;
        if (trainCounts.Max() > available)
            throw new ArgumentException($"--train-counts asks for {trainCounts.Max()} training INRs; the zoo in '{zoo}' has {available}. Build a larger zoo or lower the counts.");
        var space = reader.Architecture.CreateSpace();
        var validation = reader.Load("validation");
        var test = reader.Load("test");
        var all = reader.Load("train", limit: trainCounts.Max());
        OutputPaths.CreateDirectory(outDir, "--out");
        var runs = new List<FrequencyRun>();
        int total = trainCounts.Count * models.Count * seeds.Count;
        foreach (int n in trainCounts)
        {
            var train = n == all.Count ? all : reader.Load("train", limit: n);
            foreach (string kind in models)
                foreach (ulong seed in seeds)
                {
                    string name = string.Create(CultureInfo.InvariantCulture, $"{kind}-n{n}-seed{seed}");
                    log?.Invoke($"Run {runs.Count + 1}/{total}: {kind}, {n} training INRs, seed {seed}");
                    var model = createModel(kind, seed);
                    var run = Train(model, train, validation, test, training, seed, Path.Combine(outDir, name), progressFor?.Invoke(name), cancellation, family);
                    log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  test MSE {run.TestMse:F4} (validation {run.ValidationMse:F4}, epoch {run.BestEpoch} of {run.Epochs})"));
                    runs.Add(run);
                    WriteResults(outDir, zoo, reader.Manifest, family, training, runs);
                }
        }
        return runs;
    }

    /// <summary>Mean and (population) standard deviation over seeds of the test MSE, per (model, training-set size), in the runs' order.</summary>
    public static IReadOnlyList<(string Model, int TrainCount, double Mean, double Std, int Seeds)> Summarize(IReadOnlyList<FrequencyRun> runs) =>
        runs.GroupBy(r => (r.Model, r.TrainCount)).Select(g =>
        {
            double m = g.Average(r => r.TestMse);
            return (g.Key.Model, g.Key.TrainCount, m, Math.Sqrt(g.Average(r => (r.TestMse - m) * (r.TestMse - m))), g.Count());
        }).ToList();

    private static void WriteResults(string outDir, string zoo, ZooManifest manifest, SineFamily family, RegressionTraining training, IReadOnlyList<FrequencyRun> runs)
    {
        var summary = Summarize(runs);
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Sine frequency regression: test MSE against the number of training INRs").AppendLine();
        md.AppendLine(string.Create(inv, $"Target: the {family.FrequencyName} of {family.Function} ({family.TaskName} zoo); MSE in the target's units.")).AppendLine();
        md.AppendLine(string.Create(inv, $"Zoo: `{zoo}` ({manifest}). Training: AdamW lr {training.LearningRate:R}, wd {training.WeightDecay:R}, amsgrad, batch {training.BatchSize}, {training.Epochs} epochs (1 warmup, cosine), selection on validation MSE.")).AppendLine();
        md.AppendLine("| model | training INRs | test MSE (mean ± std) | seeds |").AppendLine("|---|---|---|---|");
        foreach (var s in summary) md.AppendLine(string.Create(inv, $"| {s.Model} | {s.TrainCount} | {s.Mean:F4} ± {s.Std:F4} | {s.Seeds} |"));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.json"), JsonSerializer.SerializeToUtf8Bytes(runs, new JsonSerializerOptions { WriteIndented = true }));

        var chart = new LineChart("Test MSE of the frequency (log10) against training INRs (log10)", "log10(training INRs)", "log10(test MSE)");
        foreach (var g in summary.GroupBy(s => s.Model))
            chart.Add(new ChartSeries(g.Key, g.Select(s => Math.Log10(s.TrainCount)).ToArray(), g.Select(s => Math.Log10(s.Mean)).ToArray()));
        new HtmlReport("Sine frequency regression")
            .AddParagraph(string.Create(inv, $"Predict the {family.FrequencyName} of {family.Function} from the weights of its SIREN (zoo '{zoo}', {family.TaskName}). Test MSE in frequency² units, mean over seeds."))
            .AddChart(chart)
            .AddTable("Test MSE", new[] { "model", "training INRs", "test MSE mean", "std", "seeds" },
                summary.Select(s => (IReadOnlyList<string>)new[] { s.Model, s.TrainCount.ToString(inv), s.Mean.ToString("F4", inv), s.Std.ToString("F4", inv), s.Seeds.ToString(inv) }))
            .AddTable("Runs", new[] { "model", "training INRs", "seed", "test MSE", "validation MSE", "best epoch" },
                runs.Select(r => (IReadOnlyList<string>)new[] { r.Model, r.TrainCount.ToString(inv), r.Seed.ToString(inv), r.TestMse.ToString("F4", inv), r.ValidationMse.ToString("F4", inv), $"{r.BestEpoch}/{r.Epochs}" }))
            .Write(Path.Combine(outDir, "report.html"));
    }
}
