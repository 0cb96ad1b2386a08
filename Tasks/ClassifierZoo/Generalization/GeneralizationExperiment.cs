using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Training;
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Models;

namespace LayerCompiler.Tasks.ClassifierZoo.Generalization;

/// <summary>Settings of a predicting-generalization run (NFN's recipe by default: Adam 1e-3, batch 8, 50 epochs, selection on validation τ).</summary>
public sealed record GeneralizationSettings
{
    public int Epochs { get; init; } = 50;
    public int BatchSize { get; init; } = 8;
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>One line naming every setting a run's result depends on (kept in its result file and compared on reading).</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"epochs={Epochs} batch={BatchSize} lr={LearningRate:R}");

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
    /// <summary>The training settings and the zoo's fingerprint the run used (empty in results written before they were kept).</summary>
    public string Config { get; init; } = "";

    /// <summary>
    /// This result scored only on the test checkpoints whose true test accuracy is at least <paramref name="minAccuracy"/>
    /// (e.g. 0.2 to leave out a zoo's chance-level networks, which every model tells apart from the rest): τ-b and R²
    /// recomputed on them, <see cref="Test"/> their count, the predictions kept in order. Nothing is retrained.
    /// </summary>
    public GeneralizationResult OnTestAccuracyAtLeast(double minAccuracy)
    {
        if (TestActual.Length == 0 || TestActual.Length != TestPredicted.Length)
            throw new InvalidOperationException($"The '{Kind}' seed {Seed} result keeps no per-checkpoint test predictions (a result file written before they were kept): rerun it to score a subset.");
        var keep = Enumerable.Range(0, TestActual.Length).Where(i => TestActual[i] >= minAccuracy).ToArray();
        if (keep.Length < 2)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Only {keep.Length} of the {TestActual.Length} test checkpoints of '{Kind}' seed {Seed} have test accuracy >= {minAccuracy}; τ needs at least 2."));
        var predicted = keep.Select(i => TestPredicted[i]).ToArray();
        var actual = keep.Select(i => TestActual[i]).ToArray();
        return this with
        {
            TestTau = RegressionMetrics.KendallTau(predicted, actual), TestR2 = RegressionMetrics.RSquared(predicted, actual), Test = keep.Length,
            TestPredicted = predicted, TestActual = actual,
        };
    }
}

/// <summary>Trains one regressor on a classifier zoo's train split through the one <see cref="Trainer"/> and tests it.</summary>
public static class GeneralizationExperiment
{
    /// <summary>The file a finished run writes to its run directory (read back instead of training again).</summary>
    public const string ResultFile = "result.json";
    /// <summary>The per-epoch training checkpoint in a run directory (an interrupted run resumes from it).</summary>
    public const string CheckpointFile = "training-checkpoint.safetensors";

    /// <summary>
    /// Trains one <paramref name="kind"/> regressor with <paramref name="seed"/> and tests it. With a <paramref name="runDir"/> the
    /// run is resumable: the trainer writes <see cref="CheckpointFile"/> there after every epoch and continues from it, and the
    /// finished result is written to <see cref="ResultFile"/>, which a later call returns without training (after checking it is
    /// this run's: same model, seed, epochs and zoo). A checkpoint or result of another run is refused naming the file.
    /// </summary>
    public static GeneralizationResult Run(ClassifierZooData zoo, string kind, ulong seed, GeneralizationSettings settings, IProgress<TrainingProgress>? progress = null,
        string? runDir = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(zoo); ArgumentNullException.ThrowIfNull(settings);
        var tr = zoo.Indices(ClassifierZooSplits.Train); var va = zoo.Indices(ClassifierZooSplits.Validation); var te = zoo.Indices(ClassifierZooSplits.Test);
        if (tr.Length == 0 || va.Length == 0 || te.Length == 0)
            throw new ArgumentException($"{zoo.Directory}: the zoo's splits hold {tr.Length} train, {va.Length} validation and {te.Length} test checkpoints; every split needs some (build more runs).");
        string? resultPath = runDir is null ? null : Path.Combine(runDir, ResultFile);
        if (resultPath != null && File.Exists(resultPath)) return ReadFinished(resultPath, zoo, kind, seed, settings, te);

        var model = AccuracyRegressors.Create(kind, zoo.Architecture, seed);
        zoo.RequireSpace(model.Space, $"the '{kind}' regressor");
        IWeightDataset Set(int[] idx) => new InMemoryWeightDataset(zoo.Select(idx), idx.Select(i => zoo.TestAccuracy[i]).ToArray(), 1);
        model.FitInputs(zoo.Select(tr));
        string config = Config(zoo, settings);
        var options = settings.TrainerOptions(seed) with
        {
            CheckpointPath = runDir is null ? null : Path.Combine(runDir, CheckpointFile),
            Tag = $"predicting-generalization model={kind} {config}",
        };
        if (runDir != null) OutputPaths.CreateDirectory(runDir, "The run directory");
        var trainer = new Trainer(model.Executor(options), options, new AccuracyBceObjective(), KendallTauMetric.Instance);
        var history = WeightModelTraining.FitOrResume(trainer, Set(tr), Set(va), progress, cancellation);
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
        var result = new GeneralizationResult(zoo.Directory, kind, seed, RegressionMetrics.KendallTau(predicted, actual), RegressionMetrics.RSquared(predicted, actual),
            best.ValidationMetric ?? double.NaN, best.Epoch, tr.Length, va.Length, te.Length)
        {
            ValidationTauPerEpoch = history.Epochs.Select(e => e.ValidationMetric ?? double.NaN).ToArray(),
            TrainLossPerEpoch = history.Epochs.Select(e => e.TrainLoss).ToArray(),
            TestPredicted = predicted, TestActual = actual, Config = config,
        };
        if (resultPath != null) GeneralizationResultsFile.Write(resultPath, new[] { result });
        return result;
    }

