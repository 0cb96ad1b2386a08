using System;
using System.Collections.Generic;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Modules;

/// <summary>An elementwise nonlinearity over every tensor of a weight-space batch (trivially equivariant).</summary>
public sealed class WeightSpaceActivation : Module
{
    public Activation Kind { get; }
    private WeightSpaceBatch? _input, _output, _grad;

    public WeightSpaceActivation(Activation kind) { Kind = kind; }

    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        if (Kind == Activation.None) return x;
        _input = x;
        if (_output == null || _output.Batch != x.Batch || _output.Channels != x.Channels) _output = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        var y = _output;
        bool relu = Kind == Activation.ReLU;
        ForEachPiece(x, (t, start, length) =>
        {
            var xs = x.Tensors[t].Data.AsSpan(start, length);
            var ys = y.Tensors[t].Data.AsSpan(start, length);
            if (relu) Activations.ReluForward(xs, ys);
            else Activations.GeluForward(xs, ys);
        });
        return y;
    }

    /// <summary>
    /// Records <paramref name="reluOutput"/>, the output of a ReLU that a layer applied in its own pass, as this
    /// activation's input for <see cref="Backward"/>: ReLU(z) ≤ 0 exactly where z ≤ 0, so the backward is the same.
    /// </summary>
    public void RecordFusedRelu(WeightSpaceBatch reluOutput)
    {
        if (Kind != Activation.ReLU) throw new InvalidOperationException($"Only a ReLU can be fused into a layer, not {Kind}.");
        _input = reluOutput;
    }

    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        if (Kind == Activation.None) return gradOutput;
        var x = _input ?? throw new InvalidOperationException("Backward called before Forward.");
        if (_grad == null || _grad.Batch != x.Batch || _grad.Channels != x.Channels) _grad = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        var gx = _grad;
        bool relu = Kind == Activation.ReLU;
        ForEachPiece(x, (t, start, length) =>
        {
            var xs = x.Tensors[t].Data.AsSpan(start, length);
            var gs = gradOutput.Tensors[t].Data.AsSpan(start, length);
            var ds = gx.Tensors[t].Data.AsSpan(start, length);
            if (relu) Activations.ReluBackward(xs, gs, ds);
            else Activations.GeluBackward(xs, gs, ds);
        });
        return gx;
    }

    /// <summary>Elements per parallel piece: large enough that scheduling costs nothing, small enough to balance two or more cores.</summary>
    private const int Piece = 1 << 16;

    /// <summary>
    /// Calls <paramref name="body"/>(tensor, start, length) over every tensor in pieces, on all cores when
    /// the batch is large (an activation is a pure streaming pass: one core cannot pull the memory
    /// bandwidth of two). Elementwise, so the result does not depend on the split.
    /// </summary>
    private static void ForEachPiece(WeightSpaceBatch x, Action<int, int, int> body)
    {
        var pieces = new List<(int Tensor, int Start, int Length)>();
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            int n = x.Tensors[t].Data.Length;
            for (int start = 0; start < n; start += Piece) pieces.Add((t, start, Math.Min(Piece, n - start)));
        }
        if (pieces.Count < 4) { foreach (var p in pieces) body(p.Tensor, p.Start, p.Length); return; }
        System.Threading.Tasks.Parallel.For(0, pieces.Count, i => body(pieces[i].Tensor, pieces[i].Start, pieces[i].Length));
    }
}
