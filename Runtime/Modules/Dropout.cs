using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Numerics.Tensors;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// Inverted dropout (PyTorch: nn.Dropout): in training each element is zeroed with probability
/// <see cref="P"/> and the survivors are scaled by 1/(1−p); in <see cref="Module.Eval"/> mode (and when
/// p = 0) it is the identity and returns its input tensor itself. p = 1 zeroes everything.
/// </summary>
/// <remarks>
/// The mask is drawn from the <see cref="Rng"/> given to the constructor, one draw per element in
/// row-major order, so the same seed gives the same masks. No draws are made in eval mode or when p is 0 or 1.
/// </remarks>
public sealed class Dropout : Layer
{
    public float P { get; }
    private readonly Rng _rng;
    private Tensor? _output, _gradInput, _mask;
    private bool _identity, _ran;
    private int _rows, _cols;

    public Dropout(float p, Rng rng)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
        ArgumentNullException.ThrowIfNull(rng);
        P = p;
        _rng = rng;
    }

    public override Tensor Forward(Tensor x)
    {
        Check2D(x, -1, "input", nameof(Dropout));
        int rows = x.Shape[0], cols = x.Shape[1];
        _ran = true;
        _rows = rows;
        _cols = cols;
        _identity = !IsTraining || P == 0f;
        if (_identity) return x;
        var mask = Reuse(ref _mask, rows, cols);
        var y = Reuse(ref _output, rows, cols);
        float[] m = mask.Data, xd = x.Data, yd = y.Data;
        FillMask(m, P, _rng);
        TensorPrimitives.Multiply(xd.AsSpan(0, m.Length), m, yd);
        return y;
    }

    public override Tensor Backward(Tensor gradOutput)
    {
        if (!_ran) throw BackwardBeforeForward(nameof(Dropout));
        CheckGradShape(gradOutput, _rows, _cols, nameof(Dropout));
        if (_identity) return gradOutput;
        var dx = Reuse(ref _gradInput, _rows, _cols);
        float[] m = _mask!.Data, g = gradOutput.Data, d = dx.Data;
        TensorPrimitives.Multiply(g.AsSpan(0, m.Length), m, d);
        return dx;
    }

    /// <summary>
    /// The inverted-dropout mask every dropout of the runtime uses: each element 0 with probability <paramref name="p"/>
    /// (one <see cref="Rng.NextDouble"/> per element, in order), else 1/(1−p); all zeros without draws when p = 1.
    /// </summary>
    public static void FillMask(Span<float> mask, float p, Rng rng)
    {
        if (p == 1f) { mask.Clear(); return; }
        float scale = 1f / (1f - p);
        double pd = p;
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < pd ? 0f : scale;
    }

    public override string ToString() => $"Dropout(p={P})";
}
