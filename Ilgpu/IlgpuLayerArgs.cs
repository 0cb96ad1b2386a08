using ILGPU;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// The one argument (after the thread index) of every generated layer kernel, so that the runtime loads any of them with
/// the same delegate type. Batches are one buffer each, the tensors back to back in tensor order, each
/// <c>[batch, axes..., channels]</c> (<c>WeightSpaceBatch.Flatten()</c>); weights and biases are the <c>LayerPlan</c>
/// vectors. <see cref="S"/> holds per-network statistics and broadcast terms, then the per-chunk gradient partials.
/// </summary>
public struct IlgpuLayerArgs
{
    /// <summary>Networks in the batch.</summary>
    public int Batch;
    /// <summary>Forward: ReLU on the output. Backward: the input gradient is zeroed where the input is ≤ 0.</summary>
    public int Relu;
    /// <summary>The layer's input (Cin channels).</summary>
    public ArrayView<float> X;
    /// <summary>The output gradient (Cout channels; backward only).</summary>
    public ArrayView<float> G;
    public ArrayView<float> W;
    public ArrayView<float> B;
    /// <summary>Forward: the output (Cout channels). Backward: the input gradient (Cin channels).</summary>
    public ArrayView<float> Y;
    /// <summary>Weight gradient (added to).</summary>
    public ArrayView<float> Gw;
    /// <summary>Bias gradient (added to).</summary>
    public ArrayView<float> Gb;
    /// <summary>Scratch: statistics, broadcast terms, gradient partials.</summary>
    public ArrayView<float> S;
    /// <summary>The total-term tables (<see cref="IlgpuTotalTables"/>).</summary>
    public ArrayView<int> Table;
}
