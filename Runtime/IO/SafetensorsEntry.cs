using System.Collections.Generic;

namespace LayerCompiler.Runtime.IO;

/// <summary>One validated header entry: a tensor's name, dtype, shape and its byte range in the data buffer.</summary>
public sealed class SafetensorsEntry
{
    private readonly int[] _shape;

    internal SafetensorsEntry(string name, SafetensorsDType dtype, int[] shape, long begin, long end, long elementCount)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        Begin = begin;
        End = end;
        ElementCount = elementCount;
    }

    public string Name { get; }
    public SafetensorsDType DType { get; }
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>First byte of the tensor, relative to the start of the data buffer.</summary>
    public long Begin { get; }

    /// <summary>One past the last byte, relative to the start of the data buffer.</summary>
    public long End { get; }

    public long ByteLength => End - Begin;
    public long ElementCount { get; }

    /// <summary>A fresh copy of the shape, suitable for constructing a <see cref="Tensor"/>.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", _shape)}] @ [{Begin}, {End})";
}
