using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Kernels;

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

/// <summary>
/// A kernel that can fuse a ReLU into its passes: the forward applies ReLU to each output line while it
/// is in cache (no separate activation pass over the batch), and the backward zeroes the input gradient
/// where its input is ≤ 0: the gradient through the ReLU that produced that input (for y = ReLU(z),
/// y ≤ 0 exactly where z ≤ 0, the convention of <see cref="Nn.Activations.ReluBackward"/>). Both use the
/// same elementwise functions as the separate activation, so results are bitwise those of the unfused path.
/// </summary>
public interface IReluFusingKernel : IEquivariantKernel
{
    /// <summary>As <see cref="IEquivariantKernel.Forward"/>, then ReLU on the output when <paramref name="relu"/>.</summary>
    void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output, bool relu);

    /// <summary>
    /// As <see cref="IEquivariantKernel.Backward"/>; with <paramref name="reluMaskInput"/> the input gradient
    /// is zero wherever the input is ≤ 0 (parameter gradients are unchanged).
    /// </summary>
    void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias, bool reluMaskInput);
}
