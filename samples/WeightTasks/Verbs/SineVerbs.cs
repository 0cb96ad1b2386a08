using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Sine;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary>
/// <c>sine regress | embed</c>: DWSNets' sine-wave tasks: regress the frequency from the weights against the number of training
/// INRs (a of sin(a·x) on a <c>--task sine-frequency</c> zoo, the protocol; b of a·sin(b·x) on a <c>--task sine-waves</c> zoo),
/// and SimCLR embeddings of a sine-waves zoo read out linearly to (a, b).
/// </summary>
internal static class SineVerbs
{
    public const string Equivariant = "equivariant";
    public const string Probe = "probe";
    /// <summary>The default models of <c>sine regress</c>.</summary>
    public static readonly string[] RegressionModels = { Equivariant, FeatureWeightModel.Statistics, FeatureWeightModel.Flattened };
    /// <summary>Every model <c>sine regress</c> accepts: the defaults and the probing model (opt-in).</summary>
    public static readonly string[] AcceptedRegressionModels = { Equivariant, FeatureWeightModel.Statistics, FeatureWeightModel.Flattened, Probe };

    /// <summary>The probing model's probes: 64 points uniform on the sine INRs' domain [−π, π], one fixed seed.</summary>
    private static float[] SineProbes() => ProbeSet.Random(64, 1, 0x9B0BE5, -MathF.PI, MathF.PI);

