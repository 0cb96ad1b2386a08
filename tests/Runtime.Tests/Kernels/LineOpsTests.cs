using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>
/// The fused kernels' line micro-kernels against a float64 reference, over shapes that hit every
/// register block (8-, 4-, 2- and 1-row blocks, 32-, 16- and scalar column tails, 8- and 4-input
/// outer-product blocks) and strides wider than the rows. The SIMD paths differ per machine; the
/// CI job also runs these with DOTNET_EnableAVX512F=0 / DOTNET_EnableAVX2=0 when asked (docs/performance.md).
/// </summary>
public class LineOpsTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.Normal();
        return a;
    }

    private static void Close(double expected, float actual, double scale, string what)
    {
        double tol = 2e-6 * Math.Max(1, scale);
        Assert.True(Math.Abs(expected - actual) <= tol, $"{what}: expected {expected}, got {actual} (tol {tol})");
    }

    public static IEnumerable<object[]> MixShapes()
    {
        foreach (int rows in new[] { 1, 2, 3, 4, 7, 8, 9, 13, 16, 19, 32 })
            foreach (var (k, n) in new[] { (1, 1), (5, 3), (32, 32), (64, 32), (32, 64), (7, 17), (33, 48), (16, 15), (3, 65), (32, 31) })
                yield return new object[] { rows, k, n };
    }

    [Theory]
    [MemberData(nameof(MixShapes))]
    public void MixAssignAndMixAddMatchFloat64(int rows, int k, int n)
    {
        int ss = k + 3, ds = n + 5, ls = n + 2;
        var src = Random(rows * ss, 1 + rows * 100 + k);
        var w = Random(k * n, 2 + n);
        var init = Random(n, 3);
        var line = Random(rows * ls, 4);
        var dst = Random(rows * ds, 5);
        var before = (float[])dst.Clone();
        const float scale = 0.75f;

        LineOps.MixAssign(init, line, ls, src, ss, w, k, n, dst, ds, rows, scale);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < n; c++)
            {
                double acc = 0, mag = 0;
                for (int i = 0; i < k; i++) { acc += (double)src[r * ss + i] * w[i * n + c]; mag += Math.Abs((double)src[r * ss + i] * w[i * n + c]); }
                Close(init[c] + line[r * ls + c] + scale * acc, dst[r * ds + c], mag + 2, $"assign r{r} c{c}");
            }
            for (int c = n; c < ds && r * ds + c < dst.Length; c++)
                Assert.Equal(before[r * ds + c], dst[r * ds + c]); // the gap between rows is untouched
        }

        var acc2 = (float[])before.Clone();
        LineOps.MixAdd(src, ss, w, k, n, acc2, ds, rows, scale);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < n; c++)
            {
                double acc = 0, mag = 0;
                for (int i = 0; i < k; i++) { acc += (double)src[r * ss + i] * w[i * n + c]; mag += Math.Abs((double)src[r * ss + i] * w[i * n + c]); }
                Close(before[r * ds + c] + scale * acc, acc2[r * ds + c], mag + 2, $"add r{r} c{c}");
            }

        // No line term: init only.
        var dst3 = new float[rows * ds];
        LineOps.MixAssign(init, default, 0, src, ss, w, k, n, dst3, ds, rows);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < n; c++)
            {
                double acc = 0, mag = 0;
                for (int i = 0; i < k; i++) { acc += (double)src[r * ss + i] * w[i * n + c]; mag += Math.Abs((double)src[r * ss + i] * w[i * n + c]); }
                Close(init[c] + acc, dst3[r * ds + c], mag + 2, $"no-line r{r} c{c}");
            }
    }

    [Theory]
    [MemberData(nameof(MixShapes))]
    public void OuterAddMatchesFloat64(int rows, int inWidth, int outWidth)
    {
        int ss = inWidth + 2, gs = outWidth + 3;
        var src = Random(rows * ss, 7 + rows);
        var g = Random(rows * gs, 8 + outWidth);
        var dw = Random(inWidth * outWidth, 9);
        var before = (float[])dw.Clone();
        LineOps.OuterAdd(src, ss, g, gs, rows, inWidth, outWidth, dw);
        for (int i = 0; i < inWidth; i++)
            for (int c = 0; c < outWidth; c++)
            {
                double acc = 0, mag = 0;
                for (int r = 0; r < rows; r++) { acc += (double)src[r * ss + i] * g[r * gs + c]; mag += Math.Abs((double)src[r * ss + i] * g[r * gs + c]); }
                Close(before[i * outWidth + c] + acc, dw[i * outWidth + c], mag + 2, $"dw[{i},{c}]");
            }
    }

    /// <summary>
    /// Bit for bit: every result is one sum in a fixed order whatever the register blocking, fused multiply-adds in the
    /// vector columns and a multiply and an add in the columns past them (the blockings were chosen so that this holds,
    /// and so that a faster blocking never changes a trained model).
    /// </summary>
    [Theory]
    [MemberData(nameof(MixShapes))]
    public void OuterAddAndMixAreBitwiseOneOrderedSumPerElement(int rows, int k, int n)
    {
        int ss = k + 2, gs = n + 3, ds = n + 5, ls = n + 2;
        var src = Random(rows * ss, 17 + rows);
        var g = Random(rows * gs, 18 + n);
        var dw = Random(k * n, 19);
        var before = (float[])dw.Clone();
        LineOps.OuterAdd(src, ss, g, gs, rows, k, n, dw);
        int outerVector = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? n / 16 * 16 : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? n / 8 * 8 : 0;
        for (int i = 0; i < k; i++)
            for (int c = 0; c < n; c++)
            {
                float a = 0;
                for (int r = 0; r < rows; r++)
                    a = c < outerVector ? MathF.FusedMultiplyAdd(src[r * ss + i], g[r * gs + c], a) : a + src[r * ss + i] * g[r * gs + c];
                Assert.Equal(before[i * n + c] + a, dw[i * n + c]);
            }

        // Mix: rows × k inputs through w [k × n], the vector paths in 16-column blocks (both widths).
        var w = Random(k * n, 20 + k);
        var init = Random(n, 21);
        var line = Random(rows * ls, 22);
        var dst = Random(rows * ds, 23);
        var add = (float[])dst.Clone();
        const float scale = 0.75f;
        LineOps.MixAssign(init, line, ls, src, ss, w, k, n, dst, ds, rows, scale);
        var addBefore = (float[])add.Clone();
        LineOps.MixAdd(src, ss, w, k, n, add, ds, rows, scale);
        int mixVector = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated || System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? n / 16 * 16 : 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < n; c++)
            {
                float a = 0;
                for (int i = 0; i < k; i++)
                    a = c < mixVector ? MathF.FusedMultiplyAdd(src[r * ss + i], w[i * n + c], a) : a + src[r * ss + i] * w[i * n + c];
                float baseAssign = init[c] + line[r * ls + c], baseAdd = addBefore[r * ds + c];
                Assert.Equal(c < mixVector ? MathF.FusedMultiplyAdd(a, scale, baseAssign) : baseAssign + scale * a, dst[r * ds + c]);
                Assert.Equal(c < mixVector ? MathF.FusedMultiplyAdd(a, scale, baseAdd) : baseAdd + scale * a, add[r * ds + c]);
            }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 7)]
    [InlineData(32, 32, 32)]
    [InlineData(4, 6, 64)]
    [InlineData(5, 3, 48)]
    [InlineData(2, 9, 17)]
    public void Sums2DMatchesFloat64AndKeepsExistingSums(int rows, int cols, int wide)
    {
        var x = Random(rows * cols * wide, 11 + wide);
        var rowSums = Random(rows * wide, 12);
        var colSums = Random(cols * wide, 13);
        var r0 = (float[])rowSums.Clone(); var c0 = (float[])colSums.Clone();
        LineOps.Sums2D(x, rows, cols, wide, rowSums, colSums);
        for (int k = 0; k < wide; k++)
        {
            for (int r = 0; r < rows; r++)
            {
                double s = r0[r * wide + k];
                for (int c = 0; c < cols; c++) s += x[(r * cols + c) * wide + k];
                Close(s, rowSums[r * wide + k], cols + 1, $"row {r} k {k}");
            }
            for (int c = 0; c < cols; c++)
            {
                double s = c0[c * wide + k];
                for (int r = 0; r < rows; r++) s += x[(r * cols + c) * wide + k];
                Close(s, colSums[c * wide + k], rows + 1, $"col {c} k {k}");
            }
        }
        // Either side may be left out.
        var onlyRows = (float[])r0.Clone();
        LineOps.Sums2D(x, rows, cols, wide, onlyRows, default);
        Assert.Equal(rowSums, onlyRows);
        var onlyCols = (float[])c0.Clone();
        LineOps.Sums2D(x, rows, cols, wide, default, onlyCols);
        Assert.Equal(colSums, onlyCols);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(32, 32)]
    [InlineData(32, 64)]
    [InlineData(7, 96)]
    [InlineData(32, 130)]
    [InlineData(1024, 32)]
    [InlineData(5, 23)]
    [InlineData(3, 8)]
    [InlineData(0, 17)]
    public void SumRowsIsBitwiseTheRowByRowSumAndKeepsExistingValues(int rows, int wide)
    {
        var src = Random(rows * wide + 5, rows * 31 + wide);
        var start = Random(wide, 7);
        // The per-row vector add the generated statistics used before: dst += row, rows in order.
        var expected = (float[])start.Clone();
        for (int r = 0; r < rows; r++) FusedOps.Add(src.AsSpan(r * wide, wide), expected);
        var actual = (float[])start.Clone();
        LineOps.SumRows(src, rows, actual);
        for (int c = 0; c < wide; c++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[c]) == BitConverter.SingleToInt32Bits(actual[c]), $"column {c}: {expected[c]} vs {actual[c]}");
        // And against float64 (the summation is a plain sum).
        for (int c = 0; c < wide; c++)
        {
            double e = start[c];
            for (int r = 0; r < rows; r++) e += src[r * wide + c];
            Close(e, actual[c], Math.Sqrt(rows + 1) * 4, $"column {c}");
        }
    }

    [Fact]
    public void SumRowsRejectsAShortSource() =>
        Assert.Throws<ArgumentException>(() => LineOps.SumRows(new float[10], 3, new float[4]));

    [Fact]
    public void BlockingDoesNotChangeAnyRowsResult()
    {
        // Row r of a 19-row call (8-, 4- and 1-row blocks) equals the same row computed alone, bit
        // for bit, except the 1-row path, whose four partial sums are a fixed, documented order:
        // so compare rows inside the 8/4 blocks against a 16-row call instead.
        int k = 32, n = 32;
        var src = Random(19 * k, 21); var w = Random(k * n, 22); var init = Random(n, 23);
        var a = new float[19 * n]; var b = new float[16 * n];
        LineOps.MixAssign(init, default, 0, src, k, w, k, n, a, n, 19);
        LineOps.MixAssign(init, default, 0, src, k, w, k, n, b, n, 16);
        Assert.Equal(b, a.AsSpan(0, 16 * n).ToArray());
    }
}

public class PrefetchTests
{
    [Theory]
    [InlineData(0L, 100L, 0, 1)]
    [InlineData(90L, 100L, 3, 4)]     // runs past the end: clamped
    [InlineData(1000L, 64L, 0, 2)]    // the network after the last one: nothing to prefetch
    [InlineData(-50L, 64L, 0, 1)]     // before the start: clamped
    [InlineData(0L, 0L, 0, 1)]
    public void PrefetchIsAHintThatNeverFaultsOrWrites(long start, long count, int part, int parts)
    {
        var a = new float[100];
        for (int i = 0; i < a.Length; i++) a[i] = i;
        LayerCompiler.Runtime.Kernels.FusedOps.PrefetchPart(a, start, count, part, parts);
        for (int i = 0; i < a.Length; i++) Assert.Equal(i, a[i]);
    }
}
