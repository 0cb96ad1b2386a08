using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LayerCompiler.Gpu;

/// <summary>
/// Kernel arguments in the form <c>cuLaunchKernel</c> takes: a native array of <c>void*</c>, entry i pointing at
/// the value of parameter i. Values live in one native block (which never moves, so nothing needs pinning); each
/// value starts at an offset aligned to its natural size (1, 2, 4 or 8 bytes; 8 for larger structs).
/// A <see cref="KernelArgs"/> is meant to be built once and reused: <see cref="Clear"/> keeps the memory, and the
/// Add methods allocate nothing on the managed heap once capacity suffices.
/// Not thread-safe. Dispose frees the native memory (a finalizer does it otherwise).
/// </summary>
public sealed unsafe class KernelArgs : IDisposable
{
    private byte* _values;
    private int _valueCapacity;
    private int _valueBytes;
    private void** _pointers;
    private int _pointerCapacity;
    private int _count;

    public KernelArgs(int capacity = 8)
    {
        if (capacity < 1) capacity = 1;
        _pointerCapacity = capacity;
        _valueCapacity = capacity * 8;
        _pointers = (void**)NativeMemory.Alloc((nuint)_pointerCapacity, (nuint)sizeof(void*));
        _values = (byte*)NativeMemory.AlignedAlloc((nuint)_valueCapacity, 16);
    }

    /// <summary>Number of arguments added.</summary>
    public int Count => _count;
    /// <summary>Bytes used in the value block, including alignment padding.</summary>
    public int ValueBytes => _valueBytes;

    public KernelArgs Add(int value) => AddValue(value);
    public KernelArgs Add(uint value) => AddValue(value);
    public KernelArgs Add(long value) => AddValue(value);
    public KernelArgs Add(ulong value) => AddValue(value);
    public KernelArgs Add(float value) => AddValue(value);
    public KernelArgs Add(double value) => AddValue(value);
    /// <summary>A CUDA <c>bool</c> (one byte).</summary>
    public KernelArgs Add(bool value) => AddValue((byte)(value ? 1 : 0));
    /// <summary>The buffer's device pointer (a <c>float*</c> parameter).</summary>
    public KernelArgs Add(CudaBuffer buffer) => AddValue(buffer.Pointer);
    /// <summary>A raw device pointer (<c>CUdeviceptr</c>), e.g. from <see cref="CudaBuffer.PointerAt"/>.</summary>
    public KernelArgs AddPointer(ulong devicePointer) => AddValue(devicePointer);

    /// <summary>Any blittable value passed by value (a scalar or a struct laid out as the kernel expects).</summary>
    public KernelArgs AddValue<T>(T value) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_values == null, this);
        int size = sizeof(T);
        int align = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
        int offset = (_valueBytes + align - 1) & ~(align - 1);
        EnsureCapacity(_count + 1, offset + size);
        Unsafe.WriteUnaligned(_values + offset, value);
        _pointers[_count] = _values + offset;
        _count++;
        _valueBytes = offset + size;
        return this;
    }

    /// <summary>Forgets all arguments, keeping the memory.</summary>
    public void Clear()
    {
        _count = 0;
        _valueBytes = 0;
    }

    /// <summary>Offset of argument <paramref name="index"/> in the value block.</summary>
    public int OffsetOf(int index)
    {
        CheckIndex(index);
        return (int)((byte*)_pointers[index] - _values);
    }

    /// <summary>The pointer stored in entry <paramref name="index"/> of the <c>void*</c> array.</summary>
    public IntPtr ArgumentPointer(int index)
    {
        CheckIndex(index);
        return (IntPtr)_pointers[index];
    }

    /// <summary>Reads argument <paramref name="index"/> back as a <typeparamref name="T"/> (for tests and diagnostics).</summary>
    public T Read<T>(int index) where T : unmanaged
    {
        CheckIndex(index);
        return Unsafe.ReadUnaligned<T>(_pointers[index]);
    }

    /// <summary>Start of the value block.</summary>
    public IntPtr ValueBlock => (IntPtr)_values;

    /// <summary>The <c>void**</c> handed to cuLaunchKernel (null when there are no arguments).</summary>
    internal void** Pointers => _count == 0 ? null : _pointers;

    /// <summary>
    /// Packs boxed values: int, uint, long, ulong, float, double, bool, short, ushort, byte, sbyte, nint, nuint,
    /// <see cref="CudaBuffer"/> (its device pointer). Convenient but allocating; prefer the Add methods in hot loops.
    /// </summary>
    public static KernelArgs From(ReadOnlySpan<object> args)
    {
        var ka = new KernelArgs(Math.Max(1, args.Length));
        try
        {
            for (int i = 0; i < args.Length; i++) ka.AddBoxed(args[i], i);
            return ka;
        }
        catch
        {
            ka.Dispose();
            throw;
        }
    }

    private void AddBoxed(object? arg, int index)
    {
        switch (arg)
        {
            case int v: Add(v); break;
            case uint v: Add(v); break;
            case long v: Add(v); break;
            case ulong v: Add(v); break;
            case float v: Add(v); break;
            case double v: Add(v); break;
            case bool v: Add(v); break;
            case short v: AddValue(v); break;
            case ushort v: AddValue(v); break;
            case byte v: AddValue(v); break;
            case sbyte v: AddValue(v); break;
            case nint v: AddValue((long)v); break;
            case nuint v: AddValue((ulong)v); break;
            case CudaBuffer b: Add(b); break;
            case null: throw new ArgumentNullException($"args[{index}]", "Kernel argument is null; pass 0UL for a null device pointer.");
            default:
                throw new ArgumentException(
                    $"Kernel argument {index} has unsupported type {arg.GetType().Name}; use KernelArgs.AddValue<T> for structs.");
        }
    }

    private void EnsureCapacity(int count, int valueBytes)
    {
        if (count > _pointerCapacity)
        {
            int n = Math.Max(count, _pointerCapacity * 2);
            _pointers = (void**)NativeMemory.Realloc(_pointers, (nuint)n * (nuint)sizeof(void*));
            _pointerCapacity = n;
        }
        if (valueBytes > _valueCapacity)
        {
            int n = Math.Max(valueBytes, _valueCapacity * 2);
            byte* fresh = (byte*)NativeMemory.AlignedAlloc((nuint)n, 16);
            Buffer.MemoryCopy(_values, fresh, n, _valueBytes);
            for (int i = 0; i < _count; i++) _pointers[i] = fresh + ((byte*)_pointers[i] - _values);
            NativeMemory.AlignedFree(_values);
            _values = fresh;
            _valueCapacity = n;
        }
    }

    private void CheckIndex(int index)
    {
        ObjectDisposedException.ThrowIf(_values == null, this);
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index), $"Argument {index} of {_count}.");
    }

    private void Free()
    {
        if (_values != null) { NativeMemory.AlignedFree(_values); _values = null; }
        if (_pointers != null) { NativeMemory.Free(_pointers); _pointers = null; }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~KernelArgs() => Free();
}
