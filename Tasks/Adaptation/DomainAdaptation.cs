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
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Reports;
using LayerCompiler.Tasks.Sine;
using ZooSeeds = LayerCompiler.Tasks.Zoo.ZooSeeds;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>The four image sets: source and target training pools (the same images, clean and corrupted) and the held-out test images, clean and corrupted.</summary>
public sealed record AdaptationImages(ClassifierImages SourceTrain, ClassifierImages TargetTrain, ClassifierImages SourceHeldOut, ClassifierImages TargetHeldOut)
{
    /// <summary>The first <see cref="AdaptationSettings.SourceImages"/> training and <see cref="AdaptationSettings.HeldOutImages"/> test images; the target copies corrupted with seeds drawn from the zoo seed.</summary>
    public static AdaptationImages From(FashionMnist data, AdaptationSettings s)
    {
        ArgumentNullException.ThrowIfNull(data); ArgumentNullException.ThrowIfNull(s);
        if (data.Train.Count < s.SourceImages) throw new ArgumentException($"The training file has {data.Train.Count} images; the settings use the first {s.SourceImages}.");
        if (data.Test.Count < s.HeldOutImages) throw new ArgumentException($"The test file has {data.Test.Count} images; the settings hold out the first {s.HeldOutImages}.");
        var train = ClassifierImages.From(data.Train, s.SourceImages);
        var test = ClassifierImages.From(data.Test, s.HeldOutImages);
        return new AdaptationImages(train, s.Corruption.Apply(train, ZooSeeds.ForPurpose(s.ZooSeed, "target-train")), test, s.Corruption.Apply(test, ZooSeeds.ForPurpose(s.ZooSeed, "target-held-out")));
    }
}

/// <summary>One seed: the Δv model's and the fine-tuning reference's mean accuracies over the test classifiers.</summary>
public sealed record AdaptationSeedResult(ulong Seed, double TargetAdapted, double SourceAdapted, double TargetFineTuned, double SourceFineTuned,
    double Scale, int BestEpoch, int Epochs, double ValidationLoss);

/// <summary>The experiment: the zoo's splits, the unadapted accuracies (deterministic) and every seed's results.</summary>
public sealed record AdaptationResult(int TrainClassifiers, int ValidationClassifiers, int TestClassifiers, double TargetUnadapted, double SourceUnadapted,
    IReadOnlyList<AdaptationSeedResult> Seeds)
{
    public static (double Mean, double Std) MeanStd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double m = v.Average();
        return (m, v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)) : 0);
    }
}

/// <summary>
/// Domain adaptation (DWSNets): binary CNN classifiers trained on clean Fashion-MNIST images; a hidden-neuron equivariant
/// weight → weight model outputs Δv in one forward pass, v' = v + s·Δv, trained (on the training classifiers) for the
/// cross-entropy of v' on corrupted training images through the classifier's generated forward and weight gradient.
/// Reported on the held-out test classifiers and held-out images: target (and source) accuracy unadapted, adapted, and
/// fine-tuned with a few SGD steps on target training images.
/// </summary>
public static class DomainAdaptation
{
    /// <summary>Classifier splits: shuffled with the zoo seed; the first quarter test, the next eighth validation, the rest train.</summary>
    public static (int[] Train, int[] Validation, int[] Test) Splits(int count, ulong zooSeed)
    {
        var perm = new Rng(ZooSeeds.ForPurpose(zooSeed, "adaptation-splits")).Permutation(count);
        int test = count / 4, val = count / 8;
        return (perm.Skip(test + val).OrderBy(i => i).ToArray(), perm.Skip(test).Take(val).OrderBy(i => i).ToArray(), perm.Take(test).OrderBy(i => i).ToArray());
    }

    /// <summary>The networks <paramref name="ids"/> of <paramref name="b"/> as a new batch.</summary>
    public static WeightSpaceBatch Subset(WeightSpaceBatch b, IReadOnlyList<int> ids)
    {
        var s = new WeightSpaceBatch(b.Space, ids.Count, 1);
        for (int t = 0; t < b.Tensors.Length; t++)
        {
            int size = b.Space.Tensors[t].Size;
            for (int j = 0; j < ids.Count; j++) Array.Copy(b.Tensors[t].Data, (long)ids[j] * size, s.Tensors[t].Data, (long)j * size, size);
        }
        return s;
    }

