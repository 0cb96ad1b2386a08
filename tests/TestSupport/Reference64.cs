using LayerCompiler.Algebra;

namespace LayerCompiler.TestSupport;

/// <summary>
/// An independent float64 evaluation of an equivariant layer straight from the definition of a basis
/// term: out_B[j] += mean over input entries i consistent with the partition of x_A[i] · W. It loops
/// over all (input entry, output entry) pairs, so it is only for tiny spaces; finite differences on it
/// are the reference for gradient checks.
/// </summary>
public sealed class Reference64
{
    private readonly LayerPlan _plan;
    private readonly List<(int Term, int InEntry, int OutEntry, int InFixed, int OutFixed, double Scale)> _links = new();

    public Reference64(LayerPlan plan)
    {
        _plan = plan;
        var space = plan.Space;
        for (int ti = 0; ti < plan.Terms.Count; ti++)
        {
            var term = plan.Terms[ti].Term;
            var a = space.Tensors[term.Input]; var o = space.Tensors[term.Output];
            var inIdx = OrbitCounter.Indices(a.Shape).ToList();
            var outIdx = OrbitCounter.Indices(o.Shape).ToList();
            // Count the input entries averaged per output entry and block assignment.
            var pairs = new List<(int, int)>();
            for (int j = 0; j < outIdx.Count; j++)
                for (int i = 0; i < inIdx.Count; i++)
                    if (Consistent(term, inIdx[i], outIdx[j])) pairs.Add((i, j));
            // A mean runs over the permuted indices only: group by output entry and input fixed index.
            foreach (var g in pairs.GroupBy(p => (p.Item2, FixedIndex(a, inIdx[p.Item1]))))
            {
                double scale = 1.0 / g.Count();
                foreach (var (i, j) in g)
                    _links.Add((ti, i, j, FixedIndex(a, inIdx[i]), FixedIndex(o, outIdx[j]), scale));
            }
        }
    }

    private static int FixedIndex(WeightTensor t, int[] idx)
    {
        int f = 0;
        foreach (int ax in t.FixedAxes) f = f * t.Axes[ax].Size + idx[ax];
        return f;
    }

    private static bool Consistent(BasisTerm term, int[] inIdx, int[] outIdx)
    {
        var value = new int[term.BlockCount];
        Array.Fill(value, -1);
        bool Set(int b, int v) { if (b < 0) return true; if (value[b] >= 0 && value[b] != v) return false; value[b] = v; return true; }
        for (int ax = 0; ax < outIdx.Length; ax++) if (!Set(term.OutputBlocks[ax], outIdx[ax])) return false;
        for (int ax = 0; ax < inIdx.Length; ax++) if (!Set(term.InputBlocks[ax], inIdx[ax])) return false;
        return true;
    }

    /// <summary>y = layer(x) for one network; x, y flat over tensors in order, channels last.</summary>
    public double[] Forward(double[] w, double[] b, double[] x)
    {
        var space = _plan.Space; int cin = _plan.InChannels, cout = _plan.OutChannels;
        var inOff = new int[space.Tensors.Count]; var outOff = new int[space.Tensors.Count];
        int oi = 0, oo = 0;
        for (int t = 0; t < space.Tensors.Count; t++) { inOff[t] = oi; outOff[t] = oo; oi += space.Tensors[t].Size * cin; oo += space.Tensors[t].Size * cout; }
        var y = new double[oo];
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            int e = 0;
            foreach (var idx in OrbitCounter.Indices(wt.Shape))
            {
                int f = FixedIndex(wt, idx);
                for (int c = 0; c < cout; c++) y[outOff[t] + e * cout + c] = b[_plan.BiasOffsets[t] + f * cout + c];
                e++;
            }
        }
        foreach (var (ti, i, j, fi, fo, scale) in _links)
        {
            var pt = _plan.Terms[ti];
            for (int ci = 0; ci < cin; ci++)
            {
                double xv = x[inOff[pt.Term.Input] + i * cin + ci] * scale;
                int row = pt.Offset + (fi * cin + ci) * pt.Cols + fo * cout;
                for (int co = 0; co < cout; co++) y[outOff[pt.Term.Output] + j * cout + co] += xv * w[row + co];
            }
        }
        return y;
    }
}
