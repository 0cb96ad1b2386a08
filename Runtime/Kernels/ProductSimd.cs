using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// The small SIMD building blocks of the generated product kernels (the loops around them are emitted per architecture
/// with every width and the feature count D constant; see docs/generator.md, "Product models"): the blocked matrix
/// product <see cref="Gemm"/> that runs a weight layer's per-edge products over all of its edges at once, and the
/// per-node products over all of a layer's nodes; the row-combination forms (<see cref="RowsAdd"/>, the one-row case,
/// bitwise the same); the edge SiLU and its derivative over all edges (<see cref="EdgeSilu"/>,
/// <see cref="EdgeSiluBackward"/>, with the single-precision <see cref="Exp"/>); the messages' backward per neuron
/// (<see cref="MessageGradients"/>). Deterministic: fixed order, one fused multiply-add per term where the CPU has FMA
/// (multiply, then add, where it has not).
/// </summary>
public static class ProductSimd
{
    /// <summary>c + a · b, rounded once where the CPU has FMA (vfmadd), else multiply then add: the one step of every sum in
    /// <see cref="RowsAddStrided"/> and <see cref="Gemm"/>, the same in their vector and scalar code, so that the blocked and
    /// the per-row forms agree bitwise and a value's result does not depend on the block or lane it lands in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Madd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : c + a * b;

    /// <inheritdoc cref="Madd(Vector256{float}, Vector256{float}, Vector256{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Madd(float a, float b, float c) => Fma.IsSupported ? MathF.FusedMultiplyAdd(a, b, c) : c + a * b;

    /// <summary>y[o] += Σ_r coef[r] · rows[r · stride + o] for o &lt; y.Length (rows: coef.Length rows of at least y.Length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RowsAdd(ReadOnlySpan<float> rows, int stride, ReadOnlySpan<float> coef, Span<float> y) =>
        RowsAddStrided(rows, stride, coef, 1, coef.Length, y);

