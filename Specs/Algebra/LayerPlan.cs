using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>A basis term with its place in the layer's weight vector.</summary>
    public sealed class PlannedTerm
    {
        public BasisTerm Term { get; }
        /// <summary>Offset of this term's [Rows × Cols] row-major matrix in the weight vector.</summary>
        public int Offset { get; }
        /// <summary>Input wide channels: input tensor's fixed size × input channels.</summary>
        public int Rows { get; }
        /// <summary>Output wide channels: output tensor's fixed size × output channels.</summary>
        public int Cols { get; }

        public PlannedTerm(BasisTerm term, int offset, int rows, int cols) { Term = term; Offset = offset; Rows = rows; Cols = cols; }
    }

    /// <summary>
    /// The parameter layout of one equivariant layer (Cin → Cout channels) over a weight space.
    /// Shared by the generated kernels and the interpreted layer, so both read the same vectors.
    /// Weight vector: the terms in <see cref="Basis.All"/> order, each a [fixedIn·Cin × fixedOut·Cout]
    /// row-major matrix whose row index is (fixed input indices..., input channel) and column index
    /// (fixed output indices..., output channel). Bias vector: per output tensor, fixedOut·Cout values.
    /// </summary>
    public sealed class LayerPlan
    {
        public WeightSpace Space { get; }
        public int InChannels { get; }
        public int OutChannels { get; }
        public IReadOnlyList<PlannedTerm> Terms { get; }
        public int WeightCount { get; }
        public int BiasCount { get; }
        /// <summary>Offset of each output tensor's bias block in the bias vector.</summary>
        public IReadOnlyList<int> BiasOffsets { get; }
        /// <summary>Per output tensor, the number of weights feeding one output entry (sum of term rows).</summary>
        public IReadOnlyList<int> FanIn { get; }

        public LayerPlan(WeightSpace space, int inChannels, int outChannels)
        {
            if (inChannels <= 0 || outChannels <= 0) throw new ArgumentException($"Channel counts must be positive, got {inChannels} → {outChannels}.");
            Space = space; InChannels = inChannels; OutChannels = outChannels;
            var terms = new List<PlannedTerm>();
            long offset = 0;
            var fanIn = new long[space.Tensors.Count];
            foreach (var t in Basis.All(space))
            {
                long rows = (long)space.Tensors[t.Input].FixedSize * inChannels;
                long cols = (long)space.Tensors[t.Output].FixedSize * outChannels;
                terms.Add(new PlannedTerm(t, (int)Math.Min(offset, int.MaxValue), (int)Math.Min(rows, int.MaxValue), (int)Math.Min(cols, int.MaxValue)));
                offset += rows * cols;
                fanIn[t.Output] += rows;
                if (offset > int.MaxValue) throw new OverflowException($"The layer {inChannels}→{outChannels} has more than {int.MaxValue} weights; use fewer channels or narrower fixed axes.");
            }
            Terms = terms;
            WeightCount = (int)offset;
            var biasOffsets = new int[space.Tensors.Count];
            long b = 0;
            for (int o = 0; o < space.Tensors.Count; o++) { biasOffsets[o] = (int)b; b += BiasSize(space, o, outChannels); }
            if (b > int.MaxValue) throw new OverflowException("The layer's bias is larger than int.MaxValue.");
            BiasCount = (int)b;
            BiasOffsets = biasOffsets;
            FanIn = fanIn.Select(x => (int)Math.Min(x, int.MaxValue)).ToArray();
        }

        /// <summary>
        /// Whether output tensor <paramref name="output"/> takes a bias (fixedOut·Cout values). A constant is equivariant
        /// only where the tensor is sign-invariant, so under sign flips the sign-odd tensors (those carrying a hidden
        /// axis once) have none; without sign flips every tensor has one.
        /// </summary>
        public bool HasBias(int output) => Space.IsSignInvariant(output);

        private static long BiasSize(WeightSpace space, int output, int outChannels) =>
            space.IsSignInvariant(output) ? (long)space.Tensors[output].FixedSize * outChannels : 0;

        /// <summary>
        /// Standard deviation of the initial weights of terms landing in <paramref name="output"/>:
        /// 1/√fan-in, so each output entry starts with about the variance of one input entry
        /// (LeCun-normal over all terms combined; biases start at zero).
        /// </summary>
        public double InitStd(int output) => 1.0 / Math.Sqrt(Math.Max(1, FanIn[output]));

        /// <summary>Exact parameter count of a layer, computed without allocating the plan (for overflow checks).</summary>
        public static long CountParameters(WeightSpace space, int inChannels, int outChannels)
        {
            long w = 0;
            foreach (var t in Basis.All(space))
                w += (long)space.Tensors[t.Input].FixedSize * inChannels * space.Tensors[t.Output].FixedSize * outChannels;
            long b = space.Tensors.Sum(t => BiasSize(space, t.Index, outChannels));
            return w + b;
        }
    }
}
