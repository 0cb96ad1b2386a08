using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>A basis term that keeps no neuron layer: the total of its input tensor, mixed by a dense matrix, broadcast over its output tensor.</summary>
    public readonly struct TotalTerm
    {
        public int Input { get; }
        public int Output { get; }
        /// <summary>Offset of the term's [Rows × Cols] matrix in the weight vector.</summary>
        public int Offset { get; }
        public int Rows { get; }
        public int Cols { get; }

        public TotalTerm(int input, int output, int offset, int rows, int cols) { Input = input; Output = output; Offset = offset; Rows = rows; Cols = cols; }
    }

    /// <summary>
    /// The terms of a layer between tensors that share no kept neuron layer. Every ordered pair of tensors has
    /// (at most) one, so there are quadratically many in the depth, but each only needs the total of its
    /// input: kernels compute every tensor's total once, into one vector (<see cref="TotalOffsets"/>), and walk
    /// this table at run time instead of spelling each pair out in generated code.
    /// </summary>
    public static class TotalTerms
    {
        /// <summary>The layer's total terms in weight-vector order (so grouped by output tensor, inputs ascending).</summary>
        public static TotalTerm[] Of(LayerPlan plan)
        {
            if (plan == null) throw new ArgumentNullException(nameof(plan));
            var list = new List<TotalTerm>();
            foreach (var t in plan.Terms)
                if (IsTotal(t.Term))
                    list.Add(new TotalTerm(t.Term.Input, t.Term.Output, t.Offset, t.Rows, t.Cols));
            return list.ToArray();
        }

        /// <summary>Whether a term keeps no neuron layer (no block holds both an input and an output axis).</summary>
        public static bool IsTotal(BasisTerm term)
        {
            for (int b = 0; b < term.BlockCount; b++)
                if (term.BlockHasInput(b) && term.BlockHasOutput(b)) return false;
            return true;
        }

        /// <summary>Where each tensor's total ([fixed size × channels] values) starts in the totals vector; the last entry is its length.</summary>
        public static int[] TotalOffsets(WeightSpace space, int channels)
        {
            if (space == null) throw new ArgumentNullException(nameof(space));
            var offsets = new int[space.Tensors.Count + 1];
            long o = 0;
            for (int t = 0; t < space.Tensors.Count; t++)
            {
                offsets[t] = (int)o;
                o += (long)space.Tensors[t].FixedSize * channels;
                if (o > int.MaxValue) throw new OverflowException($"The totals of {channels}-channel tensors exceed {int.MaxValue} floats.");
            }
            offsets[space.Tensors.Count] = (int)o;
            return offsets;
        }

        /// <summary>Number of positions a tensor's total pools over (the product of its permuted axes' sizes).</summary>
        public static int PooledCount(WeightTensor tensor) => tensor.PermutedAxes.Aggregate(1, (a, i) => a * tensor.Axes[i].Size);
    }
}
