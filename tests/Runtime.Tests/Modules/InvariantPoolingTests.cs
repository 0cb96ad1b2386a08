using LayerCompiler.Runtime.Tests.Training;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Modules;

/// <summary>Mean, max and mean-and-max pooling of the invariant head against brute force, permutations and finite differences.</summary>
public class InvariantPoolingTests
{
    private static WeightSpaceBatch Input(out global::LayerCompiler.Algebra.WeightSpace space, int channels)
    {
        space = ReferenceMlp.Space(2, 5, 4, 3);
        var x = new WeightSpaceBatch(space, 3, channels);
        // Distinct values at least 0.01 apart (a shuffled grid): no near-ties, so a finite-difference step of
        // 1e-3 never changes which entry is a maximum.
        var rng = new Rng(11);
        foreach (var t in x.Tensors)
        {
            var order = rng.Permutation(t.Data.Length);
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (order[i] - t.Data.Length / 2) * 0.01f;
        }
        return x;
    }

    /// <summary>Brute force: for each tensor, fixed index and channel, the mean and max over the permuted positions.</summary>
    private static float[] Expected(WeightSpaceBatch x, HeadPooling pooling)
    {
        var result = new List<float>();
        int c = x.Channels;
        for (int n = 0; n < x.Batch; n++)
            foreach (var wt in x.Space.Tensors)
            {
                var groups = new Dictionary<int, List<float>[]>();
                var fixedIndexOf = RowMajor.FixedIndexMap(wt);
                for (int e = 0; e < wt.Size; e++)
                {
                    int fixedIndex = fixedIndexOf[e];
                    if (!groups.TryGetValue(fixedIndex, out var lists)) groups[fixedIndex] = lists = Enumerable.Range(0, c).Select(_ => new List<float>()).ToArray();
                    for (int ch = 0; ch < c; ch++) lists[ch].Add(x.Tensors[wt.Index].Data[(n * wt.Size + e) * c + ch]);
                }
                var ordered = groups.OrderBy(g => g.Key).Select(g => g.Value).ToList();
                if (pooling != HeadPooling.Max) foreach (var g in ordered) foreach (var l in g) result.Add((float)l.Average(v => (double)v));
                if (pooling != HeadPooling.Mean) foreach (var g in ordered) foreach (var l in g) result.Add(l.Max());
            }
        return result.ToArray();
    }

