using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using System;
using System.Linq;

namespace LayerCompiler.Tasks.Tickets;

/// <summary>
/// 0/1 masks over a weight space (flat, tensor order) that prune weights <em>per layer</em>: each weight tensor keeps
/// exactly <see cref="Kept"/> of its entries (round((1 − sparsity)·size)); biases are never pruned (mask 1). Per layer,
/// not global, because a global threshold on magnitudes at initialization would empty the 784-input layer (its entries
/// are √(784/128) times smaller than the next layer's) and give a dead network; IMP, the predicted mask, the random mask
/// and magnitude at initialization all use the same per-tensor counts, so they are compared at identical sparsity.
/// </summary>
public static class PruningMasks
{
    /// <summary>Entries a weight tensor of <paramref name="size"/> entries keeps at <paramref name="sparsity"/> (at least 1).</summary>
    public static int Kept(int size, double sparsity)
    {
        CheckSparsity(sparsity);
        return Math.Max(1, (int)Math.Round((1 - sparsity) * size, MidpointRounding.AwayFromZero));
    }

    /// <summary>Keeps, in every weight tensor, the <see cref="Kept"/> entries of largest <paramref name="score"/> (ties: lower index first).</summary>
    public static float[] KeepLargest(ReadOnlySpan<float> score, WeightSpace space, double sparsity)
    {
        ArgumentNullException.ThrowIfNull(space);
        CheckSparsity(sparsity);
        if (score.Length != space.Dimension) throw new ArgumentException($"{score.Length} scores given; the weight space has {space.Dimension} entries.", nameof(score));
        var mask = new float[score.Length];
        int o = 0;
        foreach (var t in space.Tensors)
        {
            if (t.IsBias) { Array.Fill(mask, 1f, o, t.Size); o += t.Size; continue; }
            var s = score.Slice(o, t.Size);
            for (int k = 0; k < t.Size; k++)
                if (float.IsNaN(s[k])) throw new ArgumentException($"Score {o + k} (tensor {t.Name}) is NaN; masks need comparable scores.", nameof(score));
            var order = new int[t.Size];
            for (int k = 0; k < order.Length; k++) order[k] = k;
            var keys = s.ToArray();
            // Descending score, ascending index: a total order, so the mask does not depend on the sort's stability.
            Array.Sort(order, (a, b) => { int c = keys[b].CompareTo(keys[a]); return c != 0 ? c : a.CompareTo(b); });
            int keep = Kept(t.Size, sparsity);
            for (int k = 0; k < keep; k++) mask[o + order[k]] = 1f;
            o += t.Size;
        }
        return mask;
    }

    /// <summary>One-shot magnitude pruning: keeps the largest |w| of every weight tensor.</summary>
    public static float[] Magnitude(ReadOnlySpan<float> weights, WeightSpace space, double sparsity)
    {
        var abs = new float[weights.Length];
        for (int k = 0; k < abs.Length; k++) abs[k] = Math.Abs(weights[k]);
        return KeepLargest(abs, space, sparsity);
    }

    /// <summary>A uniformly random mask with the same per-tensor counts.</summary>
    public static float[] Random(WeightSpace space, double sparsity, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var u = new float[space.Dimension];
        for (int k = 0; k < u.Length; k++) u[k] = (float)rng.NextDouble();
        return KeepLargest(u, space, sparsity);
    }

    /// <summary>Fraction of the weight entries (biases excluded) that are pruned.</summary>
    public static double WeightSparsity(ReadOnlySpan<float> mask, WeightSpace space)
    {
        long weights = 0, pruned = 0; int o = 0;
        foreach (var t in space.Tensors)
        {
            if (!t.IsBias) { weights += t.Size; for (int k = 0; k < t.Size; k++) if (mask[o + k] == 0) pruned++; }
            o += t.Size;
        }
        return (double)pruned / weights;
    }

    /// <summary>Fraction of <paramref name="reference"/>'s kept weights (biases excluded) that <paramref name="mask"/> keeps too.</summary>
    public static double Recall(ReadOnlySpan<float> mask, ReadOnlySpan<float> reference, WeightSpace space)
    {
        long both = 0, kept = 0; int o = 0;
        foreach (var t in space.Tensors)
        {
            if (!t.IsBias) for (int k = 0; k < t.Size; k++) if (reference[o + k] != 0) { kept++; if (mask[o + k] != 0) both++; }
            o += t.Size;
        }
        return kept == 0 ? 0 : (double)both / kept;
    }

    private static void CheckSparsity(double sparsity)
    {
        if (!(sparsity >= 0 && sparsity < 1)) throw new ArgumentOutOfRangeException(nameof(sparsity), sparsity, "Sparsity is the pruned fraction of every weight tensor: in [0, 1), e.g. 0.95.");
    }
}
