using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.IO;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Zoo;

namespace WeightTasks.InrClassification;

internal sealed record TrainOptions(int Epochs, int BatchSize, float LearningRate, double WeightDecay, bool AmsGrad, ulong Seed, bool Cosine, int WarmupEpochs = 1)
{
    /// <summary>Applied to every training batch's raw weights (never to validation or test), before normalization.</summary>
    public IWeightAugmentation? Augmentation { get; init; }
    /// <summary>Name of the augmentation setting (for reports and checkpoints).</summary>
    public string AugmentationName { get; init; } = "none";
    /// <summary>Written atomically after every epoch; a run started with the same settings resumes from it.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>Warmup steps (<c>--warmup</c>); null for the default (<see cref="WarmupEpochs"/> with the cosine schedule, none without).</summary>
    public int? WarmupSteps { get; init; }
    /// <summary>Clip the global gradient norm to this before each step (<c>--clip</c>); null for no clipping.</summary>
    public float? ClipGradNorm { get; init; }

    /// <summary>
    /// Salt of the order and augmentation streams: the model's initialization draws from <see cref="Seed"/> itself, and
    /// the data streams must not repeat its draws.
    /// </summary>
    private const ulong DataStreamSalt = 0x7EA1_7EA1UL;

    /// <summary>
    /// The runtime trainer's settings for a model of <paramref name="kind"/> on <paramref name="trainCount"/> INRs:
    /// AdamW (amsgrad as set), constant rate or <see cref="WarmupEpochs"/> of warmup then cosine to 1 % of the rate,
    /// selection on validation accuracy (evaluated in batches of 256), an atomic checkpoint after every epoch.
    /// </summary>
    public TrainerOptions ToTrainerOptions(string kind, int trainCount) => new()
    {
        Task = TrainingTask.Classification, Epochs = Epochs, BatchSize = BatchSize, EvalBatchSize = 256,
        LearningRate = LearningRate, WeightDecay = WeightDecay, AmsGrad = AmsGrad,
        Cosine = Cosine, WarmupSteps = WarmupSteps ?? (Cosine ? WarmupEpochs * ((trainCount + BatchSize - 1) / BatchSize) : 0), ClipGradNorm = ClipGradNorm, MinLearningRate = Cosine ? LearningRate * 0.01f : 0f,
        Seed = Seed ^ DataStreamSalt, Augmentation = Augmentation, Normalization = InputNormalization.None,
        Selection = SelectionMetric.ValidationMetric, RestoreBest = true, CheckpointPath = CheckpointPath, Tag = $"model={kind}",
    };

    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}.");
        if (BatchSize <= 0) throw new ArgumentException($"--batch must be positive, got {BatchSize}.");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"--lr must be positive, got {LearningRate}.");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentException($"--wd must be finite and >= 0, got {WeightDecay}.");
        if (WarmupSteps is < 0) throw new ArgumentException($"--warmup must be >= 0 steps, got {WarmupSteps}.");
        if (ClipGradNorm is float clip && !(clip > 0 && float.IsFinite(clip))) throw new ArgumentException($"--clip must be a positive, finite gradient norm, got {clip}.");
    }
}

internal sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double LearningRate, double Seconds);

internal sealed record Evaluation(string Split, double Loss, double Accuracy, int[,] Confusion, int Count);

internal sealed record TrainOutcome(IReadOnlyList<EpochRecord> History, int BestEpoch, double Seconds, int ResumedFromEpoch = 0);

