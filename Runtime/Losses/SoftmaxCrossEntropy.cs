using System;

namespace LayerCompiler.Runtime.Losses;

/// <summary>
/// Softmax cross-entropy on logits <c>[batch, classes]</c> with integer labels, averaged over the batch
/// (PyTorch: F.cross_entropy(logits, labels, label_smoothing=ε), reduction='mean').
/// </summary>
/// <remarks>
/// With label smoothing ε the target is (1−ε)·onehot + ε/C, so
/// loss = −Σ_c target_c · log softmax(z)_c and dloss/dz = (softmax(z) − target)/batch.
/// Log-sum-exp is taken around the row maximum in float64, so large logits do not overflow.
/// The returned gradient tensor is a buffer owned by this object, overwritten by the next call.
/// </remarks>
public sealed class SoftmaxCrossEntropy
{
    public float LabelSmoothing { get; }
    private Tensor? _grad;

    public SoftmaxCrossEntropy(float labelSmoothing = 0f)
    {
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1].");
        LabelSmoothing = labelSmoothing;
    }

    public (float Loss, Tensor GradLogits) Compute(Tensor logits, int[] labels)
    {
        LossChecks.Check2D(logits, nameof(SoftmaxCrossEntropy), "logits");
        ArgumentNullException.ThrowIfNull(labels);
        int batch = logits.Shape[0], classes = logits.Shape[1];
        if (labels.Length != batch)
            throw new ArgumentException($"SoftmaxCrossEntropy: {labels.Length} labels for a batch of {batch} rows.", nameof(labels));
        if (batch == 0) throw new ArgumentException("SoftmaxCrossEntropy: the batch is empty (the mean over zero rows is undefined).", nameof(logits));
        for (int b = 0; b < batch; b++)
            if ((uint)labels[b] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), $"SoftmaxCrossEntropy: label {labels[b]} at row {b} is outside [0, {classes}).");

        var grad = LossChecks.Reuse(ref _grad, logits.Shape);
        float[] z = logits.Data, g = grad.Data;
        double eps = LabelSmoothing, offTarget = eps / classes, onTarget = 1.0 - eps + offTarget, invBatch = 1.0 / batch;
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            int o = b * classes;
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, z[o + c]);
            double sumExp = 0, sumZ = 0;
            for (int c = 0; c < classes; c++) { sumExp += Math.Exp(z[o + c] - max); sumZ += z[o + c]; }
            double logZ = max + Math.Log(sumExp);
            // −Σ target_c (z_c − logZ) = logZ − (1−ε) z_y − (ε/C) Σ z_c
            total += logZ - (1.0 - eps) * z[o + labels[b]] - offTarget * sumZ;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(z[o + c] - logZ);
                double target = c == labels[b] ? onTarget : offTarget;
                g[o + c] = (float)((p - target) * invBatch);
            }
        }
        return ((float)(total * invBatch), grad);
    }
}

internal static class LossChecks
{
    public static void Check2D(Tensor t, string loss, string what)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank != 2) throw new ArgumentException($"{loss}: {what} must be 2-D [batch, classes], got shape [{string.Join(", ", t.Shape)}].");
    }

    public static void SameShape(Tensor a, Tensor b, string loss, string aName, string bName)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.SameShape(b))
            throw new ArgumentException($"{loss}: {aName} shape [{string.Join(", ", a.Shape)}] differs from {bName} shape [{string.Join(", ", b.Shape)}].");
        if (a.Length == 0) throw new ArgumentException($"{loss}: the input is empty (the mean over zero elements is undefined).");
    }

    public static Tensor Reuse(ref Tensor? buffer, int[] shape)
    {
        if (buffer is null || !buffer.Shape.AsSpan().SequenceEqual(shape)) buffer = new Tensor(shape);
        return buffer;
    }
}
