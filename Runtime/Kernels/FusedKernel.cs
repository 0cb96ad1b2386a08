using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Collections.Concurrent;
using System.Threading.Tasks;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// Base of every generated fused kernel: argument checks, the parallel loop over networks, scratch
/// buffers reused across calls, and a deterministic reduction of parameter gradients (fixed chunks of
/// networks summed in order, whatever the thread count). The generated subclass supplies the
/// per-network forward and backward, specialized to the declared shapes.
/// </summary>
public abstract class FusedKernel : IReluFusingKernel
{
    /// <summary>Networks per gradient chunk: the unit of the deterministic reduction.</summary>
    public const int ChunkSize = 8;

    public LayerPlan Plan { get; }
    private readonly int _forwardScratch, _backwardScratch;
    private readonly ConcurrentBag<float[]> _scratchPool = new();
    private float[][] _chunkGradW = Array.Empty<float[]>();
    private float[][] _chunkGradB = Array.Empty<float[]>();

    protected FusedKernel(LayerPlan plan, int forwardScratch, int backwardScratch)
    {
        Plan = plan;
        _forwardScratch = forwardScratch;
        _backwardScratch = backwardScratch;
        BuildTotalLinks(plan);
    }

    // ------------------------------------------------------------ total terms
    // The terms that keep no neuron layer (one per ordered pair of tensors: quadratic in the depth) are walked from
    // a table built here rather than spelled out in the generated code, which then stays linear in the depth. The
    // calls and their order are those the generator would have emitted, so the results are the same bits.

    private readonly record struct TotalLink(int Src, int SrcWidth, int WOffset, int InWidth, int OutWidth, float Scale);

    private TotalLink[][] _forwardTotals = Array.Empty<TotalLink[]>(), _backwardTotals = Array.Empty<TotalLink[]>();
    private (int X, int G, int WOffset, int Rows, int Cols)[] _gradientTotals = Array.Empty<(int, int, int, int, int)>();

    /// <summary>Floats of the totals vector of the layer's input (Cin channels) and of its output gradient (Cout channels).</summary>
    protected int InputTotalsLength { get; private set; }
    protected int OutputTotalsLength { get; private set; }

    private void BuildTotalLinks(LayerPlan plan)
    {
        var space = plan.Space;
        int tensors = space.Tensors.Count;
        var inOff = TotalTerms.TotalOffsets(space, plan.InChannels);
        var outOff = TotalTerms.TotalOffsets(space, plan.OutChannels);
        InputTotalsLength = inOff[tensors];
        OutputTotalsLength = outOff[tensors];
        var terms = TotalTerms.Of(plan);
        var fwd = new System.Collections.Generic.List<TotalLink>[tensors];
        var bwd = new System.Collections.Generic.List<TotalLink>[tensors];
        for (int t = 0; t < tensors; t++) { fwd[t] = new(); bwd[t] = new(); }
        var grads = new (int, int, int, int, int)[terms.Length];
        for (int i = 0; i < terms.Length; i++)
        {
            var term = terms[i];
            fwd[term.Output].Add(new TotalLink(inOff[term.Input], term.Rows, term.Offset, term.Rows, term.Cols, 1f));
            // The backward of a mean is a broadcast scaled by 1/(positions pooled).
            float scale = (float)(1.0 / TotalTerms.PooledCount(space.Tensors[term.Input]));
            bwd[term.Input].Add(new TotalLink(outOff[term.Output], term.Cols, term.Offset, term.Cols, term.Rows, scale));
            grads[i] = (inOff[term.Input], outOff[term.Output], term.Offset, term.Rows, term.Cols);
        }
        _forwardTotals = Array.ConvertAll(fwd, l => l.ToArray());
        _backwardTotals = Array.ConvertAll(bwd, l => l.ToArray());
        _gradientTotals = grads;
    }

    /// <summary>
    /// acc += Σ over the total terms into tensor <paramref name="dst"/> of (source total) · W, in term order: the forward
    /// (totals of the input, W) or, with <paramref name="backward"/>, the input gradient (totals of the output gradient,
    /// the transposed matrices in <paramref name="w"/>, each scaled by the adjoint of its mean).
    /// </summary>
    protected void MixTotals(ReadOnlySpan<float> totals, float[] w, int dst, Span<float> acc, bool backward)
    {
        foreach (var l in (backward ? _backwardTotals : _forwardTotals)[dst])
            LineOps.MixAdd(totals.Slice(l.Src, l.SrcWidth), l.SrcWidth, new ReadOnlySpan<float>(w, l.WOffset, l.InWidth * l.OutWidth),
                l.InWidth, l.OutWidth, acc, acc.Length, 1, l.Scale);
    }

    /// <summary>The weight gradients of every total term: (input total) ⊗ (output-gradient total).</summary>
    protected void OuterTotals(ReadOnlySpan<float> inputTotals, ReadOnlySpan<float> gradientTotals, float[] gw)
    {
        foreach (var (x, g, off, rows, cols) in _gradientTotals)
            LineOps.OuterAdd(inputTotals.Slice(x, rows), rows, gradientTotals.Slice(g, cols), cols, 1, rows, cols, new Span<float>(gw, off, rows * cols));
    }

    /// <summary>Per-network forward; with <paramref name="relu"/>, ReLU applied to each finished output line.</summary>
    protected abstract void ForwardNetwork(int n, float[] w, float[] b, Tensor[] x, Tensor[] y, float[] scratch, bool relu);