/// <summary>Trains a <see cref="Classifier"/> with the runtime's <see cref="Trainer"/> and evaluates it with a confusion matrix.</summary>
internal static class ClassifierTraining
{
    /// <summary>
    /// Trains on "train", selects the epoch with the best "validation" accuracy and leaves the model at that epoch's weights
    /// (in eval mode). With a checkpoint from an interrupted run of the same settings, continues it; from a finished one,
    /// only loads the best epoch. <paramref name="onEpoch"/> gets every epoch trained by this call and whether it is the
    /// best so far; <paramref name="onProgress"/> gets the trainer's reports (rate, ETA).
    /// </summary>
    public static TrainOutcome Train(Classifier model, TrainOptions options, ZooSplit train, ZooSplit validation, Action<EpochRecord, bool, TrainingProgress>? onEpoch,
        CancellationToken cancellation)
    {
        options.Validate();
        var sw = Stopwatch.StartNew();
        var trainerOptions = options.ToTrainerOptions(model.Kind, train.Count);
        // With --device cuda|auto and a GPU: the whole model on the device when every module has a kernel, else its layers only.
        using var onDevice = model.DeviceExecutor(trainerOptions, out string? notOnDevice);
        if (onDevice != null) Ui.Info("  training: the whole model on the device (layers, norm, pooling, head, loss and AdamW as ILGPU kernels)");
        else if (notOnDevice != null) Ui.Info($"  training: equivariant layers on the device, the rest on the CPU ({notOnDevice})");
        var trainer = new Trainer(onDevice ?? (IStepExecutor)model.Executor(trainerOptions), trainerOptions);
        int trainedNow = 0;
        var progress = new Progress(p =>
        {
            if (p.Kind != ProgressKind.EpochEnd || p.Metrics is not { } m) return;
            trainedNow++;
            onEpoch?.Invoke(Record(m), m.IsBest, p);
        });
        var trainSet = Classifier.Dataset(train);
        var validationSet = Classifier.Dataset(validation);
        TrainingHistory history;
        if (options.CheckpointPath is string path && File.Exists(path))
        {
            try { history = trainer.Resume(path, trainSet, validationSet, progress, cancellation); }
            catch (CheckpointMismatchException e)
            {
                throw new InvalidOperationException(e.Message + "\nUse another --out directory, or delete that file to start this run from scratch.", e);
            }
        }
        else history = trainer.Fit(trainSet, validationSet, progress, cancellation);
        onDevice?.SyncToModel();
        model.Module.Eval();
        return new TrainOutcome(history.Epochs.Select(Record).ToList(), history.BestEpoch ?? 0, sw.Elapsed.TotalSeconds, history.Epochs.Count - trainedNow);
    }

    private static EpochRecord Record(EpochMetrics m) =>
        new(m.Epoch, m.TrainLoss, m.TrainMetric ?? double.NaN, m.ValidationLoss ?? double.NaN, m.ValidationMetric ?? double.NaN, m.LearningRate, m.Seconds);

    /// <summary>Reports synchronously, on the training thread (System.Progress would post them to the thread pool, out of order).</summary>
    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    /// <summary>Loss, accuracy and confusion matrix of the model (in eval mode) on a split, in batches of <paramref name="batchSize"/>.</summary>
    public static Evaluation Evaluate(Classifier model, ZooSplit split, int batchSize)
    {
        var labels = RequireLabels(split);
        int n = labels.Length, classes = 10;
        var confusion = new int[classes, classes];
        var loss = new SoftmaxCrossEntropy();
        double lossSum = 0; long correct = 0;
        Score(model, split, batchSize, (start, count, logits) =>
        {
            var batchLabels = labels.AsSpan(start, count).ToArray();
            lossSum += loss.Compute(logits, batchLabels).Loss * count;
            var pred = Metrics.ArgMax(logits);
            for (int i = 0; i < count; i++)
            {
                confusion[batchLabels[i], pred[i]]++;
                if (pred[i] == batchLabels[i]) correct++;
            }
        });
        return new Evaluation(split.Name, lossSum / n, (double)correct / n, confusion, n);
    }

    /// <summary>The model's logits (in eval mode) for every INR of a split, [count · 10] row-major, in the split's order.</summary>
    public static float[] Logits(Classifier model, ZooSplit split, int batchSize)
    {
        const int classes = 10;
        var all = new float[RequireLabels(split).Length * classes];
        Score(model, split, batchSize, (start, count, logits) => Array.Copy(logits.Data, 0, all, start * classes, count * classes));
        return all;
    }

    private static int[] RequireLabels(ZooSplit split) =>
        split.Labels ?? throw new ArgumentException($"Split '{split.Name}' has no class labels; this classifier needs a labelled (image) zoo.");

    /// <summary>
    /// Runs the model in eval mode over a split in batches of <paramref name="batchSize"/> (the whole model on the device when
    /// it can), handing each batch's logits [count, 10] to <paramref name="onBatch"/> with the batch's first row; restores the
    /// model's training mode.
    /// </summary>
    private static void Score(Classifier model, ZooSplit split, int batchSize, Action<int, int, Tensor> onBatch)
    {
        var module = model.Module;
        bool wasTraining = module.IsTraining;
        module.Eval();
        int n = RequireLabels(split).Length;
        var data = Classifier.Dataset(split);
        var buffers = new Dictionary<int, WeightSpaceBatch>();
        using var onDevice = model.DeviceExecutor(new TrainerOptions(), out _);   // forward of the whole model on the device when it can
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            var idx = Enumerable.Range(start, count).ToArray();
            if (!buffers.TryGetValue(count, out var x)) buffers[count] = x = new WeightSpaceBatch(data.Space, count, 1);
            data.Fill(idx, x);
            onBatch(start, count, onDevice != null ? onDevice.Forward(x) : model.Forward(x));
        }
        module.Train(wasTraining);
    }
}

