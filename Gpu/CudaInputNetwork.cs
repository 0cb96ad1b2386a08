using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Runtime.InteropServices;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Gpu;

/// <summary>
/// The generated kernels of an input network (<c>Arch.NetworkCuda.Info</c>) compiled for a device: the batched forward of
/// many networks at shared points, and per network the MSE to its own targets with the gradient w.r.t. its own weights.
/// <para>Device API on device buffers (asynchronous; layouts in <see cref="CudaInputNetworkSource"/>): <see cref="Forward(CudaBuffer, CudaBuffer, int, CudaBuffer, int, CudaStream?)"/>,
/// <see cref="MseGradient(CudaBuffer, CudaBuffer, int, CudaBuffer, CudaBuffer, CudaBuffer, int, CudaStream?)"/>. Host API: copies in,
/// runs, copies out. Not thread-safe.</para>
/// </summary>
public sealed class CudaInputNetwork : IDisposable
{
    private readonly KernelArgs _args = new(8);
    private readonly CudaKernel _forward, _grad;
    private bool _disposed;

    public CudaInputNetworkSource Network { get; }
    public CudaDevice Device { get; }
    public CudaModule Module { get; }

    /// <summary>Compiles the network's kernels (NVRTC; cached on disk by the device's <see cref="CubinCache"/>).</summary>
    public CudaInputNetwork(CudaDevice device, CudaInputNetworkSource network, string[]? compileOptions = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(network);
        network.EnsureSupported();
        Device = device; Network = network;
        Module = device.Compile(network.Source, [.. CudaInputNetworkSource.KernelNames], compileOptions);
        _forward = Module[CudaInputNetworkSource.ForwardKernel];
        _grad = Module[CudaInputNetworkSource.GradientKernel];
    }

    /// <summary>Overwrites <paramref name="output"/> ([batch, pointCount, OutputWidth]) with every network at every point.</summary>
    public void Forward(CudaBuffer parameters, CudaBuffer points, int pointCount, CudaBuffer output, int batch, CudaStream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int blocks = Network.ForwardBlocks(batch, pointCount);
        CheckLength(parameters, (long)batch * Network.ParameterCount, nameof(parameters));
        CheckLength(points, (long)pointCount * Network.InputWidth, nameof(points));
        CheckLength(output, (long)batch * pointCount * Network.OutputWidth, nameof(output));
        _args.Clear();
        _args.Add(batch).Add(pointCount).Add(Network.ForwardChunks(pointCount)).Add(points).Add(parameters).Add(output);
        _forward.Launch(blocks, Network.BlockSize, _args, stream);
    }

    /// <summary>
    /// Per network n: loss[n] = mean over points and outputs of (output − target)² and gradient[n] = d loss / d parameters
    /// (overwritten). <paramref name="loss"/> holds one double per network (2 floats each). Deterministic.
    /// </summary>
    public void MseGradient(CudaBuffer parameters, CudaBuffer points, int pointCount, CudaBuffer targets, CudaBuffer gradient, CudaBuffer loss, int batch, CudaStream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "At least one network is needed.");
        if (pointCount <= 0) throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "At least one point is needed.");
        CheckLength(parameters, (long)batch * Network.ParameterCount, nameof(parameters));
        CheckLength(points, (long)pointCount * Network.InputWidth, nameof(points));
        CheckLength(targets, (long)batch * pointCount * Network.OutputWidth, nameof(targets));
        CheckLength(gradient, (long)batch * Network.ParameterCount, nameof(gradient));
        CheckLength(loss, 2L * batch, nameof(loss));
        _args.Clear();
        _args.Add(batch).Add(pointCount).Add(points).Add(parameters).Add(targets).Add(gradient).Add(loss);
        _grad.Launch(batch, Network.BlockSize, _args, stream);
    }

    // ---------------------------------------------------------------- host API

    /// <summary>Outputs [batch, pointCount, OutputWidth] of flat parameters [batch, ParameterCount].</summary>
    public float[] Forward(float[] parameters, int batch, float[] points, int pointCount)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(points);
        using var p = Device.Upload(parameters.AsSpan(0, checked(batch * Network.ParameterCount)));
        using var x = Device.Upload(points.AsSpan(0, checked(pointCount * Network.InputWidth)));
        using var y = Device.Allocate((long)batch * pointCount * Network.OutputWidth);
        Forward(p, x, pointCount, y, batch);
        return y.ToArray();
    }

    /// <summary>The same for a 1-channel weight-space batch.</summary>
    public float[] Forward(WeightSpaceBatch weights, float[] points, int pointCount) =>
        Forward(Network.Flatten(weights), weights.Batch, points, pointCount);

    /// <summary>
    /// Per-network MSE to <paramref name="targets"/> ([batch, pointCount, OutputWidth]); overwrites <paramref name="gradient"/>
    /// ([batch, ParameterCount]) with its gradient.
    /// </summary>
    public double[] MseGradient(float[] parameters, int batch, float[] points, int pointCount, float[] targets, float[] gradient)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(targets); ArgumentNullException.ThrowIfNull(gradient);
        int n = checked(batch * Network.ParameterCount);
        if (gradient.Length < n) throw new ArgumentException($"gradient holds {gradient.Length} floats, {batch} networks need {n}.", nameof(gradient));
        using var p = Device.Upload(parameters.AsSpan(0, n));
        using var x = Device.Upload(points.AsSpan(0, checked(pointCount * Network.InputWidth)));
        using var t = Device.Upload(targets.AsSpan(0, checked(batch * pointCount * Network.OutputWidth)));
        using var g = Device.Allocate(n);
        using var l = Device.Allocate(2L * batch);
        MseGradient(p, x, pointCount, t, g, l, batch);
        g.CopyTo(gradient.AsSpan(0, n));
        return ReadDoubles(l, batch);
    }

    internal static double[] ReadDoubles(CudaBuffer buffer, int count)
    {
        var raw = new float[2 * count];
        buffer.CopyTo(raw);
        return MemoryMarshal.Cast<float, double>(raw).ToArray();
    }

    private static void CheckLength(CudaBuffer buffer, long expected, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer.Length < expected) throw new ArgumentException($"{name} holds {buffer.Length} floats; expected at least {expected}.", name);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Module.Dispose();
        _args.Dispose();
    }
}
