using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// Small dense kernels over a tile of points, activations stored feature-major: a layer's values are
/// <c>[features, width]</c> with the points of the tile contiguous (<c>width</c> a multiple of 8), so every
/// loop vectorizes over points whatever the layer widths are. Vector256 with FMA, scalar path when the
/// hardware has no 256-bit vectors.
/// </summary>
internal static class PointKernels
{
    /// <summary>
    /// c[r, t] = bias[r] + Σ_k a(r, k) · b[k, t] with a(r, k) = a[r·rowStride + k·colStride]
    /// (so a weight or its transpose), b <c>[inner, width]</c>, c <c>[rows, width]</c> (overwritten).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(ReadOnlySpan<float> a, int rowStride, int colStride, int rows, int inner,
        ReadOnlySpan<float> b, Span<float> c, int width, ReadOnlySpan<float> bias)
    {
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float cr = ref MemoryMarshal.GetReference(c);
        bool hasBias = !bias.IsEmpty;
        ref float biasR = ref MemoryMarshal.GetReference(bias);
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < width; t++)
                {
                    float s = hasBias ? Unsafe.Add(ref biasR, r) : 0f;
                    for (int k = 0; k < inner; k++) s += Unsafe.Add(ref ar, r * rowStride + k * colStride) * Unsafe.Add(ref br, k * width + t);
                    Unsafe.Add(ref cr, r * width + t) = s;
                }
            return;
        }
        int r0 = 0;
        // 4 rows × 16 points: 8 accumulators, 2 loads and 4 broadcasts per 8 FMAs.
        for (; r0 + 4 <= rows; r0 += 4)
        {
            var i0 = Vector256.Create(hasBias ? Unsafe.Add(ref biasR, r0) : 0f);
            var i1 = Vector256.Create(hasBias ? Unsafe.Add(ref biasR, r0 + 1) : 0f);
            var i2 = Vector256.Create(hasBias ? Unsafe.Add(ref biasR, r0 + 2) : 0f);
            var i3 = Vector256.Create(hasBias ? Unsafe.Add(ref biasR, r0 + 3) : 0f);
            ref float a0r = ref Unsafe.Add(ref ar, r0 * rowStride);
            ref float a1r = ref Unsafe.Add(ref ar, (r0 + 1) * rowStride);
            ref float a2r = ref Unsafe.Add(ref ar, (r0 + 2) * rowStride);
            ref float a3r = ref Unsafe.Add(ref ar, (r0 + 3) * rowStride);
            int t = 0;
            for (; t + 16 <= width; t += 16)
            {
                var c00 = i0; var c01 = i0; var c10 = i1; var c11 = i1;
                var c20 = i2; var c21 = i2; var c30 = i3; var c31 = i3;
                for (int k = 0; k < inner; k++)
                {
                    ref float brow = ref Unsafe.Add(ref br, k * width + t);
                    var b0 = Vector256.LoadUnsafe(ref brow);
                    var b1 = Vector256.LoadUnsafe(ref brow, 8);
                    int ko = k * colStride;
                    var s0 = Vector256.Create(Unsafe.Add(ref a0r, ko));
                    var s1 = Vector256.Create(Unsafe.Add(ref a1r, ko));
                    var s2 = Vector256.Create(Unsafe.Add(ref a2r, ko));
                    var s3 = Vector256.Create(Unsafe.Add(ref a3r, ko));
                    c00 = Vector256.FusedMultiplyAdd(s0, b0, c00); c01 = Vector256.FusedMultiplyAdd(s0, b1, c01);
                    c10 = Vector256.FusedMultiplyAdd(s1, b0, c10); c11 = Vector256.FusedMultiplyAdd(s1, b1, c11);
                    c20 = Vector256.FusedMultiplyAdd(s2, b0, c20); c21 = Vector256.FusedMultiplyAdd(s2, b1, c21);
                    c30 = Vector256.FusedMultiplyAdd(s3, b0, c30); c31 = Vector256.FusedMultiplyAdd(s3, b1, c31);
                }
                ref float d = ref Unsafe.Add(ref cr, r0 * width + t);
                c00.StoreUnsafe(ref d); c01.StoreUnsafe(ref d, 8);
                c10.StoreUnsafe(ref d, (nuint)width); c11.StoreUnsafe(ref d, (nuint)(width + 8));
                c20.StoreUnsafe(ref d, (nuint)(2 * width)); c21.StoreUnsafe(ref d, (nuint)(2 * width + 8));
                c30.StoreUnsafe(ref d, (nuint)(3 * width)); c31.StoreUnsafe(ref d, (nuint)(3 * width + 8));
            }
            for (; t < width; t += 8)
            {
                var c0 = i0; var c1 = i1; var c2 = i2; var c3 = i3;
                for (int k = 0; k < inner; k++)
                {
                    var b0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref br, k * width + t));
                    int ko = k * colStride;
                    c0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0r, ko)), b0, c0);
                    c1 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a1r, ko)), b0, c1);
                    c2 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a2r, ko)), b0, c2);
                    c3 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a3r, ko)), b0, c3);
                }
                ref float d = ref Unsafe.Add(ref cr, r0 * width + t);
                c0.StoreUnsafe(ref d); c1.StoreUnsafe(ref d, (nuint)width);
                c2.StoreUnsafe(ref d, (nuint)(2 * width)); c3.StoreUnsafe(ref d, (nuint)(3 * width));
            }
        }
        for (; r0 < rows; r0++)
        {
            var i0 = Vector256.Create(hasBias ? Unsafe.Add(ref biasR, r0) : 0f);
            ref float a0r = ref Unsafe.Add(ref ar, r0 * rowStride);
            int t = 0;
            for (; t + 32 <= width; t += 32)
            {
                var c0 = i0; var c1 = i0; var c2 = i0; var c3 = i0;
                for (int k = 0; k < inner; k++)
                {
                    ref float brow = ref Unsafe.Add(ref br, k * width + t);
                    var s = Vector256.Create(Unsafe.Add(ref a0r, k * colStride));
                    c0 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref brow), c0);
                    c1 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref brow, 8), c1);
                    c2 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref brow, 16), c2);
                    c3 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref brow, 24), c3);
                }
                ref float d = ref Unsafe.Add(ref cr, r0 * width + t);
                c0.StoreUnsafe(ref d); c1.StoreUnsafe(ref d, 8); c2.StoreUnsafe(ref d, 16); c3.StoreUnsafe(ref d, 24);
            }
            for (; t < width; t += 8)
            {
                var c0 = i0;
                for (int k = 0; k < inner; k++)
                    c0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref a0r, k * colStride)), Vector256.LoadUnsafe(ref Unsafe.Add(ref br, k * width + t)), c0);
                c0.StoreUnsafe(ref Unsafe.Add(ref cr, r0 * width + t));
            }
        }
    }

    /// <summary>
    /// dw[r, k] += Σ_t g[r, t] · x[k, t] for g <c>[rows, width]</c>, x <c>[inner, width]</c>, dw <c>[rows, inner]</c>;
    /// and, when <paramref name="db"/> is not empty, db[r] += Σ_t g[r, t].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OuterAccumulate(ReadOnlySpan<float> g, int rows, ReadOnlySpan<float> x, int inner, int width, Span<float> dw, Span<float> db)
    {
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float wr = ref MemoryMarshal.GetReference(dw);
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int k = 0; k < inner; k++)
                {
                    float s = 0;
                    for (int t = 0; t < width; t++) s += Unsafe.Add(ref gr, r * width + t) * Unsafe.Add(ref xr, k * width + t);
                    Unsafe.Add(ref wr, r * inner + k) += s;
                }
                if (!db.IsEmpty)
                {
                    float s = 0;
                    for (int t = 0; t < width; t++) s += Unsafe.Add(ref gr, r * width + t);
                    db[r] += s;
                }
            }
            return;
        }
        int r0 = 0;
        // 2 rows × 4 columns of dw: 8 accumulators, 6 loads per 8 FMAs.
        for (; r0 + 2 <= rows; r0 += 2)
        {
            ref float g0 = ref Unsafe.Add(ref gr, r0 * width);
            ref float g1 = ref Unsafe.Add(ref gr, (r0 + 1) * width);
            int k0 = 0;
            for (; k0 + 4 <= inner; k0 += 4)
            {
                ref float x0 = ref Unsafe.Add(ref xr, k0 * width);
                ref float x1 = ref Unsafe.Add(ref xr, (k0 + 1) * width);
                ref float x2 = ref Unsafe.Add(ref xr, (k0 + 2) * width);
                ref float x3 = ref Unsafe.Add(ref xr, (k0 + 3) * width);
                var a00 = Vector256<float>.Zero; var a01 = a00; var a02 = a00; var a03 = a00;
                var a10 = a00; var a11 = a00; var a12 = a00; var a13 = a00;
                for (int t = 0; t < width; t += 8)
                {
                    var u0 = Vector256.LoadUnsafe(ref g0, (nuint)t);
                    var u1 = Vector256.LoadUnsafe(ref g1, (nuint)t);
                    var v0 = Vector256.LoadUnsafe(ref x0, (nuint)t);
                    var v1 = Vector256.LoadUnsafe(ref x1, (nuint)t);
                    var v2 = Vector256.LoadUnsafe(ref x2, (nuint)t);
                    var v3 = Vector256.LoadUnsafe(ref x3, (nuint)t);
                    a00 = Vector256.FusedMultiplyAdd(u0, v0, a00); a01 = Vector256.FusedMultiplyAdd(u0, v1, a01);
                    a02 = Vector256.FusedMultiplyAdd(u0, v2, a02); a03 = Vector256.FusedMultiplyAdd(u0, v3, a03);
                    a10 = Vector256.FusedMultiplyAdd(u1, v0, a10); a11 = Vector256.FusedMultiplyAdd(u1, v1, a11);
                    a12 = Vector256.FusedMultiplyAdd(u1, v2, a12); a13 = Vector256.FusedMultiplyAdd(u1, v3, a13);
                }
                ref float w0 = ref Unsafe.Add(ref wr, r0 * inner + k0);
                ref float w1 = ref Unsafe.Add(ref wr, (r0 + 1) * inner + k0);
                w0 += Vector256.Sum(a00); Unsafe.Add(ref w0, 1) += Vector256.Sum(a01);
                Unsafe.Add(ref w0, 2) += Vector256.Sum(a02); Unsafe.Add(ref w0, 3) += Vector256.Sum(a03);
                w1 += Vector256.Sum(a10); Unsafe.Add(ref w1, 1) += Vector256.Sum(a11);
                Unsafe.Add(ref w1, 2) += Vector256.Sum(a12); Unsafe.Add(ref w1, 3) += Vector256.Sum(a13);
            }
            for (; k0 < inner; k0++)
            {
                ref float x0 = ref Unsafe.Add(ref xr, k0 * width);
                var a0 = Vector256<float>.Zero; var a1 = a0;
                for (int t = 0; t < width; t += 8)
                {
                    var v0 = Vector256.LoadUnsafe(ref x0, (nuint)t);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref g0, (nuint)t), v0, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref g1, (nuint)t), v0, a1);
                }
                Unsafe.Add(ref wr, r0 * inner + k0) += Vector256.Sum(a0);
                Unsafe.Add(ref wr, (r0 + 1) * inner + k0) += Vector256.Sum(a1);
            }
        }
        for (; r0 < rows; r0++)
        {
            ref float g0 = ref Unsafe.Add(ref gr, r0 * width);
            for (int k0 = 0; k0 < inner; k0++)
            {
                ref float x0 = ref Unsafe.Add(ref xr, k0 * width);
                var a0 = Vector256<float>.Zero;
                for (int t = 0; t < width; t += 8)
                    a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref g0, (nuint)t), Vector256.LoadUnsafe(ref x0, (nuint)t), a0);
                Unsafe.Add(ref wr, r0 * inner + k0) += Vector256.Sum(a0);
            }
        }
        if (!db.IsEmpty)
            for (int r = 0; r < rows; r++)
            {
                ref float g0 = ref Unsafe.Add(ref gr, r * width);
                var a0 = Vector256<float>.Zero;
                for (int t = 0; t < width; t += 8) a0 += Vector256.LoadUnsafe(ref g0, (nuint)t);
                db[r] += Vector256.Sum(a0);
            }
    }

    /// <summary>Hidden activation in place: z ↦ act(z), and derivative[i] = act'(z) (d act / d z).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Activate(InputActivation activation, float omega0, Span<float> z, Span<float> derivative)
    {
        int n = z.Length;
        ref float zr = ref MemoryMarshal.GetReference(z);
        ref float dr = ref MemoryMarshal.GetReference(derivative);
        int i = 0;
        switch (activation)
        {
            case InputActivation.Sine:
                if (Vector256.IsHardwareAccelerated)
                {
                    var w = Vector256.Create(omega0);
                    for (; i + 8 <= n; i += 8)
                    {
                        var (s, c) = SinCos(Vector256.LoadUnsafe(ref zr, (nuint)i) * w);
                        s.StoreUnsafe(ref zr, (nuint)i);
                        (c * w).StoreUnsafe(ref dr, (nuint)i);
                    }
                }
                for (; i < n; i++)
                {
                    var (s, c) = MathF.SinCos(omega0 * Unsafe.Add(ref zr, i));
                    Unsafe.Add(ref zr, i) = s;
                    Unsafe.Add(ref dr, i) = omega0 * c;
                }
                break;
            case InputActivation.ReLU:
                if (Vector256.IsHardwareAccelerated)
                {
                    var one = Vector256<float>.One;
                    for (; i + 8 <= n; i += 8)
                    {
                        var v = Vector256.LoadUnsafe(ref zr, (nuint)i);
                        var positive = Vector256.GreaterThan(v, Vector256<float>.Zero);
                        (v & positive).StoreUnsafe(ref zr, (nuint)i);
                        (one & positive).StoreUnsafe(ref dr, (nuint)i);
                    }
                }
                for (; i < n; i++)
                {
                    float v = Unsafe.Add(ref zr, i);
                    bool positive = v > 0f;
                    Unsafe.Add(ref zr, i) = positive ? v : 0f;
                    Unsafe.Add(ref dr, i) = positive ? 1f : 0f;
                }
                break;
            case InputActivation.Tanh:
                if (Vector256.IsHardwareAccelerated)
                {
                    // tanh(z) = 1 − 2 / (exp(2z) + 1), with 2z clamped where tanh is ±1 in float anyway.
                    var one = Vector256<float>.One; var two = Vector256.Create(2f);
                    var lo = Vector256.Create(-40f); var hi = Vector256.Create(40f);
                    for (; i + 8 <= n; i += 8)
                    {
                        var v = Vector256.Min(Vector256.Max(Vector256.LoadUnsafe(ref zr, (nuint)i) * two, lo), hi);
                        var t = one - two / (Vector256.Exp(v) + one);
                        t.StoreUnsafe(ref zr, (nuint)i);
                        (one - t * t).StoreUnsafe(ref dr, (nuint)i);
                    }
                }
                for (; i < n; i++)
                {
                    float t = MathF.Tanh(Unsafe.Add(ref zr, i));
                    Unsafe.Add(ref zr, i) = t;
                    Unsafe.Add(ref dr, i) = 1f - t * t;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown input-network activation.");
        }
    }

    // π/2 split into three floats (Cody–Waite): q·Pio2A is exact for |q| < 2^12, so arguments up to a few
    // thousand radians (SIREN pre-activations are far smaller) reduce with float accuracy.
    private const float TwoOverPi = 0.636619772367581343f;
    private const float Pio2A = 1.5703125f;
    private const float Pio2B = 4.837512969970703125e-4f;
    private const float Pio2C = 7.54978995489188216e-8f;

    /// <summary>
    /// sin and cos of 8 floats: reduce to r ∈ [−π/4, π/4] by the nearest multiple q of π/2, evaluate the Taylor
    /// polynomials of sin (to r⁹) and cos (to r¹⁰), whose truncation errors there are below 2e−9, then rotate
    /// by the quadrant q mod 4. About 4× faster than Vector256.SinCos, with errors of a few float ulps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<float> Sin, Vector256<float> Cos) SinCos(Vector256<float> x)
    {
        var qf = Vector256.Round(x * Vector256.Create(TwoOverPi));
        var r = Vector256.FusedMultiplyAdd(qf, Vector256.Create(-Pio2A), x);
        r = Vector256.FusedMultiplyAdd(qf, Vector256.Create(-Pio2B), r);
        r = Vector256.FusedMultiplyAdd(qf, Vector256.Create(-Pio2C), r);
        var q = Vector256.ConvertToInt32(qf);
        var r2 = r * r;
        var sp = Vector256.FusedMultiplyAdd(r2, Vector256.Create(1f / 362880f), Vector256.Create(-1f / 5040f));
        sp = Vector256.FusedMultiplyAdd(sp, r2, Vector256.Create(1f / 120f));
        sp = Vector256.FusedMultiplyAdd(sp, r2, Vector256.Create(-1f / 6f));
        var sinR = Vector256.FusedMultiplyAdd(sp * r2, r, r);
        var cp = Vector256.FusedMultiplyAdd(r2, Vector256.Create(-1f / 3628800f), Vector256.Create(1f / 40320f));
        cp = Vector256.FusedMultiplyAdd(cp, r2, Vector256.Create(-1f / 720f));
        cp = Vector256.FusedMultiplyAdd(cp, r2, Vector256.Create(1f / 24f));
        cp = Vector256.FusedMultiplyAdd(cp, r2, Vector256.Create(-0.5f));
        var cosR = Vector256.FusedMultiplyAdd(cp, r2, Vector256<float>.One);
        // Odd quadrants swap sin and cos; sin is negated in quadrants 2, 3 and cos in quadrants 1, 2.
        var swap = Vector256.Equals(q & Vector256<int>.One, Vector256<int>.One).AsSingle();
        var s = Vector256.ConditionalSelect(swap, cosR, sinR);
        var c = Vector256.ConditionalSelect(swap, sinR, cosR);
        var sinSign = Vector256.ShiftLeft(q & Vector256.Create(2), 30).AsSingle();
        var cosSign = Vector256.ShiftLeft((q + Vector256<int>.One) & Vector256.Create(2), 30).AsSingle();
        return (s ^ sinSign, c ^ cosSign);
    }

    /// <summary>g[i] *= d[i] (one rounding per element: the same bits at every vector width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyInPlace(Span<float> g, ReadOnlySpan<float> d)
    {
        if (g.Length != d.Length) throw new ArgumentException($"MultiplyInPlace: lengths differ ({g.Length} vs {d.Length}).");
        TensorPrimitives.Multiply(g, d, g);
    }
}
