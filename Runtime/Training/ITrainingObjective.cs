using System;
using LayerCompiler.Runtime.Losses;

namespace LayerCompiler.Runtime.Training;

/// <summary>What a batch is trained towards: class labels, or regression targets [batch, width].</summary>
public readonly record struct TrainingTargets(int[]? Labels, Tensor? Values)
{
    public int[] RequireLabels(string who) => Labels ?? throw new InvalidOperationException($"{who} needs class labels; the dataset gives regression targets.");
    public Tensor RequireValues(string who) => Values ?? throw new InvalidOperationException($"{who} needs regression targets; the dataset gives class labels.");
}

/// <summary>
/// The loss a <see cref="Trainer"/> minimizes: the mean loss of a batch and its gradient with respect to the model's
/// outputs. New tasks (a through-the-input-network reconstruction loss, InfoNCE) implement this; the loop does not change.
/// </summary>
public interface ITrainingObjective
{
    /// <summary>A short name for logs and checkpoints (part of the run's fingerprint).</summary>
    string Name { get; }
    (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets);
}

/// <summary>Softmax cross-entropy on class logits (optionally label-smoothed).</summary>
public sealed class ClassificationObjective(float labelSmoothing = 0f) : ITrainingObjective
{
    private readonly SoftmaxCrossEntropy _loss = new(labelSmoothing);
    public float LabelSmoothing { get; } = labelSmoothing;
    public string Name => LabelSmoothing == 0 ? "cross_entropy" : FormattableString.Invariant($"cross_entropy(smoothing={LabelSmoothing:R})");
    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets) => _loss.Compute(outputs, targets.RequireLabels(Name));
}

/// <summary>Mean squared error between outputs and regression targets.</summary>
public sealed class RegressionObjective : ITrainingObjective
{
    private readonly MeanSquaredError _loss = new();
    public string Name => "mse";
    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets) => _loss.Compute(outputs, targets.RequireValues(Name));
}

/// <summary>
/// Self-supervised contrastive training (SimCLR): the model's output row i holds the embeddings of two views of
/// network i side by side, and the loss is <see cref="InfoNce"/> at <paramref name="temperature"/>; the batch's
/// targets are not used.
/// </summary>
public sealed class ContrastiveObjective(float temperature) : ITrainingObjective
{
    private readonly InfoNce _loss = new(temperature);
    public float Temperature => _loss.Temperature;
    public string Name => FormattableString.Invariant($"info_nce(t={Temperature:R})");
    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets) => _loss.Compute(outputs);
}
