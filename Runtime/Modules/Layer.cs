using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// A module that maps 2-D activations <c>[batch, features]</c> to 2-D activations, with a hand-written
/// backward pass (no autograd tape).
/// </summary>
/// <remarks>
/// Contract shared by every layer:
/// <list type="bullet">
/// <item><see cref="Forward"/> caches what <see cref="Backward"/> needs (usually a reference to its input,
/// which the caller must not modify until <see cref="Backward"/> has run).</item>
/// <item><see cref="Backward"/> returns the gradient with respect to the input of the last
/// <see cref="Forward"/> and ADDS (+=) parameter gradients into <see cref="Parameter.Grad"/>, like
/// PyTorch's <c>.backward()</c>; call <see cref="Module.ZeroGrad"/> between steps.</item>
/// <item>Returned tensors are buffers owned by the layer, reused while the batch size stays the same:
/// they are overwritten by the next call, so copy them (<see cref="Tensor.Clone"/>) to keep them.</item>
/// </list>
/// </remarks>
public abstract class Layer : Module
{
    public abstract Tensor Forward(Tensor x);

    public abstract Tensor Backward(Tensor gradOutput);

    /// <summary>Throws unless <paramref name="x"/> is <c>[batch, features]</c> (features checked when not negative).</summary>
    protected static void Check2D(Tensor x, int features, string what, string layer)
    {
        if (x.Rank != 2)
            throw new ArgumentException($"{layer}: {what} must be 2-D [batch, features], got shape [{string.Join(", ", x.Shape)}].");
        if (features >= 0 && x.Shape[1] != features)
            throw new ArgumentException($"{layer}: {what} has {x.Shape[1]} features (shape [{string.Join(", ", x.Shape)}]), expected {features}.");
    }

    /// <summary>Returns <paramref name="buffer"/> when it already has the shape <c>[rows, cols]</c>, otherwise a new tensor.</summary>
    protected static Tensor Reuse(ref Tensor? buffer, int rows, int cols)
    {
        if (buffer is null || buffer.Shape[0] != rows || buffer.Shape[1] != cols) buffer = new Tensor(rows, cols);
        return buffer;
    }

    protected static InvalidOperationException BackwardBeforeForward(string layer) =>
        new($"{layer}.Backward was called before Forward: there are no cached activations.");

    protected static void CheckGradShape(Tensor gradOutput, int rows, int cols, string layer)
    {
        if (gradOutput.Rank != 2 || gradOutput.Shape[0] != rows || gradOutput.Shape[1] != cols)
            throw new ArgumentException($"{layer}.Backward: gradOutput has shape [{string.Join(", ", gradOutput.Shape)}], expected [{rows}, {cols}] (the shape of the last Forward's output).");
    }
}
