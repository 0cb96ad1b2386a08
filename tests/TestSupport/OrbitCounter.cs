using LayerCompiler.Algebra;

namespace LayerCompiler.TestSupport;

/// <summary>
/// Brute-force character counts of the symmetry group acting on the weight space, by enumerating every group element:
/// the number of independent equivariant linear maps, (1/|G|) Σ_g χ(g)², and of invariant linear functionals,
/// (1/|G|) Σ_g χ(g), where χ(g) is the trace of g's (signed) permutation matrix: the sum, over the entries g maps to
/// themselves, of the product of the signs g gives them. Without sign flips χ(g) counts fixed entries and the first is
/// Burnside's count of orbits on pairs of entries. Independent of the enumeration it checks.
/// </summary>
public static class OrbitCounter
{
    public static long CountPairOrbits(WeightSpace space)
    {
        var (sum, _, order) = Characters(space);
        Assert.Equal(0, sum % order);
        return sum / order;
    }

    /// <summary>The dimension of the invariant linear functionals of the weight space.</summary>
    public static long CountInvariants(WeightSpace space)
    {
        var (_, sum, order) = Characters(space);
        Assert.Equal(0, sum % order);
        return sum / order;
    }

    private static (long SumOfSquares, long Sum, long Order) Characters(WeightSpace space)
    {
        var permuted = space.Layers.Where(l => l.Permuted).ToList();
        var entries = EnumerateEntries(space).ToList();
        long squares = 0, plain = 0, groupOrder = 0;
        foreach (var g in GroupElements(permuted.Select(l => l.Width).ToArray()))
        {
            var perm = new Dictionary<int, int[]>();
            for (int i = 0; i < permuted.Count; i++) perm[permuted[i].Index] = g[i];
            // Sign vectors of the signed layers: bit j of mask = neuron j negated.
            var signed = permuted.Where(l => l.Signed).ToList();
            var masks = new int[signed.Count];
            while (true)
            {
                var sign = new Dictionary<int, int>();
                for (int i = 0; i < signed.Count; i++) sign[signed[i].Index] = masks[i];
                long chi = 0;
                foreach (var e in entries)
                    if (IsFixed(space, e, perm)) chi += SignOf(space, e, sign);
                squares += chi * chi;
                plain += chi;
                groupOrder++;
                int k = signed.Count - 1;
                while (k >= 0 && ++masks[k] == 1 << signed[k].Width) { masks[k] = 0; k--; }
                if (k < 0) break;
            }
        }
        return (squares, plain, groupOrder);
    }

    private static int SignOf(WeightSpace space, (int Tensor, int[] Index) e, Dictionary<int, int> sign)
    {
        var t = space.Tensors[e.Tensor];
        int s = 1;
        for (int a = 0; a < t.Axes.Length; a++)
            if (!t.Axes[a].IsKernel && sign.TryGetValue(t.Axes[a].Layer, out int mask) && (mask >> e.Index[a] & 1) == 1) s = -s;
        return s;
    }

    private static bool IsFixed(WeightSpace space, (int Tensor, int[] Index) e, Dictionary<int, int[]> perm)
    {
        var t = space.Tensors[e.Tensor];
        for (int a = 0; a < t.Axes.Length; a++)
        {
            var ax = t.Axes[a];
            if (ax.Permuted && perm[ax.Layer][e.Index[a]] != e.Index[a]) return false;
        }
        return true;
    }

    public static IEnumerable<(int Tensor, int[] Index)> EnumerateEntries(WeightSpace space)
    {
        foreach (var t in space.Tensors)
            foreach (var idx in Indices(t.Shape))
                yield return (t.Index, idx);
    }

    public static IEnumerable<int[]> Indices(int[] shape)
    {
        var idx = new int[shape.Length];
        if (shape.Any(s => s == 0)) yield break;
        while (true)
        {
            yield return (int[])idx.Clone();
            int k = shape.Length - 1;
            while (k >= 0 && ++idx[k] == shape[k]) { idx[k] = 0; k--; }
            if (k < 0) yield break;
        }
    }

    private static IEnumerable<int[][]> GroupElements(int[] widths)
    {
        var perLayer = widths.Select(w => Permutations(w).ToList()).ToList();
        var pick = new int[widths.Length];
        while (true)
        {
            yield return perLayer.Select((ps, i) => ps[pick[i]]).ToArray();
            int k = widths.Length - 1;
            while (k >= 0 && ++pick[k] == perLayer[k].Count) { pick[k] = 0; k--; }
            if (k < 0) yield break;
        }
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        var a = Enumerable.Range(0, n).ToArray();
        yield return (int[])a.Clone();
        while (true)
        {
            int i = n - 2;
            while (i >= 0 && a[i] >= a[i + 1]) i--;
            if (i < 0) yield break;
            int j = n - 1;
            while (a[j] <= a[i]) j--;
            (a[i], a[j]) = (a[j], a[i]);
            Array.Reverse(a, i + 1, n - i - 1);
            yield return (int[])a.Clone();
        }
    }
}
