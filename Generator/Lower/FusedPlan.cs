using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Lower
{
    /// <summary>One axis of a weight tensor: its neuron layer (-1 for a kernel axis), size, and whether the symmetry permutes it.</summary>
    public sealed record AxisPlan(int Layer, int Size, bool Permuted);

    /// <summary>A weight tensor as the plan needs it (Specs' <see cref="WeightTensor"/> as plain data).</summary>
    public sealed record TensorPlan(int Index, string Name, string Description, int Size, int FixedSize,
        EquatableArray<AxisPlan> Axes, EquatableArray<int> PermutedAxes, EquatableArray<int> FixedAxes)
    {
        public static TensorPlan From(WeightTensor t) => new TensorPlan(t.Index, t.Name, t.ToString(), t.Size, t.FixedSize,
            t.Axes.Select(a => new AxisPlan(a.Layer, a.Size, a.Permuted)).ToEquatableArray(), t.PermutedAxes.ToEquatableArray(), t.FixedAxes.ToEquatableArray());

        public override string ToString() => Description;
    }

    /// <summary>How one tensor is seen by the fused scheme: permuted axes (the grid) and wide channels.</summary>
    public sealed record TensorView(TensorPlan Tensor, EquatableArray<int> PermSizes, EquatableArray<int> PermLayers, int Grid, bool Trailing)
    {
        public int Fixed => Tensor.FixedSize;
        public int FullMask => (1 << PermSizes.Count) - 1;

        public static TensorView From(WeightTensor t)
        {
            var sizes = t.PermutedAxes.Select(i => t.Axes[i].Size).ToArray();
            return new TensorView(TensorPlan.From(t), sizes.ToEquatableArray(), t.PermutedAxes.Select(i => t.Axes[i].Layer).ToEquatableArray(),
                sizes.Aggregate(1, (a, b) => a * b),
                // Fixed axes all after the permuted ones: each grid position's wide vector is contiguous.
                t.PermutedAxes.Length == 0 || t.FixedAxes.Length == 0 || t.FixedAxes.Min() > t.PermutedAxes.Max());
        }

        /// <summary>Number of grid positions that share one value of the kept axes in mask.</summary>
        public int KeptGrid(int mask)
        {
            int g = 1;
            for (int i = 0; i < PermSizes.Count; i++) if ((mask & (1 << i)) != 0) g *= PermSizes[i];
            return g;
        }

        public int PooledCount(int mask) => Grid / KeptGrid(mask);

        /// <summary>Layers kept by a mask, in this tensor's axis order.</summary>
        public int[] KeptLayers(int mask) => Enumerable.Range(0, PermSizes.Count).Where(i => (mask & (1 << i)) != 0).Select(i => PermLayers[i]).ToArray();
    }

    /// <summary>
    /// One term of a fused linear map: the statistic of <see cref="Src"/> over its kept axes
    /// (<see cref="SrcMask"/>) is mixed by a weight matrix and broadcast into <see cref="Dst"/>
    /// over the axes not in <see cref="DstMask"/>. Forward links go input → output with W; backward
    /// links go output-gradient → input-gradient with Wᵀ and the mean's scale.
    /// </summary>
    public sealed record Link(int Term, int Src, int SrcMask, int Dst, int DstMask, int WOffset, int Rows, int Cols, bool Transposed, double Scale, string Description);

    /// <summary>
    /// A whole fused layer (one channel pair): tensor views, forward links, backward links, parameter layout. Plain data
    /// (equatable, so the generator caches it as a pipeline step); every backend schedules and prints it.
    /// </summary>
    public sealed record FusedPlan(int Cin, int Cout, int WeightCount, int BiasCount, int TermCount, EquatableArray<int> BiasOffsets,
        EquatableArray<TensorView> Views, EquatableArray<Link> ForwardLinks, EquatableArray<Link> BackwardLinks,
        EquatableArray<int> InputTotalOffsets, EquatableArray<int> OutputTotalOffsets)
    {
        /// <summary>Where each tensor's total starts in the totals vector of a <paramref name="channels"/>-channel batch (<see cref="TotalTerms.TotalOffsets"/>).</summary>
        public EquatableArray<int> TotalOffsets(int channels) =>
            channels == Cin ? InputTotalOffsets : channels == Cout ? OutputTotalOffsets : throw new ArgumentException($"The layer has {Cin} → {Cout} channels, not {channels}.");

        public static FusedPlan Lower(LayerPlan layer)
        {
            var space = layer.Space;
            if (!space.IsFusable) throw new NotSupportedException("The fused scheme needs tensors with at most two permuted axes of distinct layers.");
            var views = space.Tensors.Select(TensorView.From).ToArray();
            var fwd = new List<Link>();
            var bwd = new List<Link>();
            for (int ti = 0; ti < layer.Terms.Count; ti++)
            {
                var pt = layer.Terms[ti];
                var a = views[pt.Term.Input];
                var o = views[pt.Term.Output];
                int sa = pt.Term.KeptInputMask(space.Tensors[a.Tensor.Index]);
                int so = pt.Term.KeptOutputMask(space.Tensors[o.Tensor.Index]);
                if (!a.KeptLayers(sa).SequenceEqual(o.KeptLayers(so)))
                    throw new NotSupportedException($"Kept axes of {a.Tensor.Name} and {o.Tensor.Name} are in different orders.");
                string what = pt.Term.Describe(space);
                fwd.Add(new Link(ti, a.Tensor.Index, sa, o.Tensor.Index, so, pt.Offset, pt.Rows, pt.Cols, false, 1, what));
                bwd.Add(new Link(ti, o.Tensor.Index, so, a.Tensor.Index, sa, pt.Offset, pt.Rows, pt.Cols, true, 1.0 / a.PooledCount(sa), what));
            }
            return new FusedPlan(layer.InChannels, layer.OutChannels, layer.WeightCount, layer.BiasCount, layer.Terms.Count,
                layer.BiasOffsets.ToEquatableArray(), views.ToEquatableArray(), fwd.ToEquatableArray(), bwd.ToEquatableArray(),
                TotalTerms.TotalOffsets(space, layer.InChannels).ToEquatableArray(), TotalTerms.TotalOffsets(space, layer.OutChannels).ToEquatableArray());
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
