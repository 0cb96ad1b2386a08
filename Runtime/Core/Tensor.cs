using System;

namespace LayerCompiler.Runtime;

/// <summary>A dense, row-major float32 tensor. Owns its buffer; no strides, no views.</summary>
public sealed class Tensor
{
    public float[] Data { get; }
    public int[] Shape { get; }
    public int Length => Data.Length;
    public int Rank => Shape.Length;

    public Tensor(params int[] shape)
    {
        Shape = (int[])shape.Clone();
        Data = new float[CheckedLength(Shape)];
    }

    public Tensor(float[] data, params int[] shape)
    {
        Shape = (int[])shape.Clone();
        long n = CheckedLength(Shape);
        if (data.Length != n)
            throw new ArgumentException($"Buffer of {data.Length} floats does not match shape [{string.Join(", ", shape)}] ({n} elements).", nameof(data));
        Data = data;
    }

    public Span<float> Span => Data;

    public Tensor Clone() => new((float[])Data.Clone(), Shape);

    public void Zero() => Array.Clear(Data, 0, Data.Length);

    public static int CheckedLength(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension {d} in shape [{string.Join(", ", shape)}].");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"Shape [{string.Join(", ", shape)}] has more than {int.MaxValue} elements.");
        }
        return (int)n;
    }

    public bool SameShape(Tensor other) => Shape.AsSpan().SequenceEqual(other.Shape);

    public override string ToString() => $"Tensor[{string.Join(", ", Shape)}]";
}
