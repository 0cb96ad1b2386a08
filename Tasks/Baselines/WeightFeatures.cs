using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime;

namespace LayerCompiler.Tasks.Baselines;

/// <summary>
/// Fixed feature vectors of input networks for non-equivariant baselines: each gives a <c>[N, F]</c> tensor
/// to train a plain MLP on.
/// </summary>
public static class WeightFeatures
{
    /// <summary>Statistics per weight tensor, in this order.</summary>
    public static IReadOnlyList<string> StatisticNames { get; } = new[] { "mean", "var", "q0", "q25", "q50", "q75", "q100" };

    /// <summary>(a) Every weight, flattened: tensor by tensor in the space's order, each in memory order. F = Space.Dimension × Channels.</summary>
    public static Tensor Flattened(WeightSpaceBatch weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int n = weights.Batch;
        long f = weights.Length / n;
        if (f > int.MaxValue) throw new ArgumentException("Too many weights per network to flatten.");
        var result = new Tensor(n, (int)f);
        for (int i = 0; i < n; i++)
        {
            int o = 0;
            foreach (var t in weights.Tensors)
            {
                int per = t.Length / n;
                Array.Copy(t.Data, (long)i * per, result.Data, (long)i * f + o, per);
                o += per;
            }
        }
        return result;
    }

    /// <summary>
    /// (b) Per weight tensor (all channels together): mean, variance (population), and the 0/25/50/75/100%
    /// quantiles (linear interpolation, NumPy's default). F = 7 × number of tensors.
    /// </summary>
    public static Tensor Statistics(WeightSpaceBatch weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int n = weights.Batch, tensors = weights.Tensors.Length, k = StatisticNames.Count;
        var result = new Tensor(n, tensors * k);
        Parallel.For(0, n, i =>
        {
            for (int t = 0; t < tensors; t++)
            {
                var src = weights.Tensors[t];
                int per = src.Length / n;
                var values = src.Data.AsSpan(i * per, per).ToArray();
                var dst = result.Data.AsSpan(i * tensors * k + t * k, k);
                Describe(values, dst);
            }
        });
        return result;
    }

    /// <summary>Feature names of <see cref="Statistics"/>, e.g. "W1.mean".</summary>
    public static IReadOnlyList<string> StatisticFeatureNames(global::LayerCompiler.Algebra.WeightSpace space)
    {
        var names = new List<string>();
        foreach (var t in space.Tensors) foreach (var s in StatisticNames) names.Add($"{t.Name}.{s}");
        return names;
    }

    /// <summary>Writes the 7 statistics of <paramref name="values"/> (which gets sorted) into <paramref name="dst"/>.</summary>
    public static void Describe(float[] values, Span<float> dst)
    {
        if (values.Length == 0) throw new ArgumentException("No values to describe.", nameof(values));
        double sum = 0;
        foreach (var v in values) sum += v;
        double mean = sum / values.Length, sq = 0;
        foreach (var v in values) sq += (v - mean) * (v - mean);
        Array.Sort(values);
        dst[0] = (float)mean;
        dst[1] = (float)(sq / values.Length);
        dst[2] = values[0];
        dst[3] = (float)Quantile(values, 0.25);
        dst[4] = (float)Quantile(values, 0.5);
        dst[5] = (float)Quantile(values, 0.75);
        dst[6] = values[^1];
    }

    private static double Quantile(float[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - (double)sorted[lo]) * (pos - lo);
    }
}

/// <summary>Per-feature standardization (x − mean) / std with statistics from training features.</summary>
public sealed class FeatureStandardizer
{
    public FeatureStandardizer(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean); ArgumentNullException.ThrowIfNull(std);
        if (mean.Length != std.Length) throw new ArgumentException($"{mean.Length} means and {std.Length} standard deviations.");
        Mean = mean; Std = std;
    }

    public float[] Mean { get; }
    public float[] Std { get; }

    /// <summary>Statistics of <paramref name="features"/> <c>[N, F]</c>; features with (near) zero spread get std 1.</summary>
    public static FeatureStandardizer Fit(Tensor features, double minStd = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Rank != 2 || features.Shape[0] == 0) throw new ArgumentException($"Expected [N > 0, F] features, got [{string.Join(", ", features.Shape)}].", nameof(features));
        int n = features.Shape[0], f = features.Shape[1];
        var mean = new double[f]; var sq = new double[f];
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) mean[j] += features.Data[i * f + j];
        for (int j = 0; j < f; j++) mean[j] /= n;
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) { double d = features.Data[i * f + j] - mean[j]; sq[j] += d * d; }
        var m = new float[f]; var s = new float[f];
        for (int j = 0; j < f; j++) { m[j] = (float)mean[j]; double sd = Math.Sqrt(sq[j] / n); s[j] = sd > minStd ? (float)sd : 1f; }
        return new FeatureStandardizer(m, s);
    }

    /// <summary>Standardizes in place and returns the same tensor.</summary>
    public Tensor Apply(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        int f = Mean.Length;
        if (features.Rank != 2 || features.Shape[1] != f) throw new ArgumentException($"Expected [N, {f}] features, got [{string.Join(", ", features.Shape)}].", nameof(features));
        var d = features.Data;
        for (int i = 0; i < d.Length; i++) { int j = i % f; d[i] = (d[i] - Mean[j]) / Std[j]; }
        return features;
    }
}

/// <summary>The baselines' classifier: Linear → ReLU → … → Linear (PyTorch nn.Sequential naming).</summary>
public static class BaselineMlp
{
    public static Sequential Create(int inputs, IReadOnlyList<int> hidden, int outputs, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(hidden); ArgumentNullException.ThrowIfNull(rng);
        var layers = new List<Layer>();
        int width = inputs;
        foreach (int h in hidden)
        {
            if (h <= 0) throw new ArgumentOutOfRangeException(nameof(hidden), h, "Hidden widths must be positive.");
            layers.Add(new Linear(width, h, rng));
            layers.Add(new ReLU());
            width = h;
        }
        layers.Add(new Linear(width, outputs, rng));
        return new Sequential(layers.ToArray());
    }
}
