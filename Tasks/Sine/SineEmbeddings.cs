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

/// <summary>
/// Training settings of the SimCLR encoder: AdamW (amsgrad), selection on the validation InfoNCE loss; the rate is either
/// warmed up for one epoch then decayed by a cosine (<paramref name="Cosine"/>, the quick mode) or constant (DWSNets' released
/// trainer, the <c>--full</c> protocol).
/// </summary>
public sealed record ContrastiveTraining(int Epochs, int BatchSize, float LearningRate, double WeightDecay, float Temperature = 0.1f, bool Cosine = true)
{
    /// <summary>How the rate moves, for reports.</summary>
    public string Schedule => Cosine ? "one warmup epoch, then cosine" : "constant";

    public void Validate()
    {
        new RegressionTraining(Epochs, BatchSize, LearningRate, WeightDecay).Validate();
        if (BatchSize < 2) throw new ArgumentException($"--batch must be at least 2 for a contrastive loss (negatives come from the batch), got {BatchSize}.");
        if (!(Temperature > 0)) throw new ArgumentException($"The temperature must be positive, got {Temperature}.");
    }

    public TrainerOptions ToTrainerOptions(int trainCount, ulong seed, string? checkpoint) =>
        new RegressionTraining(Epochs, BatchSize, LearningRate, WeightDecay).ToTrainerOptions(trainCount, seed, "task=sine-simclr", checkpoint) with
        {
            // A last batch of one network has no negatives.
            DropLast = trainCount % BatchSize == 1,
            Cosine = Cosine,
            WarmupSteps = Cosine ? (trainCount + BatchSize - 1) / BatchSize : 0,
            MinLearningRate = Cosine ? LearningRate * 0.01f : 0f,
        };
}

/// <summary>One linear read-out: test MSE of (a, b) from a representation, averaged over both, and each.</summary>
public sealed record EmbeddingResult(string Representation, ulong? Seed, double TestMse, double AmplitudeMse, double FrequencyMse, double Lambda, int Features);

/// <summary>
/// DWSNets' self-supervised task on sine-wave INRs: a SimCLR-trained equivariant encoder's 16-d invariant embedding, read out
/// by linear least squares (closed form, ridge penalty picked on validation) to (a, b); compared with the same encoder
/// untrained and with the same read-out of weight statistics and of the flattened weights.
/// </summary>
public static class SineEmbeddings
{
    /// <summary>The ridge penalties tried on validation for every representation.</summary>
    public static IReadOnlyList<double> Grid => LinearProbe.DefaultGrid;

    public static EmbeddingResult ReadOut(string name, ulong? seed, Tensor train, Tensor trainTargets, Tensor validation, Tensor validationTargets, Tensor test, Tensor testTargets)
    {
        var probe = LinearProbe.FitSelected(train, trainTargets, validation, validationTargets, Grid);
        var (per, mean) = probe.Mse(test, testTargets);
        return new EmbeddingResult(name, seed, mean, per[SineZoo.AmplitudeColumn], per[SineZoo.FrequencyColumn], probe.Lambda, probe.Features);
    }

    private static Tensor Targets(ZooSplit s) => new(s.Targets ?? throw new InvalidDataException($"Split '{s.Name}' has no targets."), s.Count, s.TargetWidth);

