using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>Enumerates the basis of equivariant linear maps of a weight space, block by block.</summary>
    public static class Basis
    {
        /// <summary>
        /// Basis of the block L(input → output): the product over permuted layers of the set partitions of
        /// that layer's axes (output axes first, then input axes) into at most width-many blocks. For a
        /// sign-flipped layer only the partitions whose every block has an even number of axes remain: a block is one
        /// shared index j, and the term is multiplied by s_j once per axis in the block, so an odd block makes the
        /// term change sign under a flip that fixes everything else (the even-block rule).
        /// </summary>
        public static List<BasisTerm> Block(WeightSpace space, int input, int output)
        {
            var a = space.Tensors[input];
            var o = space.Tensors[output];
            // Group the permuted axes by layer: (isOutput, axis position).
            var groups = new SortedDictionary<int, List<(bool IsOutput, int Axis)>>();
            foreach (int i in o.PermutedAxes) Add(groups, o.Axes[i].Layer, (true, i));
            foreach (int i in a.PermutedAxes) Add(groups, a.Axes[i].Layer, (false, i));

            var groupList = groups.ToList();
            var choices = groupList.Select(g => SetPartitions.Enumerate(g.Value.Count, space.Layers[g.Key].Width)
                .Where(rgs => !space.Layers[g.Key].Signed || EveryBlockEven(rgs)).ToList()).ToList();
            var result = new List<BasisTerm>();
            var pick = new int[groupList.Count];
            if (choices.Any(c => c.Count == 0)) return result;
            while (true)
            {
                var outBlocks = Enumerable.Repeat(-1, o.Axes.Length).ToArray();
                var inBlocks = Enumerable.Repeat(-1, a.Axes.Length).ToArray();
                var blockLayer = new List<int>();
                for (int g = 0; g < groupList.Count; g++)
                {
                    var rgs = choices[g][pick[g]];
                    int baseLabel = blockLayer.Count;
                    int blocks = rgs.Length == 0 ? 0 : rgs.Max() + 1;
                    for (int j = 0; j < blocks; j++) blockLayer.Add(groupList[g].Key);
                    for (int j = 0; j < rgs.Length; j++)
                    {
                        var (isOut, axis) = groupList[g].Value[j];
                        if (isOut) outBlocks[axis] = baseLabel + rgs[j]; else inBlocks[axis] = baseLabel + rgs[j];
                    }
                }
                result.Add(new BasisTerm(input, output, outBlocks, inBlocks, blockLayer.ToArray()));
                int k = groupList.Count - 1;
                while (k >= 0 && ++pick[k] == choices[k].Count) { pick[k] = 0; k--; }
                if (k < 0) break;
            }
            return result;
        }

        /// <summary>Whether every block of a restricted growth string has an even number of members.</summary>
        internal static bool EveryBlockEven(int[] rgs)
        {
            if (rgs.Length == 0) return true;
            var counts = new int[rgs.Max() + 1];
            foreach (int b in rgs) counts[b]++;
            return counts.All(c => c % 2 == 0);
        }

        private static void Add(SortedDictionary<int, List<(bool, int)>> groups, int layer, (bool, int) item)
        {
            if (!groups.TryGetValue(layer, out var list)) groups[layer] = list = new List<(bool, int)>();
            list.Add(item);
        }

        /// <summary>Every term of the layer: for each output tensor, for each input tensor, the block's terms.</summary>
        public static List<BasisTerm> All(WeightSpace space)
        {
            var all = new List<BasisTerm>();
            for (int o = 0; o < space.Tensors.Count; o++)
                for (int i = 0; i < space.Tensors.Count; i++)
                    all.AddRange(Block(space, i, o));
            return all;
        }

        /// <summary>
        /// Number of independent linear maps per channel pair (no affine bias): each term times the
        /// dense factors of the fixed axes of its two tensors.
        /// </summary>
        public static long CountPerChannelPair(WeightSpace space) =>
            All(space).Sum(t => (long)space.Tensors[t.Input].FixedSize * space.Tensors[t.Output].FixedSize);

        /// <summary>
        /// Number of invariant linear features per channel: each tensor pooled over its permuted axes; under sign flips
        /// only the sign-invariant tensors (<see cref="WeightSpace.IsSignInvariant"/>) give one.
        /// </summary>
        public static long InvariantFeaturesPerChannel(WeightSpace space) =>
            space.Tensors.Where(t => space.IsSignInvariant(t.Index)).Sum(t => (long)t.FixedSize);
    }
}
