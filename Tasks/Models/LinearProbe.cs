using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Runtime;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// Linear regression in closed form (ridge least squares), the read-out that evaluates embeddings: features are standardized
/// with the training rows' mean and std, an intercept is added (not penalized), and (XᵀX + λI) W = XᵀY is solved by a Cholesky
/// factorization in float64. λ = 0 is ordinary least squares (a tiny 1e-10·trace jitter keeps a rank-deficient system solvable).
/// </summary>
public sealed class LinearProbe
{
    private readonly double[] _mean, _std, _weights; // weights [(F + 1), K]: intercept row first
    public int Features { get; }
    public int Targets { get; }
    public double Lambda { get; }

    private LinearProbe(double[] mean, double[] std, double[] weights, int features, int targets, double lambda)
    {
        _mean = mean; _std = std; _weights = weights; Features = features; Targets = targets; Lambda = lambda;
    }

    /// <summary>Fits [N, F] features to [N, K] targets with ridge penalty <paramref name="lambda"/> (on standardized features).</summary>
    public static LinearProbe Fit(Tensor features, Tensor targets, double lambda = 0)
    {
        ArgumentNullException.ThrowIfNull(features); ArgumentNullException.ThrowIfNull(targets);
        if (features.Rank != 2 || targets.Rank != 2 || features.Shape[0] != targets.Shape[0] || features.Shape[0] == 0)
            throw new ArgumentException($"Expected [N > 0, F] features and [N, K] targets, got [{string.Join(", ", features.Shape)}] and [{string.Join(", ", targets.Shape)}].");
        if (!(lambda >= 0) || !double.IsFinite(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "The ridge penalty must be finite and >= 0.");
        int n = features.Shape[0], f = features.Shape[1], k = targets.Shape[1], p = f + 1;
        var mean = new double[f]; var std = new double[f];
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) mean[j] += features.Data[i * f + j];
        for (int j = 0; j < f; j++) mean[j] /= n;
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) { double d = features.Data[i * f + j] - mean[j]; std[j] += d * d; }
        for (int j = 0; j < f; j++) { std[j] = Math.Sqrt(std[j] / n); if (!(std[j] > 1e-12)) std[j] = 1; }

        var a = new double[p * p];
        var b = new double[p * k];
        var row = new double[p];
        for (int i = 0; i < n; i++)
        {
            row[0] = 1;
            for (int j = 0; j < f; j++) row[j + 1] = (features.Data[i * f + j] - mean[j]) / std[j];
            for (int r = 0; r < p; r++)
            {
                double v = row[r];
                if (v == 0) continue;
                for (int c = r; c < p; c++) a[r * p + c] += v * row[c];
                for (int c = 0; c < k; c++) b[r * k + c] += v * targets.Data[i * k + c];
            }
        }
        double trace = 0;
        for (int r = 0; r < p; r++) { for (int c = 0; c < r; c++) a[r * p + c] = a[c * p + r]; trace += a[r * p + r]; }
        double jitter = 1e-10 * trace / p;
        for (int r = 0; r < p; r++) a[r * p + r] += jitter + (r > 0 ? lambda : 0);
        Cholesky.SolveInPlace(a, b, p, k);
        return new LinearProbe(mean, std, b, f, k, lambda);
    }

    /// <summary>Predictions [N, K].</summary>
    public Tensor Predict(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Rank != 2 || features.Shape[1] != Features) throw new ArgumentException($"Expected [N, {Features}] features, got [{string.Join(", ", features.Shape)}].");
        int n = features.Shape[0], f = Features, k = Targets;
        var result = new Tensor(n, k);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < k; c++)
            {
                double s = _weights[c];
                for (int j = 0; j < f; j++) s += (features.Data[i * f + j] - _mean[j]) / _std[j] * _weights[(j + 1) * k + c];
                result.Data[i * k + c] = (float)s;
            }
        return result;
    }

    /// <summary>Mean squared error per target column, and their mean.</summary>
    public (double[] PerTarget, double Mean) Mse(Tensor features, Tensor targets)
    {
        var p = Predict(features);
        if (!p.SameShape(targets)) throw new ArgumentException($"Targets [{string.Join(", ", targets.Shape)}] do not match predictions [{string.Join(", ", p.Shape)}].");
        int n = p.Shape[0], k = Targets;
        var per = new double[k];
        for (int i = 0; i < n; i++) for (int c = 0; c < k; c++) { double d = (double)p.Data[i * k + c] - targets.Data[i * k + c]; per[c] += d * d; }
        for (int c = 0; c < k; c++) per[c] /= n;
        return (per, per.Average());
    }

    /// <summary>The penalty of <paramref name="grid"/> with the lowest validation MSE (the first on ties), fitted on the training rows.</summary>
    public static LinearProbe FitSelected(Tensor trainFeatures, Tensor trainTargets, Tensor validationFeatures, Tensor validationTargets, IReadOnlyList<double> grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        if (grid.Count == 0) throw new ArgumentException("The penalty grid is empty.", nameof(grid));
        LinearProbe? best = null; double bestMse = double.PositiveInfinity;
        foreach (double lambda in grid)
        {
            var probe = Fit(trainFeatures, trainTargets, lambda);
            double mse = probe.Mse(validationFeatures, validationTargets).Mean;
            if (mse < bestMse || best is null) { best = probe; bestMse = mse; }
        }
        return best!;
    }

    /// <summary>The default penalty grid (on standardized features).</summary>
    public static IReadOnlyList<double> DefaultGrid { get; } = new[] { 0.0, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000 };
}

