using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// The small SIMD building blocks of the generated product kernels (the loops around them are emitted per architecture
/// with every width and the feature count D constant; see docs/generator.md, "Product models"): the blocked matrix
/// product <see cref="Gemm"/> that runs a weight layer's per-edge products over all of its edges at once; the
/// row-combination forms (vectorized over the output's features with up to four 8-lane accumulators in registers) for
/// the per-node products; the edge SiLU and its derivative over all edges (<see cref="EdgeSilu"/>,
/// <see cref="EdgeSiluBackward"/>). Deterministic: fixed order, no FMA contraction (multiply, then add).
/// </summary>
public static class ProductSimd
{
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
                    a0 += c * Vector256.LoadUnsafe(ref rb, at); a1 += c * Vector256.LoadUnsafe(ref rb, at + 8);
                    a2 += c * Vector256.LoadUnsafe(ref rb, at + 16); a3 += c * Vector256.LoadUnsafe(ref rb, at + 24);
                }
                a0.StoreUnsafe(ref yb, (nuint)o); a1.StoreUnsafe(ref yb, (nuint)(o + 8));
                a2.StoreUnsafe(ref yb, (nuint)(o + 16)); a3.StoreUnsafe(ref yb, (nuint)(o + 24));
            }
            for (; o + 8 <= n; o += 8)
            {
                var a0 = Vector256.LoadUnsafe(ref yb, (nuint)o);
                for (int r = 0; r < count; r++)
                    a0 += Vector256.Create(Unsafe.Add(ref cb, r * coefStride)) * Vector256.LoadUnsafe(ref rb, (nuint)(r * stride + o));
                a0.StoreUnsafe(ref yb, (nuint)o);
            }
        }
        for (; o < n; o++)
        {
            float a = Unsafe.Add(ref yb, o);
            for (int r = 0; r < count; r++) a += Unsafe.Add(ref cb, r * coefStride) * Unsafe.Add(ref rb, r * stride + o);
            Unsafe.Add(ref yb, o) = a;
        }
    }

    /// <summary>
    /// The blocked matrix product of the fused edge passes: Y[i, j] += Σ_{p &lt; k} A[i, p] · B[p, j] for i &lt; m, j &lt; n, with
    /// A read as a[i · ais + p · aps] (any strides: rows of edges, or a column of per-edge coefficients), B as rows
    /// b[p · bs + j] and Y as y[i · ys + j]. Register blocks of 4 rows × 16 columns (eight 8-lane accumulators held
    /// in registers, two B vectors loaded per p, four broadcasts), then 4 × 8, then single rows, then scalars. Every
    /// element is summed over p in ascending order, multiply then add (no FMA contraction), starting from Y's value:
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
                        var x = Vector256.Create(Unsafe.Add(ref a0, ap)); c00 += x * b0; c01 += x * b1;
                        x = Vector256.Create(Unsafe.Add(ref a1, ap)); c10 += x * b0; c11 += x * b1;
                        x = Vector256.Create(Unsafe.Add(ref a2, ap)); c20 += x * b0; c21 += x * b1;
                        x = Vector256.Create(Unsafe.Add(ref a3, ap)); c30 += x * b0; c31 += x * b1;
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
                        c0 += Vector256.Create(Unsafe.Add(ref a0, ap)) * b0; c1 += Vector256.Create(Unsafe.Add(ref a1, ap)) * b0;
                        c2 += Vector256.Create(Unsafe.Add(ref a2, ap)) * b0; c3 += Vector256.Create(Unsafe.Add(ref a3, ap)) * b0;
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
                        c0 += Vector256.Create(Unsafe.Add(ref ar, ap)) * Vector256.LoadUnsafe(ref bp);
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
            for (int p = 0; p < k; p++) c += Unsafe.Add(ref ar, p * aps) * Unsafe.Add(ref bb, p * bs + j);
            Unsafe.Add(ref yr, j) = c;
        }
    }

    /// <summary>σ(u) = 1 / (1 + exp(−u)) per lane, with <see cref="Vector256.Exp(Vector256{float})"/> (a few float ulps
    /// from <see cref="MathF.Exp"/>; the same function in every lane, so a value's result does not depend on its lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> u) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-u));

    /// <summary>
    /// The edge update's activation over all edges of a weight layer (edge e = j · ins + i, D features each):
    /// y[e] = x[e] + s(u) with u = (z[e] + src[i]) + dst[j] and s the SiLU u σ(u), 8 lanes at a time (a tail of fewer
    /// than 8 features goes through the same vector function on a padded copy, so every value gets the same rounding).
    /// </summary>
    public static void EdgeSilu(ReadOnlySpan<float> x, ReadOnlySpan<float> z, ReadOnlySpan<float> src, ReadOnlySpan<float> dst, Span<float> y, int outs, int ins, int d)
    {
        int n = outs * ins * d;
        if (x.Length < n || z.Length < n || y.Length < n || src.Length < ins * d || dst.Length < outs * d) throw new ArgumentException("EdgeSilu reads or writes past its spans.");
        Span<float> pad = stackalloc float[4 * 8];
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                int at = (j * ins + i) * d;
                int c = 0;
                for (; c + 8 <= d; c += 8)
                {
                    var u = EdgePreActivation(z, src, dst, at + c, i * d + c, j * d + c);
                    (Vector256.Create(x.Slice(at + c, 8)) + u * Sigmoid(u)).CopyTo(y.Slice(at + c, 8));
                }
                if (c < d)
                {
                    int r = d - c;
                    pad.Clear();
                    z.Slice(at + c, r).CopyTo(pad); src.Slice(i * d + c, r).CopyTo(pad.Slice(8)); dst.Slice(j * d + c, r).CopyTo(pad.Slice(16)); x.Slice(at + c, r).CopyTo(pad.Slice(24));
                    var u = EdgePreActivation(pad, pad, pad, 0, 8, 16);
                    (Vector256.Create(pad.Slice(24)) + u * Sigmoid(u)).CopyTo(pad);
                    pad.Slice(0, r).CopyTo(y.Slice(at + c, r));
                }
            }
    }

    /// <summary>u = z[e] + src[i] + dst[j] for 8 features (the edge update's pre-activation; one order of the adds for both passes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> EdgePreActivation(ReadOnlySpan<float> z, ReadOnlySpan<float> src, ReadOnlySpan<float> dst, int e, int i, int j) =>
        Vector256.Create(z.Slice(e, 8)) + Vector256.Create(src.Slice(i, 8)) + Vector256.Create(dst.Slice(j, 8));

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
        Span<float> pad = stackalloc float[4 * 8];
        var one = Vector256<float>.One;
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                int at = (j * ins + i) * d;
                int c = 0;
                for (; c + 8 <= d; c += 8)
                {
                    var u = EdgePreActivation(z, src, dst, at + c, i * d + c, j * d + c);
                    var sg = Sigmoid(u);
                    var gc = Vector256.Create(g.Slice(at + c, 8)) * (sg * (one + u * (one - sg)));
                    gc.CopyTo(gz.Slice(at + c, 8));
                    (Vector256.Create(gSrc.Slice(i * d + c, 8)) + gc).CopyTo(gSrc.Slice(i * d + c, 8));
                    (Vector256.Create(gDst.Slice(j * d + c, 8)) + gc).CopyTo(gDst.Slice(j * d + c, 8));
                }
                if (c < d)
                {
                    int r = d - c;
                    pad.Clear();
                    z.Slice(at + c, r).CopyTo(pad); src.Slice(i * d + c, r).CopyTo(pad.Slice(8)); dst.Slice(j * d + c, r).CopyTo(pad.Slice(16)); g.Slice(at + c, r).CopyTo(pad.Slice(24));
                    var u = EdgePreActivation(pad, pad, pad, 0, 8, 16);
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

    /// <summary>y[c] += a[c] · b[c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MulAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        int n = y.Length, c = 0;
        if (a.Length < n || b.Length < n) throw new ArgumentException("MulAdd needs inputs as long as its output.");
        if (Vector256.IsHardwareAccelerated)
            for (; c + 8 <= n; c += 8)
            {
                var v = Vector256.Create(y.Slice(c, 8)) + Vector256.Create(a.Slice(c, 8)) * Vector256.Create(b.Slice(c, 8));
                v.CopyTo(y.Slice(c, 8));
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
