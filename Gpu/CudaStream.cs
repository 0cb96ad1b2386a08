using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu;

/// <summary>
/// A CUDA stream (cuStreamCreate). By default it synchronizes with the legacy default stream, which the
/// synchronous buffer copies use; pass <c>nonBlocking: true</c> for a stream that does not.
/// Wherever a <see cref="CudaStream"/> is optional, null means the legacy default stream.
/// </summary>
public sealed unsafe class CudaStream : IDisposable
{
    private IntPtr _handle;

    public CudaDevice Device { get; }
    public bool NonBlocking { get; }

    public IntPtr Handle
    {
        get { ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this); return _handle; }
    }

    internal CudaStream(CudaDevice device, bool nonBlocking)
    {
        Device = device;
        NonBlocking = nonBlocking;
        device.MakeCurrent();
        IntPtr h;
        CuDriver.Check(CuDriver.cuStreamCreate(&h, nonBlocking ? CuDriver.StreamNonBlocking : CuDriver.StreamDefault), nameof(CuDriver.cuStreamCreate));
        _handle = h;
    }

    /// <summary>Waits until all work queued on the stream has finished.</summary>
    public void Synchronize()
    {
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuStreamSynchronize(Handle), nameof(CuDriver.cuStreamSynchronize));
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        IntPtr h = _handle;
        _handle = IntPtr.Zero;
        if (Device.TryMakeCurrent()) CuDriver.cuStreamDestroy_v2(h);
    }
}
