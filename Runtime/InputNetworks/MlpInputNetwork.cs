using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>
/// Runs any dense input network (a weight space built by <see cref="Algebra.WeightSpace.FromLayers"/> from
/// Dense layers) for a batch of networks at shared points, without generated code. Hidden layers apply
/// ReLU, tanh or SIREN's sin(ω0·(W h + b)); the last layer is linear plus <see cref="OutputOffset"/>.
/// </summary>
/// <remarks>
/// <para>Networks run in parallel (one network per task, so results do not depend on the thread count).
/// Within a network, points are processed in tiles of <see cref="TilePoints"/>, feature-major, so the
/// loops vectorize over points whatever the widths; a partial last tile is padded with points whose
/// output gradient is zero, so they contribute nothing.</para>
/// <para>Besides the <see cref="IInputNetwork"/> batch API, one network can be run from a flat parameter
/// vector (the tensors of <see cref="Space"/> in order, W (out, in) then b (out), layer by layer) with a
/// caller-owned <see cref="Workspace"/>: that is what fitters use to keep one network hot in cache for
/// many steps.</para>
/// </remarks>
public sealed class MlpInputNetwork : IInputNetwork
{
    /// <summary>Points per tile (a multiple of 8).</summary>
    public const int TilePoints = 128;

    private readonly int[] _widths;
    private readonly int[] _wOffset;   // per layer m = 0..Depth-1: offset of W_{m+1} in the flat vector
    private readonly int[] _bOffset;   // offset of b_{m+1}, or -1 when the layer has no bias
    private readonly int[] _tensorOffset;
    private readonly int _maxWidth;

    public MlpInputNetwork(global::LayerCompiler.Algebra.WeightSpace space, InputActivation activation = InputActivation.ReLU, float omega0 = 30f, float outputOffset = 0f)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (space.Declarations.Count == 0)
            throw new ArgumentException("The weight space has no layer declarations; build it with WeightSpace.FromLayers.", nameof(space));
        foreach (var d in space.Declarations)
            if (d.Kind != LayerKind.Dense)
                throw new ArgumentException($"MlpInputNetwork runs dense networks only; layer {d} is not Dense.", nameof(space));
        if (!Enum.IsDefined(activation)) throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown input-network activation.");
        if (activation == InputActivation.Sine && !(omega0 > 0f && float.IsFinite(omega0)))
            throw new ArgumentOutOfRangeException(nameof(omega0), omega0, "ω0 must be positive and finite for a sine network.");
        if (!float.IsFinite(outputOffset)) throw new ArgumentOutOfRangeException(nameof(outputOffset), outputOffset, "The output offset must be finite.");
        Space = space; Activation = activation; Omega0 = omega0; OutputOffset = outputOffset;

        int depth = space.Declarations.Count;
        _widths = new int[depth + 1];
        _widths[0] = space.Declarations[0].In;
        for (int m = 0; m < depth; m++) _widths[m + 1] = space.Declarations[m].Out;
        _maxWidth = _widths.Max();

