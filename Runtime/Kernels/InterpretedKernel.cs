using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Linq;
using System.Threading.Tasks;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// An equivariant layer evaluated basis term by basis term, as the reference PyTorch implementations
/// do: each term pools its input into a materialized tensor, mixes channels, and broadcasts a
/// full-size contribution into the output. Works for any weight space the algebra enumerates (including
/// tensors that carry one layer twice) and for architectures known only at run time. It is the
/// differential oracle for the generated kernels and the baseline of the benchmarks.
/// </summary>
public sealed class InterpretedKernel : IEquivariantKernel
{
    public LayerPlan Plan { get; }
    private readonly TermMaps[] _maps;

    /// <summary>Per term: for each grid position of each tensor, where it lands in the term's kept-index space.</summary>
    private sealed class TermMaps
    {
        public int KeptCount;      // number of distinct kept-index values
        public int[] InKept = [];  // per input grid position: kept index or -1 (off-diagonal)
        public int[] InFixed = []; // per input grid position: fixed (wide) index
        public int[] OutKept = [];
        public int[] OutFixed = [];
        public float PoolScale;    // 1 / number of input positions averaged per kept value
    }

    public InterpretedKernel(LayerPlan plan)
    {
        Plan = plan;
        _maps = plan.Terms.Select(t => Build(plan.Space, t.Term)).ToArray();
    }

    public InterpretedKernel(global::LayerCompiler.Algebra.WeightSpace space, int inChannels, int outChannels) : this(new LayerPlan(space, inChannels, outChannels)) { }

    private static TermMaps Build(global::LayerCompiler.Algebra.WeightSpace space, BasisTerm term)
    {
        var a = space.Tensors[term.Input];
        var o = space.Tensors[term.Output];
        // Kept blocks (input and output axes) in label order, mixed radix over their widths.
        var kept = Enumerable.Range(0, term.BlockCount).Where(b => term.BlockHasInput(b) && term.BlockHasOutput(b)).ToArray();
        var keptRadix = kept.Select(b => space.Layers[term.BlockLayer[b]].Width).ToArray();
        int keptCount = keptRadix.Aggregate(1, (x, y) => x * y);
        // Pooled (input-only) blocks: each averages over its layer's width.
        double pooled = 1;
        for (int b = 0; b < term.BlockCount; b++)
            if (term.BlockHasInput(b) && !term.BlockHasOutput(b)) pooled *= space.Layers[term.BlockLayer[b]].Width;
        var m = new TermMaps { KeptCount = keptCount, PoolScale = (float)(1.0 / pooled) };
        (m.InKept, m.InFixed) = Map(a, term.InputBlocks, kept, keptRadix, term.BlockCount);
        (m.OutKept, m.OutFixed) = Map(o, term.OutputBlocks, kept, keptRadix, term.BlockCount);
        return m;
    }

