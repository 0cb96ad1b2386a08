using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>
    /// One basis element of the equivariant linear maps from tensor <see cref="Input"/> to tensor
    /// <see cref="Output"/>: a partition of their permuted axes (axes in one block share an index value).
    /// A block with only input axes is pooled (mean), one with only output axes is broadcast, one with
    /// both keeps the index. Fixed axes are dense factors: they are folded into the channels.
    /// </summary>
    public sealed class BasisTerm
    {
        public int Input { get; }
        public int Output { get; }
        /// <summary>Block label of each axis of the output tensor, -1 for fixed axes.</summary>
        public int[] OutputBlocks { get; }
        /// <summary>Block label of each axis of the input tensor, -1 for fixed axes.</summary>
        public int[] InputBlocks { get; }
        /// <summary>Neuron layer of each block.</summary>
        public int[] BlockLayer { get; }

        public BasisTerm(int input, int output, int[] outputBlocks, int[] inputBlocks, int[] blockLayer)
        {
            Input = input; Output = output; OutputBlocks = outputBlocks; InputBlocks = inputBlocks; BlockLayer = blockLayer;
        }

        public int BlockCount => BlockLayer.Length;
        public bool BlockHasInput(int b) => InputBlocks.Contains(b);
        public bool BlockHasOutput(int b) => OutputBlocks.Contains(b);

        /// <summary>Layers whose index is kept (a block with both an input and an output axis).</summary>
        public IEnumerable<int> KeptLayers => Enumerable.Range(0, BlockCount).Where(b => BlockHasInput(b) && BlockHasOutput(b)).Select(b => BlockLayer[b]);

        /// <summary>
        /// For the fused scheme (no layer twice in a tensor): the kept layers as a bit mask over the
        /// output tensor's permuted axes (bit i = i-th permuted axis of the output is kept).
        /// </summary>
        public int KeptOutputMask(WeightTensor output)
        {
            int mask = 0;
            for (int i = 0; i < output.PermutedAxes.Length; i++)
            {
                int b = OutputBlocks[output.PermutedAxes[i]];
                if (BlockHasInput(b)) mask |= 1 << i;
            }
            return mask;
        }

        /// <summary>Same, over the input tensor's permuted axes.</summary>
        public int KeptInputMask(WeightTensor input)
        {
            int mask = 0;
            for (int i = 0; i < input.PermutedAxes.Length; i++)
            {
                int b = InputBlocks[input.PermutedAxes[i]];
                if (BlockHasOutput(b)) mask |= 1 << i;
            }
            return mask;
        }

        public string Describe(WeightSpace space)
        {
            var a = space.Tensors[Input]; var o = space.Tensors[Output];
            string Idx(int[] blocks) => string.Join(",", blocks.Select(x => x < 0 ? "·" : ((char)('i' + x)).ToString()));
            return $"{a.Name}[{Idx(InputBlocks)}] → {o.Name}[{Idx(OutputBlocks)}]";
        }
    }
}
