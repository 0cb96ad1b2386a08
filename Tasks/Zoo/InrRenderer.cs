using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>Evaluates image INRs on a pixel grid and tiles them into a PNG.</summary>
public static class InrRenderer
{
    /// <summary>
    /// Images (size×size floats each, row-major) of the networks <paramref name="indices"/> of <paramref name="weights"/>,
    /// evaluated on the protocol's grid (x = column, y = row, linspace(−1, 1, size)); size 28 reproduces the
    /// training grid, larger sizes interpolate between its points.
    /// </summary>
    public static float[][] Render(IInputNetwork network, WeightSpaceBatch weights, IReadOnlyList<int> indices, int size = 28)
    {
        ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(weights); ArgumentNullException.ThrowIfNull(indices);
        if (network.InputWidth != 2 || network.OutputWidth != 1)
            throw new ArgumentException($"Rendering needs image INRs (2 → 1), got {network.InputWidth} → {network.OutputWidth}.", nameof(network));
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "The image size must be positive.");
        if (indices.Count == 0) throw new ArgumentException("No INRs selected to render.", nameof(indices));
        var subset = new WeightSpaceBatch(weights.Space, indices.Count, 1);
        for (int i = 0; i < indices.Count; i++)
        {
            int n = indices[i];
            if ((uint)n >= (uint)weights.Batch) throw new ArgumentOutOfRangeException(nameof(indices), n, $"The batch holds {weights.Batch} INRs.");
            for (int t = 0; t < weights.Tensors.Length; t++)
            {
                int len = weights.Tensors[t].Length / weights.Batch;
                Array.Copy(weights.Tensors[t].Data, (long)n * len, subset.Tensors[t].Data, (long)i * len, len);
            }
        }
        var points = InrTask.ImageGrid(size, size);
        int pixels = size * size;
        var output = new float[indices.Count * pixels];
        network.Forward(subset, points, pixels, output);
        var images = new float[indices.Count][];
        for (int i = 0; i < images.Length; i++) images[i] = output.AsSpan(i * pixels, pixels).ToArray();
        return images;
    }

    /// <summary>Renders the networks and writes them as a grid PNG (values clamped to [0, 1]).</summary>
    public static void WriteGrid(string path, IInputNetwork network, WeightSpaceBatch weights, IReadOnlyList<int> indices, int size = 28, int columns = 8, int pad = 2)
    {
        var images = Render(network, weights, indices, size);
        Png.WriteGray(path, Png.GrayGrid(images, size, size, columns, pad, padValue: 64));
    }
}
