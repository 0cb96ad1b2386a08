using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Training;
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Tasks.ClassifierZoo.Generalization;

/// <summary>Settings of a predicting-generalization run (NFN's recipe by default: Adam 1e-3, batch 8, 50 epochs, selection on validation τ).</summary>
public sealed record GeneralizationSettings
{
    public int Epochs { get; init; } = 50;
    public int BatchSize { get; init; } = 8;
    public float LearningRate { get; init; } = 1e-3f;

    public TrainerOptions TrainerOptions(ulong seed) => new()
    {
        Task = TrainingTask.Regression, Epochs = Epochs, BatchSize = BatchSize, EvalBatchSize = 64, LearningRate = LearningRate,
        WeightDecay = 0, AmsGrad = false, Cosine = false, Seed = seed, Selection = SelectionMetric.ValidationMetric, RestoreBest = true,
        Tag = "predicting-generalization",
    };
}

/// <summary>One trained regressor's numbers on the zoo's test split (τ-b and R² of sigmoid(output) against test accuracy).</summary>
public sealed record GeneralizationResult(string Zoo, string Kind, ulong Seed, double TestTau, double TestR2, double ValidationTau, int BestEpoch, int Train, int Validation, int Test)
{
    /// <summary>Validation Kendall τ after each epoch (the trainer's history).</summary>
    public double[] ValidationTauPerEpoch { get; init; } = Array.Empty<double>();
    /// <summary>Mean training BCE of each epoch.</summary>
    public double[] TrainLossPerEpoch { get; init; } = Array.Empty<double>();
    /// <summary>sigmoid(output) of the selected model on the test split, in the order of <see cref="TestActual"/>.</summary>
    public float[] TestPredicted { get; init; } = Array.Empty<float>();
    /// <summary>The test split's true test accuracies.</summary>
    public float[] TestActual { get; init; } = Array.Empty<float>();
}

/// <summary>Trains one regressor on a classifier zoo's train split through the one <see cref="Trainer"/> and tests it.</summary>
public static class GeneralizationExperiment
{
    public static GeneralizationResult Run(ClassifierZooData zoo, string kind, ulong seed, GeneralizationSettings settings, IProgress<TrainingProgress>? progress = null)
    {
        var model = AccuracyRegressors.Create(kind, zoo.Architecture, seed);
        zoo.RequireSpace(model.Space, $"the '{kind}' regressor");
        var tr = zoo.Indices(ClassifierZooSplits.Train); var va = zoo.Indices(ClassifierZooSplits.Validation); var te = zoo.Indices(ClassifierZooSplits.Test);
        if (tr.Length == 0 || va.Length == 0 || te.Length == 0)
            throw new ArgumentException($"{zoo.Directory}: the zoo's splits hold {tr.Length} train, {va.Length} validation and {te.Length} test checkpoints; every split needs some (build more runs).");
        IWeightDataset Set(int[] idx) => new InMemoryWeightDataset(zoo.Select(idx), idx.Select(i => zoo.TestAccuracy[i]).ToArray(), 1);
        model.FitInputs(zoo.Select(tr));
        var options = settings.TrainerOptions(seed);
        var trainer = new Trainer(model.Executor(options), options, new AccuracyBceObjective(), KendallTauMetric.Instance);
        var history = trainer.Fit(Set(tr), Set(va), progress);
        var best = history.Epochs.FirstOrDefault(e => e.Epoch == history.BestEpoch) ?? history.Last!;

        // Test predictions with the selected parameters (the trainer restored them).
        model.Module.Train(false);
        var predicted = new float[te.Length];
        for (int first = 0; first < te.Length; first += 64)
        {
            var idx = te.Skip(first).Take(64).ToArray();
            var o = model.Forward(zoo.Select(idx));
            for (int k = 0; k < idx.Length; k++) predicted[first + k] = (float)(1 / (1 + Math.Exp(-o.Data[k])));
        }
        var actual = te.Select(i => zoo.TestAccuracy[i]).ToArray();
        return new GeneralizationResult(zoo.Directory, kind, seed, RegressionMetrics.KendallTau(predicted, actual), RegressionMetrics.RSquared(predicted, actual),
            best.ValidationMetric ?? double.NaN, best.Epoch, tr.Length, va.Length, te.Length)
        {
            ValidationTauPerEpoch = history.Epochs.Select(e => e.ValidationMetric ?? double.NaN).ToArray(),
            TrainLossPerEpoch = history.Epochs.Select(e => e.TrainLoss).ToArray(),
            TestPredicted = predicted, TestActual = actual,
        };
    }

    /// <summary>A markdown table: one row per (zoo, model), τ and R² as mean ± standard deviation over seeds.</summary>
    public static string Table(IEnumerable<GeneralizationResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| zoo | model | seeds | test Kendall τ | test R² |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var g in results.GroupBy(r => (r.Zoo, r.Kind)))
        {
            string S(IEnumerable<double> v)
            {
                var a = v.ToArray(); double m = a.Average();
                double sd = a.Length > 1 ? Math.Sqrt(a.Sum(x => (x - m) * (x - m)) / (a.Length - 1)) : 0;
                return string.Create(CultureInfo.InvariantCulture, $"{m:0.000} ± {sd:0.000}");
            }
            sb.AppendLine($"| {g.Key.Zoo} | {g.Key.Kind} | {g.Count()} | {S(g.Select(r => r.TestTau))} | {S(g.Select(r => r.TestR2))} |");
        }
        return sb.ToString();
    }
}