    /// <summary>
    /// The training items: <paramref name="draws"/> per classifier, each the classifier with <paramref name="imagesPerItem"/> target
    /// images of its pair drawn without replacement (from (seed, purpose, item)). Targets: class A, class B, the image indices.
    /// </summary>
    public static InMemoryWeightDataset Items(AdaptationZoo zoo, IReadOnlyList<int> ids, ClassifierImages targetImages, int draws, int imagesPerItem, ulong seed, string purpose)
    {
        var byPair = new Dictionary<ClassPair, int[]>();
        int width = 2 + imagesPerItem, n = ids.Count * draws;
        var networks = new WeightSpaceBatch(zoo.Weights.Space, n, 1);
        var values = new float[n * width];
        var rows = new int[n];
        for (int i = 0; i < ids.Count; i++)
            for (int r = 0; r < draws; r++)
            {
                int item = i * draws + r, c = ids[i];
                rows[item] = c;
                var pair = zoo.Pairs[c];
                if (!byPair.TryGetValue(pair, out var pool)) byPair[pair] = pool = BinaryTasks.IndicesOf(targetImages, pair);
                if (pool.Length < imagesPerItem) throw new ArgumentException($"Pair {pair} has {pool.Length} target images; an item takes {imagesPerItem}.");
                var pick = (int[])pool.Clone();
                var rng = new Rng(ZooSeeds.ForItem(seed, purpose, (long)c * draws + r));
                for (int j = 0; j < imagesPerItem; j++) { int s = j + rng.NextInt(pick.Length - j); (pick[j], pick[s]) = (pick[s], pick[j]); }
                values[item * width] = pair.A; values[item * width + 1] = pair.B;
                for (int j = 0; j < imagesPerItem; j++) values[item * width + 2 + j] = pick[j];
            }
        return new InMemoryWeightDataset(Subset(zoo.Weights, rows), values, width);
    }

    private static Tensor ValuesOf(InMemoryWeightDataset d)
    {
        var v = new Tensor(d.Count, d.TargetWidth);
        for (int i = 0; i < d.Count; i++) d.GetTargets(i, v.Data.AsSpan(i * d.TargetWidth, d.TargetWidth));
        return v;
    }

    public static TrainerOptions TrainerOptions(AdaptationSettings s, int trainItems, ulong seed, string? checkpoint) =>
        new RegressionTraining(s.ModelEpochs, s.ModelBatch, s.ModelLearningRate, 0).ToTrainerOptions(trainItems, seed, "task=domain-adapt model=" + AdaptationModel.Kind, checkpoint)
            with { AmsGrad = false, Selection = SelectionMetric.ValidationMetric };