    /// <summary>y[o] += Σ_{r &lt; count} coef[r · coefStride] · rows[r · stride + o] (a column of a row-major coefficient matrix).</summary>
    public static void RowsAddStrided(ReadOnlySpan<float> rows, int stride, ReadOnlySpan<float> coef, int coefStride, int count, Span<float> y)
    {
        int n = y.Length;
        if (count == 0 || n == 0) return;
        if ((long)(count - 1) * stride + n > rows.Length || (long)(count - 1) * coefStride >= coef.Length) throw new ArgumentException("RowsAdd reads past its inputs.");
        ref float rb = ref MemoryMarshal.GetReference(rows);
        ref float cb = ref MemoryMarshal.GetReference(coef);
        ref float yb = ref MemoryMarshal.GetReference(y);
        int o = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; o + 32 <= n; o += 32)
            {
                var a0 = Vector256.LoadUnsafe(ref yb, (nuint)o); var a1 = Vector256.LoadUnsafe(ref yb, (nuint)(o + 8));
                var a2 = Vector256.LoadUnsafe(ref yb, (nuint)(o + 16)); var a3 = Vector256.LoadUnsafe(ref yb, (nuint)(o + 24));
                for (int r = 0; r < count; r++)
                {
                    var c = Vector256.Create(Unsafe.Add(ref cb, r * coefStride));
                    nuint at = (nuint)(r * stride + o);
                    a0 = Madd(c, Vector256.LoadUnsafe(ref rb, at), a0); a1 = Madd(c, Vector256.LoadUnsafe(ref rb, at + 8), a1);
                    a2 = Madd(c, Vector256.LoadUnsafe(ref rb, at + 16), a2); a3 = Madd(c, Vector256.LoadUnsafe(ref rb, at + 24), a3);
                }
                a0.StoreUnsafe(ref yb, (nuint)o); a1.StoreUnsafe(ref yb, (nuint)(o + 8));
                a2.StoreUnsafe(ref yb, (nuint)(o + 16)); a3.StoreUnsafe(ref yb, (nuint)(o + 24));
            }
            for (; o + 8 <= n; o += 8)
            {
                var a0 = Vector256.LoadUnsafe(ref yb, (nuint)o);
                for (int r = 0; r < count; r++)
                    a0 = Madd(Vector256.Create(Unsafe.Add(ref cb, r * coefStride)), Vector256.LoadUnsafe(ref rb, (nuint)(r * stride + o)), a0);
                a0.StoreUnsafe(ref yb, (nuint)o);
            }
        }
        for (; o < n; o++)
        {
            float a = Unsafe.Add(ref yb, o);
            for (int r = 0; r < count; r++) a = Madd(Unsafe.Add(ref cb, r * coefStride), Unsafe.Add(ref rb, r * stride + o), a);
            Unsafe.Add(ref yb, o) = a;
        }
    }

    /// <summary>
    /// The blocked matrix product of the fused edge passes: Y[i, j] += Σ_{p &lt; k} A[i, p] · B[p, j] for i &lt; m, j &lt; n, with
    /// A read as a[i · ais + p · aps] (any strides: rows of edges, or a column of per-edge coefficients), B as rows
    /// b[p · bs + j] and Y as y[i · ys + j]. Register blocks of 4 rows × 16 columns (eight 8-lane accumulators held
    /// in registers, two B vectors loaded per p, four broadcasts), then 4 × 8, then single rows, then scalars. Every
    /// element is summed over p in ascending order, one <see cref="Madd(float, float, float)"/> per term, starting from Y's value:
    /// bitwise the same as a loop of <see cref="RowsAdd"/> calls, for any blocking and any m.
    /// </summary>
    public static void Gemm(ReadOnlySpan<float> a, int ais, int aps, ReadOnlySpan<float> b, int bs, Span<float> y, int ys, int m, int n, int k)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0) return;
        if ((long)(m - 1) * ais + (long)(k - 1) * aps >= a.Length || (long)(k - 1) * bs + n > b.Length || (long)(m - 1) * ys + n > y.Length)
            throw new ArgumentException("Gemm reads or writes past its spans.");
        ref float ab = ref MemoryMarshal.GetReference(a);
        ref float bb = ref MemoryMarshal.GetReference(b);
        ref float yb = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // 6 rows × 16 columns (widths that are multiples of 16): twelve accumulators, enough independent FMA chains to cover
            // the FMA latency.
            // As many 6-row blocks as leave a multiple of 4 rows (m = 32: 4 × 6 + 2 × 4), so that no row falls to the
            // single-row loop, whose one accumulator chain is bound by the FMA latency.
            int sixes = n % 16 == 0 ? m / 6 : 0;
            if (m % 2 == 0) while (sixes > 0 && (m - 6 * sixes) % 4 != 0) sixes--;
            for (; i < 6 * sixes; i += 6)
            {
                ref float a0 = ref Unsafe.Add(ref ab, i * ais);
                ref float y0 = ref Unsafe.Add(ref yb, i * ys);
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    ref float yj = ref Unsafe.Add(ref y0, j);
                    var c00 = Vector256.LoadUnsafe(ref yj); var c01 = Vector256.LoadUnsafe(ref yj, 8);
                    var c10 = Vector256.LoadUnsafe(ref yj, (nuint)ys); var c11 = Vector256.LoadUnsafe(ref yj, (nuint)(ys + 8));
                    var c20 = Vector256.LoadUnsafe(ref yj, (nuint)(2 * ys)); var c21 = Vector256.LoadUnsafe(ref yj, (nuint)(2 * ys + 8));
                    var c30 = Vector256.LoadUnsafe(ref yj, (nuint)(3 * ys)); var c31 = Vector256.LoadUnsafe(ref yj, (nuint)(3 * ys + 8));
                    var c40 = Vector256.LoadUnsafe(ref yj, (nuint)(4 * ys)); var c41 = Vector256.LoadUnsafe(ref yj, (nuint)(4 * ys + 8));
                    var c50 = Vector256.LoadUnsafe(ref yj, (nuint)(5 * ys)); var c51 = Vector256.LoadUnsafe(ref yj, (nuint)(5 * ys + 8));
                    ref float bp = ref Unsafe.Add(ref bb, j);
                    ref float ap = ref a0;
                    for (int p = 0; p < k; p++)
                    {
                        var b0 = Vector256.LoadUnsafe(ref bp); var b1 = Vector256.LoadUnsafe(ref bp, 8);
                        var x = Vector256.Create(ap); c00 = Madd(x, b0, c00); c01 = Madd(x, b1, c01);
                        x = Vector256.Create(Unsafe.Add(ref ap, ais)); c10 = Madd(x, b0, c10); c11 = Madd(x, b1, c11);
                        x = Vector256.Create(Unsafe.Add(ref ap, 2 * ais)); c20 = Madd(x, b0, c20); c21 = Madd(x, b1, c21);
                        x = Vector256.Create(Unsafe.Add(ref ap, 3 * ais)); c30 = Madd(x, b0, c30); c31 = Madd(x, b1, c31);
                        x = Vector256.Create(Unsafe.Add(ref ap, 4 * ais)); c40 = Madd(x, b0, c40); c41 = Madd(x, b1, c41);
                        x = Vector256.Create(Unsafe.Add(ref ap, 5 * ais)); c50 = Madd(x, b0, c50); c51 = Madd(x, b1, c51);
                        bp = ref Unsafe.Add(ref bp, bs);
                        ap = ref Unsafe.Add(ref ap, aps);
                    }
                    c00.StoreUnsafe(ref yj); c01.StoreUnsafe(ref yj, 8);
                    c10.StoreUnsafe(ref yj, (nuint)ys); c11.StoreUnsafe(ref yj, (nuint)(ys + 8));
                    c20.StoreUnsafe(ref yj, (nuint)(2 * ys)); c21.StoreUnsafe(ref yj, (nuint)(2 * ys + 8));
                    c30.StoreUnsafe(ref yj, (nuint)(3 * ys)); c31.StoreUnsafe(ref yj, (nuint)(3 * ys + 8));
                    c40.StoreUnsafe(ref yj, (nuint)(4 * ys)); c41.StoreUnsafe(ref yj, (nuint)(4 * ys + 8));
                    c50.StoreUnsafe(ref yj, (nuint)(5 * ys)); c51.StoreUnsafe(ref yj, (nuint)(5 * ys + 8));
                }
            }
            for (; i + 4 <= m; i += 4)
            {
                ref float a0 = ref Unsafe.Add(ref ab, i * ais);
                ref float a1 = ref Unsafe.Add(ref a0, ais);
                ref float a2 = ref Unsafe.Add(ref a1, ais);
                ref float a3 = ref Unsafe.Add(ref a2, ais);
                ref float y0 = ref Unsafe.Add(ref yb, i * ys);
                ref float y1 = ref Unsafe.Add(ref y0, ys);
                ref float y2 = ref Unsafe.Add(ref y1, ys);
                ref float y3 = ref Unsafe.Add(ref y2, ys);
                int j = 0;
                for (; j + 16 <= n; j += 16)
                {
                    var c00 = Vector256.LoadUnsafe(ref y0, (nuint)j); var c01 = Vector256.LoadUnsafe(ref y0, (nuint)(j + 8));
                    var c10 = Vector256.LoadUnsafe(ref y1, (nuint)j); var c11 = Vector256.LoadUnsafe(ref y1, (nuint)(j + 8));
                    var c20 = Vector256.LoadUnsafe(ref y2, (nuint)j); var c21 = Vector256.LoadUnsafe(ref y2, (nuint)(j + 8));
                    var c30 = Vector256.LoadUnsafe(ref y3, (nuint)j); var c31 = Vector256.LoadUnsafe(ref y3, (nuint)(j + 8));
                    ref float bp = ref Unsafe.Add(ref bb, j);
                    nint ap = 0;
                    for (int p = 0; p < k; p++)
                    {
                        var b0 = Vector256.LoadUnsafe(ref bp); var b1 = Vector256.LoadUnsafe(ref bp, 8);
                        var x = Vector256.Create(Unsafe.Add(ref a0, ap)); c00 = Madd(x, b0, c00); c01 = Madd(x, b1, c01);
                        x = Vector256.Create(Unsafe.Add(ref a1, ap)); c10 = Madd(x, b0, c10); c11 = Madd(x, b1, c11);
                        x = Vector256.Create(Unsafe.Add(ref a2, ap)); c20 = Madd(x, b0, c20); c21 = Madd(x, b1, c21);
                        x = Vector256.Create(Unsafe.Add(ref a3, ap)); c30 = Madd(x, b0, c30); c31 = Madd(x, b1, c31);
                        bp = ref Unsafe.Add(ref bp, bs);
                        ap += aps;
                    }
                    c00.StoreUnsafe(ref y0, (nuint)j); c01.StoreUnsafe(ref y0, (nuint)(j + 8));
                    c10.StoreUnsafe(ref y1, (nuint)j); c11.StoreUnsafe(ref y1, (nuint)(j + 8));
                    c20.StoreUnsafe(ref y2, (nuint)j); c21.StoreUnsafe(ref y2, (nuint)(j + 8));
                    c30.StoreUnsafe(ref y3, (nuint)j); c31.StoreUnsafe(ref y3, (nuint)(j + 8));
                }
                for (; j + 8 <= n; j += 8)
                {
                    var c0 = Vector256.LoadUnsafe(ref y0, (nuint)j); var c1 = Vector256.LoadUnsafe(ref y1, (nuint)j);
                    var c2 = Vector256.LoadUnsafe(ref y2, (nuint)j); var c3 = Vector256.LoadUnsafe(ref y3, (nuint)j);
                    ref float bp = ref Unsafe.Add(ref bb, j);
                    nint ap = 0;
                    for (int p = 0; p < k; p++)
                    {
                        var b0 = Vector256.LoadUnsafe(ref bp);
                        c0 = Madd(Vector256.Create(Unsafe.Add(ref a0, ap)), b0, c0); c1 = Madd(Vector256.Create(Unsafe.Add(ref a1, ap)), b0, c1);
                        c2 = Madd(Vector256.Create(Unsafe.Add(ref a2, ap)), b0, c2); c3 = Madd(Vector256.Create(Unsafe.Add(ref a3, ap)), b0, c3);
                        bp = ref Unsafe.Add(ref bp, bs);
                        ap += aps;
                    }
                    c0.StoreUnsafe(ref y0, (nuint)j); c1.StoreUnsafe(ref y1, (nuint)j);
                    c2.StoreUnsafe(ref y2, (nuint)j); c3.StoreUnsafe(ref y3, (nuint)j);
                }
                for (int r = 0; r < 4; r++) GemmScalarTail(ref Unsafe.Add(ref ab, (i + r) * ais), aps, ref bb, bs, ref Unsafe.Add(ref yb, (i + r) * ys), j, n, k);
            }
            for (; i < m; i++)
            {
                ref float ar = ref Unsafe.Add(ref ab, i * ais);
                ref float yr = ref Unsafe.Add(ref yb, i * ys);
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    var c0 = Vector256.LoadUnsafe(ref yr, (nuint)j);
                    ref float bp = ref Unsafe.Add(ref bb, j);
                    nint ap = 0;
                    for (int p = 0; p < k; p++)
                    {
                        c0 = Madd(Vector256.Create(Unsafe.Add(ref ar, ap)), Vector256.LoadUnsafe(ref bp), c0);
                        bp = ref Unsafe.Add(ref bp, bs);
                        ap += aps;
                    }
                    c0.StoreUnsafe(ref yr, (nuint)j);
                }
                GemmScalarTail(ref ar, aps, ref bb, bs, ref yr, j, n, k);
            }
        }
        for (; i < m; i++) GemmScalarTail(ref Unsafe.Add(ref ab, i * ais), aps, ref bb, bs, ref Unsafe.Add(ref yb, i * ys), 0, n, k);
    }

    private static void GemmScalarTail(ref float ar, int aps, ref float bb, int bs, ref float yr, int from, int n, int k)
    {
        for (int j = from; j < n; j++)
        {
            float c = Unsafe.Add(ref yr, j);
            for (int p = 0; p < k; p++) c = Madd(Unsafe.Add(ref ar, p * aps), Unsafe.Add(ref bb, p * bs + j), c);
            Unsafe.Add(ref yr, j) = c;
        }
    }

    /// <summary>σ(u) = 1 / (1 + exp(−u)) per lane, with <see cref="Exp"/> (a few float ulps from <see cref="MathF.Exp"/>; the
    /// same function in every lane, so a value's result does not depend on its lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> u) => Vector256<float>.One / (Vector256<float>.One + Exp(-u));

    /// <summary>
    /// exp(x) per lane in single precision (the Cephes scheme): x clamped to [−87.3, 88], n = ⌊x log₂e + ½⌋, r = x − n ln 2
    /// with ln 2 split in two parts (r exact to a float ulp, |r| ≤ ½ ln 2), exp(r) by a degree-7 polynomial, times 2ⁿ written
    /// into the exponent bits. Relative error within 2·10⁻⁷ of the true exponential over the clamped range (tested against
    /// float64); below −87.3 it gives exp(−87.3) ≈ 1.2·10⁻³⁸ and above 88 exp(88) instead of 0 and ∞, which σ and
    /// SiLU do not see. Plain multiplies and adds: the same bits on every x64 CPU and in every lane; about 4× fewer
    /// instructions than <see cref="Vector256.Exp(Vector256{float})"/>, which widens to double.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // Clamped with the native min/max (vminps/vmaxps), the bound first: a NaN x is returned as it is and propagates.
        x = Vector256.MinNative(Vector256.Create(88f), Vector256.MaxNative(Vector256.Create(-87.33654f), x));
        var n = Vector256.Floor(x * Vector256.Create(1.44269504088896341f) + Vector256.Create(0.5f));
        var r = x - n * Vector256.Create(0.693359375f);
        r -= n * Vector256.Create(-2.12194440e-4f);
        var p = Vector256.Create(1.9875691500e-4f) * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        var e = p * (r * r) + r + Vector256<float>.One;
        // n is integral and within [−126, 127]: the plain truncating conversion (vcvttps2dq), no saturation handling needed.
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();
        return e * scale;
    }

    /// <summary>
    /// The edge update's activation over all edges of a weight layer (edge e = j · ins + i, D features each):
    /// y[e] = x[e] + s(u) with u = (z[e] + src[i]) + dst[j] and s the SiLU u σ(u), 8 lanes at a time (a tail of fewer
    /// than 8 features goes through the same vector function on a padded copy, so every value gets the same rounding).
    /// </summary>
    public static void EdgeSilu(ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> src, ReadOnlySpan<float> dst, Span<float> y, int outs, int ins, int d)
    {
        int n = outs * ins * d;
        if (x.Length < n || z.Length < n || y.Length < n || src.Length < ins * d || dst.Length < outs * d) throw new ArgumentException("EdgeSilu reads or writes past its spans.");
        ref float xb = ref MemoryMarshal.GetReference(x), zb = ref MemoryMarshal.GetReference(z), sb = ref MemoryMarshal.GetReference(src);
        ref float db = ref MemoryMarshal.GetReference(dst), yb = ref MemoryMarshal.GetReference(y);
        Span<float> pad = stackalloc float[4 * 8];
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                int at = (j * ins + i) * d;
                int c = 0;
                // Full groups of 8 through refs: every index was checked above (at + c + 8 ≤ n, i·d + c + 8 ≤ ins·d, j·d + c + 8 ≤ outs·d).
                for (; c + 8 <= d; c += 8)
                {
                    var u = EdgePreActivation(ref zb, ref sb, ref db, at + c, i * d + c, j * d + c);
                    (Vector256.LoadUnsafe(ref xb, (nuint)(at + c)) + u * Sigmoid(u)).StoreUnsafe(ref yb, (nuint)(at + c));
                }
                if (c < d)
                {
                    int r = d - c;
                    pad.Clear();
                    z.Slice(at + c, r).CopyTo(pad); src.Slice(i * d + c, r).CopyTo(pad.Slice(8)); dst.Slice(j * d + c, r).CopyTo(pad.Slice(16)); x.Slice(at + c, r).CopyTo(pad.Slice(24));
                    var u = EdgePreActivation(ref pad[0], ref pad[0], ref pad[0], 0, 8, 16);
                    (Vector256.Create(pad.Slice(24)) + u * Sigmoid(u)).CopyTo(pad);
                    pad.Slice(0, r).CopyTo(y.Slice(at + c, r));
                }
            }
    }

    /// <summary>u = z[e] + src[i] + dst[j] for 8 features (the edge update's pre-activation; one order of the adds for both passes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> EdgePreActivation(ref float z, ref float src, ref float dst, int e, int i, int j) =>
        Vector256.LoadUnsafe(ref z, (nuint)e) + Vector256.LoadUnsafe(ref src, (nuint)i) + Vector256.LoadUnsafe(ref dst, (nuint)j);

    /// <summary>
    /// The edge update's activation backward over all edges of a weight layer: with u as in <see cref="EdgeSilu"/>,
    /// gz[e] = g[e] · σ(u)(1 + u(1 − σ(u))) (the SiLU's derivative), and gz summed into gSrc[i] and gDst[j]
    /// (j, then i, ascending: the order of the per-edge loop it replaces).
    /// </summary>
    public static void EdgeSiluBackward(ReadOnlySpan<float> g, ReadOnlySpan<float> z, ReadOnlySpan<float> src, ReadOnlySpan<float> dst, Span<float> gz, Span<float> gSrc, Span<float> gDst, int outs, int ins, int d)
    {
        int n = outs * ins * d;
        if (g.Length < n || z.Length < n || gz.Length < n || src.Length < ins * d || dst.Length < outs * d || gSrc.Length < ins * d || gDst.Length < outs * d)
            throw new ArgumentException("EdgeSiluBackward reads or writes past its spans.");
        ref float gb = ref MemoryMarshal.GetReference(g), zb = ref MemoryMarshal.GetReference(z), sb = ref MemoryMarshal.GetReference(src);
        ref float db = ref MemoryMarshal.GetReference(dst), gzb = ref MemoryMarshal.GetReference(gz);
        ref float gsb = ref MemoryMarshal.GetReference(gSrc), gdb = ref MemoryMarshal.GetReference(gDst);
        Span<float> pad = stackalloc float[4 * 8];
        var one = Vector256<float>.One;
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                int at = (j * ins + i) * d;
                int c = 0;
                for (; c + 8 <= d; c += 8)
                {
                    var u = EdgePreActivation(ref zb, ref sb, ref db, at + c, i * d + c, j * d + c);
                    var sg = Sigmoid(u);
                    var gc = Vector256.LoadUnsafe(ref gb, (nuint)(at + c)) * (sg * (one + u * (one - sg)));
                    gc.StoreUnsafe(ref gzb, (nuint)(at + c));
                    (Vector256.LoadUnsafe(ref gsb, (nuint)(i * d + c)) + gc).StoreUnsafe(ref gsb, (nuint)(i * d + c));
                    (Vector256.LoadUnsafe(ref gdb, (nuint)(j * d + c)) + gc).StoreUnsafe(ref gdb, (nuint)(j * d + c));
                }
                if (c < d)
                {
                    int r = d - c;
                    pad.Clear();
                    z.Slice(at + c, r).CopyTo(pad); src.Slice(i * d + c, r).CopyTo(pad.Slice(8)); dst.Slice(j * d + c, r).CopyTo(pad.Slice(16)); g.Slice(at + c, r).CopyTo(pad.Slice(24));
                    var u = EdgePreActivation(ref pad[0], ref pad[0], ref pad[0], 0, 8, 16);
                    var sg = Sigmoid(u);
                    (Vector256.Create(pad.Slice(24)) * (sg * (one + u * (one - sg)))).CopyTo(pad);
                    for (int q = 0; q < r; q++)
                    {
                        float gc = pad[q];
                        gz[at + c + q] = gc;
                        gSrc[i * d + c + q] += gc;
                        gDst[j * d + c + q] += gc;
                    }
                }
            }
    }

    /// <summary>
    /// The messages' backward for one output neuron j of a weight layer, over its ins incoming edges (d features each):
    /// with f = gm[j] / ins and r[i] = gm'[i] / outs, the gradients of the edge projections gfb[i] = [f ⊙ hf[i] | r[i] ⊙ hb[j]],
    /// and the node projections' gradients ghf[i] += f ⊙ (A e)[i], ghb[j] += r[i] ⊙ (A' e)[i] (i ascending). efb and gfb are
    /// the neuron's ins rows of [A e | A' e] and of its gradient (2d each). 8 lanes at a time, the same operations in the
    /// same order as the per-value loop, so bitwise equal to it.
    /// </summary>
    public static void MessageGradients(ReadOnlySpan<float> gmj, ReadOnlySpan<float> gmb, ReadOnlySpan<float> hf, ReadOnlySpan<float> hbj,
        ReadOnlySpan<float> efb, Span<float> gfb, Span<float> ghf, Span<float> ghbj, float invIns, float invOuts, int ins, int d)
    {
        if (gmj.Length < d || hbj.Length < d || ghbj.Length < d || gmb.Length < ins * d || hf.Length < ins * d || ghf.Length < ins * d
            || efb.Length < ins * 2 * d || gfb.Length < ins * 2 * d)
            throw new ArgumentException("MessageGradients reads or writes past its spans.");
        ref float gm = ref MemoryMarshal.GetReference(gmj), gb = ref MemoryMarshal.GetReference(gmb), hfb = ref MemoryMarshal.GetReference(hf);
        ref float hb = ref MemoryMarshal.GetReference(hbj), eb = ref MemoryMarshal.GetReference(efb), gfbb = ref MemoryMarshal.GetReference(gfb);
        ref float ghfb = ref MemoryMarshal.GetReference(ghf), ghb = ref MemoryMarshal.GetReference(ghbj);
        var vi = Vector256.Create(invIns);
        var vo = Vector256.Create(invOuts);
        for (int i = 0; i < ins; i++)
        {
            int node = i * d, edge = i * 2 * d, c = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; c + 8 <= d; c += 8)
                {
                    var f = Vector256.LoadUnsafe(ref gm, (nuint)c) * vi;
                    var r = Vector256.LoadUnsafe(ref gb, (nuint)(node + c)) * vo;
                    (f * Vector256.LoadUnsafe(ref hfb, (nuint)(node + c))).StoreUnsafe(ref gfbb, (nuint)(edge + c));
                    (Vector256.LoadUnsafe(ref ghfb, (nuint)(node + c)) + f * Vector256.LoadUnsafe(ref eb, (nuint)(edge + c))).StoreUnsafe(ref ghfb, (nuint)(node + c));
                    (r * Vector256.LoadUnsafe(ref hb, (nuint)c)).StoreUnsafe(ref gfbb, (nuint)(edge + d + c));
                    (Vector256.LoadUnsafe(ref ghb, (nuint)c) + r * Vector256.LoadUnsafe(ref eb, (nuint)(edge + d + c))).StoreUnsafe(ref ghb, (nuint)c);
                }
            for (; c < d; c++)
            {
                float f = gmj[c] * invIns, r = gmb[node + c] * invOuts;
                gfb[edge + c] = f * hf[node + c];
                ghf[node + c] += f * efb[edge + c];
                gfb[edge + d + c] = r * hbj[c];
                ghbj[c] += r * efb[edge + d + c];
            }
        }
    }

    /// <summary>y[c] += a[c] · b[c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MulAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        int n = y.Length, c = 0;
        if (a.Length < n || b.Length < n) throw new ArgumentException("MulAdd needs inputs as long as its output.");
        if (Vector256.IsHardwareAccelerated)
        {
            ref float ab = ref MemoryMarshal.GetReference(a), bb = ref MemoryMarshal.GetReference(b), yb = ref MemoryMarshal.GetReference(y);
            for (; c + 8 <= n; c += 8)
                (Vector256.LoadUnsafe(ref yb, (nuint)c) + Vector256.LoadUnsafe(ref ab, (nuint)c) * Vector256.LoadUnsafe(ref bb, (nuint)c)).StoreUnsafe(ref yb, (nuint)c);
        }
        for (; c < n; c++) y[c] += a[c] * b[c];
    }

    /// <summary>y[c] *= s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(Span<float> y, float s)
    {
        for (int c = 0; c < y.Length; c++) y[c] *= s;
    }

    /// <summary>mt[c · rows + o] = m[o · cols + c]: the transpose of a row-major [rows × cols] matrix.</summary>
    public static float[] Transpose(float[] m, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.Length != rows * cols) throw new ArgumentException($"The matrix has {m.Length} entries, not {rows}×{cols}.", nameof(m));
        var t = new float[m.Length];
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++) t[c * rows + o] = m[o * cols + c];
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));
}

