using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.InputNetworks;
using System;

namespace LayerCompiler.Runtime.Transforms;

/// <summary>
/// Acting on weight-space batches with neuron permutations: W_m ↦ P_m W_m P_{m-1}ᵀ, b_m ↦ P_m b_m.
/// A permutation p maps neuron i to position p[i] (so out[p[i]] = in[i]).
/// </summary>
public static class Permutations
{
    /// <summary>
    /// Applies one permutation per neuron layer (null = identity) to every network of the batch.
    /// Kernel axes and channels are never permuted.
    /// </summary>
    public static WeightSpaceBatch Apply(WeightSpaceBatch x, int[]?[] perLayer) =>
        ApplyPerAxis(x, (tensor, axis) =>
        {
            int layer = x.Space.Tensors[tensor].Axes[axis].Layer;
            return layer >= 0 && layer < perLayer.Length ? perLayer[layer] : null;
        });

    /// <summary>
    /// Applies a permutation chosen per (tensor, axis). With choices not coupled by layer this is NOT a
    /// symmetry of the network; tests use it to show a layer is sensitive to the coupling.
    /// </summary>
    public static WeightSpaceBatch ApplyPerAxis(WeightSpaceBatch x, Func<int, int, int[]?> permutationOf)
    {
        var y = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        int c = x.Channels;
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            var wt = x.Space.Tensors[t];
            var perms = new int[]?[wt.Axes.Length];
            for (int a = 0; a < wt.Axes.Length; a++)
            {
                perms[a] = permutationOf(t, a);
                if (perms[a] is int[] p && p.Length != wt.Axes[a].Size)
                    throw new ArgumentException($"Permutation of length {p.Length} for axis {a} of {wt.Name}, which has size {wt.Axes[a].Size}.");
            }
            var idx = new int[wt.Axes.Length];
            for (int e = 0; e < wt.Size; e++)
            {
                RowMajor.Unravel(e, wt.Shape, idx);
                for (int a = 0; a < idx.Length; a++) if (perms[a] is int[] p) idx[a] = p[idx[a]];
                int target = RowMajor.Ravel(idx, wt.Shape);
                for (int n = 0; n < x.Batch; n++)
                    Array.Copy(x.Tensors[t].Data, (n * wt.Size + e) * c, y.Tensors[t].Data, (n * wt.Size + target) * c, c);
            }
        }
        return y;
    }

    /// <summary>
    /// Flips neuron signs: <paramref name="perLayer"/>[l][j] = true negates neuron j of layer l, i.e. every entry with
    /// an axis of layer l at index j is multiplied by −1 once per such axis (W_m ↦ S_m W_m S_{m-1}, b_m ↦ S_m b_m).
    /// For odd activations (sine, tanh) with the bias inside the activation this preserves the network's function.
    /// </summary>
    public static WeightSpaceBatch ApplySigns(WeightSpaceBatch x, bool[]?[] perLayer)
    {
        var y = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        int c = x.Channels;
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            var wt = x.Space.Tensors[t];
            for (int a = 0; a < wt.Axes.Length; a++)
                if (!wt.Axes[a].IsKernel && wt.Axes[a].Layer < perLayer.Length && perLayer[wt.Axes[a].Layer] is bool[] s && s.Length != wt.Axes[a].Size)
                    throw new ArgumentException($"Sign vector of length {s.Length} for axis {a} of {wt.Name}, which has size {wt.Axes[a].Size}.");
            var idx = new int[wt.Axes.Length];
            for (int e = 0; e < wt.Size; e++)
            {
                RowMajor.Unravel(e, wt.Shape, idx);
                bool negate = false;
                for (int a = 0; a < wt.Axes.Length; a++)
                    if (!wt.Axes[a].IsKernel && wt.Axes[a].Layer < perLayer.Length && perLayer[wt.Axes[a].Layer] is bool[] s && s[idx[a]]) negate = !negate;
                for (int n = 0; n < x.Batch; n++)
                {
                    int at = (n * wt.Size + e) * c;
                    for (int k = 0; k < c; k++) y.Tensors[t].Data[at + k] = negate ? -x.Tensors[t].Data[at + k] : x.Tensors[t].Data[at + k];
                }
            }
        }
        return y;
    }

    /// <summary>Random sign flips (each neuron with probability 1/2) of the layers the space's symmetry flips (none elsewhere).</summary>
    public static bool[]?[] RandomSigns(global::LayerCompiler.Algebra.WeightSpace space, Rng rng)
    {
        var signs = new bool[]?[space.Layers.Count];
        foreach (var l in space.Layers)
            if (l.Signed)
            {
                var s = new bool[l.Width];
                for (int j = 0; j < s.Length; j++) s[j] = rng.NextInt(2) == 1;
                signs[l.Index] = s;
            }
        return signs;
    }

    /// <summary>Random permutations of the layers the space's symmetry permutes (identity elsewhere).</summary>
    public static int[]?[] Random(global::LayerCompiler.Algebra.WeightSpace space, Rng rng)
    {
        var perms = new int[]?[space.Layers.Count];
        foreach (var l in space.Layers) if (l.Permuted) perms[l.Index] = rng.Permutation(l.Width);
        return perms;
    }
}
