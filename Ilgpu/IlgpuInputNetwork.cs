using System;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Runtime;

namespace LayerCompiler.Ilgpu;

/// <summary>The one argument (after the index) of the generated input-network kernels (<c>Arch.IlgpuNetwork</c>).</summary>
public struct IlgpuInputNetworkArgs
{
    public int Batch;
    public int PointCount;
    /// <summary>[pointCount, inputs], shared by every network.</summary>
    public ArrayView<float> Points;
    /// <summary>[batch, ParameterCount]: each network's tensors in order (W1 (out, in), b1, W2, ...).</summary>
    public ArrayView<float> Params;
    /// <summary>Forward: the outputs [batch, pointCount, outputs]. Backward: the output gradient, same layout.</summary>
    public ArrayView<float> Out;
    /// <summary>[batch, pointCount, ScratchPerPoint]: each layer's input and gradient at each point (backward).</summary>
    public ArrayView<float> Scratch;
    /// <summary>[batch, ParameterCount]: the parameter gradients (overwritten).</summary>
    public ArrayView<float> Grad;
}

/// <summary>A generated dense input network's ILGPU kernels and sizes (<c>Generator/Emit/IlgpuInputNetworkEmitter.cs</c>).</summary>
public sealed class IlgpuInputNetworkSource
{
    public required int ParameterCount { get; init; }
    public required int InputWidth { get; init; }
    public required int OutputWidth { get; init; }
    public required int ScratchPerPoint { get; init; }
    public required int TensorCount { get; init; }
    public required Action<Index1D, IlgpuInputNetworkArgs> Forward { get; init; }
    public required Action<Index1D, IlgpuInputNetworkArgs> PointBackward { get; init; }
    public required Action<Index1D, IlgpuInputNetworkArgs> ParameterGradient { get; init; }
}

/// <summary>
/// Batches of a generated dense input network on an ILGPU accelerator: outputs at shared points, and the weight gradient
/// for a given output gradient (INR fitting's inner step). Deterministic: each parameter's gradient is summed over the
/// points in order by one thread.
/// </summary>
public sealed class IlgpuInputNetwork : IDisposable
{
    public IlgpuDevice Device { get; }
    public IlgpuInputNetworkSource Source { get; }
    public global::LayerCompiler.Algebra.WeightSpace Space { get; }
    private readonly Action<AcceleratorStream, Index1D, IlgpuInputNetworkArgs> _forward, _pointBackward, _parameterGradient;
    private readonly int[] _tensorOffsets;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scratch;

