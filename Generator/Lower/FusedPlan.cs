using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;

namespace LayerCompiler.Generator.Lower
{
    /// <summary>How one tensor is seen by the fused scheme: permuted axes (the grid) and wide channels.</summary>
    public sealed class TensorView
    {
        public WeightTensor Tensor { get; }
        public int[] PermSizes { get; }
        public int[] PermLayers { get; }
        public int Grid { get; }
        public int Fixed => Tensor.FixedSize;
        /// <summary>Fixed axes all come after the permuted ones, so each grid position's wide vector is contiguous.</summary>
        public bool Trailing { get; }
        public int FullMask => (1 << PermSizes.Length) - 1;

        public TensorView(WeightTensor t)
        {
            Tensor = t;
            PermSizes = t.PermutedAxes.Select(i => t.Axes[i].Size).ToArray();
            PermLayers = t.PermutedAxes.Select(i => t.Axes[i].Layer).ToArray();
            Grid = PermSizes.Aggregate(1, (a, b) => a * b);
            Trailing = t.PermutedAxes.Length == 0 || t.FixedAxes.Length == 0 || t.FixedAxes.Min() > t.PermutedAxes.Max();
        }

        /// <summary>Number of grid positions that share one value of the kept axes in mask.</summary>
        public int KeptGrid(int mask)
        {
            int g = 1;
            for (int i = 0; i < PermSizes.Length; i++) if ((mask & (1 << i)) != 0) g *= PermSizes[i];
            return g;
        }

        public int PooledCount(int mask) => Grid / KeptGrid(mask);

        /// <summary>Layers kept by a mask, in this tensor's axis order.</summary>
        public int[] KeptLayers(int mask) => Enumerable.Range(0, PermSizes.Length).Where(i => (mask & (1 << i)) != 0).Select(i => PermLayers[i]).ToArray();
    }

    /// <summary>
    /// One term of a fused linear map: the statistic of <see cref="Src"/> over its kept axes
    /// (<see cref="SrcMask"/>) is mixed by a weight matrix and broadcast into <see cref="Dst"/>
    /// over the axes not in <see cref="DstMask"/>. Forward links go input → output with W; backward
    /// links go output-gradient → input-gradient with Wᵀ and the mean's scale.
    /// </summary>
    public sealed class Link
    {
        public int Term;
        public int Src, SrcMask, Dst, DstMask;
        public int WOffset, Rows, Cols;
        public bool Transposed;
        public double Scale = 1;
    }

    /// <summary>A whole fused layer: tensor views, forward links, backward links. Backends schedule it.</summary>
    public sealed class FusedPlan
    {
        public LayerPlan Layer { get; }
        public IReadOnlyList<TensorView> Views { get; }
        public IReadOnlyList<Link> ForwardLinks { get; }
        public IReadOnlyList<Link> BackwardLinks { get; }
        public int Cin => Layer.InChannels;
        public int Cout => Layer.OutChannels;

        public FusedPlan(LayerPlan layer)
        {
            Layer = layer;
            var space = layer.Space;
            if (!space.IsFusable) throw new NotSupportedException("The fused scheme needs tensors with at most two permuted axes of distinct layers.");
            Views = space.Tensors.Select(t => new TensorView(t)).ToArray();
            var fwd = new List<Link>();
            var bwd = new List<Link>();
            for (int ti = 0; ti < layer.Terms.Count; ti++)
            {
                var pt = layer.Terms[ti];
                var a = Views[pt.Term.Input];
                var o = Views[pt.Term.Output];
                int sa = pt.Term.KeptInputMask(a.Tensor);
                int so = pt.Term.KeptOutputMask(o.Tensor);
                if (!a.KeptLayers(sa).SequenceEqual(o.KeptLayers(so)))
                    throw new NotSupportedException($"Kept axes of {a.Tensor.Name} and {o.Tensor.Name} are in different orders.");
                fwd.Add(new Link { Term = ti, Src = a.Tensor.Index, SrcMask = sa, Dst = o.Tensor.Index, DstMask = so, WOffset = pt.Offset, Rows = pt.Rows, Cols = pt.Cols });
                bwd.Add(new Link
                {
                    Term = ti, Src = o.Tensor.Index, SrcMask = so, Dst = a.Tensor.Index, DstMask = sa, WOffset = pt.Offset, Rows = pt.Rows, Cols = pt.Cols,
                    Transposed = true, Scale = 1.0 / a.PooledCount(sa),
                });
            }
            ForwardLinks = fwd;
            BackwardLinks = bwd;
        }

        /// <summary>Masks of a tensor's statistics that need computing (pooled ones only; the full mask is the tensor itself).</summary>
        public static IEnumerable<int> PooledMasks(IEnumerable<Link> links, TensorView v, bool includeTotal)
        {
            var masks = new SortedSet<int>(links.Where(l => l.Src == v.Tensor.Index && l.SrcMask != v.FullMask).Select(l => l.SrcMask));
            if (includeTotal && v.FullMask != 0) masks.Add(0);
            return masks;
        }
    }
}
