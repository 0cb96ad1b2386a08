using System;
using System.Numerics.Tensors;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// Inverted dropout on weight-space features (<see cref="Dropout"/>'s rule on every tensor of a batch): in training each
/// feature is zeroed with probability <see cref="P"/> and the survivors are scaled by 1/(1−p); in eval mode (and when
/// p = 0) it is the identity and returns its input itself. The masks are drawn from the <see cref="Rng"/> given to the
/// constructor, tensor by tensor, in row-major order (<see cref="Dropout.FillMask"/>), so the same seed gives the same
/// masks. A mask is not permuted with the input, so one draw is equivariant only in distribution (as any dropout).
/// </summary>
public sealed class WeightSpaceDropout : Module
{
    public float P { get; }
    private readonly Rng _rng;
    private WeightSpaceBatch? _output, _grad, _mask;
    private bool _identity, _ran;

    public WeightSpaceDropout(float p, Rng rng)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
        ArgumentNullException.ThrowIfNull(rng);
        P = p; _rng = rng;
    }

    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        ArgumentNullException.ThrowIfNull(x);
        _ran = true;
        _identity = !IsTraining || P == 0f;
        if (_identity) { _mask = null; return x; }
        if (_output == null || _output.Batch != x.Batch || _output.Channels != x.Channels || !ReferenceEquals(_output.Space, x.Space))
        {
            _output = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
            _mask = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        }
        _mask ??= new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            Dropout.FillMask(_mask.Tensors[t].Data, P, _rng);
            TensorPrimitives.Multiply(x.Tensors[t].Data, _mask.Tensors[t].Data, _output.Tensors[t].Data);
        }
        return _output;
    }

    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (!_ran) throw new InvalidOperationException("WeightSpaceDropout.Backward was called before Forward.");
        if (_identity) return gradOutput;
        var m = _mask!;
        if (gradOutput.Batch != m.Batch || gradOutput.Channels != m.Channels || gradOutput.Tensors.Length != m.Tensors.Length)
            throw new ArgumentException("WeightSpaceDropout.Backward: the gradient does not have the shape of the last Forward's output.", nameof(gradOutput));
        if (_grad == null || _grad.Batch != m.Batch || _grad.Channels != m.Channels || !ReferenceEquals(_grad.Space, m.Space))
            _grad = new WeightSpaceBatch(m.Space, m.Batch, m.Channels);
        for (int t = 0; t < m.Tensors.Length; t++)
            TensorPrimitives.Multiply(gradOutput.Tensors[t].Data, m.Tensors[t].Data, _grad.Tensors[t].Data);
        return _grad;
    }

    public override string ToString() => $"WeightSpaceDropout(p={P})";
}
