using LayerCompiler.Tasks.Zoo;
using System;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Collections.Generic;
using System.Threading;
using InrClassifier;
using InrClassifier.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.InputNetworks;

// InrClassifier: builds a zoo of SIREN INRs of Fashion-MNIST images and classifies them from their weights
// with LayerCompiler-generated equivariant networks. Run without a verb for the whole job.

var seedOption = new Option<ulong>("--seed") { Description = "Random seed (zoo: INR initialization; train: model init and batch order).", DefaultValueFactory = _ => 0 };
var threadsOption = new Option<int>("--threads") { Description = "Worker threads for fitting INRs (-1 = all cores).", DefaultValueFactory = _ => -1 };
threadsOption.Validators.Add(r => { if (r.GetValueOrDefault<int>() is int t && (t == 0 || t < -1)) r.AddError($"--threads must be -1 (all cores) or positive, got {t}."); });
var dataOption = new Option<string?>("--data") { Description = $"Directory with the Fashion-MNIST IDX .gz files (default {LayerCompiler.Tasks.Data.FashionMnist.DefaultDirectory})." };
var fullOption = new Option<bool>("--full") { Description = "Use the full protocol (all 70,000 images, 1000 fitting steps; reference model and training). Takes hours on a CPU." };

if (Console.IsOutputRedirected)
{
    // Logs and pipes: no escape codes, and no wrapping (at 80 columns, or anywhere: a long error line stays one line).
    Spectre.Console.AnsiConsole.Profile.Capabilities.Ansi = false;
    Spectre.Console.AnsiConsole.Profile.Width = 100_000;
}

// ---------------------------------------------------------------- zoo build
var outOption = new Option<string>("--out") { Description = "Zoo directory to create or resume.", Required = true };
var perSplitOption = new Option<int?>("--per-split") { Description = "Build only the first N INRs of each split (train, validation, test)." };
var stepsOption = new Option<int?>("--steps") { Description = "Adam steps per INR (protocol: 1000)." };
var fitLrOption = new Option<float?>("--lr") { Description = "Adam learning rate for fitting (protocol: 5e-4)." };
var shardOption = new Option<int>("--shard-size") { Description = "INRs per shard file.", DefaultValueFactory = _ => 1000 };
var taskOption = new Option<string>("--task") { Description = "fashion-mnist (one INR per image) or sine-waves (a·sin(b·x), regress a and b).", DefaultValueFactory = _ => "fashion-mnist" };
taskOption.AcceptOnlyFromAmong("fashion-mnist", "sine-waves");
var build = new Command("build", "Fit one SIREN per Fashion-MNIST image (or sine wave) and write the zoo (resumes an interrupted build).")
{
    outOption, perSplitOption, fullOption, taskOption, seedOption, threadsOption, stepsOption, fitLrOption, shardOption, dataOption,
};
build.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Run(() =>
{
    int? perSplit = r.GetValue(perSplitOption);
    bool full = r.GetValue(fullOption);
    if (perSplit is null == !full) throw new ArgumentException("Choose the zoo size with exactly one of --per-split N (the first N INRs of each split) or --full (the whole protocol).");
    if (perSplit is <= 0) throw new ArgumentException($"--per-split must be positive, got {perSplit}.");
    if (r.GetValue(shardOption) <= 0) throw new ArgumentException($"--shard-size must be positive, got {r.GetValue(shardOption)}.");
    bool sine = r.GetValue(taskOption) == "sine-waves";
    var fit = sine ? InrFitProtocols.SineWaves : InrFitProtocols.FashionMnist;
    if (r.GetValue(stepsOption) is int steps)
    {
        if (steps <= 0) throw new ArgumentException($"--steps must be positive, got {steps} (a zoo of unfitted INRs would classify nothing).");
        fit = fit with { MaxSteps = steps };
    }
    if (r.GetValue(fitLrOption) is float lr) fit = fit with { LearningRate = lr };
    var plan = new ZooPlan(full ? "full protocol" : $"first {perSplit} per split", null, perSplit, fit, r.GetValue(shardOption));
    if (sine)
    {
        Jobs.BuildSineZoo(r.GetValue(outOption)!, perSplit, plan, r.GetValue(seedOption), r.GetValue(threadsOption), ct);
        return 0;
    }
    var data = Jobs.LoadData(r.GetValue(dataOption), tryInstall: false);
    if (data is null) return Jobs.MissingData;
    Jobs.BuildFashionZoo(data, r.GetValue(outOption)!, plan, r.GetValue(seedOption), r.GetValue(threadsOption), ct);
    return 0;
})));