    [Theory]
    [InlineData(HeadPooling.Mean)]
    [InlineData(HeadPooling.Max)]
    [InlineData(HeadPooling.MeanAndMax)]
    public void ForwardMatchesBruteForce(HeadPooling pooling)
    {
        var x = Input(out var space, 2);
        var pool = new InvariantPooling(space, 2, pooling);
        var y = pool.Forward(x);
        var expected = Expected(x, pooling);
        Assert.Equal(expected.Length, pool.FeatureCount * x.Batch);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], y.Data[i], 1e-6f);
    }

    [Theory]
    [InlineData(HeadPooling.Max)]
    [InlineData(HeadPooling.MeanAndMax)]
    public void IsInvariantToHiddenPermutations(HeadPooling pooling)
    {
        var x = Input(out var space, 3);
        var pool = new InvariantPooling(space, 3, pooling);
        var y = pool.Forward(x).Data.ToArray();
        var permuted = Permutations.Apply(x, Permutations.Random(space, new Rng(5)));
        var yp = pool.Forward(permuted).Data;
        for (int i = 0; i < y.Length; i++) Assert.Equal(y[i], yp[i], 1e-6f);
    }

    [Theory]
    [InlineData(HeadPooling.Mean)]
    [InlineData(HeadPooling.Max)]
    [InlineData(HeadPooling.MeanAndMax)]
    public void BackwardMatchesFiniteDifferences(HeadPooling pooling)
    {
        var x = Input(out var space, 2);
        var pool = new InvariantPooling(space, 2, pooling);
        var g = pool.Forward(x);
        var gy = new Tensor(g.Shape[0], g.Shape[1]);
        var rng = new Rng(3);
        for (int i = 0; i < gy.Data.Length; i++) gy.Data[i] = (float)rng.Normal();
        var gx = pool.Backward(gy).Clone();

        double Loss(WeightSpaceBatch v)
        {
            var y = pool.Forward(v);
            double s = 0;
            for (int i = 0; i < y.Data.Length; i++) s += (double)y.Data[i] * gy.Data[i];
            return s;
        }
        const float h = 1e-3f;
        for (int t = 0; t < x.Tensors.Length; t++)
            for (int i = 0; i < x.Tensors[t].Data.Length; i++)
            {
                float keep = x.Tensors[t].Data[i];
                x.Tensors[t].Data[i] = keep + h; double up = Loss(x);
                x.Tensors[t].Data[i] = keep - h; double down = Loss(x);
                x.Tensors[t].Data[i] = keep;
                Assert.Equal((up - down) / (2 * h), gx.Tensors[t].Data[i], 2e-3);
            }
    }

    [Fact]
    public void MaxGradientGoesToExactlyOneEntryPerFeature()
    {
        var x = Input(out var space, 2);
        var pool = new InvariantPooling(space, 2, HeadPooling.Max);
        var y = pool.Forward(x);
        var ones = new Tensor(y.Shape[0], y.Shape[1]);
        Array.Fill(ones.Data, 1f);
        var gx = pool.Backward(ones);
        double total = gx.Tensors.Sum(t => t.Data.Sum(v => (double)v));
        Assert.Equal(pool.FeatureCount * x.Batch, total, 6);
        Assert.All(gx.Tensors.SelectMany(t => t.Data), v => Assert.True(v == 0f || v == 1f));
    }

    /// <summary>
    /// The scalar rule, written out: per tensor, the mean as adds in entry order then one scale; the maximum as
    /// "take v when v &gt; max or nothing taken yet", remembering the first entry that holds it.
    /// </summary>
    private static (float[] Features, int[][] Argmax) ScalarRule(WeightSpaceBatch x, InvariantPooling pool)
    {
        int c = x.Channels;
        bool mean = pool.Pooling != HeadPooling.Max, max = pool.Pooling != HeadPooling.Mean;
        var y = new List<float>();
        var args = new List<int[]>();
        for (int n = 0; n < x.Batch; n++)
            foreach (var wt in x.Space.Tensors)
            {
                int width = wt.FixedSize * c;
                var map = RowMajor.FixedIndexMap(wt);
                var xs = x.Tensors[wt.Index].Data.AsSpan(n * wt.Size * c, wt.Size * c);
                if (mean)
                {
                    var m = new float[width];
                    for (int e = 0; e < wt.Size; e++) for (int ch = 0; ch < c; ch++) m[map[e] * c + ch] += xs[e * c + ch];
                    float scale = (float)wt.FixedSize / wt.Size;
                    for (int i = 0; i < width; i++) m[i] *= scale;
                    y.AddRange(m);
                }
                if (max)
                {
                    var m = new float[width]; var arg = new int[width];
                    Array.Fill(m, float.NegativeInfinity); Array.Fill(arg, -1);
                    for (int e = 0; e < wt.Size; e++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            int o = map[e] * c + ch; float v = xs[e * c + ch];
                            if (v > m[o] || arg[o] < 0) { m[o] = v; arg[o] = e; }
                        }
                    y.AddRange(m); args.Add(arg);
                }
            }
        return (y.ToArray(), args.ToArray());
    }

    /// <summary>
    /// The vectorized pooling (8 channels at a time) is bitwise the scalar rule, ties, NaN and infinities included,
    /// and its gradient goes where the scalar rule's argmax says.
    /// </summary>
    [Theory]
    [InlineData(HeadPooling.Mean, 8)]
    [InlineData(HeadPooling.Max, 8)]
    [InlineData(HeadPooling.MeanAndMax, 13)]   // 8 + a scalar tail of 5
    [InlineData(HeadPooling.Max, 32)]
    public void VectorizedPoolingIsBitwiseTheScalarRule(HeadPooling pooling, int channels)
    {
        var space = ReferenceMlp.Space(2, 5, 4, 3);
        var x = new WeightSpaceBatch(space, 3, channels);
        var rng = new Rng(12);
        float[] special = { float.NaN, float.NegativeInfinity, float.PositiveInfinity, 0.25f, 0.25f, -0f, 0f };
        foreach (var t in x.Tensors)
            for (int i = 0; i < t.Data.Length; i++)
                // Few distinct values (many ties) and some special ones.
                t.Data[i] = rng.NextDouble() < 0.05 ? special[rng.NextInt(special.Length)] : MathF.Round((float)rng.Normal() * 2) / 2;
        var pool = new InvariantPooling(space, channels, pooling);
        var y = pool.Forward(x);
        var (expected, argmax) = ScalarRule(x, pool);
        Assert.Equal(expected.Length, y.Data.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y.Data[i]), $"feature {i}: {y.Data[i]} vs {expected[i]}");
        if (pooling == HeadPooling.Mean) return;
        // Backward of a gradient that marks each max feature: it lands on the scalar rule's argmax entry.
        var g = new Tensor(y.Shape[0], y.Shape[1]);
        for (int i = 0; i < g.Data.Length; i++) g.Data[i] = i + 1;
        var gx = pool.Backward(g);
        int k = 0;
        for (int n = 0; n < x.Batch; n++)
            foreach (var wt in space.Tensors)
            {
                int width = wt.FixedSize * channels;
                int featureStart = n * pool.FeatureCount + space.Tensors.Take(wt.Index).Sum(u => u.FixedSize * channels * (pooling == HeadPooling.MeanAndMax ? 2 : 1))
                    + (pooling == HeadPooling.MeanAndMax ? width : 0);
                var arg = argmax[k++];
                for (int i = 0; i < width; i++)
                {
                    float got = gx.Tensors[wt.Index].Data[(n * wt.Size + arg[i]) * channels + i % channels];
                    float mean = pooling == HeadPooling.MeanAndMax ? g.Data[featureStart - width + i] * ((float)wt.FixedSize / wt.Size) : 0;
                    Assert.Equal(g.Data[featureStart + i] + mean, got);
                }
            }
    }

    [Fact]
    public void UnknownPoolingIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new InvariantPooling(ReferenceMlp.Space(2, 3, 1), 1, (HeadPooling)9));
}

