using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;

namespace InrClassifier.Training;

internal sealed record TrainOptions(int Epochs, int BatchSize, float LearningRate, double WeightDecay, bool AmsGrad, ulong Seed, bool Cosine, int WarmupEpochs = 1)
{
    /// <summary>Applied to every training batch's raw weights (never to validation or test), before normalization.</summary>
    public IWeightAugmentation? Augmentation { get; init; }
    /// <summary>Name of the augmentation setting (for reports and checkpoints).</summary>
    public string AugmentationName { get; init; } = "none";
    /// <summary>Written atomically after every epoch; a run started with the same settings resumes from it.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>The settings a resumed run must share with the checkpoint it continues.</summary>
    public string Fingerprint(string kind, int trainCount) => string.Create(CultureInfo.InvariantCulture,
        $"model={kind} train={trainCount} epochs={Epochs} batch={BatchSize} lr={LearningRate:R} wd={WeightDecay:R} amsgrad={AmsGrad} seed={Seed} cosine={Cosine} warmup={WarmupEpochs} augment={Augmentation?.ToString() ?? "none"}");

    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}.");
        if (BatchSize <= 0) throw new ArgumentException($"--batch must be positive, got {BatchSize}.");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"--lr must be positive, got {LearningRate}.");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentException($"--wd must be finite and >= 0, got {WeightDecay}.");
    }
}

internal sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double LearningRate, double Seconds);

internal sealed record Evaluation(string Split, double Loss, double Accuracy, int[,] Confusion, int Count);

internal sealed record TrainOutcome(IReadOnlyList<EpochRecord> History, int BestEpoch, double Seconds, int ResumedFromEpoch = 0);

/// <summary>
/// The training loop the sample needs. Kept behind this interface so the runtime's shared Trainer (with
/// checkpointing and augmentation) can replace it without touching the commands.
/// </summary>
internal interface ITrainingLoop
{
    /// <summary>
    /// Trains on "train", selects the epoch with the best "validation" accuracy and leaves the model at that epoch's weights.
    /// <paramref name="onEpoch"/> gets every epoch trained by this call and whether it is the best so far (counting the
    /// epochs of a resumed checkpoint).
    /// </summary>
    TrainOutcome Train(Classifier model, TrainOptions options, Action<EpochRecord, bool>? onEpoch, Action<int, int>? onBatch, CancellationToken cancellation);
}

/// <summary>
/// Shuffled mini-batches, optional weight-space augmentation, softmax cross-entropy, AdamW (optionally AMSGrad),
/// constant or warmup-cosine LR, model selection on validation accuracy, and an atomic checkpoint after every epoch.
/// </summary>
/// <remarks>
/// Every random draw comes from per-epoch streams (<see cref="Rng.ForEpoch"/>: order, augmentation), so a run
/// interrupted after epoch k and started again with the same settings continues exactly as the uninterrupted run
/// (the checkpoint holds the model, the optimizer state and step, the best epoch's parameters and the history).
/// A finished run's checkpoint makes a second identical command skip training and only evaluate.
/// </remarks>
internal sealed class MinimalTrainingLoop : ITrainingLoop
{
    private const string BestPrefix = "best.";

    public TrainOutcome Train(Classifier model, TrainOptions options, Action<EpochRecord, bool>? onEpoch, Action<int, int>? onBatch, CancellationToken cancellation)
    {
        options.Validate();
        var sw = Stopwatch.StartNew();
        var module = model.Module;
        var optimizer = new AdamW(module.Parameters(), options.LearningRate, weightDecay: options.WeightDecay, amsgrad: options.AmsGrad);
        int n = model.Count("train");
        int perEpoch = (n + options.BatchSize - 1) / options.BatchSize;
        int total = perEpoch * options.Epochs;
        var schedule = options.Cosine ? new WarmupCosineSchedule(options.LearningRate, Math.Min(total, options.WarmupEpochs * perEpoch), total, options.LearningRate * 0.01f) : null;
        var loss = new SoftmaxCrossEntropy();
        var trainLabels = model.Labels("train");
        var history = new List<EpochRecord>();
        double bestAccuracy = double.NegativeInfinity;
        int bestEpoch = 0;
        Dictionary<string, Tensor>? best = null;
        string fingerprint = options.Fingerprint(model.Kind, n);

        int startEpoch = 1;
        if (options.CheckpointPath is string path && File.Exists(path))
        {
            var saved = Resumable(path, () => LayerCompiler.Runtime.IO.Checkpoint.Read(path));
            string? savedPrint = saved.Info.Custom.TryGetValue("fingerprint", out var f) ? f : null;
            if (savedPrint != fingerprint)
                throw new InvalidOperationException(
                    $"'{path}' is the checkpoint of a different run:\n  saved: {savedPrint ?? "(no settings recorded)"}\n  now:   {fingerprint}\n" +
                    "Use another --out directory, or delete that file to start this run from scratch.");
            var contents = Resumable(path, () => LayerCompiler.Runtime.IO.Checkpoint.Load(path, module, optimizer));
            var bestState = contents.ExtraWithPrefix(BestPrefix);
            best = bestState.Count > 0 ? bestState : null;
            history = Resumable(path, () => ReadHistory(contents));
            bestEpoch = contents.Info.BestEpoch ?? 0;
            bestAccuracy = contents.Info.BestMetric ?? double.NegativeInfinity;
            startEpoch = contents.Info.Epoch + 1;
        }

        for (int epoch = startEpoch; epoch <= options.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            var epochWatch = Stopwatch.StartNew();
            module.Train();
            var order = Rng.ForEpoch(options.Seed ^ 0x7EA1_7EA1UL, epoch, 1).Permutation(n);
            var augmentRng = Rng.ForEpoch(options.Seed ^ 0x7EA1_7EA1UL, epoch, 2);
            double lossSum = 0; long correct = 0;
            for (int b = 0; b < perEpoch; b++)
            {
                cancellation.ThrowIfCancellationRequested();
                int start = b * options.BatchSize, count = Math.Min(options.BatchSize, n - start);
                var idx = order.AsSpan(start, count).ToArray();
                var labels = idx.Select(i => trainLabels[i]).ToArray();
                schedule?.Apply(optimizer, optimizer.StepCount);
                var logits = model.ForwardTraining(idx, options.Augmentation, augmentRng);
                var (l, grad) = loss.Compute(logits, labels);
                if (!float.IsFinite(l)) throw new InvalidOperationException($"The training loss became {l} at epoch {epoch}, batch {b}; lower --lr.");
                lossSum += l * count;
                correct += CountCorrect(logits, labels);
                module.ZeroGrad();
                model.Backward(grad);
                optimizer.Step();
                onBatch?.Invoke(b + 1, perEpoch);
            }
            var val = Evaluate(model, "validation", 256);
            var record = new EpochRecord(epoch, lossSum / n, (double)correct / n, val.Loss, val.Accuracy, optimizer.LearningRate, epochWatch.Elapsed.TotalSeconds);
            history.Add(record);
            bool isBest = val.Accuracy > bestAccuracy;
            if (isBest)
            {
                bestAccuracy = val.Accuracy; bestEpoch = epoch;
                best = module.StateDict();
            }
            if (options.CheckpointPath is string checkpoint)
                SaveCheckpoint(checkpoint, module, optimizer, epoch, bestEpoch, bestAccuracy, best, history, fingerprint, options.Seed);
            onEpoch?.Invoke(record, isBest);
        }
        if (best != null) module.LoadStateDict(best);
        module.Eval();
        return new TrainOutcome(history, bestEpoch, sw.Elapsed.TotalSeconds, startEpoch - 1);
    }