// ---------------------------------------------------------------- zoo render
var zooOption = new Option<string>("--zoo") { Description = "Zoo directory.", Required = true };
var splitOption = new Option<string>("--split") { Description = "Split: train, validation or test.", DefaultValueFactory = _ => "test" };
var countOption = new Option<int>("--count") { Description = "Number of INRs to render.", DefaultValueFactory = _ => 64 };
var sizeOption = new Option<int>("--size") { Description = "Pixels per side (28 = the training grid).", DefaultValueFactory = _ => 28 };
var columnsOption = new Option<int>("--columns") { Description = "Images per row.", DefaultValueFactory = _ => 8 };
var pngOption = new Option<string>("--out") { Description = "PNG file to write.", DefaultValueFactory = _ => "grid.png" };
var render = new Command("render", "Evaluate INRs of a zoo on a pixel grid and write a PNG grid.") { zooOption, splitOption, countOption, sizeOption, columnsOption, pngOption };
render.SetAction((ParseResult r) => Run(() =>
{
    Jobs.Render(r.GetValue(zooOption)!, r.GetValue(splitOption)!, r.GetValue(countOption), r.GetValue(sizeOption), r.GetValue(columnsOption), r.GetValue(pngOption)!);
    return 0;
}));

// ---------------------------------------------------------------- zoo bench
var benchCountOption = new Option<int>("--count") { Description = "INRs fitted per run.", DefaultValueFactory = _ => 64 };
var benchStepsOption = new Option<int>("--steps") { Description = "Adam steps per INR (no early stop).", DefaultValueFactory = _ => 300 };
var repeatsOption = new Option<int>("--repeats") { Description = "Timed runs (after one warm-up run).", DefaultValueFactory = _ => 5 };
var bench = new Command("bench", "Measure INR fitting throughput (INR-steps/s) on Fashion-MNIST images; prints min / median / max.")
{
    benchCountOption, benchStepsOption, repeatsOption, threadsOption, dataOption,
};
bench.SetAction((ParseResult r) => Run(() =>
{
    var data = Jobs.LoadData(r.GetValue(dataOption), tryInstall: false);
    if (data is null) return Jobs.MissingData;
    Jobs.BenchFit(data, r.GetValue(benchCountOption), r.GetValue(benchStepsOption), r.GetValue(repeatsOption), r.GetValue(threadsOption));
    return 0;
}));

var zoo = new Command("zoo", "Build, render or benchmark INR zoos.") { build, render, bench };

// ---------------------------------------------------------------- train
var modelOption = new Option<string>("--model") { Description = "hidden (hidden-neuron equivariant), all (all-neuron equivariant), mlp (flattened weights), stats (weight statistics).", DefaultValueFactory = _ => ModelKinds.Hidden };
modelOption.AcceptOnlyFromAmong(ModelKinds.Names);
var epochsOption = new Option<int?>("--epochs") { Description = "Epochs (quick default 30, --full 100)." };
var batchOption = new Option<int?>("--batch") { Description = "Batch size (quick default 64, --full 512)." };
var lrOption = new Option<float?>("--lr") { Description = "AdamW learning rate (quick default 5e-3 with warmup-cosine; --full 5e-3 constant)." };
var wdOption = new Option<double>("--wd") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 5e-4 };
var runOutOption = new Option<string>("--out") { Description = "Directory for model.safetensors and report.html.", DefaultValueFactory = _ => "runs/inr-classifier-train" };
var limitOption = new Option<int?>("--limit") { Description = "Use only the first N training INRs." };
var augmentOption = new Option<string?>("--augment") { Description = "Training augmentation: protocol (hidden-neuron permutation, weight dropout 0.01, Gaussian noise 0.1 × each tensor's std, first-layer scale U(0.8, 1.2), rotation U(-45°, 45°)), no-rotation (the same without rotation) or none. Default: protocol with --full, none otherwise." };
augmentOption.AcceptOnlyFromAmong(Augmentations.Names);
var train = new Command("train", "Train a classifier on a zoo; writes the model and an HTML report.")
{
    zooOption, modelOption, epochsOption, batchOption, lrOption, wdOption, seedOption, runOutOption, fullOption, limitOption, augmentOption,
};
train.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Run(() =>
{
    bool full = r.GetValue(fullOption);
    var options = TrainingDefaults(full, r.GetValue(epochsOption), r.GetValue(batchOption), r.GetValue(lrOption), r.GetValue(wdOption), r.GetValue(seedOption), r.GetValue(augmentOption));
    Jobs.Train(r.GetValue(zooOption)!, r.GetValue(modelOption)!, full, options, r.GetValue(runOutOption)!, r.GetValue(limitOption), ct);
    return 0;
})));

