using System;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>
    /// The sizes of the sign-odd reference vectors of a dense network's hidden neurons, and the channels of the
    /// sign-invariant lift built from them (the run-time lift, <c>SignInvariantLift</c>, and the generator's checks of a
    /// <c>[ProductModel]</c> with <see cref="Symmetry.SignedHiddenNeuron"/> both use this).
    /// </summary>
    /// <remarks>
    /// A hidden neuron i of layer ℓ flips with its bias b_ℓ[i], its incoming row W_ℓ[i, :] when layer ℓ−1 is the fixed input
    /// layer, and its outgoing column W_{ℓ+1}[:, i] when layer ℓ+1 is the fixed output layer; |r(ℓ)| counts those values.
    /// An entry with hidden axes in layers ℓ₁…ℓ_k gets |r(ℓ₁)|⋯|r(ℓ_k)| channels; the lift gives every tensor the largest.
    /// </remarks>
    public static class SignReferences
    {
        /// <summary>The most channels the lift builds (it is meant for narrow input and output layers).</summary>
        public const int MaxChannels = 4096;

        /// <summary>|r(ℓ)| per neuron layer (0 for the fixed input and output layers); a hidden layer with none is 0 too.</summary>
        public static int[] Sizes(WeightSpace space)
        {
            if (space == null) throw new ArgumentNullException(nameof(space));
            int m = space.Depth;
            var sizes = new int[m + 1];
            for (int l = 1; l < m; l++)
            {
                var d = space.Declarations[l - 1];
                int size = d.Bias ? 1 : 0;
                if (l == 1) size += d.In;
                if (l + 1 == m) size += space.Declarations[l].Out;
                sizes[l] = size;
            }
            return sizes;
        }

        /// <summary>The first hidden layer (1-based) without a reference value, or 0 when every hidden layer has one.</summary>
        public static int FirstLayerWithoutReference(WeightSpace space)
        {
            var sizes = Sizes(space);
            for (int l = 1; l < space.Depth; l++) if (sizes[l] == 0) return l;
            return 0;
        }

        /// <summary>Channels of the lifted features: the largest product of reference sizes over one tensor's sign-flipped axes.</summary>
        public static long Channels(WeightSpace space)
        {
            var sizes = Sizes(space);
            long channels = 1;
            foreach (var t in space.Tensors)
            {
                long c = 1;
                foreach (var a in t.Axes) if (!a.IsKernel && space.Layers[a.Layer].Signed) c *= sizes[a.Layer];
                channels = Math.Max(channels, c);
            }
            return channels;
        }
    }
}
