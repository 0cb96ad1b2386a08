using LayerCompiler.Runtime;
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
/// A device buffer of <see cref="Length"/> floats (cuMemAlloc). All operations without a stream argument go through
/// the legacy default stream, so they are ordered with work on streams created with <c>nonBlocking: false</c>.
/// <see cref="CopyTo(Span{float}, long)"/> returns when the data is on the host. <see cref="CopyFrom(ReadOnlySpan{float}, long)"/>
/// returns once the source span may be reused; <see cref="Zero"/>, <see cref="Fill"/> and <see cref="CopyFrom(CudaBuffer)"/>
/// may return before the device has finished (as the driver documents for device-side memset/copy). Work on a
/// non-blocking stream must therefore wait with <see cref="CudaDevice.Synchronize"/> first.
/// Dispose frees the memory; there is no finalizer, so undisposed buffers live until the context is destroyed.
/// </summary>
public sealed unsafe class CudaBuffer : IDisposable
{
    private ulong _pointer;

    public CudaDevice Device { get; }
    /// <summary>Number of floats.</summary>
    public long Length { get; }
    public long SizeInBytes => Length * sizeof(float);

    /// <summary>The CUdeviceptr (0 for an empty buffer).</summary>
    public ulong Pointer
    {
        get { ObjectDisposedException.ThrowIf(IsDisposed, this); return _pointer; }
    }

    public bool IsDisposed { get; private set; }

    internal CudaBuffer(CudaDevice device, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Device = device;
        Length = length;
        if (length == 0) return;
        device.MakeCurrent();
        ulong p;
        CuDriver.Check(CuDriver.cuMemAlloc_v2(&p, (nuint)SizeInBytes), nameof(CuDriver.cuMemAlloc_v2), $"allocating {SizeInBytes} bytes");
        _pointer = p;
    }

    /// <summary>Device address of element <paramref name="elementOffset"/>.</summary>
    public ulong PointerAt(long elementOffset)
    {
        if ((ulong)elementOffset > (ulong)Length) throw new ArgumentOutOfRangeException(nameof(elementOffset));
        return Pointer + (ulong)elementOffset * sizeof(float);
    }

    /// <summary>Copies <paramref name="source"/> to elements [offset, offset + source.Length).</summary>
    public void CopyFrom(ReadOnlySpan<float> source, long offset = 0)
    {
        CheckRange(offset, source.Length);
        if (source.IsEmpty) return;
        Device.MakeCurrent();
        fixed (float* src = source)
            CuDriver.Check(CuDriver.cuMemcpyHtoD_v2(_pointer + (ulong)offset * sizeof(float), src, (nuint)source.Length * sizeof(float)),
                nameof(CuDriver.cuMemcpyHtoD_v2));
    }

    /// <summary>Copies elements [offset, offset + destination.Length) to <paramref name="destination"/>.</summary>
    public void CopyTo(Span<float> destination, long offset = 0)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty) return;
        Device.MakeCurrent();
        fixed (float* dst = destination)
            CuDriver.Check(CuDriver.cuMemcpyDtoH_v2(dst, _pointer + (ulong)offset * sizeof(float), (nuint)destination.Length * sizeof(float)),
                nameof(CuDriver.cuMemcpyDtoH_v2));
    }

    public void CopyFrom(Tensor tensor) => CopyFrom(tensor.Data);
    public void CopyTo(Tensor tensor) => CopyTo(tensor.Data);

    public float[] ToArray()
    {
        if (Length > Array.MaxLength) throw new InvalidOperationException($"Buffer of {Length} floats does not fit in an array.");
        var a = new float[Length];
        CopyTo(a);
        return a;
    }

    /// <summary>Device-to-device copy of all of <paramref name="source"/> (same length) into this buffer.</summary>
    public void CopyFrom(CudaBuffer source)
    {
        CheckSameLength(source);
        if (Length == 0) return;
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoD_v2(_pointer, source.Pointer, (nuint)SizeInBytes), nameof(CuDriver.cuMemcpyDtoD_v2));
    }

    /// <summary>Asynchronous device-to-device copy on <paramref name="stream"/> (null: the legacy default stream).</summary>
    public void CopyFromAsync(CudaBuffer source, CudaStream? stream)
    {
        CheckSameLength(source);
        if (Length == 0) return;
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemcpyDtoDAsync_v2(_pointer, source.Pointer, (nuint)SizeInBytes, stream?.Handle ?? IntPtr.Zero),
            nameof(CuDriver.cuMemcpyDtoDAsync_v2));
    }

    /// <summary>Sets every element to 0.</summary>
    public void Zero() => Fill(0f);

    /// <summary>Sets every element to <paramref name="value"/> (cuMemsetD32 with its bit pattern).</summary>
    public void Fill(float value)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Length == 0) return;
        Device.MakeCurrent();
        CuDriver.Check(CuDriver.cuMemsetD32_v2(_pointer, BitConverter.SingleToUInt32Bits(value), (nuint)Length), nameof(CuDriver.cuMemsetD32_v2));
    }

    private void CheckRange(long offset, int count)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset < 0 || offset > Length || count > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range [{offset}, {offset + count}) is outside a buffer of {Length} floats.");
    }

    private void CheckSameLength(CudaBuffer source)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length != Length) throw new ArgumentException($"Source has {source.Length} floats, destination {Length}.", nameof(source));
    }

    public override string ToString() => $"CudaBuffer[{Length}] @0x{_pointer:x}";

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        // Best effort: after a fatal kernel error the context refuses everything, and Dispose must not throw.
        if (_pointer != 0 && Device.TryMakeCurrent()) CuDriver.cuMemFree_v2(_pointer);
        _pointer = 0;
    }
}
