using System;
using ILGPU;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// One generated layer (a channel pair of a model) for ILGPU: its kernels, C# methods the generator emits from the
/// layer's plan (<c>Generator/Emit/IlgpuKernelEmitter.cs</c>), and the sizes the runtime launches them with. Every
/// kernel is <c>(Index1D i, IlgpuLayerArgs a)</c> over a 1-D index space:
/// <list type="table">
/// <item><term><see cref="InputStatistics"/></term><description>batch × <see cref="ForwardStatFloats"/>: every pooled mean of the input, totals first</description></item>
/// <item><term><see cref="ForwardTerms"/></term><description>batch × <see cref="ForwardTermFloats"/>: per output tensor and kept axes, statistics × weights (broadcast terms)</description></item>
/// <item><term><see cref="ForwardOutput"/></term><description>batch × <see cref="OutputFloats"/>: one thread per output value: bias, broadcast terms, channel mix of every full-size source, optional ReLU</description></item>
/// <item><term><see cref="BackwardStatistics"/></term><description>batch × <see cref="BackwardStatFloats"/>: input means and output-gradient sums</description></item>
/// <item><term><see cref="BackwardTerms"/>, <see cref="BackwardOutput"/></term><description>the input gradient: the transposed map, same schedule</description></item>
/// <item><term><see cref="WeightGradient"/></term><description>chunks × (weights + biases): one thread per parameter and chunk of <see cref="ChunkSize"/> networks, its sum over them in order</description></item>
/// <item><term><see cref="GradientFinish"/></term><description>weights + biases: the chunks added in order into the gradients (deterministic: no atomics)</description></item>
/// </list>
/// </summary>
public sealed class IlgpuLayerSource
{
    /// <summary>Networks per gradient chunk: the unit of the deterministic reduction.</summary>
    public const int ChunkSize = 8;

    public required int InChannels { get; init; }
    public required int OutChannels { get; init; }
    public required int WeightCount { get; init; }
    public required int BiasCount { get; init; }
    /// <summary>Terms that keep no neuron layer, walked from <see cref="IlgpuTotalTables"/> (checked against the plan).</summary>
    public required int TotalTermCount { get; init; }
    public required int TensorCount { get; init; }
    /// <summary>Floats of one network's input (Cin channels) and output (Cout channels).</summary>
    public required int InputFloats { get; init; }
    public required int OutputFloats { get; init; }
    public required int ForwardStatFloats { get; init; }
    public required int ForwardTermFloats { get; init; }
    public required int BackwardStatFloats { get; init; }
    public required int BackwardTermFloats { get; init; }

    public required Action<Index1D, IlgpuLayerArgs> InputStatistics { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> ForwardTerms { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> ForwardOutput { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> BackwardStatistics { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> BackwardTerms { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> BackwardOutput { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> WeightGradient { get; init; }
    public required Action<Index1D, IlgpuLayerArgs> GradientFinish { get; init; }

    public int ForwardPerNetwork => ForwardStatFloats + ForwardTermFloats;
    public int BackwardPerNetwork => BackwardStatFloats + BackwardTermFloats;
    public int ParameterCount => WeightCount + BiasCount;

    public static int Chunks(int batch) => (batch + ChunkSize - 1) / ChunkSize;

    /// <summary>Scratch floats a batch needs (forward or backward, whichever is larger).</summary>
    public long ScratchFloats(int batch) =>
        Math.Max((long)batch * ForwardPerNetwork, (long)batch * BackwardPerNetwork + (long)Chunks(batch) * ParameterCount);

    /// <summary>The largest batch whose indices fit the kernels' 32-bit arithmetic.</summary>
    public int MaxBatch
    {
        get
        {
            long perNet = Math.Max(Math.Max(InputFloats, OutputFloats), Math.Max(ForwardPerNetwork, BackwardPerNetwork + ParameterCount));
            return (int)Math.Min(int.MaxValue / 2, (int.MaxValue - 1) / Math.Max(1, perNet));
        }
    }
}
