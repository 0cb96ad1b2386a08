using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.ClassifierZoo.Generalization;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary>
/// <c>classifier-zoo build | generalization</c>: zoos of Fashion-MNIST classifiers (the Small CNN Zoo's CNN, 3- and 5-layer
/// MLPs) trained through the generated classifier passes, and predicting their test accuracy from their weights.
/// </summary>
internal static class ClassifierZooVerbs
{
    public static Command Create()
    {
        // ---------------------------------------------------------------- classifier-zoo build
        var outOption = new Option<string>("--out") { Description = "Zoo directory to create or resume.", Required = true };
        var archOption = new Option<string>("--arch") { Description = "cnn (Small CNN Zoo shape, 4,970 weights), mlp3 (784-128-128-10) or mlp5.", DefaultValueFactory = _ => "cnn" };
        archOption.AcceptOnlyFromAmong("cnn", "mlp3", "mlp5");
        var runsOption = new Option<int?>("--runs") { Description = "Training runs (each gives one network per checkpoint; quick 48, full 2,560)." };
        var poolOption = new Option<int?>("--train-pool") { Description = "Training images used (the first N of 60,000; quick 3,000, full 60,000)." };
        var testOption = new Option<int?>("--test-count") { Description = "Test images each checkpoint is evaluated on (quick 2,000, full 10,000)." };
        var epochsOption = new Option<string?>("--epochs") { Description = "Checkpoint pool epochs, comma-separated (default 1,2,4,8)." };
        var everyEpochOption = new Option<bool>("--full-every-epoch") { Description = "The full zoo's 10,240 networks at half the training: its first 1,280 runs with a checkpoint after every epoch 1-8 (docs/results.md)." };
        var build = new Command("build", "Train a zoo of classifiers with a wide hyperparameter spread (resumes an interrupted build); quick by default, --full for 10,240 networks.")
        {
            outOption, archOption, Cli.Full, everyEpochOption, runsOption, poolOption, testOption, epochsOption, Cli.Seed, Cli.Data, Cli.Device,
        };
        build.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "classifier-zoo build");
            var arch = Architecture(r.GetValue(archOption)!);
            if (r.GetValue(Cli.Full) && r.GetValue(everyEpochOption)) throw new ArgumentException("--full and --full-every-epoch are two sizes; give one.");
            var s = r.GetValue(Cli.Full) ? ClassifierZooSettings.Full(arch) : r.GetValue(everyEpochOption) ? ClassifierZooSettings.FullEveryEpoch(arch) : ClassifierZooSettings.Quick(arch);
            s = s with { Seed = r.GetValue(Cli.Seed) };
            if (r.GetValue(runsOption) is int runs) s = s with { Runs = runs };
            if (r.GetValue(poolOption) is int pool) s = s with { TrainPool = pool };
            if (r.GetValue(testOption) is int test) s = s with { TestCount = test };
            if (r.GetValue(epochsOption) is string e)
                s = s with { CheckpointEpochs = e.Split(',').Select(x => int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new ArgumentException($"--epochs: '{x}' is not a whole number of epochs.")).ToArray() };
            s.Validate();
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            string dir = r.GetValue(outOption)!;
            Ui.Step($"Classifier zoo ({s.Architecture}) in {dir}: {s.Runs} runs × {s.CheckpointEpochs.Length} checkpoints (pool epochs {string.Join(",", s.CheckpointEpochs)}), " +
                $"{s.TrainPool} training images, batch {s.BatchSize}, tested on {s.TestCount} images, seed {s.Seed}");
            var builder = new ClassifierZooBuilder(s, dir, ClassifierImages.From(data.Train, s.TrainPool), ClassifierImages.From(data.Test, s.TestCount));
            var last = Stopwatch.StartNew();
            var result = builder.Build(new SyncProgress(p =>
            {
                if (p.Message == null && last.Elapsed.TotalSeconds < 30) return;
                last.Restart();
                Ui.Info($"runs {p.RunsDone}/{p.Runs}, {Ui.F(p.NetworkEpochsPerSecond, 2)} network-epochs/s, ETA {(p.Eta is TimeSpan t ? t.ToString(@"d\.hh\:mm\:ss", CultureInfo.InvariantCulture) : "?")}{(p.Message is null ? "" : "  " + p.Message)}");
            }), ct);
            var m = result.Manifest;
            Ui.Good($"{m.Shards.Sum(x => x.Checkpoints)} checkpoints ({m.Shards.Sum(x => x.DivergedRuns)} runs diverged); shards trained {result.TrainedShards}, kept {result.KeptShards}, rebuilt {result.RebuiltShards}");
            Ui.Info("test accuracy histogram:\n" + m.Histogram);
            return 0;
        })));

        // ---------------------------------------------------------------- classifier-zoo generalization
        var modelsOption = new Option<string>("--models") { Description = "Comma-separated: hnp, np (equivariant), statnn, mlp; probe (the classifier's logits on 32 fixed noise images under ReLU and tanh → MLP; not in the default).", DefaultValueFactory = _ => string.Join(",", GeneralizationModelKinds.All) };
        var seedsOption = new Option<int>("--seeds") { Description = "Seeds per model (FIRST .. FIRST+N-1; FIRST from --first-seed).", DefaultValueFactory = _ => 3 };
        var firstSeedOption = new Option<int>("--first-seed") { Description = "First seed (default 0): run one seed per process with --seeds 1 --first-seed S, then `classifier-zoo report`.", DefaultValueFactory = _ => 0 };
        var trainEpochsOption = new Option<int>("--train-epochs") { Description = "Training epochs (NFN: 50; the best epoch by validation τ is kept).", DefaultValueFactory = _ => 50 };
        var jobsOption = new Option<int>("--jobs") { Description = "(model, seed) runs trained at once (default 1; each run mostly uses one core, so 2 fills this machine's 2 cores; results do not depend on it).", DefaultValueFactory = _ => 1 };
        var tableOption = new Option<string?>("--table") { Description = "Also write the markdown table to this file." };
        var reportOutOption = new Option<string?>("--out") { Description = "Directory for report.html (scatter, τ per epoch, zoo histogram) and table.md; default: the zoo directory." };
        var generalization = new Command("generalization", "Predict each checkpoint's test accuracy from its weights: train every model on the zoo's train split and print test Kendall τ and R².")
        {
            Cli.Zoo, modelsOption, seedsOption, firstSeedOption, trainEpochsOption, jobsOption, tableOption, reportOutOption, Cli.Device,
        };
        generalization.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "classifier-zoo generalization");
            var zoo = ClassifierZooReader.Read(r.GetValue(Cli.Zoo)!);
            var models = r.GetValue(modelsOption)!.Split(',');
            foreach (var m in models)
                if (!GeneralizationModelKinds.Accepted.Contains(m)) throw new ArgumentException($"--models: unknown model '{m}'; use {string.Join(", ", GeneralizationModelKinds.Accepted)}.");
            int seeds = r.GetValue(seedsOption);
            if (seeds <= 0) throw new ArgumentException($"--seeds must be positive, got {seeds}.");
            int firstSeed = r.GetValue(firstSeedOption);
            if (firstSeed < 0) throw new ArgumentException($"--first-seed must be >= 0, got {firstSeed}.");
            var gs = new GeneralizationSettings { Epochs = r.GetValue(trainEpochsOption) };
            Ui.Step($"{zoo.Directory}: {zoo.Architecture}, {zoo.Count} checkpoints; {string.Join(", ", models)} × {seeds} seeds, {gs.Epochs} epochs");
            string outDir = r.GetValue(reportOutOption) ?? zoo.Directory;
            Directory.CreateDirectory(outDir);
            int jobs = r.GetValue(jobsOption);
            var seedList = Enumerable.Range(firstSeed, seeds).Select(x => (ulong)x).ToArray();
            var results = GeneralizationExperiment.RunAll(zoo, models, seedList, gs, outDir, jobs, Ui.Info, (m, seed) =>
            {
                var last = Stopwatch.StartNew();
                return new LayerCompiler.Tasks.Models.WeightModelTraining.SyncProgress(p =>
                {
                    if (p.Kind != LayerCompiler.Runtime.Training.ProgressKind.EpochEnd || (p.Epoch < p.Epochs && last.Elapsed.TotalSeconds < 30)) return;
                    last.Restart();
                    Ui.Info($"  {m} seed {seed}: epoch {p.Epoch}/{p.Epochs}, BCE {Ui.F(p.EpochLoss)}, validation τ {Ui.F(p.Metrics?.ValidationMetric ?? double.NaN)}, {Ui.F(p.StepsPerSecond, 2)} steps/s, ETA {(p.Eta is TimeSpan t ? LayerCompiler.Runtime.Training.TrainingProgress.FormatSpan(t) : "?")}");
                });
            }, ct);
            string table = GeneralizationExperiment.Table(results);
            Ui.Info(table);
            if (r.GetValue(tableOption) is string path) LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(table));
            LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(Path.Combine(outDir, "table.md"), System.Text.Encoding.UTF8.GetBytes(table));
            GeneralizationResultsFile.Write(Path.Combine(outDir, "results.json"), results);
            string reportPath = Path.Combine(outDir, "report.html");
            GeneralizationReport.Build(zoo, results, gs, "classifier-zoo generalization " + string.Join(" ", Environment.GetCommandLineArgs().SkipWhile(a => a != "generalization").Skip(1))).Write(reportPath);
            Ui.Good($"report: {reportPath}");
            return 0;
        })));

        // ---------------------------------------------------------------- classifier-zoo report
        var resultsOption = new Option<string>("--results") { Description = "Comma-separated results.json files of generalization runs on this zoo (e.g. one per model).", Required = true };
        var reportDirOption = new Option<string>("--out") { Description = "Directory for the combined report.html, table.md and results.json.", Required = true };
        var minAccuracyOption = new Option<double?>("--min-accuracy") { Description = "Score only the test checkpoints whose true test accuracy is at least this (e.g. 0.2 leaves out chance-level networks); nothing is retrained." };
        var reportCmd = new Command("report", "Draw the results of several generalization runs on one zoo into one report.html (and one table).")
        {
            Cli.Zoo, resultsOption, reportDirOption, trainEpochsOption, minAccuracyOption,
        };
        reportCmd.SetAction((ParseResult r) => Cli.Run(() =>
        {
            var zoo = ClassifierZooReader.Read(r.GetValue(Cli.Zoo)!);
            var results = r.GetValue(resultsOption)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SelectMany(GeneralizationResultsFile.Read).ToList();
            int testCount = zoo.Indices(ClassifierZooSplits.Test).Length;
            foreach (var x in results)
                if (x.Test != testCount)
                    throw new ArgumentException($"The '{x.Kind}' seed {x.Seed} result was tested on {x.Test} checkpoints; {zoo.Directory} has {testCount} in its test split (a result of another zoo, or one already restricted by --min-accuracy? Give the generalization run's own results.json).");
            if (r.GetValue(minAccuracyOption) is double min)
            {
                if (!(min >= 0 && min <= 1)) throw new ArgumentException($"--min-accuracy must be in [0, 1], got {min.ToString(CultureInfo.InvariantCulture)}.");
                results = results.Select(x => x.OnTestAccuracyAtLeast(min)).ToList();
                if (results.Count > 0)
                    Ui.Info($"scored on the {results[0].Test} of {testCount} test checkpoints with test accuracy >= {min.ToString(CultureInfo.InvariantCulture)}");
            }
            string outDir = r.GetValue(reportDirOption)!;
            Directory.CreateDirectory(outDir);
            string table = GeneralizationExperiment.Table(results);
            Ui.Info(table);
            LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(Path.Combine(outDir, "table.md"), System.Text.Encoding.UTF8.GetBytes(table));
            GeneralizationResultsFile.Write(Path.Combine(outDir, "results.json"), results);
            string reportPath = Path.Combine(outDir, "report.html");
            GeneralizationReport.Build(zoo, results, new GeneralizationSettings { Epochs = r.GetValue(trainEpochsOption) },
                "classifier-zoo report " + string.Join(" ", Environment.GetCommandLineArgs().SkipWhile(a => a != "report").Skip(1))).Write(reportPath);
            Ui.Good($"report: {reportPath}");
            return 0;
        }));

        return new Command("classifier-zoo", "Build zoos of Fashion-MNIST classifiers (CNN, MLP) and predict their generalization from their weights.") { build, generalization, reportCmd };
    }

    private static ZooArchitecture Architecture(string name) => name switch
    {
        "cnn" => ZooArchitecture.Cnn, "mlp3" => ZooArchitecture.Mlp3, "mlp5" => ZooArchitecture.Mlp5,
        _ => throw new ArgumentException($"--arch {name}: use cnn, mlp3 or mlp5."),
    };

    private sealed class SyncProgress(Action<ClassifierZooProgress> report) : IProgress<ClassifierZooProgress>
    {
        public void Report(ClassifierZooProgress value) => report(value);
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