    /// <summary>
    /// Trains one encoder per seed (one resumable sub-directory each under <paramref name="outDir"/>), reads out every
    /// representation, writes <c>results.md</c>, <c>results.json</c> and <c>report.html</c> (with a PCA of the test embeddings
    /// coloured by a and by b). <paramref name="createEncoder"/> builds a fresh encoder for a seed.
    /// </summary>
    public static IReadOnlyList<EmbeddingResult> Study(string zoo, IReadOnlyList<ulong> seeds, Func<ulong, ContrastiveEncoder> createEncoder, ContrastiveTraining training,
        string outDir, int? trainLimit = null, Action<string>? log = null, Func<string, IProgress<TrainingProgress>?>? progressFor = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(createEncoder);
        training.Validate();
        if (seeds.Count == 0) throw new ArgumentException("--seeds lists no seed.");
        var reader = SineZoo.Open(zoo, "sine embed");
        var train = reader.Load("train", limit: trainLimit);
        var validation = reader.Load("validation");
        var test = reader.Load("test");
        if (train.Count < 2) throw new ArgumentException($"The contrastive loss needs at least 2 training INRs; got {train.Count}.");
        OutputPaths.CreateDirectory(outDir, "--out");
        var results = new List<EmbeddingResult>();
        Tensor yTrain = Targets(train), yVal = Targets(validation), yTest = Targets(test);

        foreach (var features in new[] { FeatureWeightModel.Statistics, FeatureWeightModel.Flattened })
        {
            var r = ReadOut(features == FeatureWeightModel.Statistics ? "weight statistics" : "flattened weights", null,
                FeatureWeightModel.Extract(features, train.Weights), yTrain, FeatureWeightModel.Extract(features, validation.Weights), yVal,
                FeatureWeightModel.Extract(features, test.Weights), yTest);
            log?.Invoke(Describe(r));
            results.Add(r);
        }

        Tensor? pca = null;
        foreach (ulong seed in seeds)
        {
            cancellation.ThrowIfCancellationRequested();
            var untrained = createEncoder(seed);
            untrained.FitInputs(train.Weights);
            var u = ReadOut("equivariant encoder, untrained", seed, untrained.Embed(train.Weights), yTrain, untrained.Embed(validation.Weights), yVal, untrained.Embed(test.Weights), yTest);
            log?.Invoke(Describe(u));
            results.Add(u);

            var encoder = createEncoder(seed);
            encoder.FitInputs(train.Weights);
            string runDir = Path.Combine(outDir, string.Create(CultureInfo.InvariantCulture, $"seed{seed}"));
            OutputPaths.CreateDirectory(runDir, "The run directory");
            var options = training.ToTrainerOptions(train.Count, seed, Path.Combine(runDir, "training-checkpoint.safetensors"));
            var executor = encoder.Executor(options);
            encoder.StepCount = () => executor.StepCount;
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"SimCLR, seed {seed}: {training.Epochs} epochs, batch {training.BatchSize}, lr {training.LearningRate:G3} ({training.Schedule}), {train.Count} training INRs"));
            var trainer = new Trainer(executor, options, new ContrastiveObjective(training.Temperature));
            var history = WeightModelTraining.FitOrResume(trainer, new InMemoryWeightDataset(train.Weights, train.Targets!, train.TargetWidth),
                new InMemoryWeightDataset(validation.Weights, validation.Targets!, validation.TargetWidth), progressFor?.Invoke($"seed{seed}"), cancellation);
            var testEmbeddings = encoder.Embed(test.Weights);
            var t = ReadOut("equivariant encoder, SimCLR", seed, encoder.Embed(train.Weights), yTrain, encoder.Embed(validation.Weights), yVal, testEmbeddings, yTest);
            log?.Invoke(Describe(t) + string.Create(CultureInfo.InvariantCulture, $" (epoch {history.BestEpoch} of {history.Epochs.Count}, validation InfoNCE {history.BestMetric:F4})"));
            results.Add(t);
            pca ??= testEmbeddings;
            WriteResults(outDir, zoo, reader.Manifest, training, train.Count, results, pca, test);
        }
        return results;
    }

    public static string Describe(EmbeddingResult r) => string.Create(CultureInfo.InvariantCulture,
        $"  {r.Representation}{(r.Seed is ulong s ? $", seed {s}" : "")}: test MSE {r.TestMse:F4} (a {r.AmplitudeMse:F4}, b {r.FrequencyMse:F4}; {r.Features} features, ridge {r.Lambda:G3})");

    /// <summary>Mean and population std over seeds of the averaged test MSE, per representation, in first-seen order.</summary>
    public static IReadOnlyList<(string Representation, double Mean, double Std, double Amplitude, double Frequency, int Runs)> Summarize(IReadOnlyList<EmbeddingResult> results) =>
        results.GroupBy(r => r.Representation).Select(g =>
        {
            double m = g.Average(r => r.TestMse);
            return (g.Key, m, Math.Sqrt(g.Average(r => (r.TestMse - m) * (r.TestMse - m))), g.Average(r => r.AmplitudeMse), g.Average(r => r.FrequencyMse), g.Count());
        }).ToList();

    private static void WriteResults(string outDir, string zoo, ZooManifest manifest, ContrastiveTraining training, int trainCount, IReadOnlyList<EmbeddingResult> results, Tensor pcaSource, ZooSplit test)
    {
        var inv = CultureInfo.InvariantCulture;
        var summary = Summarize(results);
        var md = new StringBuilder("# Sine-wave INR embeddings: linear read-out of (a, b)\n\n");
        md.AppendLine(string.Create(inv, $"Zoo: `{zoo}` ({manifest}); {trainCount} training INRs. SimCLR: two views (noise std 0.2, masking p 0.5, on per-entry normalized weights), InfoNCE t = {training.Temperature:R}, AdamW (amsgrad) lr {training.LearningRate:R} ({training.Schedule}), wd {training.WeightDecay:R}, batch {training.BatchSize}, {training.Epochs} epochs, selection on validation InfoNCE. Read-out: least squares with a ridge penalty picked on validation from {{{string.Join(", ", Grid.Select(g => g.ToString("G3", inv)))}}}.")).AppendLine();
        md.AppendLine("| representation | test MSE, mean of a and b (mean ± std) | a | b | runs |").AppendLine("|---|---|---|---|---|");
        foreach (var s in summary) md.AppendLine(string.Create(inv, $"| {s.Representation} | {s.Mean:F4} ± {s.Std:F4} | {s.Amplitude:F4} | {s.Frequency:F4} | {s.Runs} |"));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.json"), JsonSerializer.SerializeToUtf8Bytes(results, new JsonSerializerOptions { WriteIndented = true }));

        var (proj, variances) = Pca.Project(pcaSource, 2);
        var x = Enumerable.Range(0, proj.Shape[0]).Select(i => (double)proj.Data[i * 2]).ToArray();
        var y = Enumerable.Range(0, proj.Shape[0]).Select(i => (double)proj.Data[i * 2 + 1]).ToArray();
        var a = SineZoo.Column(test, SineZoo.AmplitudeColumn).Select(v => (double)v).ToArray();
        var b = SineZoo.Column(test, SineZoo.FrequencyColumn).Select(v => (double)v).ToArray();
        new HtmlReport("Sine-wave INR embeddings (SimCLR)")
            .AddParagraph(string.Create(inv, $"Linear read-out of (a, b) of a·sin(b·x) from representations of the INRs of zoo '{zoo}'. Test MSE averaged over a and b."))
            .AddTable("Test MSE", new[] { "representation", "mean of a and b", "std over seeds", "a", "b", "runs" },
                summary.Select(s => (IReadOnlyList<string>)new[] { s.Representation, s.Mean.ToString("F4", inv), s.Std.ToString("F4", inv), s.Amplitude.ToString("F4", inv), s.Frequency.ToString("F4", inv), s.Runs.ToString(inv) }))
            .AddParagraph(string.Create(inv, $"PCA of the first seed's SimCLR embeddings of the {proj.Shape[0]} test INRs (variances {variances[0]:G3}, {variances[1]:G3})."))
            .AddScatters(new ScatterChart("Test embeddings, coloured by amplitude a", "PC 1", "PC 2", "amplitude a", x, y, a),
                new ScatterChart("Test embeddings, coloured by frequency b", "PC 1", "PC 2", "frequency b", x, y, b))
            .Write(Path.Combine(outDir, "report.html"));
    }
}
