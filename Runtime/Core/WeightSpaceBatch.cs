using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime;

/// <summary>
/// Features over a weight space for a batch of input networks: one tensor per weight tensor, each laid
/// out [batch, axes of the weight tensor in PyTorch orientation..., channels]. Raw weights have 1 channel.
/// </summary>
public sealed class WeightSpaceBatch
{
    public global::LayerCompiler.Algebra.WeightSpace Space { get; }
    public int Batch { get; }
    public int Channels { get; }
    public Tensor[] Tensors { get; }

    public WeightSpaceBatch(global::LayerCompiler.Algebra.WeightSpace space, int batch, int channels)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "The batch must hold at least one network.");
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be positive.");
        Space = space; Batch = batch; Channels = channels;
        Tensors = new Tensor[space.Tensors.Count];
        for (int i = 0; i < Tensors.Length; i++) Tensors[i] = new Tensor(ShapeOf(space.Tensors[i], batch, channels));
    }

    public WeightSpaceBatch(global::LayerCompiler.Algebra.WeightSpace space, int batch, int channels, Tensor[] tensors)
    {
        Space = space; Batch = batch; Channels = channels;
        if (tensors.Length != space.Tensors.Count) throw new ArgumentException($"Expected {space.Tensors.Count} tensors, got {tensors.Length}.");
        for (int i = 0; i < tensors.Length; i++)
        {
            var want = ShapeOf(space.Tensors[i], batch, channels);
            if (!tensors[i].Shape.AsSpan().SequenceEqual(want))
                throw new ArgumentException($"Tensor {space.Tensors[i].Name} has shape [{string.Join(", ", tensors[i].Shape)}], expected [{string.Join(", ", want)}].");
        }
        Tensors = tensors;
    }

    public static int[] ShapeOf(WeightTensor t, int batch, int channels)
    {
        var s = new int[t.Axes.Length + 2];
        s[0] = batch;
        for (int i = 0; i < t.Axes.Length; i++) s[i + 1] = t.Axes[i].Size;
        s[^1] = channels;
        return s;
    }

    /// <summary>Total floats over all tensors.</summary>
    public long Length { get { long n = 0; foreach (var t in Tensors) n += t.Length; return n; } }

    public void Zero() { foreach (var t in Tensors) t.Zero(); }

    public WeightSpaceBatch Clone() => new(Space, Batch, Channels, Array.ConvertAll(Tensors, t => t.Clone()));

    /// <summary>Copies every value into one flat vector (tensor order, then memory order).</summary>
    public float[] Flatten()
    {
        var r = new float[Length];
        int o = 0;
        foreach (var t in Tensors) { t.Data.CopyTo(r, o); o += t.Length; }
        return r;
    }

    public void Unflatten(ReadOnlySpan<float> flat)
    {
        if (flat.Length != Length) throw new ArgumentException($"Expected {Length} values, got {flat.Length}.");
        int o = 0;
        foreach (var t in Tensors) { flat.Slice(o, t.Length).CopyTo(t.Data); o += t.Length; }
    }
}
