using System;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime;

/// <summary>
/// Row-major (C order, last axis fastest) index arithmetic: the layout of every weight tensor, whose axes are listed in
/// memory order (<see cref="WeightTensor"/>). The one place that turns a flat entry into axis indices and back, so the
/// permutations, the augmentations, the invariant head and the kernels' tables agree on it.
/// </summary>
public static class RowMajor
{
    /// <summary>Writes into <paramref name="index"/> the axis indices of flat entry <paramref name="entry"/> of a tensor of <paramref name="shape"/>.</summary>
    public static void Unravel(int entry, ReadOnlySpan<int> shape, Span<int> index)
    {
        if (index.Length != shape.Length)
            throw new ArgumentException($"The index has {index.Length} axes but the shape [{string.Join(", ", shape.ToArray())}] has {shape.Length}; pass a span of one int per axis.", nameof(index));
        int r = entry;
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            index[a] = r % shape[a];
            r /= shape[a];
        }
        if (entry < 0 || r != 0)
            throw new ArgumentOutOfRangeException(nameof(entry), entry, $"Entry {entry} is outside a tensor of shape [{string.Join(", ", shape.ToArray())}]; entries run from 0 to the product of the sizes minus 1.");
    }

    /// <summary>The flat entry of axis indices <paramref name="index"/> in a tensor of <paramref name="shape"/>.</summary>
    public static int Ravel(ReadOnlySpan<int> index, ReadOnlySpan<int> shape)
    {
        if (index.Length != shape.Length)
            throw new ArgumentException($"The index has {index.Length} axes but the shape [{string.Join(", ", shape.ToArray())}] has {shape.Length}.", nameof(index));
        int flat = 0;
        for (int a = 0; a < shape.Length; a++) flat = flat * shape[a] + index[a];
        return flat;
    }

    /// <summary>
    /// The row-major index over only the axes <paramref name="axes"/> (in that order) of a tensor of
    /// <paramref name="shape"/>: for <see cref="WeightTensor.FixedAxes"/>, the fixed index (the "wide" channel, the
    /// invariant head's pooling group).
    /// </summary>
    public static int Ravel(ReadOnlySpan<int> index, ReadOnlySpan<int> shape, ReadOnlySpan<int> axes)
    {
        int flat = 0;
        foreach (int a in axes) flat = flat * shape[a] + index[a];
        return flat;
    }

    /// <summary>Per entry of <paramref name="tensor"/>, its fixed index (row-major over <see cref="WeightTensor.FixedAxes"/>).</summary>
    public static int[] FixedIndexMap(WeightTensor tensor)
    {
        var map = new int[tensor.Size];
        Span<int> index = stackalloc int[tensor.Shape.Length];
        for (int e = 0; e < map.Length; e++)
        {
            Unravel(e, tensor.Shape, index);
            map[e] = Ravel(index, tensor.Shape, tensor.FixedAxes);
        }
        return map;
    }
}