/// <summary>Cholesky solve of a symmetric positive-definite system, row-major, in place.</summary>
internal static class Cholesky
{
    /// <summary>Overwrites <paramref name="b"/> [p, k] with A⁻¹B; <paramref name="a"/> [p, p] is destroyed.</summary>
    public static void SolveInPlace(double[] a, double[] b, int p, int k)
    {
        for (int j = 0; j < p; j++)
        {
            double d = a[j * p + j];
            for (int m = 0; m < j; m++) d -= a[j * p + m] * a[j * p + m];
            if (!(d > 0)) throw new InvalidOperationException($"The least-squares system is not positive definite (pivot {j}: {d:G3}); the features are degenerate.");
            d = Math.Sqrt(d);
            a[j * p + j] = d;
            for (int i = j + 1; i < p; i++)
            {
                double s = a[i * p + j];
                for (int m = 0; m < j; m++) s -= a[i * p + m] * a[j * p + m];
                a[i * p + j] = s / d;
            }
        }
        for (int c = 0; c < k; c++)
        {
            for (int i = 0; i < p; i++)
            {
                double s = b[i * k + c];
                for (int m = 0; m < i; m++) s -= a[i * p + m] * b[m * k + c];
                b[i * k + c] = s / a[i * p + i];
            }
            for (int i = p - 1; i >= 0; i--)
            {
                double s = b[i * k + c];
                for (int m = i + 1; m < p; m++) s -= a[m * p + i] * b[m * k + c];
                b[i * k + c] = s / a[i * p + i];
            }
        }
    }
}

/// <summary>Principal components by power iteration with deflation on the float64 covariance (deterministic; each component's largest entry positive).</summary>
public static class Pca
{
    /// <summary>Projections [N, components] of the centred rows of [N, F] onto the top principal directions, and the variance each explains.</summary>
    public static (Tensor Projections, double[] Variances) Project(Tensor features, int components = 2)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Rank != 2 || features.Shape[0] < 2) throw new ArgumentException($"PCA needs [N ≥ 2, F] rows, got [{string.Join(", ", features.Shape)}].");
        int n = features.Shape[0], f = features.Shape[1];
        if (components < 1 || components > f) throw new ArgumentOutOfRangeException(nameof(components), components, $"Between 1 and the {f} features.");
        var mean = new double[f];
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) mean[j] += features.Data[i * f + j];
        for (int j = 0; j < f; j++) mean[j] /= n;
        var cov = new double[f * f];
        for (int i = 0; i < n; i++)
            for (int r = 0; r < f; r++)
            {
                double dr = features.Data[i * f + r] - mean[r];
                for (int c = 0; c < f; c++) cov[r * f + c] += dr * (features.Data[i * f + c] - mean[c]);
            }
        for (int q = 0; q < cov.Length; q++) cov[q] /= n - 1;
        var directions = new double[components][];
        var variances = new double[components];
        for (int k = 0; k < components; k++)
        {
            var v = new double[f];
            for (int j = 0; j < f; j++) v[j] = 1 + 0.01 * j;
            double lambda = 0;
            for (int it = 0; it < 1000; it++)
            {
                var w = new double[f];
                for (int r = 0; r < f; r++) for (int c = 0; c < f; c++) w[r] += cov[r * f + c] * v[c];
                double norm = Math.Sqrt(w.Sum(x => x * x));
                if (norm == 0) break;
                double change = 0;
                for (int j = 0; j < f; j++) { double x = w[j] / norm; change += Math.Abs(x - v[j]); v[j] = x; }
                lambda = norm;
                if (change < 1e-12) break;
            }
            int big = 0;
            for (int j = 1; j < f; j++) if (Math.Abs(v[j]) > Math.Abs(v[big])) big = j;
            if (v[big] < 0) for (int j = 0; j < f; j++) v[j] = -v[j];
            directions[k] = v; variances[k] = lambda;
            for (int r = 0; r < f; r++) for (int c = 0; c < f; c++) cov[r * f + c] -= lambda * v[r] * v[c];
        }
        var result = new Tensor(n, components);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < components; k++)
            {
                double s = 0;
                for (int j = 0; j < f; j++) s += (features.Data[i * f + j] - mean[j]) * directions[k][j];
                result.Data[i * components + k] = (float)s;
            }
        return (result, variances);
    }
}
