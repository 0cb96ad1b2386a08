using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Training;

public class InputNormalizerTests
{
    private static IEnumerable<WeightSpaceBatch> Chunks(WeightSpaceBatch all, params int[] sizes)
    {
        int start = 0;
        foreach (int n in sizes)
        {
            var b = new WeightSpaceBatch(all.Space, n, 1);
            for (int t = 0; t < all.Tensors.Length; t++)
            {
                int size = all.Space.Tensors[t].Size;
                Array.Copy(all.Tensors[t].Data, start * size, b.Tensors[t].Data, 0, n * size);
            }
            start += n;
            yield return b;
        }
        Assert.Equal(all.Batch, start);
    }

    [Fact]
    public void StreamingStatisticsEqualTheDirectFloat64Ones()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        // Large offset, small spread: naive float32 sums of squares would lose every digit.
        var all = ReferenceMlp.Random(space, 15, 71, scale: 0.01);
        foreach (var t in all.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] += 1000f + i % 7;
        var norm = InputNormalizer.Fit(Chunks(all, 3, 7, 5));
        for (int t = 0; t < all.Tensors.Length; t++)
        {
            int size = space.Tensors[t].Size;
            for (int e = 0; e < size; e++)
            {
                var v = Enumerable.Range(0, 15).Select(n => (double)all.Tensors[t].Data[n * size + e]).ToArray();
                double mean = v.Average(), std = Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average());
                Assert.Equal(mean, norm.Mean[t][e], 1e-3);
                Assert.Equal(std, norm.Std[t][e], std * 1e-4);
            }
        }
        var applied = norm.Apply(all.Clone());
        for (int t = 0; t < all.Tensors.Length; t++)
        {
            int size = space.Tensors[t].Size;
            for (int e = 0; e < size; e++)
            {
                var v = Enumerable.Range(0, 15).Select(n => (double)applied.Tensors[t].Data[n * size + e]).ToArray();
                double mean = v.Average(), var = v.Select(x => (x - mean) * (x - mean)).Average();
                Assert.Equal(0, mean, 1e-2);
                Assert.Equal(1, var, 1e-2);
            }
        }
    }

    /// <summary>
    /// Fitted on one batch, the statistics are the exact two-pass ones (no rounding through an empty running mean), and
    /// Apply is the correctly rounded (x − mean) / std: the arithmetic the sample's normalizer had, so its runs did not change.
    /// </summary>
    [Fact]
    public void AOneBatchFitIsTheTwoPassStatisticsAndApplyDividesByTheStd()
    {
        var space = ReferenceMlp.Space(2, 8, 3);
        var x = ReferenceMlp.Random(space, 13, 21, scale: 1.0);
        for (int t = 0; t < x.Tensors.Length; t++) for (int i = 0; i < x.Tensors[t].Data.Length; i++) x.Tensors[t].Data[i] = 0.3f + 1.7f * x.Tensors[t].Data[i];
        var norm = InputNormalizer.Fit(new[] { x }, NormalizationGranularity.PerEntry, 1e-6f);
        var y = norm.Apply(x.Clone());
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            int size = space.Tensors[t].Size;
            float[] d = x.Tensors[t].Data;
            for (int e = 0; e < size; e++)
            {
                double m = 0, s = 0;
                for (int n = 0; n < x.Batch; n++) m += d[n * size + e];
                m /= x.Batch;
                for (int n = 0; n < x.Batch; n++) { double dv = d[n * size + e] - m; s += dv * dv; }
                float mean = (float)m, std = (float)Math.Sqrt(s / x.Batch);
                Assert.Equal(mean, norm.Mean[t][e]);
                Assert.Equal(std, norm.Std[t][e]);
                for (int n = 0; n < x.Batch; n++) Assert.Equal((d[n * size + e] - mean) / std, y.Tensors[t].Data[n * size + e]);
            }
        }
    }

    [Fact]
    public void PerTensorStatisticsCommuteWithPermutations()
    {
        var space = ReferenceMlp.Space(2, 4, 4, 1);
        var all = ReferenceMlp.Random(space, 10, 81);
        var norm = InputNormalizer.Fit(Chunks(all, 4, 6), NormalizationGranularity.PerTensor);
        Assert.All(norm.Mean, m => Assert.Single(m));
        var g = Permutations.Random(space, new Rng(82));
        var a = norm.Apply(Permutations.Apply(all, g));
        var b = Permutations.Apply(norm.Apply(all.Clone()), g);
        ReferenceMlp.AssertBitwiseEqual(a, b);
    }

    [Fact]
    public void SavedStatisticsRoundTripAndInvertUndoesApply()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        var all = ReferenceMlp.Random(space, 9, 91);
        // A constant entry: std 0, so it is only centred (no NaN or Infinity).
        for (int n = 0; n < 9; n++) all.Tensors[0].Data[n * 6] = 2.5f;
        var norm = InputNormalizer.Fit(new[] { all });
        var loaded = InputNormalizer.FromTensors(space, norm.ToTensors("normalizer."), "normalizer.");
        Assert.Equal(NormalizationGranularity.PerEntry, loaded.Granularity);
        var a = norm.Apply(all.Clone());
        var b = loaded.Apply(all.Clone());
        ReferenceMlp.AssertBitwiseEqual(a, b);
        Assert.All(a.Flatten(), v => Assert.True(float.IsFinite(v)));
        Assert.Equal(0f, a.Tensors[0].Data[0]);
        var back = norm.Invert(a.Clone()).Flatten();
        var orig = all.Flatten();
        for (int i = 0; i < orig.Length; i++) Assert.Equal(orig[i], back[i], 1e-5f);

        var ex = Assert.Throws<InvalidDataException>(() => InputNormalizer.FromTensors(ReferenceMlp.Space(2, 4, 1), norm.ToTensors()));
        Assert.Contains("'mean.W1' holds 6 values, W1 needs 8", ex.Message);
    }
}
