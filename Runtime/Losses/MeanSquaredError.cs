
namespace LayerCompiler.Runtime.Losses;

/// <summary>
/// Mean squared error over all elements (PyTorch: F.mse_loss, reduction='mean'):
/// loss = mean((prediction − target)²), dloss/dprediction = 2(prediction − target)/N.
/// The returned gradient tensor is a buffer owned by this object, overwritten by the next call.
/// </summary>
public sealed class MeanSquaredError
{
    private Tensor? _grad;

    public (float Loss, Tensor GradLogits) Compute(Tensor prediction, Tensor target)
    {
        LossChecks.SameShape(prediction, target, nameof(MeanSquaredError), "prediction", "target");
        var grad = LossChecks.Reuse(ref _grad, prediction.Shape);
        float[] p = prediction.Data, t = target.Data, g = grad.Data;
        double invN = 1.0 / p.Length, total = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double d = (double)p[i] - t[i];
            total += d * d;
            g[i] = (float)(2.0 * d * invN);
        }
        return ((float)(total * invN), grad);
    }
}