    public static Command Create()
    {
        // ---------------------------------------------------------------- regress
        var modelsOption = new Option<string>("--models") { Description = "Comma-separated: equivariant (hidden-neuron, invariant head), stats (MLP on weight statistics), mlp (MLP on flattened weights), probe (the INR's outputs at 64 fixed points in [-π, π] → MLP; not in the default).", DefaultValueFactory = _ => string.Join(",", RegressionModels) };
        var countsOption = new Option<string?>("--train-counts") { Description = "Comma-separated numbers of training INRs (the first N of the zoo's train split). Quick default 100,300,1000; --full 100,300,1000,3000 capped at the zoo's size." };
        var seedsOption = new Option<string?>("--seeds") { Description = "Comma-separated seeds (quick default 0; --full 0,1,2)." };
        var epochsOption = new Option<int?>("--epochs") { Description = "Epochs (quick default 30, --full 100)." };
        var batchOption = new Option<int?>("--batch") { Description = "Batch size (default 32)." };
        var lrOption = new Option<float?>("--lr") { Description = "AdamW learning rate (default 1e-3; warmup one epoch, then cosine)." };
        var wdOption = new Option<double>("--wd") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 5e-4 };
        var regressOut = new Option<string>("--out") { Description = "Directory for one sub-directory per run, results.md/json and report.html.", DefaultValueFactory = _ => "runs/sine-regress" };
        var regress = new Command("regress", "Regress the frequency from each sine INR's weights (a of sin(a·x) on a sine-frequency zoo; b of a·sin(b·x) on a sine-waves zoo); test MSE against the number of training INRs for every model and seed (runs resume).")
        {
            Cli.Zoo, modelsOption, countsOption, seedsOption, epochsOption, batchOption, lrOption, wdOption, regressOut, Cli.Full, Cli.Device,
        };
        regress.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "sine regress");
            bool full = r.GetValue(Cli.Full);
            var models = ResultsTable.ParseList(r.GetValue(modelsOption)!, "--models", s => AcceptedRegressionModels.Contains(s) ? s : throw new ArgumentException($"--models: unknown model '{s}'; choose from {string.Join(", ", AcceptedRegressionModels)}."));
            var seeds = ParseSeeds(r.GetValue(seedsOption) ?? (full ? "0,1,2" : "0"));
            string zoo = r.GetValue(Cli.Zoo)!;
            IReadOnlyList<int> counts;
            if (r.GetValue(countsOption) is string text) counts = ResultsTable.ParseList(text, "--train-counts", ParseCount);
            else
            {
                int available = SineZoo.Open(zoo, "sine regress", new[] { SineZoo.Frequency, SineZoo.Waves }).Reader.Manifest.Split("train").Count;
                counts = (full ? new[] { 100, 300, 1000, 3000 } : new[] { 100, 300, 1000 }).Where(n => n < available).Append(Math.Min(available, full ? 3000 : 1000)).Distinct().ToList();
            }
            var training = new RegressionTraining(r.GetValue(epochsOption) ?? (full ? 100 : 30), r.GetValue(batchOption) ?? 32, r.GetValue(lrOption) ?? 1e-3f, r.GetValue(wdOption));
            Ui.Step(string.Create(CultureInfo.InvariantCulture, $"Sine frequency regression on '{zoo}': models {string.Join(", ", models)}; training INRs {string.Join(", ", counts)}; seeds {string.Join(", ", seeds)}; {training.Epochs} epochs"));
            var (_, family) = SineZoo.Open(zoo, "sine regress", new[] { SineZoo.Frequency, SineZoo.Waves });
            Ui.Info(family == SineZoo.Waves
                ? "  target: the frequency b of a·sin(b·x) (a sine-waves zoo; the protocol's regression is a of sin(a·x): build it with `inr-zoo build --task sine-frequency`)"
                : "  target: the frequency a of sin(a·x) (a sine-frequency zoo, the protocol's regression)");
            var runs = FrequencyRegression.Study(zoo, counts, models, seeds, CreateRegressor, training, r.GetValue(regressOut)!, Ui.Info, _ => EpochLines(training.Epochs), ct);
            foreach (var s in FrequencyRegression.Summarize(runs))
                Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{s.Model,-12} {s.TrainCount,6} training INRs: TEST MSE {s.Mean:F4} ± {s.Std:F4} ({s.Seeds} seed(s))"));
            Ui.Info($"  results: {Path.Combine(r.GetValue(regressOut)!, "results.md")}, report: {Path.Combine(r.GetValue(regressOut)!, "report.html")}");
            return 0;
        })));

        // ---------------------------------------------------------------- embed
        var embedSeeds = new Option<string?>("--seeds") { Description = "Comma-separated seeds (quick default 0; --full 0,1,2)." };
        var embedEpochs = new Option<int?>("--epochs") { Description = "Epochs (quick default 30; --full 500, the default of DWSNets' released SSL trainer)." };
        var embedBatch = new Option<int?>("--batch") { Description = "Batch size (quick default 128, --full 512 as in the protocol)." };
        var embedLr = new Option<float?>("--lr") { Description = "AdamW learning rate (default 5e-3 as in the protocol; quick: one warmup epoch, then cosine; --full: constant, as DWSNets' released trainer)." };
        var limitOption = new Option<int?>("--limit") { Description = "Use only the first N training INRs." };
        var embedOut = new Option<string>("--out") { Description = "Directory for one sub-directory per seed, results.md/json and report.html.", DefaultValueFactory = _ => "runs/sine-embed" };
        var embed = new Command("embed", "SimCLR embeddings of sine INRs (equivariant encoder, 16-d invariant embedding), read out linearly to (a, b); compared with the untrained encoder, weight statistics and flattened weights.")
        {
            Cli.Zoo, embedSeeds, embedEpochs, embedBatch, embedLr, wdOption, limitOption, embedOut, Cli.Full, Cli.Device,
        };
        embed.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "sine embed");
            bool full = r.GetValue(Cli.Full);
            var seeds = ParseSeeds(r.GetValue(embedSeeds) ?? (full ? "0,1,2" : "0"));
            if (r.GetValue(limitOption) is int limit && limit < 2) throw new ArgumentException($"--limit must be at least 2 (the contrastive loss needs negatives), got {limit}.");
            // --full is the protocol (docs/results.md lists what still differs): batch 512, AdamW 5e-3 (amsgrad, wd 5e-4) at a constant rate, 500 epochs.
            var training = new ContrastiveTraining(r.GetValue(embedEpochs) ?? (full ? 500 : 30), r.GetValue(embedBatch) ?? (full ? 512 : 128), r.GetValue(embedLr) ?? 5e-3f, r.GetValue(wdOption), Cosine: !full);
            string zoo = r.GetValue(Cli.Zoo)!, outDir = r.GetValue(embedOut)!;
            Ui.Step(string.Create(CultureInfo.InvariantCulture, $"SimCLR embeddings of sine INRs on '{zoo}': seeds {string.Join(", ", seeds)}; {training.Epochs} epochs, batch {training.BatchSize}, lr {training.LearningRate:G3} ({training.Schedule})"));
            var results = SineEmbeddings.Study(zoo, seeds, seed => new ContrastiveEncoder(new SineEncoder(seed), seed), training, outDir, r.GetValue(limitOption), Ui.Info, _ => EpochLines(training.Epochs), ct);
            foreach (var s in SineEmbeddings.Summarize(results))
                Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{s.Representation,-32} TEST MSE {s.Mean:F4} ± {s.Std:F4} (a {s.Amplitude:F4}, b {s.Frequency:F4}; {s.Runs} run(s))"));
            Ui.Info($"  results: {Path.Combine(outDir, "results.md")}, report: {Path.Combine(outDir, "report.html")}");
            return 0;
        })));

        return new Command("sine", "Sine-wave INR tasks: regress the frequency from the weights, and self-supervised (SimCLR) embeddings.") { regress, embed };
    }

    private static WeightModel CreateRegressor(string kind, ulong seed) => kind switch
    {
        Equivariant => new EquivariantWeightModel(Equivariant, new SineFrequencyRegressor(seed)),
        FeatureWeightModel.Statistics => new FeatureWeightModel(kind, SineFrequencyRegressor.CreateWeightSpace(), new[] { 64, 64 }, 1, seed),
        FeatureWeightModel.Flattened => new FeatureWeightModel(kind, SineFrequencyRegressor.CreateWeightSpace(), new[] { 256, 256 }, 1, seed),
        // The output offset does not matter: the features are standardized per probe (zoos fitted with offset 0 or 0.5 alike).
        Probe => new ProbeWeightModel(kind, new MlpInputNetwork(SineFrequencyRegressor.CreateWeightSpace(), InputActivation.Sine, 30f, 0.5f), SineProbes(), new[] { 64, 64 }, 1, seed),
        _ => throw new ArgumentException($"Unknown model '{kind}'; choose from {string.Join(", ", AcceptedRegressionModels)}."),
    };

    private static int ParseCount(string s) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new ArgumentException($"--train-counts: '{s}' is not a positive integer.");

    internal static IReadOnlyList<ulong> ParseSeeds(string text) => ResultsTable.ParseList(text, "--seeds",
        s => ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--seeds: '{s}' is not a non-negative integer."));

    /// <summary>One line per finished epoch: losses, the selection marker and the time left.</summary>
    internal static IProgress<TrainingProgress> EpochLines(int epochs) => new WeightModelTraining.SyncProgress(p =>
    {
        if (p.Kind != ProgressKind.EpochEnd || p.Metrics is not { } m) return;
        Ui.Info(string.Create(CultureInfo.InvariantCulture,
            $"    epoch {m.Epoch,3}/{epochs}: train loss {m.TrainLoss:F4}, validation loss {m.ValidationLoss ?? double.NaN:F4}{(m.IsBest ? " *" : "")}{(p.Eta is TimeSpan eta ? $"  (ETA {eta:mm\\:ss})" : "")}"));
    });
}
