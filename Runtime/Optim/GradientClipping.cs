using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace LayerCompiler.Runtime.Optim;

public static class GradientClipping
{
    /// <summary>
    /// Scales all gradients together so that their global L2 norm is at most <paramref name="maxNorm"/>
    /// (torch.nn.utils.clip_grad_norm_): coef = maxNorm / (norm + 1e-6), applied when coef &lt; 1 (and when it is
    /// NaN, so a NaN norm spreads to the gradients as in PyTorch). The norm is accumulated in float64 over
    /// all elements in order (PyTorch uses float32 per-tensor norms). Returns the norm before clipping.
    /// </summary>
    /// <param name="errorIfNonFinite">Throw instead of scaling when the norm is NaN or infinite.</param>
    public static float ClipGradNorm(IEnumerable<Parameter> parameters, float maxNorm, bool errorIfNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (float.IsNaN(maxNorm) || maxNorm < 0) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "ClipGradNorm: maxNorm must be >= 0.");
        var list = parameters as IReadOnlyList<Parameter> ?? parameters.ToList();
        double sumSq = 0;
        foreach (var p in list)
        {
            float[] g = p.Grad.Data;
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int i = 0;
            for (; i + 4 <= g.Length; i += 4)
            {
                double x0 = g[i], x1 = g[i + 1], x2 = g[i + 2], x3 = g[i + 3];
                a0 += x0 * x0; a1 += x1 * x1; a2 += x2 * x2; a3 += x3 * x3;
            }
            for (; i < g.Length; i++) { double x = g[i]; a0 += x * x; }
            sumSq += (a0 + a1) + (a2 + a3);
        }
        double norm = Math.Sqrt(sumSq);
        if (errorIfNonFinite && !double.IsFinite(norm))
            throw new InvalidOperationException($"The total norm of the gradients is {norm.ToString(CultureInfo.InvariantCulture)}, so they cannot be clipped; lower the learning rate or check the loss for NaN/Infinity.");
        double coef = maxNorm / (norm + 1e-6);
        if (!(coef >= 1))
        {
            float c = (float)coef;
            foreach (var p in list)
            {
                float[] g = p.Grad.Data;
                for (int i = 0; i < g.Length; i++) g[i] *= c;
            }
        }
        return (float)norm;
    }
}