    /// <summary>The per-epoch history saved with the checkpoint: one record per finished epoch.</summary>
    private static List<EpochRecord> ReadHistory(CheckpointContents contents)
    {
        if (!contents.Info.Custom.TryGetValue("history", out var json))
            throw new InvalidDataException("it has no training history (metadata 'user.history')");
        List<EpochRecord>? history;
        try { history = JsonSerializer.Deserialize<List<EpochRecord>>(json); }
        catch (JsonException e) { throw new InvalidDataException($"its training history (metadata 'user.history') is not valid JSON ({e.Message})", e); }
        if (history == null || history.Count != contents.Info.Epoch)
            throw new InvalidDataException($"its training history has {history?.Count ?? 0} epochs but the checkpoint is at epoch {contents.Info.Epoch}");
        return history;
    }

    /// <summary>Reads the training checkpoint; a damaged one (e.g. cut short by a full disk) fails saying what to do.</summary>
    private static T Resumable<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException)
        {
            throw new InvalidDataException($"Cannot resume from '{path}': {e.Message}. Delete it to start this run from scratch.", e);
        }
    }

    private static void SaveCheckpoint(string path, Module module, AdamW optimizer, int epoch, int bestEpoch, double bestAccuracy,
        Dictionary<string, Tensor>? best, List<EpochRecord> history, string fingerprint, ulong seed)
    {
        var extra = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (best != null) foreach (var (k, v) in best) extra[BestPrefix + k] = v;
        var info = new CheckpointInfo
        {
            Epoch = epoch, Step = optimizer.StepCount, BestEpoch = bestEpoch, BestMetric = double.IsFinite(bestAccuracy) ? bestAccuracy : null,
            Seed = seed, Config = fingerprint,
            Custom = new Dictionary<string, string>(StringComparer.Ordinal) { ["fingerprint"] = fingerprint, ["history"] = JsonSerializer.Serialize(history) },
        };
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        LayerCompiler.Runtime.IO.Checkpoint.Save(path, module, optimizer, info, extra);
    }

    private static int CountCorrect(Tensor logits, int[] labels)
    {
        var pred = Metrics.ArgMax(logits);
        int c = 0;
        for (int i = 0; i < labels.Length; i++) if (pred[i] == labels[i]) c++;
        return c;
    }

    /// <summary>Loss, accuracy and confusion matrix of the model (in eval mode) on a split.</summary>
    public static Evaluation Evaluate(Classifier model, string split, int batchSize)
    {
        var module = model.Module;
        bool wasTraining = module.IsTraining;
        module.Eval();
        var labels = model.Labels(split);
        int n = labels.Length, classes = 10;
        var confusion = new int[classes, classes];
        var loss = new SoftmaxCrossEntropy();
        double lossSum = 0; long correct = 0;
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            var idx = Enumerable.Range(start, count).ToArray();
            var batchLabels = labels.AsSpan(start, count).ToArray();
            var logits = model.Forward(split, idx);
            lossSum += loss.Compute(logits, batchLabels).Loss * count;
            var pred = Metrics.ArgMax(logits);
            for (int i = 0; i < count; i++)
            {
                confusion[batchLabels[i], pred[i]]++;
                if (pred[i] == batchLabels[i]) correct++;
            }
        }
        module.Train(wasTraining);
        return new Evaluation(split, lossSum / n, (double)correct / n, confusion, n);
    }
}
