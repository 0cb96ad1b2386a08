using System;

namespace LayerCompiler.Runtime.Losses;

/// <summary>
/// Binary cross-entropy on logits, averaged over all elements (PyTorch: F.binary_cross_entropy_with_logits,
/// reduction='mean'). Targets are probabilities in [0, 1] with the logits' shape.
/// </summary>
/// <remarks>
/// Uses the stable form loss = max(z, 0) − z·y + log(1 + e^(−|z|)); the gradient is (σ(z) − y)/N.
/// The returned gradient tensor is a buffer owned by this object, overwritten by the next call.
/// </remarks>
public sealed class BinaryCrossEntropyWithLogits
{
    private Tensor? _grad;

    public (float Loss, Tensor GradLogits) Compute(Tensor logits, Tensor targets)
    {
        LossChecks.SameShape(logits, targets, nameof(BinaryCrossEntropyWithLogits), "logits", "targets");
        var grad = LossChecks.Reuse(ref _grad, logits.Shape);
        float[] z = logits.Data, y = targets.Data, g = grad.Data;
        double invN = 1.0 / z.Length, total = 0;
        for (int i = 0; i < z.Length; i++)
        {
            double zi = z[i], yi = y[i];
            double e = Math.Exp(-Math.Abs(zi));
            total += Math.Max(zi, 0) - zi * yi + Math.Log(1 + e);   // 0 < e ≤ 1: absolute error ~1e-16, ample for a float32 loss
            double sigmoid = zi >= 0 ? 1 / (1 + e) : e / (1 + e);
            g[i] = (float)((sigmoid - yi) * invN);
        }
        return ((float)(total * invN), grad);
    }
}