        _tensorOffset = new int[space.Tensors.Count];
        _wOffset = new int[depth];
        _bOffset = Enumerable.Repeat(-1, depth).ToArray();
        int offset = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            _tensorOffset[t] = offset;
            int m = wt.LayerNumber - 1;
            if (wt.IsBias) _bOffset[m] = offset; else _wOffset[m] = offset;
            offset += wt.Size;
        }
        ParameterCount = offset;
    }

    public global::LayerCompiler.Algebra.WeightSpace Space { get; }
    public InputActivation Activation { get; }
    public float Omega0 { get; }
    public float OutputOffset { get; }
    public int InputWidth => _widths[0];
    public int OutputWidth => _widths[^1];
    /// <summary>Number of layers M.</summary>
    public int Depth => _widths.Length - 1;
    /// <summary>Neuron-layer widths d_0 … d_M.</summary>
    public IReadOnlyList<int> Widths => _widths;
    /// <summary>Scalars in one network's flat parameter vector.</summary>
    public int ParameterCount { get; }
    /// <summary>Cap on parallel networks (-1 = all cores).</summary>
    public int MaxDegreeOfParallelism { get; set; } = -1;

    /// <summary>Offset of tensor <paramref name="tensor"/> of <see cref="Space"/> within a flat parameter vector.</summary>
    public int TensorOffset(int tensor) => _tensorOffset[tensor];

    /// <summary>Scratch memory for running one network at a time (not thread-safe: one per thread).</summary>
    public sealed class Workspace
    {
        internal readonly float[] Input;        // [d0, tile]
        internal readonly float[][] Hidden;     // per hidden layer: activations [d_m, tile]
        internal readonly float[][] Derivative; // per hidden layer: act'(z) [d_m, tile]
        internal readonly float[] Output;       // [dM, tile]
        internal readonly float[] GradA, GradB; // [maxWidth, tile]
        internal readonly float[] Flat;         // one network's parameters (batch API)
        internal readonly float[] FlatGrad;

        internal Workspace(MlpInputNetwork net)
        {
            int tile = TilePoints;
            Input = new float[net.InputWidth * tile];
            Hidden = new float[net.Depth - 1][];
            Derivative = new float[net.Depth - 1][];
            for (int m = 1; m < net.Depth; m++)
            {
                Hidden[m - 1] = new float[net._widths[m] * tile];
                Derivative[m - 1] = new float[net._widths[m] * tile];
            }
            Output = new float[net.OutputWidth * tile];
            GradA = new float[net._maxWidth * tile];
            GradB = new float[net._maxWidth * tile];
            Flat = new float[net.ParameterCount];
            FlatGrad = new float[net.ParameterCount];
        }
    }

    public Workspace CreateWorkspace() => new(this);

    // ------------------------------------------------------------------ one network

    /// <summary>output[p, o] for one network given by its flat parameter vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ForwardNetwork(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, Span<float> output, Workspace workspace)
    {
        CheckNetworkArgs(parameters, points, pointCount, workspace);
        if (output.Length < pointCount * OutputWidth)
            throw new ArgumentException($"output holds {output.Length} floats, {pointCount} points × {OutputWidth} outputs need {pointCount * OutputWidth}.", nameof(output));
        int dOut = OutputWidth;
        for (int p0 = 0; p0 < pointCount; p0 += TilePoints)
        {
            int count = Math.Min(TilePoints, pointCount - p0), width = Pad(count);
            ForwardTile(parameters, points, p0, count, width, workspace);
            var o = workspace.Output;
            for (int j = 0; j < dOut; j++)
                for (int t = 0; t < count; t++) output[(p0 + t) * dOut + j] = o[j * width + t];
        }
    }

    /// <summary>Overwrites <paramref name="gradParameters"/> with d loss / d parameters given d loss / d output ([pointCount, OutputWidth]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BackwardNetwork(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, ReadOnlySpan<float> gradOutput, Span<float> gradParameters, Workspace workspace)
    {
        CheckNetworkArgs(parameters, points, pointCount, workspace);
        if (gradOutput.Length < pointCount * OutputWidth)
            throw new ArgumentException($"gradOutput holds {gradOutput.Length} floats, {pointCount} points × {OutputWidth} outputs need {pointCount * OutputWidth}.", nameof(gradOutput));
        CheckGrad(gradParameters);
        gradParameters.Clear();
        int dOut = OutputWidth;
        for (int p0 = 0; p0 < pointCount; p0 += TilePoints)
        {
            int count = Math.Min(TilePoints, pointCount - p0), width = Pad(count);
            ForwardTile(parameters, points, p0, count, width, workspace);
            var g = workspace.GradA;
            for (int j = 0; j < dOut; j++)
            {
                int row = j * width;
                for (int t = 0; t < count; t++) g[row + t] = gradOutput[(p0 + t) * dOut + j];
                Array.Clear(g, row + count, width - count);
            }
            BackwardTile(parameters, gradParameters, width, workspace);
        }
    }

    /// <summary>
    /// Mean squared error over all points and outputs against <paramref name="targets"/> ([pointCount, OutputWidth]),
    /// computed in float64 from the float32 outputs. When <paramref name="gradParameters"/> is not empty it is
    /// overwritten with d MSE / d parameters (one forward and one backward pass per tile).
    /// </summary>
    public double MseAndGradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, ReadOnlySpan<float> targets, Span<float> gradParameters, Workspace workspace)
    {
        CheckNetworkArgs(parameters, points, pointCount, workspace);
        int dOut = OutputWidth;
        if (targets.Length < pointCount * dOut)
            throw new ArgumentException($"targets hold {targets.Length} floats, {pointCount} points × {dOut} outputs need {pointCount * dOut}.", nameof(targets));
        bool wantGrad = !gradParameters.IsEmpty;
        if (wantGrad) { CheckGrad(gradParameters); gradParameters.Clear(); }
        double sum = SquaredErrorTiles(parameters, points, pointCount, targets, 2f / (pointCount * dOut), Span<float>.Empty, gradParameters, wantGrad, workspace);
        return sum / ((double)pointCount * dOut);
    }

    /// <summary>
    /// One network's outputs at every point and, in the same pass over each tile, the weight gradient of a squared error
    /// whose output gradient is d loss / d output[i] = (float)(2·((double)output[i] − targets[i])·<paramref name="scale"/>)
    /// (<paramref name="scale"/>: one over the number of outputs the loss averages, which may span many networks): the
    /// arithmetic of a float64 mean squared error over float32 outputs. Writes <paramref name="output"/>
    /// ([pointCount, OutputWidth]) and overwrites <paramref name="gradParameters"/>; the loss itself is left to the caller
    /// (summing over <paramref name="output"/> in the caller's order).
    /// </summary>
    public void SquaredErrorGradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, ReadOnlySpan<float> targets, double scale,
        Span<float> output, Span<float> gradParameters, Workspace workspace)
    {
        CheckNetworkArgs(parameters, points, pointCount, workspace);
        int dOut = OutputWidth;
        if (targets.Length < pointCount * dOut)
            throw new ArgumentException($"targets hold {targets.Length} floats, {pointCount} points × {dOut} outputs need {pointCount * dOut}.", nameof(targets));
        if (output.Length < pointCount * dOut)
            throw new ArgumentException($"output holds {output.Length} floats, {pointCount} points × {dOut} outputs need {pointCount * dOut}.", nameof(output));
        CheckGrad(gradParameters);
        gradParameters.Clear();
        SquaredErrorTiles(parameters, points, pointCount, targets, scale, output, gradParameters, wantGrad: true, workspace);
    }

    /// <summary>
    /// The tile loop of <see cref="MseAndGradient"/> and <see cref="SquaredErrorGradient"/>: forward each tile, set the output
    /// gradient of a squared error against <paramref name="targets"/>, back-propagate it into <paramref name="gradParameters"/>
    /// when <paramref name="wantGrad"/>. With an empty <paramref name="output"/> (fitting), the gradient is scale·e in float32
    /// (scale = 2 / outputs) and the float32 per-tile sums of e² are returned; otherwise the outputs are written and the gradient
    /// is (float)(2·((double)y − target)·scale), returning 0 (the caller sums the loss in its own order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double SquaredErrorTiles(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, ReadOnlySpan<float> targets, double scale,
        Span<float> output, Span<float> gradParameters, bool wantGrad, Workspace workspace)
    {
        int dOut = OutputWidth;
        bool fitting = output.IsEmpty;
        float fitScale = (float)scale;
        double sum = 0;
        for (int p0 = 0; p0 < pointCount; p0 += TilePoints)
        {
            int count = Math.Min(TilePoints, pointCount - p0), width = Pad(count);
            ForwardTile(parameters, points, p0, count, width, workspace);
            var o = workspace.Output;
            var g = workspace.GradA;
            for (int j = 0; j < dOut; j++)
            {
                int row = j * width;
                if (fitting)
                {
                    float tileSum = 0;
                    for (int t = 0; t < count; t++)
                    {
                        float e = o[row + t] - targets[(p0 + t) * dOut + j];
                        tileSum += e * e;
                        g[row + t] = fitScale * e;
                    }
                    sum += tileSum;
                }
                else
                    for (int t = 0; t < count; t++)
                    {
                        int i = (p0 + t) * dOut + j;
                        float y = o[row + t];
                        output[i] = y;
                        g[row + t] = (float)(2 * ((double)y - targets[i]) * scale);
                    }
                Array.Clear(g, row + count, width - count);
            }
            if (wantGrad) BackwardTile(parameters, gradParameters, width, workspace);
        }
        return sum;
    }

    private static int Pad(int count) => (count + 7) & ~7;

    private void CheckNetworkArgs(ReadOnlySpan<float> parameters, ReadOnlySpan<float> points, int pointCount, Workspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        if (parameters.Length != ParameterCount)
            throw new ArgumentException($"The network has {ParameterCount} parameters, got a vector of {parameters.Length}.", nameof(parameters));
        if (pointCount <= 0) throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "At least one point is needed.");
        if (points.Length < (long)pointCount * InputWidth)
            throw new ArgumentException($"points hold {points.Length} floats, {pointCount} points × {InputWidth} inputs need {(long)pointCount * InputWidth}.", nameof(points));
        if (workspace.Flat.Length != ParameterCount || workspace.Input.Length != InputWidth * TilePoints)
            throw new ArgumentException("The workspace was created by a different network.", nameof(workspace));
    }

    private void CheckGrad(Span<float> grad)
    {
        if (grad.Length != ParameterCount)
            throw new ArgumentException($"The gradient vector has {grad.Length} entries, the network has {ParameterCount} parameters.", nameof(grad));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ForwardTile(ReadOnlySpan<float> p, ReadOnlySpan<float> points, int p0, int count, int width, Workspace ws)
    {
        int d0 = InputWidth;
        var x = ws.Input;
        for (int i = 0; i < d0; i++)
        {
            int row = i * width;
            for (int t = 0; t < count; t++) x[row + t] = points[(p0 + t) * d0 + i];
            Array.Clear(x, row + count, width - count);
        }
        ReadOnlySpan<float> input = x.AsSpan(0, d0 * width);
        int depth = Depth;
        for (int m = 0; m < depth; m++)
        {
            int dIn = _widths[m], dOutM = _widths[m + 1];
            var w = p.Slice(_wOffset[m], dIn * dOutM);
            var b = _bOffset[m] >= 0 ? p.Slice(_bOffset[m], dOutM) : ReadOnlySpan<float>.Empty;
            if (m < depth - 1)
            {
                var h = ws.Hidden[m].AsSpan(0, dOutM * width);
                PointKernels.MatMul(w, dIn, 1, dOutM, dIn, input, h, width, b);
                PointKernels.Activate(Activation, Omega0, h, ws.Derivative[m].AsSpan(0, dOutM * width));
                input = h;
            }
            else
            {
                var o = ws.Output.AsSpan(0, dOutM * width);
                PointKernels.MatMul(w, dIn, 1, dOutM, dIn, input, o, width, b);
                if (OutputOffset != 0f) for (int i = 0; i < o.Length; i++) o[i] += OutputOffset;
            }
        }
    }

    /// <summary>Accumulates the tile's weight gradient; the output gradient is in ws.GradA ([dM, width]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BackwardTile(ReadOnlySpan<float> p, Span<float> grad, int width, Workspace ws)
    {
        float[] g = ws.GradA, next = ws.GradB;
        for (int m = Depth - 1; m >= 0; m--)
        {
            int dIn = _widths[m], dOutM = _widths[m + 1];
            ReadOnlySpan<float> input = m == 0 ? ws.Input.AsSpan(0, dIn * width) : ws.Hidden[m - 1].AsSpan(0, dIn * width);
            var gm = g.AsSpan(0, dOutM * width);
            var db = _bOffset[m] >= 0 ? grad.Slice(_bOffset[m], dOutM) : Span<float>.Empty;
            PointKernels.OuterAccumulate(gm, dOutM, input, dIn, width, grad.Slice(_wOffset[m], dIn * dOutM), db);
            if (m == 0) break;
            // d input = Wᵀ g, then through the previous layer's activation.
            var gi = next.AsSpan(0, dIn * width);
            PointKernels.MatMul(p.Slice(_wOffset[m], dIn * dOutM), 1, dIn, dIn, dOutM, gm, gi, width, ReadOnlySpan<float>.Empty);
            PointKernels.MultiplyInPlace(gi, ws.Derivative[m - 1].AsSpan(0, dIn * width));
            (g, next) = (next, g);
        }
    }

    // ------------------------------------------------------------------ batches (IInputNetwork)

    /// <summary>Copies network <paramref name="n"/>'s weights out of a 1-channel batch into a flat vector.</summary>
    public void Gather(WeightSpaceBatch weights, int n, Span<float> flat)
    {
        for (int t = 0; t < weights.Tensors.Length; t++)
        {
            int size = Space.Tensors[t].Size;
            weights.Tensors[t].Data.AsSpan(n * size, size).CopyTo(flat.Slice(_tensorOffset[t], size));
        }
    }

    /// <summary>Copies a flat vector into network <paramref name="n"/> of a 1-channel batch.</summary>
    public void Scatter(ReadOnlySpan<float> flat, WeightSpaceBatch weights, int n)
    {
        for (int t = 0; t < weights.Tensors.Length; t++)
        {
            int size = Space.Tensors[t].Size;
            flat.Slice(_tensorOffset[t], size).CopyTo(weights.Tensors[t].Data.AsSpan(n * size, size));
        }
    }

    public void Forward(WeightSpaceBatch weights, float[] points, int pointCount, float[] output)
    {
        CheckBatch(weights, nameof(weights));
        ArgumentNullException.ThrowIfNull(points); ArgumentNullException.ThrowIfNull(output);
        long need = (long)weights.Batch * pointCount * OutputWidth;
        if (output.Length < need)
            throw new ArgumentException($"output holds {output.Length} floats; {weights.Batch} networks × {pointCount} points × {OutputWidth} outputs need {need}.", nameof(output));
        int per = pointCount * OutputWidth;
        ForNetworks(weights.Batch, (n, ws) =>
        {
            Gather(weights, n, ws.Flat);
            ForwardNetwork(ws.Flat, points, pointCount, output.AsSpan(n * per, per), ws);
        });
    }

    public void Backward(WeightSpaceBatch weights, float[] points, int pointCount, float[] gradOutput, WeightSpaceBatch gradWeights)
    {
        CheckBatch(weights, nameof(weights));
        CheckBatch(gradWeights, nameof(gradWeights));
        if (gradWeights.Batch != weights.Batch)
            throw new ArgumentException($"gradWeights holds {gradWeights.Batch} networks, weights {weights.Batch}.", nameof(gradWeights));
        ArgumentNullException.ThrowIfNull(points); ArgumentNullException.ThrowIfNull(gradOutput);
        long need = (long)weights.Batch * pointCount * OutputWidth;
        if (gradOutput.Length < need)
            throw new ArgumentException($"gradOutput holds {gradOutput.Length} floats; {weights.Batch} networks × {pointCount} points × {OutputWidth} outputs need {need}.", nameof(gradOutput));
        int per = pointCount * OutputWidth;
        ForNetworks(weights.Batch, (n, ws) =>
        {
            Gather(weights, n, ws.Flat);
            BackwardNetwork(ws.Flat, points, pointCount, gradOutput.AsSpan(n * per, per), ws.FlatGrad, ws);
            Scatter(ws.FlatGrad, gradWeights, n);
        });
    }

    private void ForNetworks(int batch, Action<int, Workspace> body)
    {
        if (batch == 1 || MaxDegreeOfParallelism == 1)
        {
            var ws = CreateWorkspace();
            for (int n = 0; n < batch; n++) body(n, ws);
            return;
        }
        Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism }, CreateWorkspace,
            (n, _, ws) => { body(n, ws); return ws; }, _ => { });
    }

    private void CheckBatch(WeightSpaceBatch batch, string name)
    {
        ArgumentNullException.ThrowIfNull(batch, name);
        if (batch.Channels != 1)
            throw new ArgumentException($"Input-network weights must have 1 channel (raw weights), got {batch.Channels}.", name);
        bool same = batch.Space.Tensors.Count == Space.Tensors.Count;
        for (int t = 0; same && t < Space.Tensors.Count; t++)
            same = batch.Space.Tensors[t].Shape.AsSpan().SequenceEqual(Space.Tensors[t].Shape);
        if (!same)
            throw new ArgumentException(
                $"The batch's weight space [{string.Join(", ", batch.Space.Tensors.Select(t => t.ToString()))}] is not this network's [{string.Join(", ", Space.Tensors.Select(t => t.ToString()))}].", name);
    }

    public override string ToString() =>
        $"MlpInputNetwork({string.Join("→", _widths)}, {Activation}{(Activation == InputActivation.Sine ? $" ω0={Omega0}" : "")}{(OutputOffset != 0 ? $", +{OutputOffset}" : "")})";
}