    /// <summary>
    /// Every (model, seed) run of a table, each resumable in <c>outDir/MODEL-seedS</c> (see <see cref="Run"/>), up to
    /// <paramref name="jobs"/> at a time. Each run is deterministic on its own, so the results do not depend on
    /// <paramref name="jobs"/>; they come back in the order model by model, seed by seed.
    /// </summary>
    public static IReadOnlyList<GeneralizationResult> RunAll(ClassifierZooData zoo, IReadOnlyList<string> kinds, IReadOnlyList<ulong> seeds, GeneralizationSettings settings,
        string outDir, int jobs = 1, Action<string>? log = null, Func<string, ulong, IProgress<TrainingProgress>?>? progressFor = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(zoo); ArgumentNullException.ThrowIfNull(kinds); ArgumentNullException.ThrowIfNull(seeds);
        if (kinds.Count == 0 || seeds.Count == 0) throw new ArgumentException("Give at least one model and one seed.");
        if (jobs < 1) throw new ArgumentException($"--jobs must be at least 1, got {jobs}.");
        OutputPaths.CreateDirectory(outDir, "--out");
        var work = kinds.SelectMany(k => seeds.Select(s => (Kind: k, Seed: s))).ToArray();
        var results = new GeneralizationResult[work.Length];
        void One(int i)
        {
            var (kind, seed) = work[i];
            string runDir = Path.Combine(outDir, RunName(kind, seed));
            bool finished = File.Exists(Path.Combine(runDir, ResultFile));
            log?.Invoke(finished ? $"{kind} seed {seed}: finished earlier ({runDir})" : $"{kind} seed {seed}: training ({runDir})");
            var r = Run(zoo, kind, seed, settings, progressFor?.Invoke(kind, seed), runDir, cancellation);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{kind} seed {seed}: test τ {r.TestTau:F3}, R² {r.TestR2:F3} (validation τ {r.ValidationTau:F3} at epoch {r.BestEpoch})"));
            results[i] = r;
        }
        if (jobs == 1)
            for (int i = 0; i < work.Length; i++) One(i);
        else
        {
            // One run at a time from a shared queue, in work order: Parallel.For's range partitioning would hand each worker
            // a block of runs up front (measured: with 12 runs the three NP runs waited behind HNP on one core while the
            // other core sat idle).
            var queue = Partitioner.Create(Enumerable.Range(0, work.Length), EnumerablePartitionerOptions.NoBuffering);
            try { Parallel.ForEach(queue, new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = cancellation }, One); }
            catch (AggregateException e)
            {
                // One run's clear error (a checkpoint of another run, Ctrl-C) is what the user should see, not the wrapper.
                var first = e.Flatten().InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.Flatten().InnerExceptions[0];
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
            }
        }
        return results;
    }

    /// <summary>The run directory's name for (model, seed).</summary>
    public static string RunName(string kind, ulong seed) => string.Create(CultureInfo.InvariantCulture, $"{kind}-seed{seed}");

    private static GeneralizationResult ReadFinished(string path, ClassifierZooData zoo, string kind, ulong seed, GeneralizationSettings settings, int[] test)
    {
        var saved = GeneralizationResultsFile.Read(path);
        if (saved.Length != 1) throw new InvalidDataException($"{path}: holds {saved.Length} results; a run directory's result file holds one.");
        var r = saved[0];
        string? mismatch =
            r.Kind != kind ? $"model '{r.Kind}', not '{kind}'"
            : r.Seed != seed ? $"seed {r.Seed}, not {seed}"
            : r.ValidationTauPerEpoch.Length != settings.Epochs ? $"{r.ValidationTauPerEpoch.Length} training epochs, not {settings.Epochs}"
            : r.Test != test.Length || !r.TestActual.SequenceEqual(test.Select(i => zoo.TestAccuracy[i])) ? $"another zoo's test split ({r.Test} checkpoints from {r.Zoo})"
            : r.Config.Length > 0 && r.Config != Config(zoo, settings) ? $"other settings ({r.Config}; this run: {Config(zoo, settings)})"
            : null;
        if (mismatch != null)
            throw new InvalidOperationException($"{path} is the result of another run: {mismatch}. Use another output directory, or delete that run directory to train this run from scratch.");
        return r;
    }

    /// <summary>The settings and the zoo (architecture and fingerprint) a run's result depends on.</summary>
    private static string Config(ClassifierZooData zoo, GeneralizationSettings settings) => $"{settings.Describe()} zoo={zoo.Architecture}:{ZooFingerprint(zoo)}";

    /// <summary>A short hash of the zoo's contents that a run depends on (splits, test accuracies, weights' size).</summary>
    private static string ZooFingerprint(ClassifierZooData zoo)
    {
        var h = new System.IO.Hashing.XxHash64();
        h.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(zoo.TestAccuracy.AsSpan()));
        foreach (var s in zoo.Split) h.Append(Encoding.UTF8.GetBytes(s));
        h.Append(BitConverter.GetBytes(zoo.Weights.Space.Dimension));
        return Convert.ToHexString(h.GetCurrentHash()).ToLowerInvariant();
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