// ---------------------------------------------------------------- table
var modelsOption = new Option<string>("--models") { Description = "Comma-separated models to train.", DefaultValueFactory = _ => string.Join(",", ModelKinds.Names) };
var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated training seeds (model initialization, batch order, augmentation).", DefaultValueFactory = _ => "0,1,2" };
var tableOutOption = new Option<string>("--out") { Description = "Directory for one sub-directory per run and results.md / results.json.", DefaultValueFactory = _ => "runs/inr-classifier-table" };
var table = new Command("table", "Train every model with every seed on one zoo and write the results table (mean ± std of test accuracy). Each run resumes, and finished runs are not repeated.")
{
    zooOption, modelsOption, seedsOption, epochsOption, batchOption, lrOption, wdOption, tableOutOption, fullOption, limitOption, augmentOption,
};
table.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Run(() =>
{
    bool full = r.GetValue(fullOption);
    var models = ResultsTable.ParseList(r.GetValue(modelsOption)!, "--models", s => ModelKinds.Names.Contains(s) ? s : throw new ArgumentException($"--models: unknown model '{s}'; choose from {string.Join(", ", ModelKinds.Names)}."));
    var seeds = ResultsTable.ParseList(r.GetValue(seedsOption)!, "--seeds", s => ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--seeds: '{s}' is not a non-negative integer."));
    string outDir = r.GetValue(tableOutOption)!;
    var rows = new List<ResultsTable.Run>();
    foreach (string model in models)
        foreach (ulong seed in seeds)
        {
            var options = TrainingDefaults(full, r.GetValue(epochsOption), r.GetValue(batchOption), r.GetValue(lrOption), r.GetValue(wdOption), seed, r.GetValue(augmentOption));
            Ui.Step($"Run {rows.Count + 1}/{models.Count * seeds.Count}: {model}, seed {seed}");
            var (test, outcome) = Jobs.Train(r.GetValue(zooOption)!, model, full, options, Path.Combine(outDir, $"{model}-seed{seed}"), r.GetValue(limitOption), ct);
            var best = outcome.History.First(h => h.Epoch == outcome.BestEpoch);
            rows.Add(new ResultsTable.Run(model, seed, test.Accuracy, best.ValAccuracy, outcome.BestEpoch, outcome.History.Count, outcome.History.Sum(h => h.Seconds), options.AugmentationName));
            ResultsTable.Write(outDir, r.GetValue(zooOption)!, full, rows);
        }
    ResultsTable.Print(rows);
    Ui.Info($"  table: {Path.Combine(outDir, "results.md")}");
    return 0;
})));

// ---------------------------------------------------------------- eval
var checkpointOption = new Option<string>("--checkpoint") { Description = "model.safetensors written by train.", Required = true };
var eval = new Command("eval", "Evaluate a trained classifier on a zoo split.") { zooOption, checkpointOption, splitOption };
eval.SetAction((ParseResult r) => Run(() =>
{
    Jobs.Evaluate(r.GetValue(zooOption)!, r.GetValue(checkpointOption)!, r.GetValue(splitOption)!);
    return 0;
}));

// ---------------------------------------------------------------- main job (no verb)
var workOption = new Option<string>("--work") { Description = "Working directory (zoo, model, report); a second run reuses the zoo.", DefaultValueFactory = _ => "runs/inr-classifier" };
var root = new RootCommand(
    "Classify Fashion-MNIST images from the weights of their SIREN INRs with LayerCompiler's equivariant networks.\n" +
    "Without a verb: find the data, build a small zoo, train and evaluate the hidden-neuron classifier, save the model and an HTML report.")
{
    zoo, train, table, eval, workOption, fullOption, seedOption, threadsOption, dataOption,
};
root.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Run(() => MainJob(r.GetValue(workOption)!, r.GetValue(fullOption), r.GetValue(seedOption), r.GetValue(threadsOption), r.GetValue(dataOption), ct))));

