using LayerCompiler.Algebra;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Zoo;

public class BaselineFeatureTests
{
    private static WeightSpaceBatch Random(int batch, ulong seed)
    {
        var space = Space.FromLayers(new[] { LayerDeclaration.Dense(2, 4), LayerDeclaration.Dense(4, 3), LayerDeclaration.Dense(3, 1) }, Symmetry.HiddenNeuron);
        var b = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in b.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Uniform(-1, 1);
        return b;
    }

    [Fact]
    public void FlattenedHoldsEachNetworksWeightsInTensorOrder()
    {
        var b = Random(3, 1);
        var f = WeightFeatures.Flattened(b);
        Assert.Equal(new[] { 3, (int)b.Space.Dimension }, f.Shape);
        Assert.Equal(b.Tensors[0].Data[8..16], f.Data.AsSpan((int)b.Space.Dimension, 8).ToArray()); // network 1's W1
        Assert.Equal(b.Tensors[5].Data[2], f.Data[3 * (int)b.Space.Dimension - 1]);                // network 2's b3
    }

    [Fact]
    public void StatisticsMatchHandValues()
    {
        var dst = new float[7];
        WeightFeatures.Describe(new float[] { 4, 1, 3, 2, 5 }, dst);
        Assert.Equal(new float[] { 3, 2, 1, 2, 3, 4, 5 }, dst);
        WeightFeatures.Describe(new float[] { 0, 10 }, dst);
        Assert.Equal(new float[] { 5, 25, 0, 2.5f, 5, 7.5f, 10 }, dst);

        var b = Random(2, 2);
        var s = WeightFeatures.Statistics(b);
        Assert.Equal(new[] { 2, 6 * 7 }, s.Shape);
        Assert.Equal(42, WeightFeatures.StatisticFeatureNames(b.Space).Count);
        Assert.Equal("b2.q50", WeightFeatures.StatisticFeatureNames(b.Space)[3 * 7 + 4]);
        var w2 = b.Tensors[2].Data.AsSpan(12, 12).ToArray(); // network 1's W2
        Assert.Equal(w2.Average(), s.Data[42 + 2 * 7], 5);
        Assert.Equal(w2.Max(), s.Data[42 + 2 * 7 + 6]);
    }

    [Fact]
    public void StatisticsAreInvariantToHiddenPermutations()
    {
        var b = Random(4, 3);
        var p = Permutations.Apply(b, Permutations.Random(b.Space, new Rng(9)));
        Assert.Equal(WeightFeatures.Statistics(b).Data, WeightFeatures.Statistics(p).Data);
        Assert.NotEqual(WeightFeatures.Flattened(b).Data, WeightFeatures.Flattened(p).Data);
    }

    [Fact]
    public void StandardizerAndMlpShapes()
    {
        var x = new Tensor(new float[] { 1, 5, 3, 5, 5, 5 }, 3, 2);
        var st = FeatureStandardizer.Fit(x);
        Assert.Equal(3f, st.Mean[0]);
        Assert.Equal(1f, st.Std[1]); // constant feature: std 1, not a division by zero
        st.Apply(x);
        Assert.Equal(0f, x.Data[1]);
        Assert.Equal(-x.Data[0], x.Data[4], 5);

        var mlp = BaselineMlp.Create(6, new[] { 8, 8 }, 10, new Rng(1));
        Assert.Equal(5, mlp.Count);
        Assert.Equal(new[] { 4, 10 }, mlp.Forward(new Tensor(4, 6)).Shape);
    }
}
