using System;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.WeightSpace;

/// <summary>
/// One equivariant linear layer (plus its affine bias) over a weight space, Cin → Cout channels, with
/// its parameters laid out by <see cref="LayerPlan"/>. Implemented by generated fused kernels and by
/// <see cref="InterpretedKernel"/>, which read the same parameter vectors.
/// </summary>
public interface IEquivariantKernel
{
    LayerPlan Plan { get; }

    /// <summary>Overwrites <paramref name="output"/> with the layer applied to <paramref name="input"/>.</summary>
    void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output);

    /// <summary>
    /// Overwrites <paramref name="gradInput"/> (when not null) with the input gradient and ADDS the
    /// parameter gradients into <paramref name="gradWeights"/> and <paramref name="gradBias"/>.
    /// </summary>
    void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias);
}
