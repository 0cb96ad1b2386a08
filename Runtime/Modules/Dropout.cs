using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    /// <summary>
    /// A cheaper inverted-dropout mask for large arrays (the product model's node and edge features): each 64-bit draw of
    /// <see cref="Rng.Fill"/> gives two elements, its low 32 bits the first and its high 32 bits the second; an element is 0
    /// when its 32-bit word is below round(p·2³²) (so p is rounded to a multiple of 2⁻³²), else 1/(1−p). All zeros without
    /// draws when p = 1; all 1 without draws when p = 0. A different stream from <see cref="FillMask"/>: masks drawn with one
    /// are not the other's.
    /// </summary>
    public static void FillMask32(Span<float> mask, float p, Rng rng)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
        if (p == 1f) { mask.Clear(); return; }
        if (p == 0f) { mask.Fill(1f); return; }
        float scale = 1f / (1f - p);
        uint threshold = (uint)Math.Min(Math.Round(p * 4294967296.0), uint.MaxValue);
        Span<ulong> draws = stackalloc ulong[128];
        var words = MemoryMarshal.Cast<ulong, uint>(draws); // little-endian: element 2k = low word of draw k
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("FillMask32 assumes a little-endian machine.");
        var zero = Vector256<float>.Zero;
        var keep = Vector256.Create(scale);
        var t = Vector256.Create(threshold);
        for (int at = 0; at < mask.Length; at += words.Length)
        {
            int n = Math.Min(words.Length, mask.Length - at);
            rng.Fill(draws[..((n + 1) / 2)]);
            var m = mask.Slice(at, n);
            int i = 0;
            for (; i + 8 <= n; i += 8)
            {
                var drop = Vector256.LessThan(Vector256.Create((ReadOnlySpan<uint>)words.Slice(i, 8)), t).AsSingle();
                Vector256.ConditionalSelect(drop, zero, keep).CopyTo(m.Slice(i, 8));
            }
            for (; i < n; i++) m[i] = words[i] < threshold ? 0f : scale;
        }
    }

    public override string ToString() => $"Dropout(p={P})";
}