    /// <summary>Per-network backward. <paramref name="wT"/> holds each term's matrix transposed ([cols × rows] at the term's offset). With <paramref name="reluMaskInput"/>, each finished input-gradient line is zeroed where the input is ≤ 0.</summary>
    protected abstract void BackwardNetwork(int n, float[] wT, Tensor[] x, Tensor[] gy, Tensor[]? gx, float[] gw, float[] gb, float[] scratch, bool reluMaskInput);

    private float[] _transposed = Array.Empty<float>();

    /// <summary>Each term's [rows × cols] matrix transposed in place of it, so the input gradient is the same GEMM as the forward.</summary>
    private float[] Transposed(float[] weights)
    {
        if (_transposed.Length != weights.Length) _transposed = new float[weights.Length];
        foreach (var t in Plan.Terms)
            for (int r = 0; r < t.Rows; r++)
                for (int c = 0; c < t.Cols; c++)
                    _transposed[t.Offset + c * t.Rows + r] = weights[t.Offset + r * t.Cols + c];
        return _transposed;
    }

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output) =>
        Forward(weights, bias, input, output, relu: false);

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output, bool relu)
    {
        CheckParameters(weights, bias);
        CheckBatch(input, Plan.InChannels, nameof(input));
        CheckBatch(output, Plan.OutChannels, nameof(output));
        if (output.Batch != input.Batch) throw new ArgumentException($"Output batch {output.Batch} differs from input batch {input.Batch}.");
        var x = input.Tensors; var y = output.Tensors;
        int chunks = (input.Batch + ChunkSize - 1) / ChunkSize;
        Parallel.For(0, chunks, () => Rent(_forwardScratch), (chunk, _, scratch) =>
        {
            int end = Math.Min(input.Batch, (chunk + 1) * ChunkSize);
            for (int n = chunk * ChunkSize; n < end; n++) ForwardNetwork(n, weights, bias, x, y, scratch, relu);
            return scratch;
        }, _scratchPool.Add);
    }

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias) =>
        Backward(weights, input, gradOutput, gradInput, gradWeights, gradBias, reluMaskInput: false);

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias, bool reluMaskInput)
    {
        if (weights.Length != Plan.WeightCount) throw new ArgumentException($"Expected {Plan.WeightCount} weights, got {weights.Length}.");
        if (gradWeights.Length != Plan.WeightCount || gradBias.Length != Plan.BiasCount)
            throw new ArgumentException($"Gradient buffers must hold {Plan.WeightCount} weights and {Plan.BiasCount} biases.");
        CheckBatch(input, Plan.InChannels, nameof(input));
        CheckBatch(gradOutput, Plan.OutChannels, nameof(gradOutput));
        if (gradInput != null) CheckBatch(gradInput, Plan.InChannels, nameof(gradInput));
        int chunks = (input.Batch + ChunkSize - 1) / ChunkSize;
        EnsureChunkBuffers(chunks);
        var x = input.Tensors; var gy = gradOutput.Tensors; var gx = gradInput?.Tensors;
        var wT = Transposed(weights);
        Parallel.For(0, chunks, () => Rent(_backwardScratch), (chunk, _, scratch) =>
        {
            var gw = _chunkGradW[chunk]; var gb = _chunkGradB[chunk];
            Array.Clear(gw); Array.Clear(gb);
            int end = Math.Min(input.Batch, (chunk + 1) * ChunkSize);
            for (int n = chunk * ChunkSize; n < end; n++) BackwardNetwork(n, wT, x, gy, gx, gw, gb, scratch, reluMaskInput);
            return scratch;
        }, _scratchPool.Add);
        // Fixed order: bitwise identical for any number of threads.
        for (int c = 0; c < chunks; c++)
        {
            FusedOps.Add(_chunkGradW[c], gradWeights);
            FusedOps.Add(_chunkGradB[c], gradBias);
        }
    }

    private float[] Rent(int size)
    {
        while (_scratchPool.TryTake(out var s)) if (s.Length >= size) return s;
        return new float[Math.Max(size, Math.Max(_forwardScratch, _backwardScratch))];
    }

    private void EnsureChunkBuffers(int chunks)
    {
        if (_chunkGradW.Length >= chunks) return;
        var w = new float[chunks][]; var b = new float[chunks][];
        for (int i = 0; i < chunks; i++)
        {
            w[i] = i < _chunkGradW.Length ? _chunkGradW[i] : new float[Plan.WeightCount];
            b[i] = i < _chunkGradB.Length ? _chunkGradB[i] : new float[Plan.BiasCount];
        }
        _chunkGradW = w; _chunkGradB = b;
    }

    private void CheckParameters(float[] weights, float[] bias)
    {
        if (weights.Length != Plan.WeightCount || bias.Length != Plan.BiasCount)
            throw new ArgumentException($"Expected {Plan.WeightCount} weights and {Plan.BiasCount} biases, got {weights.Length} and {bias.Length}.");
    }

    private void CheckBatch(WeightSpaceBatch b, int channels, string name)
    {
        if (b.Space.Tensors.Count != Plan.Space.Tensors.Count)
            throw new ArgumentException($"{name} has {b.Space.Tensors.Count} tensors; this layer's weight space has {Plan.Space.Tensors.Count}.", name);
        if (b.Channels != channels) throw new ArgumentException($"{name} has {b.Channels} channels; this layer expects {channels}.", name);
        for (int t = 0; t < b.Tensors.Length; t++)
            if (b.Tensors[t].Length != b.Batch * Plan.Space.Tensors[t].Size * channels)
                throw new ArgumentException($"{name}: tensor {Plan.Space.Tensors[t].Name} holds {b.Tensors[t].Length} values, expected {b.Batch * Plan.Space.Tensors[t].Size * channels}.", name);
    }
}
