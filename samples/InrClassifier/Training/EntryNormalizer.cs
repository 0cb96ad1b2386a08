using System;
using System.Collections.Generic;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace InrClassifier.Training;

/// <summary>
/// Per-entry input normalization (the reference setup): every weight position of every tensor is shifted and
/// scaled by the mean and standard deviation of that position over the training networks.
/// </summary>
/// <remarks>A stand-in until the runtime's shared normalizer lands; state keys are <c>normalizer.mean.{tensor}</c> and <c>normalizer.std.{tensor}</c>.</remarks>
internal sealed class EntryNormalizer
{
    private const float MinStd = 1e-6f;

    private EntryNormalizer(LayerCompiler.Algebra.WeightSpace space, float[][] mean, float[][] std) { Space = space; Mean = mean; Std = std; }

    public LayerCompiler.Algebra.WeightSpace Space { get; }
    public float[][] Mean { get; }
    public float[][] Std { get; }

    public static EntryNormalizer Fit(WeightSpaceBatch train)
    {
        if (train.Channels != 1) throw new ArgumentException("Fit the normalizer on raw (1-channel) weights.");
        int n = train.Batch, tensors = train.Tensors.Length;
        var mean = new float[tensors][]; var std = new float[tensors][];
        for (int t = 0; t < tensors; t++)
        {
            int size = train.Space.Tensors[t].Size;
            var data = train.Tensors[t].Data;
            var m = new double[size]; var s = new double[size];
            for (int i = 0; i < n; i++) for (int e = 0; e < size; e++) m[e] += data[i * size + e];
            for (int e = 0; e < size; e++) m[e] /= n;
            for (int i = 0; i < n; i++) for (int e = 0; e < size; e++) { double d = data[i * size + e] - m[e]; s[e] += d * d; }
            mean[t] = new float[size]; std[t] = new float[size];
            for (int e = 0; e < size; e++) { mean[t][e] = (float)m[e]; std[t][e] = Math.Max(MinStd, (float)Math.Sqrt(s[e] / n)); }
        }
        return new EntryNormalizer(train.Space, mean, std);
    }

    /// <summary>A normalized copy of <paramref name="x"/> (over x's space, which must have the same shapes).</summary>
    public WeightSpaceBatch Apply(WeightSpaceBatch x)
    {
        var y = x.Clone();
        ApplyInPlace(y);
        return y;
    }

    /// <summary>Normalizes <paramref name="x"/> in place.</summary>
    public void ApplyInPlace(WeightSpaceBatch x)
    {
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            int size = x.Space.Tensors[t].Size;
            if (size != Mean[t].Length) throw new ArgumentException($"Tensor {x.Space.Tensors[t].Name} has {size} entries, the normalizer {Mean[t].Length}.");
            float[] d = x.Tensors[t].Data, m = Mean[t], s = Std[t];
            for (int i = 0; i < x.Batch; i++)
                for (int e = 0; e < size; e++) d[i * size + e] = (d[i * size + e] - m[e]) / s[e];
        }
    }

    public Dictionary<string, Tensor> State()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int t = 0; t < Mean.Length; t++)
        {
            string name = Space.Tensors[t].Name;
            d[$"normalizer.mean.{name}"] = new Tensor((float[])Mean[t].Clone(), Mean[t].Length);
            d[$"normalizer.std.{name}"] = new Tensor((float[])Std[t].Clone(), Std[t].Length);
        }
        return d;
    }

    public static EntryNormalizer FromState(IReadOnlyDictionary<string, Tensor> state, LayerCompiler.Algebra.WeightSpace space)
    {
        int tensors = space.Tensors.Count;
        var mean = new float[tensors][]; var std = new float[tensors][];
        for (int t = 0; t < tensors; t++)
        {
            var wt = space.Tensors[t];
            mean[t] = Take(state, $"normalizer.mean.{wt.Name}", wt.Size);
            std[t] = Take(state, $"normalizer.std.{wt.Name}", wt.Size);
        }
        return new EntryNormalizer(space, mean, std);
    }

    private static float[] Take(IReadOnlyDictionary<string, Tensor> state, string key, int size)
    {
        if (!state.TryGetValue(key, out var t)) throw new InvalidOperationException($"The checkpoint has no '{key}' (the input normalization).");
        if (t.Length != size) throw new InvalidOperationException($"'{key}' holds {t.Length} values, the weight tensor has {size}.");
        return (float[])t.Data.Clone();
    }
}
