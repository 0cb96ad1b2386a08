
namespace LayerCompiler.Runtime;

/// <summary>A trainable tensor with its gradient buffer (PyTorch: nn.Parameter with .grad).</summary>
public sealed class Parameter
{
    public Tensor Value { get; }
    public Tensor Grad { get; }
    public float[] Data => Value.Data;
    public int[] Shape => Value.Shape;
    public int Length => Value.Length;
    /// <summary>False for parameters that weight decay must skip (biases, normalization scales).</summary>
    public bool Decay { get; init; } = true;

    public Parameter(params int[] shape)
    {
        Value = new Tensor(shape);
        Grad = new Tensor(shape);
    }

    public void ZeroGrad() => Grad.Zero();
}
