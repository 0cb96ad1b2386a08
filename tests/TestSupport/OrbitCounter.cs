using LayerCompiler.Algebra;

namespace LayerCompiler.TestSupport;

/// <summary>
/// Brute-force Burnside count of the orbits of the symmetry group on pairs of weight-space entries:
/// the number of independent equivariant linear maps. Independent of the enumeration it checks.
/// </summary>
public static class OrbitCounter
{
    public static long CountPairOrbits(WeightSpace space)
    {
        var permuted = space.Layers.Where(l => l.Permuted).ToList();
        var entries = EnumerateEntries(space).ToList();
        long sum = 0, groupOrder = 0;
        foreach (var g in GroupElements(permuted.Select(l => l.Width).ToArray()))
        {
            var perm = new Dictionary<int, int[]>();
            for (int i = 0; i < permuted.Count; i++) perm[permuted[i].Index] = g[i];
            long fixedEntries = entries.Count(e => IsFixed(space, e, perm));
            sum += fixedEntries * fixedEntries; // a pair is fixed iff both entries are
            groupOrder++;
        }
        Assert.Equal(0, sum % groupOrder);
        return sum / groupOrder;
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