/// <summary>Large batches run on all cores: the result must be the one each network gets alone.</summary>
public class ParallelPassTests
{
    private static WeightSpaceBatch RandomBatch(int batch, int channels, ulong seed)
    {
        var space = ReferenceMlp.Space(2, 7, 6, 3);
        var x = new WeightSpaceBatch(space, batch, channels);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    private static WeightSpaceBatch One(WeightSpaceBatch x, int n)
    {
        var one = new WeightSpaceBatch(x.Space, 1, x.Channels);
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            int size = one.Tensors[t].Data.Length;
            Array.Copy(x.Tensors[t].Data, n * size, one.Tensors[t].Data, 0, size);
        }
        return one;
    }

    [Theory]
    [InlineData(HeadPooling.Mean)]
    [InlineData(HeadPooling.Max)]
    [InlineData(HeadPooling.MeanAndMax)]
    public void PoolingABatchEqualsPoolingEachNetworkAlone(HeadPooling pooling)
    {
        var x = RandomBatch(37, 5, 3); // ≥ 16: the parallel path
        var pool = new InvariantPooling(x.Space, 5, pooling);
        var y = pool.Forward(x).Data.ToArray();
        var g = new Tensor(Enumerable.Range(0, 37 * pool.FeatureCount).Select(i => (float)Math.Sin(i)).ToArray(), 37, pool.FeatureCount);
        var gx = pool.Backward(g);
        var gxAll = gx.Tensors.Select(t => t.Data.ToArray()).ToArray();
        for (int n = 0; n < 37; n += 9)
        {
            var single = new InvariantPooling(x.Space, 5, pooling);
            var yn = single.Forward(One(x, n)).Data;
            Assert.Equal(y.AsSpan(n * pool.FeatureCount, pool.FeatureCount).ToArray(), yn);
            var gn = single.Backward(new Tensor(g.Data.AsSpan(n * pool.FeatureCount, pool.FeatureCount).ToArray(), 1, pool.FeatureCount));
            for (int t = 0; t < gxAll.Length; t++)
            {
                int size = gn.Tensors[t].Data.Length;
                Assert.Equal(gxAll[t].AsSpan(n * size, size).ToArray(), gn.Tensors[t].Data);
            }
        }
    }

    [Theory]
    [InlineData(global::LayerCompiler.Activation.ReLU)]
    [InlineData(global::LayerCompiler.Activation.GELU)]
    public void ActivationOfALargeBatchEqualsTheElementwiseFunction(global::LayerCompiler.Activation kind)
    {
        var x = RandomBatch(300, 16, 4); // 300 × 107 × 16 values: many parallel pieces
        var act = new WeightSpaceActivation(kind);
        var y = act.Forward(x);
        var g = RandomBatch(300, 16, 5);
        var gx = act.Backward(g);
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            var ey = new float[x.Tensors[t].Data.Length];
            var eg = new float[ey.Length];
            if (kind == global::LayerCompiler.Activation.ReLU)
            {
                LayerCompiler.Runtime.Kernels.Activations.ReluForward(x.Tensors[t].Data, ey);
                LayerCompiler.Runtime.Kernels.Activations.ReluBackward(x.Tensors[t].Data, g.Tensors[t].Data, eg);
            }
            else
            {
                LayerCompiler.Runtime.Kernels.Activations.GeluForward(x.Tensors[t].Data, ey);
                LayerCompiler.Runtime.Kernels.Activations.GeluBackward(x.Tensors[t].Data, g.Tensors[t].Data, eg);
            }
            Assert.Equal(ey, y.Tensors[t].Data);
            Assert.Equal(eg, gx.Tensors[t].Data);
        }
    }
}
