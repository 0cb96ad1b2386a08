using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// Dense float32 kernels used by <see cref="Linear"/> and available to other layer types.
/// All matrices are row-major arrays without offsets.
/// </summary>
/// <remarks>
/// Determinism: every output element is computed by exactly one thread, with a summation order that
/// depends only on its index and the sizes (never on alignment, thread count or scheduling), so results
/// are bitwise reproducible on one machine. Work is split into row blocks with <see cref="Parallel.For(int, int, Action{int})"/>
/// once it exceeds <see cref="ParallelThreshold"/> multiply-adds. Inner loops use <see cref="Vector256"/>
/// with a fused multiply-add where the hardware has one (x86 FMA3), plain multiply and add otherwise. Results
/// can differ in the last bits between machines with and without FMA.
/// </remarks>
public static class DenseKernels
{
    /// <summary>Multiply-adds below which a kernel runs on the calling thread only.</summary>
    public const long ParallelThreshold = 1 << 15;

    /// <summary>Deterministic dot product: one 8-lane accumulator, a fixed horizontal sum, then a scalar tail.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Dot: lengths differ ({a.Length} vs {b.Length}).");
        return Dot1(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    /// <summary><c>y += alpha * x</c>.</summary>
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Axpy: lengths differ ({x.Length} vs {y.Length}).");
        Axpy1(alpha, ref MemoryMarshal.GetReference(x), ref MemoryMarshal.GetReference(y), x.Length);
    }

