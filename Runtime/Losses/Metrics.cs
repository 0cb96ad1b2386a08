using System;

namespace LayerCompiler.Runtime.Losses;

/// <summary>Classification metrics on logits <c>[batch, classes]</c>. The prediction is the first arg-max of each row.</summary>
public static class Metrics
{
    /// <summary>Index of the largest value in each row (the first one on ties; NaN never wins over a number).</summary>
    public static int[] ArgMax(Tensor logits)
    {
        LossChecks.Check2D(logits, nameof(Metrics), "logits");
        int batch = logits.Shape[0], classes = logits.Shape[1];
        if (classes == 0) throw new ArgumentException("Metrics: logits have zero classes.", nameof(logits));
        var result = new int[batch];
        float[] z = logits.Data;
        for (int b = 0; b < batch; b++)
        {
            int o = b * classes, best = 0;
            for (int c = 1; c < classes; c++)
                if (z[o + c] > z[o + best] || float.IsNaN(z[o + best]) && !float.IsNaN(z[o + c])) best = c;
            result[b] = best;
        }
        return result;
    }

    /// <summary>Fraction of rows whose arg-max equals the label (0 for an empty batch).</summary>
    public static float Accuracy(Tensor logits, int[] labels)
    {
        var pred = ArgMax(logits);
        CheckLabels(labels, pred.Length);
        if (pred.Length == 0) return 0f;
        int correct = 0;
        for (int i = 0; i < pred.Length; i++) if (pred[i] == labels[i]) correct++;
        return (float)((double)correct / pred.Length);
    }

    /// <summary>
    /// <c>m[trueLabel, predictedLabel]</c> counts (rows are true classes, columns predictions, as in
    /// scikit-learn's confusion_matrix).
    /// </summary>
    public static int[,] ConfusionMatrix(Tensor logits, int[] labels, int classes)
    {
        var pred = ArgMax(logits);
        CheckLabels(labels, pred.Length);
        if (logits.Shape[1] != classes)
            throw new ArgumentException($"Metrics.ConfusionMatrix: logits have {logits.Shape[1]} classes, {classes} were asked for.", nameof(classes));
        var m = new int[classes, classes];
        for (int i = 0; i < pred.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), $"Metrics.ConfusionMatrix: label {labels[i]} at row {i} is outside [0, {classes}).");
            m[labels[i], pred[i]]++;
        }
        return m;
    }

    private static void CheckLabels(int[] labels, int batch)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != batch) throw new ArgumentException($"Metrics: {labels.Length} labels for a batch of {batch} rows.", nameof(labels));
    }
}