/// <summary>
/// A product layer's parameters as the generated kernels read them: the message maps and both updates transposed
/// (row c of a transpose is column c of the map, so a matrix–vector product is <see cref="ProductSimd.RowsAdd"/>), built
/// once per <see cref="ProductKernel.Forward"/> or <see cref="ProductKernel.Backward"/> call.
/// </summary>
public sealed class ProductTransposes
{
    /// <summary>Per weight layer: Aᵀ, A'ᵀ, Bᵀ, B'ᵀ [D × D] and Vᵀ [3D × D]; per neuron layer: Uᵀ [3D × D].</summary>
    public float[][] EdgeForward { get; }
    public float[][] EdgeBackward { get; }
    public float[][] NodeForward { get; }
    public float[][] NodeBackward { get; }
    public float[][] EdgeUpdate { get; }
    public float[][] NodeUpdate { get; }
    /// <summary>Per weight layer: [Aᵀ | A'ᵀ] [D × 2D] (row c: column c of A, then of A'), so that [A e | A' e] of every
    /// edge is one <see cref="ProductSimd.Gemm"/>; and [A; A'] [2D × D] (A's rows, then A''s) for the adjoint.</summary>
    public float[][] EdgeMessages { get; }
    public float[][] EdgeMessagesStacked { get; }

