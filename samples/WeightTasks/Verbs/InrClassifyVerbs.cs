using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary><c>inr-classify train | table | eval | ensemble</c>: classifiers of INRs by their weights (the main job's task).</summary>
internal static class InrClassifyVerbs
{
    public static Command Create()
    {
        // ---------------------------------------------------------------- train
        var modelOption = new Option<string>("--model") { Description = "hidden (hidden-neuron equivariant), all (all-neuron equivariant), mlp (flattened weights), stats (weight statistics), product (product layers), product-signed (product layers with sign flips), product-signed-ln (the same with LayerNorm and dropout 0.2), product-signed-wide (product-signed with 64 features), probe (the INR's outputs at 128 fixed random points → MLP), probe-grid (its outputs on the 28 × 28 fitting grid → MLP).", DefaultValueFactory = _ => ModelKinds.Hidden };
        modelOption.AcceptOnlyFromAmong(ModelKinds.Names);
        var epochsOption = new Option<int?>("--epochs") { Description = "Epochs (quick default 30, --full 100)." };
        var batchOption = new Option<int?>("--batch") { Description = "Batch size (quick default 64, --full 512)." };
        var lrOption = new Option<float?>("--lr") { Description = "AdamW learning rate (quick default 5e-3 with warmup-cosine; --full 5e-3 constant)." };
        var wdOption = new Option<double>("--wd") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 5e-4 };
        var runOutOption = new Option<string>("--out") { Description = "Directory for model.safetensors and report.html.", DefaultValueFactory = _ => "runs/inr-classifier-train" };
        var limitOption = new Option<int?>("--limit") { Description = "Use only the first N training INRs." };
        var augmentOption = new Option<string?>("--augment") { Description = "Training augmentation: protocol (hidden-neuron permutation, weight dropout 0.01, Gaussian noise 0.1 × each tensor's std, first-layer scale U(0.8, 1.2), rotation U(-45°, 45°)), no-rotation (the same without rotation) or none. Default: protocol with --full, none otherwise." };
        augmentOption.AcceptOnlyFromAmong(Augmentations.Names);
        var warmupOption = new Option<int?>("--warmup") { Description = "Linear warmup steps (default: one epoch with the quick warmup-cosine schedule, none otherwise)." };
        var constantOption = new Option<bool>("--constant-lr") { Description = "Keep the learning rate constant after warmup (no cosine decay)." };
        var clipOption = new Option<float?>("--clip") { Description = "Clip the global gradient norm to NORM before each step (default: no clipping)." };
        var train = new Command("train", "Train a classifier on a zoo; writes the model and an HTML report.")
        {
            Cli.Zoo, modelOption, epochsOption, batchOption, lrOption, wdOption, Cli.Seed, runOutOption, Cli.Full, limitOption, augmentOption, Cli.Device,
            warmupOption, constantOption, clipOption,
        };
        train.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            bool full = r.GetValue(Cli.Full);
            var options = Recipe(TrainingDefaults(full, r.GetValue(epochsOption), r.GetValue(batchOption), r.GetValue(lrOption), r.GetValue(wdOption), r.GetValue(Cli.Seed), r.GetValue(augmentOption)),
                r.GetValue(warmupOption), r.GetValue(constantOption), r.GetValue(clipOption));
            using var device = Cli.OpenDevice(r.GetValue(Cli.Device)!);
            Jobs.Train(r.GetValue(Cli.Zoo)!, r.GetValue(modelOption)!, full, options, r.GetValue(runOutOption)!, r.GetValue(limitOption), ct, device);
            return 0;
        })));

        // ---------------------------------------------------------------- table
        var modelsOption = new Option<string>("--models") { Description = "Comma-separated models to train.", DefaultValueFactory = _ => string.Join(",", ModelKinds.Names) };
        var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated training seeds (model initialization, batch order, augmentation).", DefaultValueFactory = _ => "0,1,2" };
        var tableOutOption = new Option<string>("--out") { Description = "Directory for one sub-directory per run and results.md / results.json.", DefaultValueFactory = _ => "runs/inr-classifier-table" };
        var table = new Command("table", "Train every model with every seed on one zoo and write the results table (mean ± std of test accuracy). Each run resumes, and finished runs are not repeated.")
        {
            Cli.Zoo, modelsOption, seedsOption, epochsOption, batchOption, lrOption, wdOption, tableOutOption, Cli.Full, limitOption, augmentOption, Cli.Device,
            warmupOption, constantOption, clipOption,
        };
        table.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            bool full = r.GetValue(Cli.Full);
            var models = ResultsTable.ParseList(r.GetValue(modelsOption)!, "--models", s => ModelKinds.Names.Contains(s) ? s : throw new ArgumentException($"--models: unknown model '{s}'; choose from {string.Join(", ", ModelKinds.Names)}."));
            var seeds = ResultsTable.ParseList(r.GetValue(seedsOption)!, "--seeds", s => ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--seeds: '{s}' is not a non-negative integer."));
            string outDir = r.GetValue(tableOutOption)!;
            using var device = Cli.OpenDevice(r.GetValue(Cli.Device)!);
            var rows = new List<ResultsTable.Run>();
            foreach (string model in models)
                foreach (ulong seed in seeds)
                {
                    var options = Recipe(TrainingDefaults(full, r.GetValue(epochsOption), r.GetValue(batchOption), r.GetValue(lrOption), r.GetValue(wdOption), seed, r.GetValue(augmentOption)),
                        r.GetValue(warmupOption), r.GetValue(constantOption), r.GetValue(clipOption));
                    Ui.Step($"Run {rows.Count + 1}/{models.Count * seeds.Count}: {model}, seed {seed}");
                    var (test, outcome) = Jobs.Train(r.GetValue(Cli.Zoo)!, model, full, options, Path.Combine(outDir, $"{model}-seed{seed}"), r.GetValue(limitOption), ct, device);
                    var best = outcome.History.First(h => h.Epoch == outcome.BestEpoch);
                    rows.Add(new ResultsTable.Run(model, seed, test.Accuracy, best.ValAccuracy, outcome.BestEpoch, outcome.History.Count, outcome.History.Sum(h => h.Seconds), options.AugmentationName,
                        outcome.History.Select(h => h.ValAccuracy).ToArray(), outcome.History.Select(h => h.Seconds).ToArray()));
                    ResultsTable.Write(outDir, r.GetValue(Cli.Zoo)!, full, rows, "WeightTasks " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1)));
                }
            ResultsTable.Print(rows);
            Ui.Info($"  table: {Path.Combine(outDir, "results.md")}");
            return 0;
        })));

        // ---------------------------------------------------------------- eval
        var checkpointOption = new Option<string>("--checkpoint") { Description = "model.safetensors written by train.", Required = true };
        var eval = new Command("eval", "Evaluate a trained classifier on a zoo split.") { Cli.Zoo, checkpointOption, Cli.Split, Cli.Device };
        eval.SetAction((ParseResult r) => Cli.Run(() =>
        {
            using var device = Cli.OpenDevice(r.GetValue(Cli.Device)!);
            Jobs.Evaluate(r.GetValue(Cli.Zoo)!, r.GetValue(checkpointOption)!, r.GetValue(Cli.Split)!, device);
            return 0;
        }));

        // ---------------------------------------------------------------- ensemble
        var checkpointsOption = new Option<string>("--checkpoints") { Description = "Comma-separated model.safetensors files written by train or table (at least 2).", Required = true };
        var ensembleOutOption = new Option<string?>("--out") { Description = "Directory for ensemble.md and ensemble.json (default: print only)." };
        var ensemble = new Command("ensemble", "Evaluate trained classifiers alone and as an ensemble (mean of their softmax probabilities) on a zoo split.")
        {
            Cli.Zoo, checkpointsOption, Cli.Split, ensembleOutOption, Cli.Device,
        };
        ensemble.SetAction((ParseResult r) => Cli.Run(() =>
        {
            var checkpoints = ResultsTable.ParseList(r.GetValue(checkpointsOption)!, "--checkpoints", s => s);
            using var device = Cli.OpenDevice(r.GetValue(Cli.Device)!);
            Jobs.Ensemble(r.GetValue(Cli.Zoo)!, checkpoints, r.GetValue(Cli.Split)!, r.GetValue(ensembleOutOption), device);
            return 0;
        }));

        return new Command("inr-classify", "Classify INRs by their weights: train a classifier, a table over models and seeds, evaluate a checkpoint or an ensemble.") { train, table, eval, ensemble };
    }

    /// <summary>The recipe flags on top of the defaults; without them the options are the defaults, unchanged.</summary>
    internal static TrainOptions Recipe(TrainOptions options, int? warmup, bool constantLr, float? clip)
    {
        if (warmup is < 0) throw new ArgumentException($"--warmup must be >= 0 steps, got {warmup}.");
        if (clip is float c && !(c > 0 && float.IsFinite(c))) throw new ArgumentException($"--clip must be a positive, finite gradient norm, got {c}.");
        if (constantLr) options = options with { Cosine = false };
        return options with { WarmupSteps = warmup ?? options.WarmupSteps, ClipGradNorm = clip ?? options.ClipGradNorm };
    }

    internal static TrainOptions TrainingDefaults(bool full, int? epochs, int? batch, float? lr, double wd, ulong seed, string? augment)
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
}
