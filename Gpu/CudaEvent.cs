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

/// <summary>A CUDA event (cuEventCreate), for ordering and for GPU-side timing.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private IntPtr _handle;

    public CudaDevice Device { get; }
    public bool TimingDisabled { get; }

    public IntPtr Handle
    {
        get { ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this); return _handle; }
    }

    internal CudaEvent(CudaDevice device, bool disableTiming)
    {
        Device = device;
        TimingDisabled = disableTiming;
        device.MakeCurrent();
        IntPtr h;
        CuDriver.Check(CuDriver.cuEventCreate(&h, disableTiming ? CuDriver.EventDisableTiming : CuDriver.EventDefault), nameof(CuDriver.cuEventCreate));
        _handle = h;
    }

    /// <summary>Records the event on <paramref name="stream"/> (null: the legacy default stream).</summary>
    public void Record(CudaStream? stream = null)
    {
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuEventRecord(Handle, stream?.Handle ?? IntPtr.Zero), nameof(CuDriver.cuEventRecord));
    }

    /// <summary>Waits until the work recorded before this event has finished.</summary>
    public void Synchronize()
    {
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuEventSynchronize(Handle), nameof(CuDriver.cuEventSynchronize));
    }

    /// <summary>
    /// GPU time in milliseconds from <paramref name="start"/> to <paramref name="end"/> (resolution about 0.5 µs).
    /// Waits for <paramref name="end"/> first.
    /// </summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        end.Synchronize();
        float ms;
        CuDriver.Check(CuDriver.cuEventElapsedTime(&ms, start.Handle, end.Handle), nameof(CuDriver.cuEventElapsedTime));
        return ms;
    }

    /// <summary>Milliseconds from <paramref name="start"/> to this event.</summary>
    public float ElapsedMillisecondsSince(CudaEvent start) => ElapsedMilliseconds(start, this);

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        IntPtr h = _handle;
        _handle = IntPtr.Zero;
        if (Device.TryMakeCurrent()) CuDriver.cuEventDestroy_v2(h);
    }
}