    public ProductTransposes(ProductLayerParameters<float> p)
    {
        ArgumentNullException.ThrowIfNull(p);
        int d = p.Features;
        float[][] T(float[][] a, int cols) => Array.ConvertAll(a, m => ProductSimd.Transpose(m, d, cols));
        EdgeForward = T(p.EdgeForward, d); EdgeBackward = T(p.EdgeBackward, d);
        NodeForward = T(p.NodeForward, d); NodeBackward = T(p.NodeBackward, d);
        EdgeUpdate = T(p.EdgeUpdate, 3 * d); NodeUpdate = T(p.NodeUpdate, 3 * d);
        int m = p.EdgeForward.Length;
        EdgeMessages = new float[m][]; EdgeMessagesStacked = new float[m][];
        for (int l = 0; l < m; l++)
        {
            var side = EdgeMessages[l] = new float[2 * d * d];
            for (int c = 0; c < d; c++)
            {
                Array.Copy(EdgeForward[l], c * d, side, c * 2 * d, d);
                Array.Copy(EdgeBackward[l], c * d, side, c * 2 * d + d, d);
            }
            var stacked = EdgeMessagesStacked[l] = new float[2 * d * d];
            Array.Copy(p.EdgeForward[l], 0, stacked, 0, d * d);
            Array.Copy(p.EdgeBackward[l], 0, stacked, d * d, d * d);
        }
    }
}

