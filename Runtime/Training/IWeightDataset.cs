using System;
using System.Linq;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Training;

/// <summary>
/// A dataset of input networks (all of one architecture) with a class label or regression targets each.
/// The trainer asks for batches by index; an implementation may hold everything in memory or read on demand.
/// </summary>
public interface IWeightDataset
{
    /// <summary>The weight space of the input networks.</summary>
    global::LayerCompiler.Algebra.WeightSpace Space { get; }

    /// <summary>Number of networks.</summary>
    int Count { get; }

    /// <summary>Class label of network <paramref name="index"/> (classification datasets).</summary>
    int Label(int index);

    /// <summary>Regression targets per network; 0 for a classification dataset.</summary>
    int TargetWidth => 0;

    /// <summary>Writes the <see cref="TargetWidth"/> regression targets of network <paramref name="index"/>.</summary>
    void GetTargets(int index, Span<float> destination) =>
        throw new NotSupportedException($"{GetType().Name} has no regression targets (TargetWidth is 0).");

    /// <summary>
    /// Overwrites every value of <paramref name="batch"/> (raw weights, 1 channel, <c>batch.Batch == indices.Length</c>)
    /// with networks <paramref name="indices"/>, in that order.
    /// </summary>
    void Fill(int[] indices, WeightSpaceBatch batch);
}

/// <summary>An <see cref="IWeightDataset"/> over networks held in one <see cref="WeightSpaceBatch"/>.</summary>
public sealed class InMemoryWeightDataset : IWeightDataset
{
    private readonly WeightSpaceBatch _networks;
    private readonly int[]? _labels;
    private readonly float[]? _targets;

    /// <summary>A classification dataset: network i of <paramref name="networks"/> has class <paramref name="labels"/>[i].</summary>
    public InMemoryWeightDataset(WeightSpaceBatch networks, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(networks);
        ArgumentNullException.ThrowIfNull(labels);
        CheckRaw(networks);
        if (labels.Length != networks.Batch) throw new ArgumentException($"{labels.Length} labels for {networks.Batch} networks.", nameof(labels));
        _networks = networks; _labels = (int[])labels.Clone();
    }

    /// <summary>A regression dataset: network i has targets <paramref name="targets"/>[i·width .. (i+1)·width).</summary>
    public InMemoryWeightDataset(WeightSpaceBatch networks, float[] targets, int targetWidth)
    {
        ArgumentNullException.ThrowIfNull(networks);
        ArgumentNullException.ThrowIfNull(targets);
        CheckRaw(networks);
        if (targetWidth <= 0) throw new ArgumentOutOfRangeException(nameof(targetWidth), targetWidth, "The target width must be positive.");
        if (targets.Length != (long)networks.Batch * targetWidth)
            throw new ArgumentException($"{targets.Length} targets for {networks.Batch} networks × {targetWidth} targets each.", nameof(targets));
        _networks = networks; _targets = (float[])targets.Clone(); TargetWidth = targetWidth;
    }

    private static void CheckRaw(WeightSpaceBatch networks)
    {
        if (networks.Channels != 1) throw new ArgumentException($"A dataset holds raw weights (1 channel); got {networks.Channels}.", nameof(networks));
    }

    public global::LayerCompiler.Algebra.WeightSpace Space => _networks.Space;
    public int Count => _networks.Batch;
    public int TargetWidth { get; }

    /// <summary>The networks (shared, not copied).</summary>
    public WeightSpaceBatch Networks => _networks;

    public int Label(int index)
    {
        if (_labels == null) throw new NotSupportedException("This is a regression dataset; it has no class labels.");
        return _labels[index];
    }

    public void GetTargets(int index, Span<float> destination)
    {
        if (_targets == null) throw new NotSupportedException("This is a classification dataset; it has no regression targets.");
        _targets.AsSpan(index * TargetWidth, TargetWidth).CopyTo(destination);
    }

    public void Fill(int[] indices, WeightSpaceBatch batch)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Batch != indices.Length) throw new ArgumentException($"The batch holds {batch.Batch} networks; {indices.Length} indices were given.", nameof(batch));
        if (batch.Channels != 1 || batch.Tensors.Length != _networks.Tensors.Length) throw new ArgumentException("The batch must be raw weights over the dataset's weight space.", nameof(batch));
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            int size = _networks.Space.Tensors[t].Size;
            float[] src = _networks.Tensors[t].Data, dst = batch.Tensors[t].Data;
            for (int j = 0; j < indices.Length; j++)
            {
                int i = indices[j];
                if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), i, $"The dataset holds {Count} networks.");
                Array.Copy(src, (long)i * size, dst, (long)j * size, size);
            }
        }
    }

    /// <summary>A new dataset of the networks <paramref name="indices"/> (copied), in that order.</summary>
    public InMemoryWeightDataset Subset(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var b = new WeightSpaceBatch(Space, indices.Length, 1);
        Fill(indices, b);
        if (_labels != null) return new InMemoryWeightDataset(b, indices.Select(i => _labels[i]).ToArray());
        var t = new float[indices.Length * TargetWidth];
        for (int j = 0; j < indices.Length; j++) GetTargets(indices[j], t.AsSpan(j * TargetWidth, TargetWidth));
        return new InMemoryWeightDataset(b, t, TargetWidth);
    }
}