return await root.Parse(args).InvokeAsync();

static TrainOptions TrainingDefaults(bool full, int? epochs, int? batch, float? lr, double wd, ulong seed, string? augment)
{
    string augmentation = augment ?? (full ? Augmentations.Protocol : Augmentations.QuickDefault);
    var options = full
        // The reference setup: AdamW 5e-3, wd 5e-4, amsgrad, batch 512, 100 epochs, constant lr, the protocol's augmentations.
        ? new TrainOptions(epochs ?? 100, batch ?? 512, lr ?? 5e-3f, wd, AmsGrad: true, seed, Cosine: false)
        // Quick: far fewer INRs and epochs, so smaller batches and a warmup-cosine schedule.
        // The model underfits at 20 epochs (train ≈ validation accuracy) and starts to overfit near 40 on 8,000 INRs.
        : new TrainOptions(epochs ?? 30, batch ?? 64, lr ?? 5e-3f, wd, AmsGrad: true, seed, Cosine: true);
    return options with { Augmentation = Augmentations.Create(augmentation), AugmentationName = augmentation };
}

static int MainJob(string work, bool full, ulong seed, int threads, string? dataDir, CancellationToken ct)
{
    var sw = Stopwatch.StartNew();
    Ui.Step($"InrClassifier main job ({(full ? "full protocol" : "quick")}) in '{work}', {Environment.ProcessorCount} logical CPU(s)");
    var data = Jobs.LoadData(dataDir, tryInstall: true);
    if (data is null) return Jobs.MissingData;
    Ui.Info(string.Create(CultureInfo.InvariantCulture, $"  Fashion-MNIST: {data.Train.Count} train + {data.Test.Count} test images ({sw.Elapsed.TotalSeconds:F1} s)"));

    var plan = full ? ZooPlan.Full : ZooPlan.Quick;
    string zooDir = Path.Combine(work, full ? "zoo-full" : "zoo-quick");
    var zooResult = Jobs.BuildFashionZoo(data, zooDir, plan, seed, threads, ct);
    var trainStats = zooResult.Manifest.Split("train").Stats!;
    Ui.Good(string.Create(CultureInfo.InvariantCulture, $"Achieved PSNR (train INRs): mean {trainStats.PsnrMean:F2} dB, 5th percentile {trainStats.PsnrP5:F2} dB"));

    string runDir = Path.Combine(work, full ? "run-full" : "run-quick");
    LayerCompiler.Runtime.IO.OutputPaths.CreateDirectory(runDir, "--work");
    Jobs.Render(zooDir, "test", 64, 28, 8, Path.Combine(runDir, "test-inrs.png"));

    var options = TrainingDefaults(full, null, null, null, 5e-4, seed, null);
    var (test, _) = Jobs.Train(zooDir, ModelKinds.Hidden, full, options, runDir, null, ct);
    Ui.Good(string.Create(CultureInfo.InvariantCulture, $"Done in {sw.Elapsed.TotalSeconds:F0} s. TEST ACCURACY {test.Accuracy:P2} (hidden-neuron equivariant classifier, {test.Count} test INRs)."));
    return 0;
}

// Known failures become one clear line and exit code 1 (bad arguments, bad files, and the file system's own errors:
// a full disk, a read-only directory, an output path that is a file); anything else is a bug and keeps its stack trace.
static int Run(Func<int> body)
{
    try { return body(); }
    catch (OperationCanceledException)
    {
        Ui.Warn("Interrupted. Finished zoo shards and the last finished training epoch are kept: run the same command again to resume.");
        return 130;
    }
    catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException
        or InvalidOperationException or SafetensorsFormatException or UnauthorizedAccessException)
    {
        // ArgumentException appends " (Parameter 'x')" and ArgumentOutOfRangeException a second line "Actual value was v.":
        // noise for a command-line user, who gets one line.
        string message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
        if (e is ArgumentOutOfRangeException { ActualValue: { } actual } && message.LastIndexOf(Environment.NewLine, StringComparison.Ordinal) is int cut and >= 0)
            message = string.Create(CultureInfo.InvariantCulture, $"{message[..cut].TrimEnd('.')} (got {actual}).");
        Ui.Error(message);
        return 1;
    }
}