/// <summary>
/// One thread's scratch for the generated product kernels, sized for one network of a graph with D features: per neuron
/// layer k ([width_k × D]) the forward and backward messages into it, the node pre-activations and updated nodes, and
/// their gradients; per weight layer ℓ the node projections B h, B' h ([in × D], [out × D]), per edge [A e | A' e] and
/// its gradient ([out·in × 2D]), the edge update's V_E e and its pre-activation gradient ([out·in × D]); per node of the
/// widest layer the edge update's node terms and their gradients.
/// </summary>
public sealed class ProductScratch
{
    public float[][] Fwd { get; }
    public float[][] Bwd { get; }
    public float[][] NodeZ { get; }
    public float[][] NodeOut { get; }
    public float[][] GNodeOut { get; }
    public float[][] GNodeZ { get; }
    public float[][] GFwd { get; }
    public float[][] GBwd { get; }
    public float[][] ProjIn { get; }
    public float[][] ProjOut { get; }
    public float[][] EdgeFB { get; }
    public float[][] GFB { get; }
    public float[][] EdgeZ { get; }
    public float[][] G1 { get; }
    public float[] Src { get; }
    public float[] Dst { get; }
    public float[] GSrc { get; }
    public float[] GDst { get; }

    public ProductScratch(NeuralGraph graph, int features)
    {
        ArgumentNullException.ThrowIfNull(graph);
        int d = features, m = graph.Depth, widest = 0;
        foreach (int w in graph.Widths) widest = Math.Max(widest, w);
        float[][] Nodes() { var a = new float[m + 1][]; for (int k = 0; k <= m; k++) a[k] = new float[graph.Widths[k] * d]; return a; }
        float[][] Layers(Func<int, int> size) { var a = new float[m][]; for (int l = 1; l <= m; l++) a[l - 1] = new float[size(l) * d]; return a; }
        Fwd = Nodes(); Bwd = Nodes(); NodeZ = Nodes(); NodeOut = Nodes(); GNodeOut = Nodes(); GNodeZ = Nodes(); GFwd = Nodes(); GBwd = Nodes();
        ProjIn = Layers(graph.In); ProjOut = Layers(graph.Out);
        Func<int, int> edges = l => graph.Out(l) * graph.In(l);
        EdgeFB = Layers(l => 2 * edges(l)); GFB = Layers(l => 2 * edges(l)); EdgeZ = Layers(edges); G1 = Layers(edges);
        Src = new float[widest * d]; Dst = new float[widest * d]; GSrc = new float[widest * d]; GDst = new float[widest * d];
    }
}
