using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;

namespace InrClassifier.Training;

internal sealed record TrainOptions(int Epochs, int BatchSize, float LearningRate, double WeightDecay, bool AmsGrad, ulong Seed, bool Cosine, int WarmupEpochs = 1)
{
    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}.");
        if (BatchSize <= 0) throw new ArgumentException($"--batch must be positive, got {BatchSize}.");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException($"--lr must be positive, got {LearningRate}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"--wd must be >= 0, got {WeightDecay}.");
    }
}

internal sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double LearningRate, double Seconds);

internal sealed record Evaluation(string Split, double Loss, double Accuracy, int[,] Confusion, int Count);

internal sealed record TrainOutcome(IReadOnlyList<EpochRecord> History, int BestEpoch, double Seconds);

/// <summary>
/// The training loop the sample needs. Kept behind this interface so the runtime's shared Trainer (with
/// checkpointing and augmentation) can replace it without touching the commands.
/// </summary>
internal interface ITrainingLoop
{
    /// <summary>Trains on "train", selects the epoch with the best "validation" accuracy and leaves the model at that epoch's weights.</summary>
    TrainOutcome Train(Classifier model, TrainOptions options, Action<EpochRecord>? onEpoch, Action<int, int>? onBatch, CancellationToken cancellation);
}

/// <summary>Shuffled mini-batches, softmax cross-entropy, AdamW (optionally AMSGrad), constant or warmup-cosine LR.</summary>
internal sealed class MinimalTrainingLoop : ITrainingLoop
{
    public TrainOutcome Train(Classifier model, TrainOptions options, Action<EpochRecord>? onEpoch, Action<int, int>? onBatch, CancellationToken cancellation)
    {
        options.Validate();
        var sw = Stopwatch.StartNew();
        var rng = new Rng(options.Seed ^ 0x7EA1_7EA1UL);
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

        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            var epochWatch = Stopwatch.StartNew();
            module.Train();
            var order = rng.Permutation(n);
            double lossSum = 0; long correct = 0;
            for (int b = 0; b < perEpoch; b++)
            {
                cancellation.ThrowIfCancellationRequested();
                int start = b * options.BatchSize, count = Math.Min(options.BatchSize, n - start);
                var idx = order.AsSpan(start, count).ToArray();
                var labels = idx.Select(i => trainLabels[i]).ToArray();
                schedule?.Apply(optimizer, optimizer.StepCount);
                var logits = model.Forward("train", idx);
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
            if (val.Accuracy > bestAccuracy)
            {
                bestAccuracy = val.Accuracy; bestEpoch = epoch;
                best = module.StateDict();
            }
            onEpoch?.Invoke(record);
        }
        if (best != null) module.LoadStateDict(best);
        module.Eval();
        return new TrainOutcome(history, bestEpoch, sw.Elapsed.TotalSeconds);
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
