using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// Line-wise micro-kernels of the fused schedule: a "line" is every position along the last permuted
/// axis of an output tensor, so each call is a small GEMM whose weight matrix stays in L1 while
/// several rows share every weight load (register blocking). Vector512 when the hardware has it,
/// Vector256 otherwise, and a scalar path (DOTNET_EnableAVX2=0 / DOTNET_EnableAVX512F=0 exercise them).
/// </summary>
public static class LineOps
{
    /// <summary>dst[r·dstStride + c] = init[c] + (lineTerm.IsEmpty ? 0 : lineTerm[r·ltStride + c]) for r &lt; rows, c &lt; init.Length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Broadcast(ReadOnlySpan<float> init, ReadOnlySpan<float> lineTerm, int ltStride, Span<float> dst, int dstStride, int rows)
    {
        int cols = init.Length;
        for (int r = 0; r < rows; r++)
        {
            var d = dst.Slice(r * dstStride, cols);
            init.CopyTo(d);
            if (!lineTerm.IsEmpty) FusedOps.Add(lineTerm.Slice(r * ltStride, cols), d);
        }
    }

    /// <summary>
    /// dst[r, :] += scale · src[r, :] · W for r &lt; rows, with W row-major [inWidth × outWidth],
    /// src rows of inWidth at stride srcStride, dst rows of outWidth at stride dstStride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MixAdd(ReadOnlySpan<float> src, int srcStride, ReadOnlySpan<float> w, int inWidth, int outWidth,
        Span<float> dst, int dstStride, int rows, float scale = 1f)
    {
        var plan = default(Base);
        plan.Dst = dstStride;
        Mix(src, srcStride, w, inWidth, outWidth, dst, dstStride, rows, scale, plan);
    }

    /// <summary>
    /// dst[r, :] = init + lineTerm[r, :] + scale · src[r, :] · W: the broadcast terms folded into the
    /// GEMM's store, so a line is written once (<paramref name="lineTerm"/> may be empty).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MixAssign(ReadOnlySpan<float> init, ReadOnlySpan<float> lineTerm, int ltStride,
        ReadOnlySpan<float> src, int srcStride, ReadOnlySpan<float> w, int inWidth, int outWidth,
        Span<float> dst, int dstStride, int rows, float scale = 1f)
    {
        if (init.Length != outWidth) throw new ArgumentException("init must hold one row of the output.");
        var plan = new Base { Init = ref MemoryMarshal.GetReference(init), Line = ref MemoryMarshal.GetReference(lineTerm), HasLine = !lineTerm.IsEmpty, LineStride = ltStride, Assign = true, Dst = dstStride };
        Mix(src, srcStride, w, inWidth, outWidth, dst, dstStride, rows, scale, plan);
    }

    /// <summary>Where the value added to a product comes from: the destination itself, or init + line term.</summary>
    private ref struct Base
    {
        public ref float Init;
        public ref float Line;
        public bool HasLine, Assign;
        public int LineStride, Dst;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Base512(ref Base b, ref float d0, int r, int c)
    {
        if (!b.Assign) return Vector512.LoadUnsafe(ref Unsafe.Add(ref d0, r * b.Dst + c));
        var v = Vector512.LoadUnsafe(ref Unsafe.Add(ref b.Init, c));
        return b.HasLine ? v + Vector512.LoadUnsafe(ref Unsafe.Add(ref b.Line, r * b.LineStride + c)) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Base256(ref Base b, ref float d0, int r, int c)
    {
        if (!b.Assign) return Vector256.LoadUnsafe(ref Unsafe.Add(ref d0, r * b.Dst + c));
        var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref b.Init, c));
        return b.HasLine ? v + Vector256.LoadUnsafe(ref Unsafe.Add(ref b.Line, r * b.LineStride + c)) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Base1(ref Base b, ref float d0, int r, int c)
    {
        if (!b.Assign) return Unsafe.Add(ref d0, r * b.Dst + c);
        float v = Unsafe.Add(ref b.Init, c);
        return b.HasLine ? v + Unsafe.Add(ref b.Line, r * b.LineStride + c) : v;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Mix(ReadOnlySpan<float> src, int srcStride, ReadOnlySpan<float> w, int inWidth, int outWidth,
        Span<float> dst, int dstStride, int rows, float scale, Base plan)
    {
        ref float s0 = ref MemoryMarshal.GetReference(src);
        ref float w0 = ref MemoryMarshal.GetReference(w);
        ref float d0 = ref MemoryMarshal.GetReference(dst);
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + 32 <= outWidth; c += 32) Block512x2(ref s0, srcStride, ref w0, inWidth, outWidth, ref d0, dstStride, rows, c, scale, ref plan);
            for (; c + 16 <= outWidth; c += 16) Block512x1(ref s0, srcStride, ref w0, inWidth, outWidth, ref d0, dstStride, rows, c, scale, ref plan);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 16 <= outWidth; c += 16) Block256x2(ref s0, srcStride, ref w0, inWidth, outWidth, ref d0, dstStride, rows, c, scale, ref plan);
        }
        if (c < outWidth) Scalar(ref s0, srcStride, ref w0, inWidth, outWidth, ref d0, dstStride, rows, c, scale, ref plan);
    }

    // 8 rows × 32 columns per step: 16 accumulators (half the register file), so each pair of weight
    // loads feeds 16 FMAs and the two FMA pipes always have independent work (latency 4 × 2 pipes = 8
    // chains needed; 4 × 32 blocks had exactly 8 and ran at ~55–70% of peak, 8 × 32 at ~95%).
    // Then 4 × 32 and 1 × 32 for the remaining rows. The per-element summation order is the same in
    // every block shape, so results do not depend on the blocking.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block512x2(ref float s0, int ss, ref float w0, int k, int n, ref float d0, int ds, int rows, int c, float scale, ref Base b)
    {
        var sc = Vector512.Create(scale);
        // The init row is the same for every row of the line: loaded once, not per stored row.
        var i0 = b.Assign ? Vector512.LoadUnsafe(ref Unsafe.Add(ref b.Init, c)) : default;
        var i1 = b.Assign ? Vector512.LoadUnsafe(ref Unsafe.Add(ref b.Init, c + 16)) : default;
        int r = 0;
        for (; r + 8 <= rows; r += 8)
        {
            var a00 = Vector512<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
            var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
            var a40 = a00; var a41 = a00; var a50 = a00; var a51 = a00;
            var a60 = a00; var a61 = a00; var a70 = a00; var a71 = a00;
            // Row and weight addresses are hoisted out of the inner loop (the JIT recomputed every
            // row offset there, ~20 integer operations beside the 16 FMAs: close to the dispatch limit).
            ref float x0 = ref Unsafe.Add(ref s0, r * ss);
            ref float x1 = ref Unsafe.Add(ref x0, ss); ref float x2 = ref Unsafe.Add(ref x1, ss);
            ref float x3 = ref Unsafe.Add(ref x2, ss); ref float x4 = ref Unsafe.Add(ref x3, ss);
            ref float x5 = ref Unsafe.Add(ref x4, ss); ref float x6 = ref Unsafe.Add(ref x5, ss);
            ref float x7 = ref Unsafe.Add(ref x6, ss);
            ref float wr = ref Unsafe.Add(ref w0, c);
            for (nint i = 0; i < k; i++)
            {
                var w0v = Vector512.LoadUnsafe(ref wr, 0); var w1v = Vector512.LoadUnsafe(ref wr, 16);
                wr = ref Unsafe.Add(ref wr, n);
                var x = Vector512.Create(Unsafe.Add(ref x0, i));
                a00 = Vector512.FusedMultiplyAdd(x, w0v, a00); a01 = Vector512.FusedMultiplyAdd(x, w1v, a01);
                x = Vector512.Create(Unsafe.Add(ref x1, i));
                a10 = Vector512.FusedMultiplyAdd(x, w0v, a10); a11 = Vector512.FusedMultiplyAdd(x, w1v, a11);
                x = Vector512.Create(Unsafe.Add(ref x2, i));
                a20 = Vector512.FusedMultiplyAdd(x, w0v, a20); a21 = Vector512.FusedMultiplyAdd(x, w1v, a21);
                x = Vector512.Create(Unsafe.Add(ref x3, i));
                a30 = Vector512.FusedMultiplyAdd(x, w0v, a30); a31 = Vector512.FusedMultiplyAdd(x, w1v, a31);
                x = Vector512.Create(Unsafe.Add(ref x4, i));
                a40 = Vector512.FusedMultiplyAdd(x, w0v, a40); a41 = Vector512.FusedMultiplyAdd(x, w1v, a41);
                x = Vector512.Create(Unsafe.Add(ref x5, i));
                a50 = Vector512.FusedMultiplyAdd(x, w0v, a50); a51 = Vector512.FusedMultiplyAdd(x, w1v, a51);
                x = Vector512.Create(Unsafe.Add(ref x6, i));
                a60 = Vector512.FusedMultiplyAdd(x, w0v, a60); a61 = Vector512.FusedMultiplyAdd(x, w1v, a61);
                x = Vector512.Create(Unsafe.Add(ref x7, i));
                a70 = Vector512.FusedMultiplyAdd(x, w0v, a70); a71 = Vector512.FusedMultiplyAdd(x, w1v, a71);
            }
            Store512(ref b, ref d0, r, c, a00, a01, sc, i0, i1);
            Store512(ref b, ref d0, r + 1, c, a10, a11, sc, i0, i1);
            Store512(ref b, ref d0, r + 2, c, a20, a21, sc, i0, i1);
            Store512(ref b, ref d0, r + 3, c, a30, a31, sc, i0, i1);
            Store512(ref b, ref d0, r + 4, c, a40, a41, sc, i0, i1);
            Store512(ref b, ref d0, r + 5, c, a50, a51, sc, i0, i1);
            Store512(ref b, ref d0, r + 6, c, a60, a61, sc, i0, i1);
            Store512(ref b, ref d0, r + 7, c, a70, a71, sc, i0, i1);
        }
        for (; r + 4 <= rows; r += 4)
        {
            var a00 = Vector512<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
            var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
            {
                ref float wr = ref Unsafe.Add(ref w0, i * n + c);
                var w0v = Vector512.LoadUnsafe(ref wr, 0); var w1v = Vector512.LoadUnsafe(ref wr, 16);
                var x0 = Vector512.Create(Unsafe.Add(ref sr, i));
                var x1 = Vector512.Create(Unsafe.Add(ref sr, ss + i));
                var x2 = Vector512.Create(Unsafe.Add(ref sr, 2 * ss + i));
                var x3 = Vector512.Create(Unsafe.Add(ref sr, 3 * ss + i));
                a00 = Vector512.FusedMultiplyAdd(x0, w0v, a00); a01 = Vector512.FusedMultiplyAdd(x0, w1v, a01);
                a10 = Vector512.FusedMultiplyAdd(x1, w0v, a10); a11 = Vector512.FusedMultiplyAdd(x1, w1v, a11);
                a20 = Vector512.FusedMultiplyAdd(x2, w0v, a20); a21 = Vector512.FusedMultiplyAdd(x2, w1v, a21);
                a30 = Vector512.FusedMultiplyAdd(x3, w0v, a30); a31 = Vector512.FusedMultiplyAdd(x3, w1v, a31);
            }
            Store512(ref b, ref d0, r, c, a00, a01, sc, i0, i1);
            Store512(ref b, ref d0, r + 1, c, a10, a11, sc, i0, i1);
            Store512(ref b, ref d0, r + 2, c, a20, a21, sc, i0, i1);
            Store512(ref b, ref d0, r + 3, c, a30, a31, sc, i0, i1);
        }
        for (; r < rows; r++)
        {
            // A single row (the global broadcast terms are 1-row products): one FMA chain per column over the inputs in
            // order, like every other block shape. (Four interleaved partial sums would shorten the chain, but then a
            // row's result would depend on whether it fell into a block or the remainder: LineOpsTests pins the one order.)
            var a0 = Vector512<float>.Zero; var a1 = a0;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
            {
                ref float wr = ref Unsafe.Add(ref w0, i * n + c);
                var x = Vector512.Create(Unsafe.Add(ref sr, i));
                a0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wr, 0), a0);
                a1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wr, 16), a1);
            }
            Store512(ref b, ref d0, r, c, a0, a1, sc, i0, i1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(ref Base b, ref float d0, int r, int c, Vector512<float> a0, Vector512<float> a1, Vector512<float> sc, Vector512<float> i0, Vector512<float> i1)
    {
        ref float d = ref Unsafe.Add(ref d0, r * b.Dst + c);
        Vector512<float> b0, b1;
        if (!b.Assign) { b0 = Vector512.LoadUnsafe(ref d, 0); b1 = Vector512.LoadUnsafe(ref d, 16); }
        else if (b.HasLine)
        {
            ref float l = ref Unsafe.Add(ref b.Line, r * b.LineStride + c);
            b0 = i0 + Vector512.LoadUnsafe(ref l, 0); b1 = i1 + Vector512.LoadUnsafe(ref l, 16);
        }
        else { b0 = i0; b1 = i1; }
        Vector512.FusedMultiplyAdd(a0, sc, b0).StoreUnsafe(ref d, 0);
        Vector512.FusedMultiplyAdd(a1, sc, b1).StoreUnsafe(ref d, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block512x1(ref float s0, int ss, ref float w0, int k, int n, ref float d0, int ds, int rows, int c, float scale, ref Base b)
    {
        var sc = Vector512.Create(scale);
        for (int r = 0; r < rows; r++)
        {
            var a = Vector512<float>.Zero;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
                a = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref sr, i)), Vector512.LoadUnsafe(ref Unsafe.Add(ref w0, i * n + c)), a);
            var bv = Base512(ref b, ref d0, r, c);
            Vector512.FusedMultiplyAdd(a, sc, bv).StoreUnsafe(ref Unsafe.Add(ref d0, r * ds + c));
        }
    }

    // 2 rows × 16 columns per step with 256-bit vectors (4 accumulators).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block256x2(ref float s0, int ss, ref float w0, int k, int n, ref float d0, int ds, int rows, int c, float scale, ref Base b)
    {
        var sc = Vector256.Create(scale);
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            // 4 rows × 16 columns: 8 accumulators (enough independent FMA chains for two pipes).
            var a00 = Vector256<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
            var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
            {
                ref float wr = ref Unsafe.Add(ref w0, i * n + c);
                var w0v = Vector256.LoadUnsafe(ref wr, 0); var w1v = Vector256.LoadUnsafe(ref wr, 8);
                ref float si = ref Unsafe.Add(ref sr, i);
                var x = Vector256.Create(si);
                a00 = Vector256.FusedMultiplyAdd(x, w0v, a00); a01 = Vector256.FusedMultiplyAdd(x, w1v, a01);
                x = Vector256.Create(Unsafe.Add(ref si, ss));
                a10 = Vector256.FusedMultiplyAdd(x, w0v, a10); a11 = Vector256.FusedMultiplyAdd(x, w1v, a11);
                x = Vector256.Create(Unsafe.Add(ref si, 2 * ss));
                a20 = Vector256.FusedMultiplyAdd(x, w0v, a20); a21 = Vector256.FusedMultiplyAdd(x, w1v, a21);
                x = Vector256.Create(Unsafe.Add(ref si, 3 * ss));
                a30 = Vector256.FusedMultiplyAdd(x, w0v, a30); a31 = Vector256.FusedMultiplyAdd(x, w1v, a31);
            }
            Store256(ref b, ref d0, r, c, a00, a01, sc);
            Store256(ref b, ref d0, r + 1, c, a10, a11, sc);
            Store256(ref b, ref d0, r + 2, c, a20, a21, sc);
            Store256(ref b, ref d0, r + 3, c, a30, a31, sc);
        }
        for (; r + 2 <= rows; r += 2)
        {
            var a00 = Vector256<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
            {
                ref float wr = ref Unsafe.Add(ref w0, i * n + c);
                var w0v = Vector256.LoadUnsafe(ref wr, 0); var w1v = Vector256.LoadUnsafe(ref wr, 8);
                var x0 = Vector256.Create(Unsafe.Add(ref sr, i));
                var x1 = Vector256.Create(Unsafe.Add(ref sr, ss + i));
                a00 = Vector256.FusedMultiplyAdd(x0, w0v, a00); a01 = Vector256.FusedMultiplyAdd(x0, w1v, a01);
                a10 = Vector256.FusedMultiplyAdd(x1, w0v, a10); a11 = Vector256.FusedMultiplyAdd(x1, w1v, a11);
            }
            Store256(ref b, ref d0, r, c, a00, a01, sc);
            Store256(ref b, ref d0, r + 1, c, a10, a11, sc);
        }
        for (; r < rows; r++)
        {
            var a0 = Vector256<float>.Zero; var a1 = a0;
            ref float sr = ref Unsafe.Add(ref s0, r * ss);
            for (int i = 0; i < k; i++)
            {
                ref float wr = ref Unsafe.Add(ref w0, i * n + c);
                var x = Vector256.Create(Unsafe.Add(ref sr, i));
                a0 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref wr, 0), a0);
                a1 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref wr, 8), a1);
            }
            Store256(ref b, ref d0, r, c, a0, a1, sc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(ref Base b, ref float d0, int r, int c, Vector256<float> a0, Vector256<float> a1, Vector256<float> sc)
    {
        ref float d = ref Unsafe.Add(ref d0, r * b.Dst + c);
        var b0 = Base256(ref b, ref d0, r, c); var b1 = Base256(ref b, ref d0, r, c + 8);
        Vector256.FusedMultiplyAdd(a0, sc, b0).StoreUnsafe(ref d, 0);
        Vector256.FusedMultiplyAdd(a1, sc, b1).StoreUnsafe(ref d, 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scalar(ref float s0, int ss, ref float w0, int k, int n, ref float d0, int ds, int rows, int cStart, float scale, ref Base b)
    {
        // 4 rows at a time: 4 independent add chains per column instead of one (each sum still runs over i in order,
        // so every result has the bits of the row-at-a-time loop below).
        int r = 0;
        for (; r + 4 <= rows; r += 4)
            for (int c = cStart; c < n; c++)
            {
                float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                ref float sr = ref Unsafe.Add(ref s0, r * ss);
                for (int i = 0; i < k; i++)
                {
                    float wv = Unsafe.Add(ref w0, i * n + c);
                    a0 += Unsafe.Add(ref sr, i) * wv;
                    a1 += Unsafe.Add(ref sr, ss + i) * wv;
                    a2 += Unsafe.Add(ref sr, 2 * ss + i) * wv;
                    a3 += Unsafe.Add(ref sr, 3 * ss + i) * wv;
                }
                Unsafe.Add(ref d0, r * ds + c) = Base1(ref b, ref d0, r, c) + scale * a0;
                Unsafe.Add(ref d0, (r + 1) * ds + c) = Base1(ref b, ref d0, r + 1, c) + scale * a1;
                Unsafe.Add(ref d0, (r + 2) * ds + c) = Base1(ref b, ref d0, r + 2, c) + scale * a2;
                Unsafe.Add(ref d0, (r + 3) * ds + c) = Base1(ref b, ref d0, r + 3, c) + scale * a3;
            }
        for (; r < rows; r++)
            for (int c = cStart; c < n; c++)
            {
                float a = 0;
                for (int i = 0; i < k; i++) a += Unsafe.Add(ref s0, r * ss + i) * Unsafe.Add(ref w0, i * n + c);
                Unsafe.Add(ref d0, r * ds + c) = Base1(ref b, ref d0, r, c) + scale * a;
            }
    }

    /// <summary>
    /// dst[c] += Σ_r src[r·wide + c] for c &lt; wide (= dst.Length), rows in order: the column sums of a
    /// [rows × wide] block with the sums in registers (the per-row vector add it replaces stored and
    /// reloaded dst every row). The summation order is the same, so results are bitwise those of it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumRows(ReadOnlySpan<float> src, int rows, Span<float> dst)
    {
        int wide = dst.Length;
        if ((long)rows * wide > src.Length) throw new ArgumentException("src holds fewer than rows × dst.Length values.");
        ref float s0 = ref MemoryMarshal.GetReference(src);
        ref float d0 = ref MemoryMarshal.GetReference(dst);
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c + 64 <= wide; c += 64)
            {
                ref float d = ref Unsafe.Add(ref d0, c);
                var a0 = Vector512.LoadUnsafe(ref d); var a1 = Vector512.LoadUnsafe(ref d, 16);
                var a2 = Vector512.LoadUnsafe(ref d, 32); var a3 = Vector512.LoadUnsafe(ref d, 48);
                ref float e = ref Unsafe.Add(ref s0, c);
                for (int r = 0; r < rows; r++)
                {
                    a0 += Vector512.LoadUnsafe(ref e); a1 += Vector512.LoadUnsafe(ref e, 16);
                    a2 += Vector512.LoadUnsafe(ref e, 32); a3 += Vector512.LoadUnsafe(ref e, 48);
                    e = ref Unsafe.Add(ref e, wide);
                }
                a0.StoreUnsafe(ref d); a1.StoreUnsafe(ref d, 16); a2.StoreUnsafe(ref d, 32); a3.StoreUnsafe(ref d, 48);
            }
            for (; c + 16 <= wide; c += 16)
            {
                ref float d = ref Unsafe.Add(ref d0, c);
                var a0 = Vector512.LoadUnsafe(ref d);
                ref float e = ref Unsafe.Add(ref s0, c);
                for (int r = 0; r < rows; r++) { a0 += Vector512.LoadUnsafe(ref e); e = ref Unsafe.Add(ref e, wide); }
                a0.StoreUnsafe(ref d);
            }
        }
        if (Vector256.IsHardwareAccelerated)
            for (; c + 8 <= wide; c += 8)
            {
                ref float d = ref Unsafe.Add(ref d0, c);
                var a0 = Vector256.LoadUnsafe(ref d);
                ref float e = ref Unsafe.Add(ref s0, c);
                for (int r = 0; r < rows; r++) { a0 += Vector256.LoadUnsafe(ref e); e = ref Unsafe.Add(ref e, wide); }
                a0.StoreUnsafe(ref d);
            }
        for (; c < wide; c++)
        {
            float a = Unsafe.Add(ref d0, c);
            for (int r = 0; r < rows; r++) a += Unsafe.Add(ref s0, r * wide + c);
            Unsafe.Add(ref d0, c) = a;
        }
    }

    /// <summary>
    /// One read of a [rows × cols × wide] tensor: rowSums[r] += Σ_c x[r, c], colSums[c] += Σ_r x[r, c]
    /// (either may be empty), each a wide vector. Rows are summed in order, as the per-entry loop did.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sums2D(ReadOnlySpan<float> x, int rows, int cols, int wide, Span<float> rowSums, Span<float> colSums)
    {
        ref float x0 = ref MemoryMarshal.GetReference(x);
        bool doRow = !rowSums.IsEmpty, doCol = !colSums.IsEmpty;
        ref float r0 = ref MemoryMarshal.GetReference(rowSums);
        ref float c0 = ref MemoryMarshal.GetReference(colSums);
        int k = 0;
        // A row's sum stays in a register across the row (a store-to-load chain through memory per
        // entry made this pass ~10× slower); column sums are touched once per row each.
        if (Vector512.IsHardwareAccelerated)
        {
            for (; k + 32 <= wide; k += 32)
                for (int r = 0; r < rows; r++)
                {
                    ref float rs = ref Unsafe.Add(ref r0, r * wide + k);
                    var acc0 = doRow ? Vector512.LoadUnsafe(ref rs) : Vector512<float>.Zero;
                    var acc1 = doRow ? Vector512.LoadUnsafe(ref rs, 16) : Vector512<float>.Zero;
                    for (int c = 0; c < cols; c++)
                    {
                        ref float e = ref Unsafe.Add(ref x0, (r * cols + c) * wide + k);
                        var v0 = Vector512.LoadUnsafe(ref e); var v1 = Vector512.LoadUnsafe(ref e, 16);
                        acc0 += v0; acc1 += v1;
                        if (doCol)
                        {
                            ref float d = ref Unsafe.Add(ref c0, c * wide + k);
                            (Vector512.LoadUnsafe(ref d) + v0).StoreUnsafe(ref d);
                            (Vector512.LoadUnsafe(ref d, 16) + v1).StoreUnsafe(ref d, 16);
                        }
                    }
                    if (doRow) { acc0.StoreUnsafe(ref rs); acc1.StoreUnsafe(ref rs, 16); }
                }
            for (; k + 16 <= wide; k += 16)
                for (int r = 0; r < rows; r++)
                {
                    ref float rs = ref Unsafe.Add(ref r0, r * wide + k);
                    var acc = doRow ? Vector512.LoadUnsafe(ref rs) : Vector512<float>.Zero;
                    for (int c = 0; c < cols; c++)
                    {
                        var v = Vector512.LoadUnsafe(ref Unsafe.Add(ref x0, (r * cols + c) * wide + k));
                        acc += v;
                        if (doCol) { ref float d = ref Unsafe.Add(ref c0, c * wide + k); (Vector512.LoadUnsafe(ref d) + v).StoreUnsafe(ref d); }
                    }
                    if (doRow) acc.StoreUnsafe(ref rs);
                }
        }
        if (Vector256.IsHardwareAccelerated)
            for (; k + 8 <= wide; k += 8)
                for (int r = 0; r < rows; r++)
                {
                    ref float rs = ref Unsafe.Add(ref r0, r * wide + k);
                    var acc = doRow ? Vector256.LoadUnsafe(ref rs) : Vector256<float>.Zero;
                    for (int c = 0; c < cols; c++)
                    {
                        var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref x0, (r * cols + c) * wide + k));
                        acc += v;
                        if (doCol) { ref float d = ref Unsafe.Add(ref c0, c * wide + k); (Vector256.LoadUnsafe(ref d) + v).StoreUnsafe(ref d); }
                    }
                    if (doRow) acc.StoreUnsafe(ref rs);
                }
        for (; k < wide; k++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    float v = Unsafe.Add(ref x0, (r * cols + c) * wide + k);
                    if (doRow) Unsafe.Add(ref r0, r * wide + k) += v;
                    if (doCol) Unsafe.Add(ref c0, c * wide + k) += v;
                }
    }

    /// <summary>
    /// dW[i, c] += Σ_r src[r·srcStride + i] · g[r·gStride + c] (i &lt; inWidth, c &lt; outWidth): the weight
    /// gradient of a line, accumulated in registers and written once per line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OuterAdd(ReadOnlySpan<float> src, int srcStride, ReadOnlySpan<float> g, int gStride, int rows,
        int inWidth, int outWidth, Span<float> dw)
    {
        ref float s0 = ref MemoryMarshal.GetReference(src);
        ref float g0 = ref MemoryMarshal.GetReference(g);
        ref float d0 = ref MemoryMarshal.GetReference(dw);
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // 8 inputs × 32 columns: 16 accumulators, each gradient load feeds 8 FMAs (the 4 × 16
            // block had 4 chains and was latency-bound at a quarter of the FMA peak).
            for (; c + 32 <= outWidth; c += 32)
            {
                int i = 0;
                for (; i + 8 <= inWidth; i += 8)
                {
                    var a00 = Vector512<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
                    var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
                    var a40 = a00; var a41 = a00; var a50 = a00; var a51 = a00;
                    var a60 = a00; var a61 = a00; var a70 = a00; var a71 = a00;
                    for (int r = 0; r < rows; r++)
                    {
                        ref float gr = ref Unsafe.Add(ref g0, r * gStride + c);
                        var g0v = Vector512.LoadUnsafe(ref gr); var g1v = Vector512.LoadUnsafe(ref gr, 16);
                        ref float sr = ref Unsafe.Add(ref s0, r * srcStride + i);
                        var x = Vector512.Create(sr);
                        a00 = Vector512.FusedMultiplyAdd(x, g0v, a00); a01 = Vector512.FusedMultiplyAdd(x, g1v, a01);
                        x = Vector512.Create(Unsafe.Add(ref sr, 1));
                        a10 = Vector512.FusedMultiplyAdd(x, g0v, a10); a11 = Vector512.FusedMultiplyAdd(x, g1v, a11);
                        x = Vector512.Create(Unsafe.Add(ref sr, 2));
                        a20 = Vector512.FusedMultiplyAdd(x, g0v, a20); a21 = Vector512.FusedMultiplyAdd(x, g1v, a21);
                        x = Vector512.Create(Unsafe.Add(ref sr, 3));
                        a30 = Vector512.FusedMultiplyAdd(x, g0v, a30); a31 = Vector512.FusedMultiplyAdd(x, g1v, a31);
                        x = Vector512.Create(Unsafe.Add(ref sr, 4));
                        a40 = Vector512.FusedMultiplyAdd(x, g0v, a40); a41 = Vector512.FusedMultiplyAdd(x, g1v, a41);
                        x = Vector512.Create(Unsafe.Add(ref sr, 5));
                        a50 = Vector512.FusedMultiplyAdd(x, g0v, a50); a51 = Vector512.FusedMultiplyAdd(x, g1v, a51);
                        x = Vector512.Create(Unsafe.Add(ref sr, 6));
                        a60 = Vector512.FusedMultiplyAdd(x, g0v, a60); a61 = Vector512.FusedMultiplyAdd(x, g1v, a61);
                        x = Vector512.Create(Unsafe.Add(ref sr, 7));
                        a70 = Vector512.FusedMultiplyAdd(x, g0v, a70); a71 = Vector512.FusedMultiplyAdd(x, g1v, a71);
                    }
                    ref float d = ref Unsafe.Add(ref d0, i * outWidth + c);
                    int o = outWidth;
                    AddTo512(ref d, a00); AddTo512(ref Unsafe.Add(ref d, 16), a01);
                    AddTo512(ref Unsafe.Add(ref d, o), a10); AddTo512(ref Unsafe.Add(ref d, o + 16), a11);
                    AddTo512(ref Unsafe.Add(ref d, 2 * o), a20); AddTo512(ref Unsafe.Add(ref d, 2 * o + 16), a21);
                    AddTo512(ref Unsafe.Add(ref d, 3 * o), a30); AddTo512(ref Unsafe.Add(ref d, 3 * o + 16), a31);
                    AddTo512(ref Unsafe.Add(ref d, 4 * o), a40); AddTo512(ref Unsafe.Add(ref d, 4 * o + 16), a41);
                    AddTo512(ref Unsafe.Add(ref d, 5 * o), a50); AddTo512(ref Unsafe.Add(ref d, 5 * o + 16), a51);
                    AddTo512(ref Unsafe.Add(ref d, 6 * o), a60); AddTo512(ref Unsafe.Add(ref d, 6 * o + 16), a61);
                    AddTo512(ref Unsafe.Add(ref d, 7 * o), a70); AddTo512(ref Unsafe.Add(ref d, 7 * o + 16), a71);
                }
                for (; i < inWidth; i++)
                {
                    var a0 = Vector512<float>.Zero; var a1 = a0;
                    for (int r = 0; r < rows; r++)
                    {
                        ref float gr = ref Unsafe.Add(ref g0, r * gStride + c);
                        var x = Vector512.Create(Unsafe.Add(ref s0, r * srcStride + i));
                        a0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref gr), a0);
                        a1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref gr, 16), a1);
                    }
                    ref float d = ref Unsafe.Add(ref d0, i * outWidth + c);
                    AddTo512(ref d, a0); AddTo512(ref Unsafe.Add(ref d, 16), a1);
                }
            }
            for (; c + 16 <= outWidth; c += 16)
            {
                int i = 0;
                for (; i + 4 <= inWidth; i += 4)
                {
                    var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                    for (int r = 0; r < rows; r++)
                    {
                        var gv = Vector512.LoadUnsafe(ref Unsafe.Add(ref g0, r * gStride + c));
                        ref float sr = ref Unsafe.Add(ref s0, r * srcStride + i);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(sr), gv, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref sr, 1)), gv, a1);
                        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref sr, 2)), gv, a2);
                        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref sr, 3)), gv, a3);
                    }
                    AddTo512(ref Unsafe.Add(ref d0, i * outWidth + c), a0);
                    AddTo512(ref Unsafe.Add(ref d0, (i + 1) * outWidth + c), a1);
                    AddTo512(ref Unsafe.Add(ref d0, (i + 2) * outWidth + c), a2);
                    AddTo512(ref Unsafe.Add(ref d0, (i + 3) * outWidth + c), a3);
                }
                for (; i < inWidth; i++)
                {
                    var a0 = Vector512<float>.Zero;
                    for (int r = 0; r < rows; r++)
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref s0, r * srcStride + i)), Vector512.LoadUnsafe(ref Unsafe.Add(ref g0, r * gStride + c)), a0);
                    AddTo512(ref Unsafe.Add(ref d0, i * outWidth + c), a0);
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            // 4 inputs × 16 columns: 8 independent FMA chains (one chain per (input, 8 columns) was latency-bound at an
            // eighth of the FMA peak). Each dW element is still Σ_r in row order from zero, then added: the same bits.
            for (; c + 16 <= outWidth; c += 16)
            {
                int i = 0;
                for (; i + 4 <= inWidth; i += 4)
                {
                    var a00 = Vector256<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00;
                    var a20 = a00; var a21 = a00; var a30 = a00; var a31 = a00;
                    for (int r = 0; r < rows; r++)
                    {
                        ref float gr = ref Unsafe.Add(ref g0, r * gStride + c);
                        var g0v = Vector256.LoadUnsafe(ref gr); var g1v = Vector256.LoadUnsafe(ref gr, 8);
                        ref float sr = ref Unsafe.Add(ref s0, r * srcStride + i);
                        var x = Vector256.Create(sr);
                        a00 = Vector256.FusedMultiplyAdd(x, g0v, a00); a01 = Vector256.FusedMultiplyAdd(x, g1v, a01);
                        x = Vector256.Create(Unsafe.Add(ref sr, 1));
                        a10 = Vector256.FusedMultiplyAdd(x, g0v, a10); a11 = Vector256.FusedMultiplyAdd(x, g1v, a11);
                        x = Vector256.Create(Unsafe.Add(ref sr, 2));
                        a20 = Vector256.FusedMultiplyAdd(x, g0v, a20); a21 = Vector256.FusedMultiplyAdd(x, g1v, a21);
                        x = Vector256.Create(Unsafe.Add(ref sr, 3));
                        a30 = Vector256.FusedMultiplyAdd(x, g0v, a30); a31 = Vector256.FusedMultiplyAdd(x, g1v, a31);
                    }
                    ref float d = ref Unsafe.Add(ref d0, i * outWidth + c);
                    int o = outWidth;
                    AddTo256(ref d, a00); AddTo256(ref Unsafe.Add(ref d, 8), a01);
                    AddTo256(ref Unsafe.Add(ref d, o), a10); AddTo256(ref Unsafe.Add(ref d, o + 8), a11);
                    AddTo256(ref Unsafe.Add(ref d, 2 * o), a20); AddTo256(ref Unsafe.Add(ref d, 2 * o + 8), a21);
                    AddTo256(ref Unsafe.Add(ref d, 3 * o), a30); AddTo256(ref Unsafe.Add(ref d, 3 * o + 8), a31);
                }
                for (; i < inWidth; i++)
                {
                    var a0 = Vector256<float>.Zero; var a1 = a0;
                    for (int r = 0; r < rows; r++)
                    {
                        ref float gr = ref Unsafe.Add(ref g0, r * gStride + c);
                        var x = Vector256.Create(Unsafe.Add(ref s0, r * srcStride + i));
                        a0 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref gr), a0);
                        a1 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref gr, 8), a1);
                    }
                    ref float d = ref Unsafe.Add(ref d0, i * outWidth + c);
                    AddTo256(ref d, a0); AddTo256(ref Unsafe.Add(ref d, 8), a1);
                }
            }
            for (; c + 8 <= outWidth; c += 8)
            {
                int i = 0;
                for (; i + 4 <= inWidth; i += 4)
                {
                    var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                    for (int r = 0; r < rows; r++)
                    {
                        var gv = Vector256.LoadUnsafe(ref Unsafe.Add(ref g0, r * gStride + c));
                        ref float sr = ref Unsafe.Add(ref s0, r * srcStride + i);
                        a0 = Vector256.FusedMultiplyAdd(Vector256.Create(sr), gv, a0);
                        a1 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref sr, 1)), gv, a1);
                        a2 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref sr, 2)), gv, a2);
                        a3 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref sr, 3)), gv, a3);
                    }
                    AddTo256(ref Unsafe.Add(ref d0, i * outWidth + c), a0);
                    AddTo256(ref Unsafe.Add(ref d0, (i + 1) * outWidth + c), a1);
                    AddTo256(ref Unsafe.Add(ref d0, (i + 2) * outWidth + c), a2);
                    AddTo256(ref Unsafe.Add(ref d0, (i + 3) * outWidth + c), a3);
                }
                for (; i < inWidth; i++)
                {
                    var a0 = Vector256<float>.Zero;
                    for (int r = 0; r < rows; r++)
                        a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref s0, r * srcStride + i)), Vector256.LoadUnsafe(ref Unsafe.Add(ref g0, r * gStride + c)), a0);
                    AddTo256(ref Unsafe.Add(ref d0, i * outWidth + c), a0);
                }
            }
        }
        // The columns past the last whole vector: a multiply and an add per row (not fused), rows in order. With 256-bit
        // vectors 8 inputs at a time per column (lane q is input i + q: the same operations as one input alone, so the
        // same bits), then one input at a time.
        for (; c < outWidth; c++)
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= inWidth; i += 8)
                {
                    var a = Vector256<float>.Zero;
                    for (int r = 0; r < rows; r++)
                        a += Vector256.LoadUnsafe(ref Unsafe.Add(ref s0, r * srcStride + i)) * Vector256.Create(Unsafe.Add(ref g0, r * gStride + c));
                    for (int q = 0; q < 8; q++) Unsafe.Add(ref d0, (i + q) * outWidth + c) += a.GetElement(q);
                }
            for (; i < inWidth; i++)
            {
                float a = 0;
                for (int r = 0; r < rows; r++) a += Unsafe.Add(ref s0, r * srcStride + i) * Unsafe.Add(ref g0, r * gStride + c);
                Unsafe.Add(ref d0, i * outWidth + c) += a;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo256(ref float d, Vector256<float> a) => (Vector256.LoadUnsafe(ref d) + a).StoreUnsafe(ref d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo512(ref float d, Vector512<float> a) => (Vector512.LoadUnsafe(ref d) + a).StoreUnsafe(ref d);
}