    /// <summary>
    /// Trains the Δv model of one seed (resuming from <c>runDir/training-checkpoint.safetensors</c>), fine-tunes the test classifiers
    /// with the same seed's data order, evaluates both on the held-out images; writes <c>runDir/result.json</c>.
    /// </summary>
    public static AdaptationSeedResult RunSeed(AdaptationZoo zoo, AdaptationImages images, AdaptationSettings s, ulong seed, string runDir,
        IProgress<TrainingProgress>? progress = null, Action<string>? log = null, CancellationToken cancellation = default)
    {
        var (trainIds, valIds, testIds) = Splits(zoo.Count, s.ZooSeed);
        var pass = ClassifierPass.ForBinaryCnn();
        var objective = new TargetDomainObjective(pass, images.TargetTrain, s.BatchSize);
        var train = Items(zoo, trainIds, images.TargetTrain, s.DrawsPerClassifier, s.BatchSize, seed, "adaptation-train-items");
        var validation = Items(zoo, valIds, images.TargetTrain, 1, s.BatchSize, seed, "adaptation-validation-items");
        var model = AdaptationModel.Create(seed);
        model.FitInputs(Subset(zoo.Weights, trainIds));
        OutputPaths.CreateDirectory(runDir, "The run directory");
        var options = TrainerOptions(s, train.Count, seed, Path.Combine(runDir, "training-checkpoint.safetensors"));
        var (valCorrect, valSeen) = objective.Correct(RenderingObjective.Flatten(validation.Networks), ValuesOf(validation));
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  validation items, unadapted: target accuracy {(double)valCorrect / valSeen:P2} (the selection metric before training)"));
        var trainer = new Trainer(model.Executor(options), options, objective, new TargetAccuracyMetric(objective));
        var history = WeightModelTraining.FitOrResume(trainer, train, validation, progress, cancellation);
        var test = Subset(zoo.Weights, testIds);
        var testPairs = testIds.Select(i => zoo.Pairs[i]).ToArray();
        var adapted = RenderingObjective.Unflatten(model.Predict(test), pass.Space);
        var srcCache = new Dictionary<ClassPair, ClassifierImages>(); var tgtCache = new Dictionary<ClassPair, ClassifierImages>();
        double targetAdapted = BinaryTasks.Accuracy(pass, adapted, testPairs, images.TargetHeldOut, tgtCache).Average();
        double sourceAdapted = BinaryTasks.Accuracy(pass, adapted, testPairs, images.SourceHeldOut, srcCache).Average();
        var (tuned, _) = FineTune(pass, test, testPairs, testIds, images.TargetTrain, s, seed);
        double targetTuned = BinaryTasks.Accuracy(pass, tuned, testPairs, images.TargetHeldOut, tgtCache).Average();
        double sourceTuned = BinaryTasks.Accuracy(pass, tuned, testPairs, images.SourceHeldOut, srcCache).Average();
        var best = history.Epochs.FirstOrDefault(e => e.Epoch == history.BestEpoch)?.ValidationLoss ?? double.NaN;
        var result = new AdaptationSeedResult(seed, targetAdapted, sourceAdapted, targetTuned, sourceTuned, model.Gamma, history.BestEpoch ?? 0, history.Epochs.Count, best);
        AtomicFile.WriteAllBytes(Path.Combine(runDir, "result.json"), JsonSerializer.SerializeToUtf8Bytes(result, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    /// <summary>The fine-tuning reference: <see cref="AdaptationSettings.FineTuneSteps"/> plain SGD steps (no momentum) of <see cref="AdaptationSettings.BatchSize"/> target training images of each classifier's pair.</summary>
    public static (WeightSpaceBatch Weights, double[] MeanLoss) FineTune(ClassifierPass pass, WeightSpaceBatch weights, IReadOnlyList<ClassPair> pairs, IReadOnlyList<int> ids,
        ClassifierImages targetTrain, AdaptationSettings s, ulong seed) =>
        s.FineTuneSteps == 0 ? (Subset(weights, Enumerable.Range(0, weights.Batch).ToArray()), new double[weights.Batch])
            : BinaryTasks.Train(pass, weights, pairs, ids, targetTrain, s.FineTuneSteps, s.BatchSize, p => new Sgd(new[] { p }, s.FineTuneLearningRate), seed, "adaptation-fine-tune");

    /// <summary>The whole experiment: builds (or resumes) the zoo under <paramref name="zooDir"/>, then every seed under <paramref name="outDir"/>; writes results.md, results.json and report.html.</summary>
    public static AdaptationResult Run(FashionMnist data, AdaptationSettings s, IReadOnlyList<ulong> seeds, string zooDir, string outDir, Action<string>? log = null,
        IProgress<AdaptationZooProgress>? zooProgress = null, Func<ulong, IProgress<TrainingProgress>?>? progressFor = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (seeds.Count == 0) throw new ArgumentException("Give at least one seed.");
        s.Validate();
        AdaptationZoo.CheckDirectory(zooDir, s.ZooIdentity());
        OutputPaths.CreateDirectory(outDir, "--out");
        var images = AdaptationImages.From(data, s);
        var zoo = AdaptationZoo.BuildOrLoad(zooDir, s, images.SourceTrain, images.SourceHeldOut, images.TargetHeldOut, zooProgress, cancellation);
        var (trainIds, valIds, testIds) = Splits(zoo.Count, s.ZooSeed);
        double targetUnadapted = testIds.Average(i => (double)zoo.TargetAccuracy[i]), sourceUnadapted = testIds.Average(i => (double)zoo.SourceAccuracy[i]);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"  zoo: {zoo.Count} classifiers ({trainIds.Length} train / {valIds.Length} validation / {testIds.Length} test); all classifiers: source accuracy {zoo.SourceAccuracy.Average():P2}, target {zoo.TargetAccuracy.Average():P2}"));
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  test classifiers unadapted: target accuracy {targetUnadapted:P2} (source {sourceUnadapted:P2})"));
        var results = new List<AdaptationSeedResult>();
        foreach (ulong seed in seeds)
        {
            cancellation.ThrowIfCancellationRequested();
            log?.Invoke($"Seed {seed} ({results.Count + 1}/{seeds.Count}): Δv model, {s.ModelEpochs} epochs");
            var r = RunSeed(zoo, images, s, seed, Path.Combine(outDir, string.Create(CultureInfo.InvariantCulture, $"seed{seed}")), progressFor?.Invoke(seed), log, cancellation);
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"  target accuracy: adapted {r.TargetAdapted:P2}, fine-tuned {r.TargetFineTuned:P2} (source: adapted {r.SourceAdapted:P2}, fine-tuned {r.SourceFineTuned:P2}); s = {r.Scale:G4}, epoch {r.BestEpoch} of {r.Epochs}"));
            results.Add(r);
            var res = new AdaptationResult(trainIds.Length, valIds.Length, testIds.Length, targetUnadapted, sourceUnadapted, results.ToList());
            WriteResults(outDir, zooDir, s, zoo, res);
        }
        return new AdaptationResult(trainIds.Length, valIds.Length, testIds.Length, targetUnadapted, sourceUnadapted, results);
    }

    /// <summary>The rows of the table: method, target accuracy (mean, std), source accuracy (mean, std).</summary>
    public static IReadOnlyList<(string Method, double Target, double TargetStd, double Source, double SourceStd)> Table(AdaptationResult r)
    {
        var (ta, tas) = AdaptationResult.MeanStd(r.Seeds.Select(x => x.TargetAdapted));
        var (sa, sas) = AdaptationResult.MeanStd(r.Seeds.Select(x => x.SourceAdapted));
        var (tf, tfs) = AdaptationResult.MeanStd(r.Seeds.Select(x => x.TargetFineTuned));
        var (sf, sfs) = AdaptationResult.MeanStd(r.Seeds.Select(x => x.SourceFineTuned));
        return new[] { ("unadapted", r.TargetUnadapted, 0.0, r.SourceUnadapted, 0.0), ("adapted (Δv model, one forward pass)", ta, tas, sa, sas), ("fine-tuned (SGD on target images)", tf, tfs, sf, sfs) };
    }

    private static void WriteResults(string outDir, string zooDir, AdaptationSettings s, AdaptationZoo zoo, AdaptationResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var table = Table(r);
        string setup = string.Create(inv,
            $"Zoo '{zooDir}': {zoo.Count} binary CNN classifiers ({s.Pairs} class pairs × {s.ClassifiersPerPair}; {s.ClassifierSteps} Adam steps of {s.BatchSize} at lr {s.ClassifierLearningRate:R} on the first {s.SourceImages} training images), " +
            $"split {r.TrainClassifiers} train / {r.ValidationClassifiers} validation / {r.TestClassifiers} test. Target domain: {s.ZooIdentity()["corruption"]}. Held-out images: each test classifier's pair among the first {s.HeldOutImages} test images. " +
            $"Δv model: hidden-neuron equivariant, 2 layers × 16 channels, equivariant head; v' = v + s·Δv, s from 0.01; Adam lr {s.ModelLearningRate:R}, batch {s.ModelBatch}, {s.ModelEpochs} epochs (1 warmup, cosine), {s.DrawsPerClassifier} items of {s.BatchSize} target training images per training classifier and epoch, the epoch with the best validation target accuracy kept. " +
            $"Fine-tuning: {s.FineTuneSteps} SGD steps (lr {s.FineTuneLearningRate:R}, no momentum) of {s.BatchSize} target training images.");
        var md = new StringBuilder("# Domain adaptation (DWSNets) on Fashion-MNIST binary CNN classifiers\n\n").AppendLine(setup).AppendLine();
        md.AppendLine($"Accuracy on held-out images, mean over the {r.TestClassifiers} test classifiers; mean ± std over {r.Seeds.Count} seed(s) of the Δv model and of the fine-tuning data order.").AppendLine();
        md.AppendLine("| method | target accuracy | source accuracy |").AppendLine("|---|---|---|");
        foreach (var t in table) md.AppendLine(string.Create(inv, $"| {t.Method} | {100 * t.Target:F2} ± {100 * t.TargetStd:F2} % | {100 * t.Source:F2} ± {100 * t.SourceStd:F2} % |"));
        md.AppendLine().AppendLine("| seed | target adapted | target fine-tuned | source adapted | source fine-tuned | s | best epoch |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var x in r.Seeds) md.AppendLine(string.Create(inv, $"| {x.Seed} | {100 * x.TargetAdapted:F2} % | {100 * x.TargetFineTuned:F2} % | {100 * x.SourceAdapted:F2} % | {100 * x.SourceFineTuned:F2} % | {x.Scale:G4} | {x.BestEpoch}/{x.Epochs} |"));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.json"), JsonSerializer.SerializeToUtf8Bytes(new { settings = s.ZooIdentity(), result = r }, new JsonSerializerOptions { WriteIndented = true }));
        // Per method the values behind each bar: one (unadapted) or one per seed (adapted, fine-tuned), in percent.
        IReadOnlyList<double>[] Bars(double unadapted, Func<AdaptationSeedResult, double> adapted, Func<AdaptationSeedResult, double> fineTuned) =>
            new IReadOnlyList<double>[] { new[] { 100 * unadapted }, r.Seeds.Select(x => 100 * adapted(x)).ToArray(), r.Seeds.Select(x => 100 * fineTuned(x)).ToArray() };
        var chart = new GroupedBarChart("Accuracy on held-out images (test classifiers; bar: mean, whisker: ± sd, dots: seeds)", "accuracy (%)", table.Select(t => t.Method.Split(' ')[0]).ToArray(),
            new[] { new BarSeries("target domain (corrupted)", Bars(r.TargetUnadapted, x => x.TargetAdapted, x => x.TargetFineTuned)),
                    new BarSeries("source domain (clean)", Bars(r.SourceUnadapted, x => x.SourceAdapted, x => x.SourceFineTuned)) }) { Width = 620 };
        new HtmlReport("Domain adaptation: binary Fashion-MNIST CNNs")
            .AddParagraph(setup)
            .AddGroupedBarChart(chart)
            .AddTable("Accuracy (mean ± std over seeds)", new[] { "method", "target", "source" },
                table.Select(t => (IReadOnlyList<string>)new[] { t.Method, string.Create(inv, $"{100 * t.Target:F2} ± {100 * t.TargetStd:F2} %"), string.Create(inv, $"{100 * t.Source:F2} ± {100 * t.SourceStd:F2} %") }))
            .AddTable("Seeds", new[] { "seed", "target adapted", "target fine-tuned", "source adapted", "source fine-tuned", "s", "best epoch" },
                r.Seeds.Select(x => (IReadOnlyList<string>)new[] { x.Seed.ToString(inv), x.TargetAdapted.ToString("P2", inv), x.TargetFineTuned.ToString("P2", inv), x.SourceAdapted.ToString("P2", inv), x.SourceFineTuned.ToString("P2", inv), x.Scale.ToString("G4", inv), $"{x.BestEpoch}/{x.Epochs}" }))
            .Write(Path.Combine(outDir, "report.html"));
    }
}
