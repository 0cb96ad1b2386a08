using System;
using System.Collections.Generic;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// An ensemble of classifiers by the mean of their predicted class probabilities: each member's logits go through a
/// softmax (in float64, max-subtracted), the probabilities are averaged over the members, and the ensemble predicts the
/// class of the largest mean probability (the lowest class index on a tie, like <c>Metrics.ArgMax</c>).
/// </summary>
public static class Ensemble
{
    /// <summary>
    /// Mean softmax probabilities, [rows · classes] row-major, of <paramref name="memberLogits"/> (each [rows · classes]
    /// row-major logits of one member over the same rows in the same order).
    /// </summary>
    public static double[] MeanProbabilities(IReadOnlyList<float[]> memberLogits, int classes)
    {
        ArgumentNullException.ThrowIfNull(memberLogits);
        if (memberLogits.Count == 0) throw new ArgumentException("An ensemble needs at least one member.", nameof(memberLogits));
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "The class count must be positive.");
        int length = memberLogits[0]?.Length ?? throw new ArgumentNullException(nameof(memberLogits), "Member 0 has no logits.");
        if (length % classes != 0)
            throw new ArgumentException($"Member 0 has {length} logits, not a multiple of {classes} classes.", nameof(memberLogits));
        var mean = new double[length];
        for (int m = 0; m < memberLogits.Count; m++)
        {
            var logits = memberLogits[m] ?? throw new ArgumentNullException(nameof(memberLogits), $"Member {m} has no logits.");
            if (logits.Length != length)
                throw new ArgumentException($"Member {m} has {logits.Length} logits, member 0 has {length}: the members must score the same rows.", nameof(memberLogits));
            for (int row = 0; row < length; row += classes)
            {
                double max = double.NegativeInfinity;
                for (int c = 0; c < classes; c++)
                {
                    float v = logits[row + c];
                    if (!float.IsFinite(v)) throw new ArgumentException($"Member {m} has a non-finite logit ({v}) in row {row / classes}.", nameof(memberLogits));
                    max = Math.Max(max, v);
                }
                double sum = 0;
                for (int c = 0; c < classes; c++) sum += Math.Exp(logits[row + c] - max);
                for (int c = 0; c < classes; c++) mean[row + c] += Math.Exp(logits[row + c] - max) / sum;
            }
        }
        for (int i = 0; i < length; i++) mean[i] /= memberLogits.Count;
        return mean;
    }

    /// <summary>The predicted class of each row of [rows · classes] scores (the lowest index among equal maxima).</summary>
    public static int[] Predict(double[] scores, int classes)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (classes <= 0 || scores.Length % classes != 0)
            throw new ArgumentException($"{scores.Length} scores are not rows of {classes} classes.", nameof(scores));
        var predicted = new int[scores.Length / classes];
        for (int r = 0; r < predicted.Length; r++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
            predicted[r] = best;
        }
        return predicted;
    }

    /// <summary>The fraction of <paramref name="predicted"/> equal to <paramref name="labels"/>.</summary>
    public static double Accuracy(IReadOnlyList<int> predicted, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(predicted); ArgumentNullException.ThrowIfNull(labels);
        if (predicted.Count != labels.Count || labels.Count == 0)
            throw new ArgumentException($"{predicted.Count} predictions for {labels.Count} labels: need as many, and at least one.");
        int correct = 0;
        for (int i = 0; i < labels.Count; i++) if (predicted[i] == labels[i]) correct++;
        return (double)correct / labels.Count;
    }
}