    public IlgpuInputNetwork(IlgpuDevice device, IlgpuInputNetworkSource source, global::LayerCompiler.Algebra.WeightSpace space)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(space);
        if (space.Tensors.Count != source.TensorCount || space.Dimension != source.ParameterCount)
            throw new ArgumentException($"The generated network has {source.TensorCount} tensors and {source.ParameterCount} parameters; the weight space has {space.Tensors.Count} and {space.Dimension}.", nameof(space));
        Device = device; Source = source; Space = space;
        var acc = device.Accelerator;
        _forward = acc.LoadAutoGroupedKernel(source.Forward);
        _pointBackward = acc.LoadAutoGroupedKernel(source.PointBackward);
        _parameterGradient = acc.LoadAutoGroupedKernel(source.ParameterGradient);
        _tensorOffsets = new int[space.Tensors.Count];
        for (int t = 1; t < _tensorOffsets.Length; t++) _tensorOffsets[t] = _tensorOffsets[t - 1] + space.Tensors[t - 1].Size;
    }

    private static void Check(int batch, int pointCount)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A batch holds at least one network.");
        if (pointCount < 1) throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "At least one point is needed.");
    }

    /// <summary>Outputs [batch, pointCount, outputs] of flat parameters [batch, ParameterCount]. Asynchronous.</summary>
    public void Forward(ArrayView<float> parameters, ArrayView<float> points, ArrayView<float> output, int batch, int pointCount)
    {
        Check(batch, pointCount);
        var a = Args(parameters, points, output, batch, pointCount);
        _forward(Device.Accelerator.DefaultStream, batch * pointCount, a);
    }

    /// <summary>gradient [batch, ParameterCount] (overwritten) of Σ over points and outputs of gradOutput · output. Asynchronous.</summary>
    public void Backward(ArrayView<float> parameters, ArrayView<float> points, ArrayView<float> gradOutput, ArrayView<float> gradient, int batch, int pointCount)
    {
        Check(batch, pointCount);
        if (gradient.Length != (long)batch * Source.ParameterCount) throw new ArgumentException($"gradient holds {gradient.Length} floats; expected {(long)batch * Source.ParameterCount}.", nameof(gradient));
        long need = (long)batch * pointCount * Source.ScratchPerPoint;
        if (need > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch × points × {Source.ScratchPerPoint} scratch floats must stay below 2^31; use smaller batches.");
        if (_scratch == null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = Device.Accelerator.Allocate1D<float>(need);
        }
        var a = Args(parameters, points, gradOutput, batch, pointCount);
        a.Scratch = _scratch.View;
        a.Grad = gradient;
        var stream = Device.Accelerator.DefaultStream;
        _pointBackward(stream, batch * pointCount, a);
        _parameterGradient(stream, batch * Source.ParameterCount, a);
    }

    private IlgpuInputNetworkArgs Args(ArrayView<float> parameters, ArrayView<float> points, ArrayView<float> output, int batch, int pointCount)
    {
        if (parameters.Length != (long)batch * Source.ParameterCount) throw new ArgumentException($"parameters hold {parameters.Length} floats; expected batch × {Source.ParameterCount}.", nameof(parameters));
        if (points.Length < (long)pointCount * Source.InputWidth) throw new ArgumentException($"points hold {points.Length} floats; expected {pointCount} × {Source.InputWidth}.", nameof(points));
        if (output.Length != (long)batch * pointCount * Source.OutputWidth) throw new ArgumentException($"outputs hold {output.Length} floats; expected batch × points × {Source.OutputWidth}.", nameof(output));
        return new IlgpuInputNetworkArgs { Batch = batch, PointCount = pointCount, Points = points, Params = parameters, Out = output };
    }

    /// <summary>Each network's tensors in order, one flat vector per network ([batch, ParameterCount]).</summary>
    public float[] Flatten(WeightSpaceBatch weights)
    {
        if (weights.Channels != 1 || weights.Tensors.Length != Space.Tensors.Count) throw new ArgumentException("Input-network weights have 1 channel and this network's tensors.", nameof(weights));
        var flat = new float[weights.Batch * Source.ParameterCount];
        for (int t = 0; t < Space.Tensors.Count; t++)
        {
            int size = Space.Tensors[t].Size;
            for (int n = 0; n < weights.Batch; n++)
                Array.Copy(weights.Tensors[t].Data, n * size, flat, n * Source.ParameterCount + _tensorOffsets[t], size);
        }
        return flat;
    }

    /// <summary>The inverse of <see cref="Flatten"/>.</summary>
    public void Unflatten(ReadOnlySpan<float> flat, WeightSpaceBatch weights)
    {
        for (int t = 0; t < Space.Tensors.Count; t++)
        {
            int size = Space.Tensors[t].Size;
            for (int n = 0; n < weights.Batch; n++)
                flat.Slice(n * Source.ParameterCount + _tensorOffsets[t], size).CopyTo(weights.Tensors[t].Data.AsSpan(n * size, size));
        }
    }

    /// <summary>Host API: outputs [batch, pointCount, outputs] (as the generated C# <c>Arch.Network.Forward</c>).</summary>
    public float[] Forward(WeightSpaceBatch weights, float[] points, int pointCount)
    {
        var acc = Device.Accelerator;
        using var p = acc.Allocate1D(Flatten(weights));
        using var x = acc.Allocate1D(points);
        using var y = acc.Allocate1D<float>((long)weights.Batch * pointCount * Source.OutputWidth);
        Forward(p.View, x.View, y.View, weights.Batch, pointCount);
        return y.GetAsArray1D();
    }

    /// <summary>Host API: the weight gradient for an output gradient (as the generated C# <c>Arch.Network.Backward</c>).</summary>
    public void Backward(WeightSpaceBatch weights, float[] points, int pointCount, float[] gradOutput, WeightSpaceBatch gradWeights)
    {
        var acc = Device.Accelerator;
        using var p = acc.Allocate1D(Flatten(weights));
        using var x = acc.Allocate1D(points);
        using var g = acc.Allocate1D(gradOutput);
        using var gw = acc.Allocate1D<float>((long)weights.Batch * Source.ParameterCount);
        Backward(p.View, x.View, g.View, gw.View, weights.Batch, pointCount);
        Unflatten(gw.GetAsArray1D(), gradWeights);
    }

    public void Dispose() => _scratch?.Dispose();
}