    /// <summary>
    /// <c>y[r, o] = bias[o] + Σ_i x[r, i] · w[o, i]</c> for x <c>[rows, inF]</c>, w <c>[outF, inF]</c> (PyTorch
    /// layout), y <c>[rows, outF]</c> (overwritten).
    /// </summary>
    public static void LinearForward(float[] x, float[] w, float[]? bias, float[] y, int rows, int inF, int outF)
    {
        CheckSizes(x, (long)rows * inF, nameof(x)); CheckSizes(w, (long)outF * inF, nameof(w)); CheckSizes(y, (long)rows * outF, nameof(y));
        if (bias is not null) CheckSizes(bias, outF, nameof(bias));
        if (inF == 0)
        {
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < outF; o++) y[r * outF + o] = bias is null ? 0f : bias[o];
            return;
        }
        // Output tile: about 64 KiB of weight rows stays in cache while the block's rows go by.
        int oTile = Math.Max(4, (16384 / Math.Max(1, inF)) & ~3);
        ForBlocks(rows, (long)inF * outF, (r0, r1) =>
        {
            for (int o0 = 0; o0 < outF; o0 += oTile)
            {
                int o1 = Math.Min(outF, o0 + oTile);
                for (int r = r0; r < r1; r++)
                {
                    ref float xr = ref x[(long)r * inF];
                    int yOff = r * outF;
                    int o = o0;
                    for (; o + 4 <= o1; o += 4)
                    {
                        Dot4(ref xr, ref w[(long)o * inF], ref w[(long)(o + 1) * inF], ref w[(long)(o + 2) * inF], ref w[(long)(o + 3) * inF], inF,
                            out float d0, out float d1, out float d2, out float d3);
                        if (bias is not null) { d0 += bias[o]; d1 += bias[o + 1]; d2 += bias[o + 2]; d3 += bias[o + 3]; }
                        y[yOff + o] = d0; y[yOff + o + 1] = d1; y[yOff + o + 2] = d2; y[yOff + o + 3] = d3;
                    }
                    for (; o < o1; o++)
                    {
                        float d = Dot1(ref xr, ref w[(long)o * inF], inF);
                        if (bias is not null) d += bias[o];
                        y[yOff + o] = d;
                    }
                }
            }
        });
    }

    /// <summary><c>dx[r, i] = Σ_o dy[r, o] · w[o, i]</c> (dx overwritten).</summary>
    public static void LinearBackwardInput(float[] dy, float[] w, float[] dx, int rows, int inF, int outF)
    {
        CheckSizes(dy, (long)rows * outF, nameof(dy)); CheckSizes(w, (long)outF * inF, nameof(w)); CheckSizes(dx, (long)rows * inF, nameof(dx));
        if (inF == 0) return;
        ForBlocks(rows, (long)inF * outF, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                Span<float> dxr = dx.AsSpan(r * inF, inF);
                dxr.Clear();
                ref float acc = ref MemoryMarshal.GetReference(dxr);
                int g = r * outF;
                int o = 0;
                for (; o + 4 <= outF; o += 4)
                    Axpy4(dy[g + o], dy[g + o + 1], dy[g + o + 2], dy[g + o + 3],
                        ref w[(long)o * inF], ref w[(long)(o + 1) * inF], ref w[(long)(o + 2) * inF], ref w[(long)(o + 3) * inF], ref acc, inF);
                for (; o < outF; o++) Axpy1(dy[g + o], ref w[(long)o * inF], ref acc, inF);
            }
        });
    }

    /// <summary><c>dw[o, i] += Σ_r dy[r, o] · x[r, i]</c> (accumulates).</summary>
    public static void LinearBackwardWeight(float[] dy, float[] x, float[] dw, int rows, int inF, int outF)
    {
        CheckSizes(dy, (long)rows * outF, nameof(dy)); CheckSizes(x, (long)rows * inF, nameof(x)); CheckSizes(dw, (long)outF * inF, nameof(dw));
        if (rows == 0 || inF == 0) return;
        ForBlocks(outF, (long)rows * inF, (o0, o1) =>
        {
            for (int o = o0; o < o1; o++)
            {
                ref float acc = ref dw[(long)o * inF];
                int r = 0;
                for (; r + 4 <= rows; r += 4)
                    Axpy4(dy[r * outF + o], dy[(r + 1) * outF + o], dy[(r + 2) * outF + o], dy[(r + 3) * outF + o],
                        ref x[(long)r * inF], ref x[(long)(r + 1) * inF], ref x[(long)(r + 2) * inF], ref x[(long)(r + 3) * inF], ref acc, inF);
                for (; r < rows; r++) Axpy1(dy[r * outF + o], ref x[(long)r * inF], ref acc, inF);
            }
        });
    }

    /// <summary><c>db[o] += Σ_r dy[r, o]</c>, summed over rows in order (accumulates).</summary>
    public static void BiasBackward(float[] dy, float[] db, int rows, int outF)
    {
        CheckSizes(dy, (long)rows * outF, nameof(dy)); CheckSizes(db, outF, nameof(db));
        if (rows == 0) return;
        // Sum the batch first, then add once to the existing gradient (as grad += batch_sum).
        Span<float> sum = outF <= 1024 ? stackalloc float[outF] : new float[outF];
        dy.AsSpan(0, outF).CopyTo(sum);
        for (int r = 1; r < rows; r++) AddInPlace(dy.AsSpan(r * outF, outF), sum);
        AddInPlace(sum, db);
    }

    /// <summary>
    /// <c>y += x</c>, elementwise. One IEEE addition per element, so the result is the same bits whatever vector width
    /// TensorPrimitives picks.
    /// </summary>
    public static void AddInPlace(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"AddInPlace: lengths differ ({x.Length} vs {y.Length}).");
        TensorPrimitives.Add(y, x, y);
    }

    /// <summary>
    /// Runs <paramref name="body"/> over <c>[0, count)</c> split into contiguous blocks, in parallel when
    /// <c>count · workPerItem</c> reaches <see cref="ParallelThreshold"/>. The body must write only
    /// the outputs of its own items, so that results do not depend on the split.
    /// </summary>
    public static void ForBlocks(int count, long workPerItem, Action<int, int> body)
    {
        if (count <= 0) return;
        int maxBlocks = Environment.ProcessorCount * 4;
        if (count == 1 || Environment.ProcessorCount == 1 || (long)count * workPerItem < ParallelThreshold)
        {
            body(0, count);
            return;
        }
        int blocks = Math.Min(count, maxBlocks);
        int size = (count + blocks - 1) / blocks;
        blocks = (count + size - 1) / size;
        Parallel.For(0, blocks, b => body(b * size, Math.Min(count, (b + 1) * size)));
    }

    private static void CheckSizes(float[] a, long expected, string name)
    {
        if (a.LongLength < expected)
            throw new ArgumentException($"Buffer '{name}' has {a.Length} elements, the sizes need {expected}.", name);
    }

    // a·b + c, fused where the CPU has FMA. Written with explicit intrinsics (never an "estimate" API or a
    // managed fallback) so that unoptimized (tier-0) and optimized code round identically: results must not
    // depend on when the JIT recompiles a method.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fmadd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    // Lanes summed in a fixed tree order, for the same reason.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalSum(Vector256<float> v) =>
        ((v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3))) +
        ((v.GetElement(4) + v.GetElement(5)) + (v.GetElement(6) + v.GetElement(7)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot1(ref float x, ref float w, int n)
    {
        int i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var a = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
                a = Fmadd(Vector256.LoadUnsafe(ref x, (nuint)i), Vector256.LoadUnsafe(ref w, (nuint)i), a);
            s = HorizontalSum(a);
        }
        for (; i < n; i++) s += Unsafe.Add(ref x, i) * Unsafe.Add(ref w, i);
        return s;
    }

    // Same per-pair arithmetic as Dot1, four weight rows at once (each x load used four times).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4(ref float x, ref float w0, ref float w1, ref float w2, ref float w3, int n,
        out float d0, out float d1, out float d2, out float d3)
    {
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= n; i += 8)
            {
                var xv = Vector256.LoadUnsafe(ref x, (nuint)i);
                a0 = Fmadd(xv, Vector256.LoadUnsafe(ref w0, (nuint)i), a0);
                a1 = Fmadd(xv, Vector256.LoadUnsafe(ref w1, (nuint)i), a1);
                a2 = Fmadd(xv, Vector256.LoadUnsafe(ref w2, (nuint)i), a2);
                a3 = Fmadd(xv, Vector256.LoadUnsafe(ref w3, (nuint)i), a3);
            }
            s0 = HorizontalSum(a0); s1 = HorizontalSum(a1); s2 = HorizontalSum(a2); s3 = HorizontalSum(a3);
        }
        for (; i < n; i++)
        {
            float xi = Unsafe.Add(ref x, i);
            s0 += xi * Unsafe.Add(ref w0, i); s1 += xi * Unsafe.Add(ref w1, i);
            s2 += xi * Unsafe.Add(ref w2, i); s3 += xi * Unsafe.Add(ref w3, i);
        }
        d0 = s0; d1 = s1; d2 = s2; d3 = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy1(float a, ref float x, ref float y, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var av = Vector256.Create(a);
            for (; i + 8 <= n; i += 8)
                Fmadd(av, Vector256.LoadUnsafe(ref x, (nuint)i), Vector256.LoadUnsafe(ref y, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref y, i) += a * Unsafe.Add(ref x, i);
    }

    // y += a0·x0 + a1·x1 + a2·x2 + a3·x3, applied as four successive multiply-adds per element
    // (the same arithmetic as four Axpy1 calls, with one load and store of y).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy4(float a0, float a1, float a2, float a3, ref float x0, ref float x1, ref float x2, ref float x3, ref float y, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var v0 = Vector256.Create(a0); var v1 = Vector256.Create(a1);
            var v2 = Vector256.Create(a2); var v3 = Vector256.Create(a3);
            for (; i + 8 <= n; i += 8)
            {
                var acc = Vector256.LoadUnsafe(ref y, (nuint)i);
                acc = Fmadd(v0, Vector256.LoadUnsafe(ref x0, (nuint)i), acc);
                acc = Fmadd(v1, Vector256.LoadUnsafe(ref x1, (nuint)i), acc);
                acc = Fmadd(v2, Vector256.LoadUnsafe(ref x2, (nuint)i), acc);
                acc = Fmadd(v3, Vector256.LoadUnsafe(ref x3, (nuint)i), acc);
                acc.StoreUnsafe(ref y, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float acc = Unsafe.Add(ref y, i);
            acc += a0 * Unsafe.Add(ref x0, i);
            acc += a1 * Unsafe.Add(ref x1, i);
            acc += a2 * Unsafe.Add(ref x2, i);
            acc += a3 * Unsafe.Add(ref x3, i);
            Unsafe.Add(ref y, i) = acc;
        }
    }
}
