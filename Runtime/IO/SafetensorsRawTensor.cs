using System;
using System.Buffers.Binary;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// A tensor of any safetensors dtype as raw little-endian bytes, for data that is not float32
/// (labels as I64, masks as U8, ...). The factories do the byte conversion.
/// </summary>
public sealed class SafetensorsRawTensor
{
    private readonly int[] _shape;
    private readonly byte[] _data;

    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Dimensions, all non-negative.</param>
    /// <param name="data">Little-endian, row-major bytes; length must be elements × dtype size. Not copied.</param>
    public SafetensorsRawTensor(SafetensorsDType dtype, int[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension {d} in shape [{string.Join(", ", shape)}].", nameof(shape));
            count = checked(count * d);
        }
        long expected = checked(count * SafetensorsDTypes.SizeOf(dtype));
        if (data.LongLength != expected)
            throw new ArgumentException(
                $"{dtype} shape [{string.Join(", ", shape)}] needs {expected} bytes, got {data.LongLength}.", nameof(data));
        DType = dtype;
        _shape = (int[])shape.Clone();
        _data = data;
    }

    public SafetensorsDType DType { get; }
    public ReadOnlySpan<int> Shape => _shape;
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>Float32 tensor as F32.</summary>
    public static SafetensorsRawTensor FromTensor(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var bytes = new byte[(long)tensor.Length * 4];
        for (int i = 0; i < tensor.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), tensor.Data[i]);
        return new SafetensorsRawTensor(SafetensorsDType.F32, tensor.Shape, bytes);
    }

    /// <summary>64-bit integers as I64 (PyTorch's default integer type, e.g. class labels).</summary>
    public static SafetensorsRawTensor FromInt64(long[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        var bytes = new byte[values.LongLength * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        return new SafetensorsRawTensor(SafetensorsDType.I64, shape, bytes);
    }

    /// <summary>32-bit integers as I32.</summary>
    public static SafetensorsRawTensor FromInt32(int[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        var bytes = new byte[values.LongLength * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), values[i]);
        return new SafetensorsRawTensor(SafetensorsDType.I32, shape, bytes);
    }

    /// <summary>Bytes as U8 (copied).</summary>
    public static SafetensorsRawTensor FromUInt8(byte[] values, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new SafetensorsRawTensor(SafetensorsDType.U8, shape, (byte[])values.Clone());
    }
}