    private static (int[] Kept, int[] Fixed) Map(WeightTensor t, int[] blocks, int[] kept, int[] keptRadix, int blockCount)
    {
        int n = t.Size;
        var keptIdx = new int[n];
        var fixedIdx = new int[n];
        var idx = new int[t.Axes.Length];
        var value = new int[blockCount];
        for (int e = 0; e < n; e++)
        {
            RowMajor.Unravel(e, t.Shape, idx);
            for (int b = 0; b < blockCount; b++) value[b] = -1;
            bool consistent = true;
            int f = 0;
            for (int ax = 0; ax < t.Axes.Length; ax++)
            {
                int b = blocks[ax];
                if (b < 0) { f = f * t.Axes[ax].Size + idx[ax]; continue; }
                if (value[b] >= 0 && value[b] != idx[ax]) consistent = false;
                value[b] = idx[ax];
            }
            int k = 0;
            for (int j = 0; j < kept.Length; j++) k = k * keptRadix[j] + Math.Max(0, value[kept[j]]);
            keptIdx[e] = consistent ? k : -1;
            fixedIdx[e] = f;
        }
        return (keptIdx, fixedIdx);
    }

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output)
    {
        Check(input, Plan.InChannels, nameof(input));
        Check(output, Plan.OutChannels, nameof(output));
        if (weights.Length != Plan.WeightCount || bias.Length != Plan.BiasCount)
            throw new ArgumentException($"Expected {Plan.WeightCount} weights and {Plan.BiasCount} biases, got {weights.Length} and {bias.Length}.");
        var w = weights;
        var bvec = bias;
        int cin = Plan.InChannels, cout = Plan.OutChannels;
        var space = Plan.Space;
        Parallel.For(0, input.Batch, n =>
        {
            for (int o = 0; o < space.Tensors.Count; o++)
            {
                var ot = space.Tensors[o];
                int wideOut = ot.FixedSize * cout;
                var outData = output.Tensors[o].Data.AsSpan(n * ot.Size * cout, ot.Size * cout);
                // Affine bias: one value per wide output channel (none on sign-odd tensors: LayerPlan.HasBias).
                if (!Plan.HasBias(o)) { outData.Clear(); continue; }
                var (_, outFixed) = FixedMap(ot);
                for (int e = 0; e < ot.Size; e++)
                    for (int c = 0; c < cout; c++)
                        outData[e * cout + c] = bvec[Plan.BiasOffsets[o] + outFixed[e] * cout + c];
            }
            for (int ti = 0; ti < Plan.Terms.Count; ti++)
            {
                var pt = Plan.Terms[ti];
                var m = _maps[ti];
                var at = space.Tensors[pt.Term.Input];
                var ot = space.Tensors[pt.Term.Output];
                var x = input.Tensors[pt.Term.Input].Data.AsSpan(n * at.Size * cin, at.Size * cin);
                var y = output.Tensors[pt.Term.Output].Data.AsSpan(n * ot.Size * cout, ot.Size * cout);
                // 1. Pool into a materialized [kept, wideIn] tensor.
                var pooled = Pool(m, pt, at.Size, cin, x);
                // 2. Mix channels: [kept, wideIn] × [wideIn, wideOut].
                var mixed = new float[m.KeptCount * pt.Cols];
                for (int k = 0; k < m.KeptCount; k++)
                    for (int r = 0; r < pt.Rows; r++)
                    {
                        float v = pooled[k * pt.Rows + r];
                        if (v == 0) continue;
                        int wrow = pt.Offset + r * pt.Cols;
                        for (int c = 0; c < pt.Cols; c++) mixed[k * pt.Cols + c] += v * w[wrow + c];
                    }
                // 3. Broadcast into the output.
                for (int e = 0; e < ot.Size; e++)
                {
                    int k = m.OutKept[e];
                    if (k < 0) continue;
                    int src = k * pt.Cols + m.OutFixed[e] * cout;
                    for (int c = 0; c < cout; c++) y[e * cout + c] += mixed[src + c];
                }
            }
        });
    }

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias)
    {
        Check(input, Plan.InChannels, nameof(input));
        Check(gradOutput, Plan.OutChannels, nameof(gradOutput));
        if (gradInput != null) { Check(gradInput, Plan.InChannels, nameof(gradInput)); gradInput.Zero(); }
        var w = weights;
        int cin = Plan.InChannels, cout = Plan.OutChannels;
        var space = Plan.Space;
        // Per-network partial parameter gradients, summed in network order for determinism.
        var partW = new float[input.Batch][];
        var partB = new float[input.Batch][];
        Parallel.For(0, input.Batch, n =>
        {
            var gw = partW[n] = new float[Plan.WeightCount];
            var gb = partB[n] = new float[Plan.BiasCount];
            for (int o = 0; o < space.Tensors.Count; o++)
            {
                if (!Plan.HasBias(o)) continue;
                var ot = space.Tensors[o];
                var g = gradOutput.Tensors[o].Data.AsSpan(n * ot.Size * cout, ot.Size * cout);
                var (_, outFixed) = FixedMap(ot);
                for (int e = 0; e < ot.Size; e++)
                    for (int c = 0; c < cout; c++)
                        gb[Plan.BiasOffsets[o] + outFixed[e] * cout + c] += g[e * cout + c];
            }
            for (int ti = 0; ti < Plan.Terms.Count; ti++)
            {
                var pt = Plan.Terms[ti];
                var m = _maps[ti];
                var at = space.Tensors[pt.Term.Input];
                var ot = space.Tensors[pt.Term.Output];
                var x = input.Tensors[pt.Term.Input].Data.AsSpan(n * at.Size * cin, at.Size * cin);
                var g = gradOutput.Tensors[pt.Term.Output].Data.AsSpan(n * ot.Size * cout, ot.Size * cout);
                // Adjoint of broadcast: sum the output gradient over each kept value.
                var gsum = new float[m.KeptCount * pt.Cols];
                for (int e = 0; e < ot.Size; e++)
                {
                    int k = m.OutKept[e];
                    if (k < 0) continue;
                    int dst = k * pt.Cols + m.OutFixed[e] * cout;
                    for (int c = 0; c < cout; c++) gsum[dst + c] += g[e * cout + c];
                }
                // Recompute the pooled input for the weight gradient.
                var pooled = Pool(m, pt, at.Size, cin, x);
                for (int k = 0; k < m.KeptCount; k++)
                    for (int r = 0; r < pt.Rows; r++)
                    {
                        float v = pooled[k * pt.Rows + r];
                        int wrow = pt.Offset + r * pt.Cols;
                        for (int c = 0; c < pt.Cols; c++) gw[wrow + c] += v * gsum[k * pt.Cols + c];
                    }
                if (gradInput == null) continue;
                // Adjoint of mix then of mean-pooling: W^T, then spread with the pooling scale.
                var gin = new float[m.KeptCount * pt.Rows];
                for (int k = 0; k < m.KeptCount; k++)
                    for (int r = 0; r < pt.Rows; r++)
                    {
                        float s = 0;
                        int wrow = pt.Offset + r * pt.Cols;
                        for (int c = 0; c < pt.Cols; c++) s += w[wrow + c] * gsum[k * pt.Cols + c];
                        gin[k * pt.Rows + r] = s * m.PoolScale;
                    }
                var gx = gradInput.Tensors[pt.Term.Input].Data.AsSpan(n * at.Size * cin, at.Size * cin);
                for (int e = 0; e < at.Size; e++)
                {
                    int k = m.InKept[e];
                    if (k < 0) continue;
                    int row = k * pt.Rows + m.InFixed[e] * cin;
                    for (int c = 0; c < cin; c++) gx[e * cin + c] += gin[row + c];
                }
            }
        });
        for (int n = 0; n < input.Batch; n++)
        {
            var gw = partW[n]; var gb = partB[n];
            for (int i = 0; i < gw.Length; i++) gradWeights[i] += gw[i];
            for (int i = 0; i < gb.Length; i++) gradBias[i] += gb[i];
        }
    }

    /// <summary>Mean of the input over each term's pooled indices: a materialized [kept, wideIn] tensor.</summary>
    private static float[] Pool(TermMaps m, PlannedTerm pt, int inputSize, int cin, ReadOnlySpan<float> x)
    {
        var pooled = new float[m.KeptCount * pt.Rows];
        for (int e = 0; e < inputSize; e++)
        {
            int k = m.InKept[e];
            if (k < 0) continue;
            int row = k * pt.Rows + m.InFixed[e] * cin;
            for (int c = 0; c < cin; c++) pooled[row + c] += x[e * cin + c];
        }
        for (int i = 0; i < pooled.Length; i++) pooled[i] *= m.PoolScale;
        return pooled;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, (int[], int[])> _fixedMaps = new();

    /// <summary>Wide (fixed-axes) index of every grid position of a tensor, ignoring permuted axes.</summary>
    private (int[] Kept, int[] Fixed) FixedMap(WeightTensor t) =>
        _fixedMaps.GetOrAdd(t.Index, _ => Map(t, t.Axes.Select(a => a.Permuted ? 0 : -1).ToArray(), Array.Empty<int>(), Array.Empty<int>(), 1));

    private void Check(WeightSpaceBatch b, int channels, string name)
    {
        if (!ReferenceEquals(b.Space, Plan.Space) && b.Space.Tensors.Count != Plan.Space.Tensors.Count)
            throw new ArgumentException($"{name} is over a different weight space.", name);
        if (b.Channels != channels) throw new ArgumentException($"{name} has {b.Channels} channels; this layer expects {channels}.", name);
    }
}
