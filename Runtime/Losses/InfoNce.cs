using System;

namespace LayerCompiler.Runtime.Losses;

/// <summary>
/// The InfoNCE (NT-Xent) loss of SimCLR over pairs of views: row i of the input <c>[n, 2d]</c> holds the embeddings
/// of two views of item i side by side (columns 0..d-1 and d..2d-1). The 2n embeddings are L2-normalized,
/// s_jk = u_j·u_k / τ, and every embedding's positive is the other view of its item, its negatives the other 2n − 2:
/// loss = mean over the 2n embeddings of −s_{j,p(j)} + log Σ_{k≠j} exp(s_jk).
/// </summary>
/// <remarks>
/// Gradient: with G_jk = (softmax_k≠j(s_j·) − [k = p(j)]) / 2n, dL/du_j = (1/τ) Σ_k (G_jk + G_kj) u_k and
/// dL/dz_j = (I − u_j u_jᵀ) dL/du_j / ‖z_j‖. Everything runs in float64; a norm below 1e-12 is taken as 1e-12
/// (PyTorch's F.normalize). The returned gradient tensor is a buffer owned by this object, overwritten by the next call.
/// </remarks>
public sealed class InfoNce
{
    private const double MinNorm = 1e-12;
    private Tensor? _grad;

    public InfoNce(float temperature)
    {
        if (!(temperature > 0) || !float.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive and finite.");
        Temperature = temperature;
    }

    public float Temperature { get; }

    public (float Loss, Tensor GradPairs) Compute(Tensor pairs)
    {
        LossChecks.Check2D(pairs, nameof(InfoNce), "pairs");
        int n = pairs.Shape[0], width = pairs.Shape[1];
        if (width == 0 || width % 2 != 0) throw new ArgumentException($"{nameof(InfoNce)}: each row must hold two embeddings of equal width side by side; got width {width}.");
        if (n < 2) throw new ArgumentException($"{nameof(InfoNce)}: needs at least 2 items per batch (one positive and at least two negatives per view); got {n}.");
        int d = width / 2, m = 2 * n;
        float[] x = pairs.Data;
        // Embedding j < n is view 1 of item j; j ≥ n is view 2 of item j − n.
        int Offset(int j) => j < n ? j * width : (j - n) * width + d;
        var u = new double[m * d];
        var norm = new double[m];
        for (int j = 0; j < m; j++)
        {
            int o = Offset(j);
            double s = 0;
            for (int k = 0; k < d; k++) s += (double)x[o + k] * x[o + k];
            norm[j] = Math.Max(Math.Sqrt(s), MinNorm);
            for (int k = 0; k < d; k++) u[j * d + k] = x[o + k] / norm[j];
        }
        double invT = 1.0 / Temperature;
        var g = new double[m * m];   // G_jk
        double total = 0;
        var row = new double[m];
        for (int j = 0; j < m; j++)
        {
            int positive = j < n ? j + n : j - n;
            double max = double.NegativeInfinity;
            for (int k = 0; k < m; k++)
            {
                if (k == j) continue;
                double s = 0;
                for (int c = 0; c < d; c++) s += u[j * d + c] * u[k * d + c];
                row[k] = s * invT;
                if (row[k] > max) max = row[k];
            }
            double sum = 0;
            for (int k = 0; k < m; k++) if (k != j) sum += Math.Exp(row[k] - max);
            double logSum = max + Math.Log(sum);
            total += logSum - row[positive];
            for (int k = 0; k < m; k++)
                g[j * m + k] = k == j ? 0 : (Math.Exp(row[k] - logSum) - (k == positive ? 1 : 0)) / m;
        }
        var grad = LossChecks.Reuse(ref _grad, pairs.Shape);
        var du = new double[d];
        for (int j = 0; j < m; j++)
        {
            Array.Clear(du);
            for (int k = 0; k < m; k++)
            {
                double w = (g[j * m + k] + g[k * m + j]) * invT;
                if (w == 0) continue;
                for (int c = 0; c < d; c++) du[c] += w * u[k * d + c];
            }
            double dot = 0;
            for (int c = 0; c < d; c++) dot += du[c] * u[j * d + c];
            int o = Offset(j);
            for (int c = 0; c < d; c++) grad.Data[o + c] = (float)((du[c] - dot * u[j * d + c]) / norm[j]);
        }
        return ((float)(total / m), grad);
    }
}
