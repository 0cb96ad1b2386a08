using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.TestSupport;

public static class TestUtil
{
    public static WeightSpaceBatch Random(WS space, int batch, int channels, ulong seed, double scale = 1)
    {
        var b = new WeightSpaceBatch(space, batch, channels);
        var rng = new Rng(seed);
        foreach (var t in b.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(rng.Normal() * scale);
        return b;
    }

    /// <summary>
    /// The involution that reverses every permuted layer, and <paramref name="half"/> followed by its image under it: a set
    /// closed under that permutation, so statistics fitted on it (per-entry normalization) commute with it.
    /// </summary>
    public static (int[]?[] Reversal, WeightSpaceBatch Closed) ClosedUnderReversal(WeightSpaceBatch half)
    {
        var space = half.Space;
        var g = space.Layers.Select(l => l.Permuted ? Enumerable.Range(0, l.Width).Reverse().ToArray() : null).ToArray();
        var mirrored = Permutations.Apply(half, g);
        var closed = new WeightSpaceBatch(space, 2 * half.Batch, half.Channels);
        for (int t = 0; t < closed.Tensors.Length; t++)
        {
            Array.Copy(half.Tensors[t].Data, closed.Tensors[t].Data, half.Tensors[t].Length);
            Array.Copy(mirrored.Tensors[t].Data, 0, closed.Tensors[t].Data, half.Tensors[t].Length, half.Tensors[t].Length);
        }
        return (g, closed);
    }

    public static float[] RandomVector(int n, ulong seed, double scale = 1)
    {
        var rng = new Rng(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(scale * rng.Normal());
        return v;
    }

    public static double RelativeError(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
        return Math.Sqrt(num / Math.Max(den, 1e-300));
    }

    public static double RelativeError(WeightSpaceBatch a, WeightSpaceBatch b) => RelativeError(a.Flatten(), b.Flatten());

    /// <summary>Numerical rank by Gaussian elimination with full pivoting (rows are vectors).</summary>
    public static int Rank(double[][] rows, double relTol = 1e-9)
    {
        var m = rows.Select(r => (double[])r.Clone()).ToArray();
        int nr = m.Length, nc = nr == 0 ? 0 : m[0].Length, rank = 0;
        double max = m.SelectMany(r => r).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double tol = relTol * Math.Max(1, max) * Math.Max(nr, nc);
        var usedRow = new bool[nr];
        for (int c = 0; c < nc && rank < nr; c++)
        {
            int best = -1; double bv = tol;
            for (int r = 0; r < nr; r++) if (!usedRow[r] && Math.Abs(m[r][c]) > bv) { bv = Math.Abs(m[r][c]); best = r; }
            if (best < 0) continue;
            usedRow[best] = true; rank++;
            for (int r = 0; r < nr; r++)
            {
                if (usedRow[r]) continue;
                double f = m[r][c] / m[best][c];
                if (f == 0) continue;
                for (int k = c; k < nc; k++) m[r][k] -= f * m[best][k];
            }
        }
        return rank;
    }
}
