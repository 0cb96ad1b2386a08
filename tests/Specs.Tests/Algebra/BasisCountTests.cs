using LayerCompiler.Algebra;

namespace LayerCompiler.Specs.Tests.Algebra;

public class BasisCountTests
{
    internal static WeightSpace Mlp(Symmetry s, params int[] widths) =>
        WeightSpace.FromLayers(Enumerable.Range(0, widths.Length - 1).Select(i => LayerDeclaration.Dense(widths[i], widths[i + 1])).ToList(), s);

    [Theory]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 32, 32, 1 }, 75)]
    [InlineData(Symmetry.AllNeuron, new[] { 2, 32, 32, 1 }, 57)]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 3, 3, 1 }, 75)]
    [InlineData(Symmetry.AllNeuron, new[] { 2, 3, 3, 1 }, 57)]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 3, 3, 2 }, 114)]
    [InlineData(Symmetry.AllNeuron, new[] { 2, 3, 3, 2 }, 62)]
    public void CountsMatchTheDocumentedTable(Symmetry s, int[] widths, long expected)
    {
        Assert.Equal(expected, Basis.CountPerChannelPair(Mlp(s, widths)));
    }

    [Theory]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 3, 3, 1 })]
    [InlineData(Symmetry.AllNeuron, new[] { 2, 3, 3, 1 })]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 3, 3, 2 })]
    [InlineData(Symmetry.AllNeuron, new[] { 2, 3, 3, 2 })]
    [InlineData(Symmetry.HiddenNeuron, new[] { 1, 1, 2, 1 })] // a hidden layer of width 1
    [InlineData(Symmetry.AllNeuron, new[] { 1, 2, 1, 1 })]
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 3, 2 })]   // depth 2
    [InlineData(Symmetry.HiddenNeuron, new[] { 2, 2, 3, 2, 2, 1 })] // depth 5
    [InlineData(Symmetry.AllNeuron, new[] { 3, 2, 1 })]
    public void CountsEqualBurnsideOrbitCount(Symmetry s, int[] widths)
    {
        var space = Mlp(s, widths);
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
    }

    [Theory]
    [InlineData(Symmetry.HiddenNeuron)]
    [InlineData(Symmetry.AllNeuron)]
    public void CnnCountsEqualBurnsideOrbitCount(Symmetry s)
    {
        var space = WeightSpace.FromLayers(new[] { LayerDeclaration.Conv2d(1, 2, 2, 1), LayerDeclaration.Conv2d(2, 3, 1, 2), LayerDeclaration.Dense(3, 2) }, s);
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
    }

    [Fact]
    public void RecurrentSquareWeightHasFifteenTermsForWideLayers()
    {
        // One permuted layer of width h acting on both axes of an h×h weight: Bell(4) = 15 when h ≥ 4.
        foreach (int h in new[] { 4, 5 })
        {
            var layers = new[] { new NeuronLayer(0, h, true) };
            var space = WeightSpace.FromTensors(layers, new[] { ("U", new[] { 0, 0 }) });
            Assert.Equal(15, Basis.CountPerChannelPair(space));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RecurrentCountsEqualBurnsideForNarrowLayers(int h)
    {
        // h×h → h×h, h → h×h etc.: the "at most h blocks" rule must drop exactly the dependent terms.
        var layers = new[] { new NeuronLayer(0, h, true) };
        var space = WeightSpace.FromTensors(layers, new[] { ("U", new[] { 0, 0 }), ("b", new[] { 0 }) });
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
    }

    [Fact]
    public void SetPartitionCountsAreStirlingSums()
    {
        for (int k = 0; k <= 6; k++)
            for (int m = 0; m <= 6; m++)
                Assert.Equal(SetPartitions.Count(k, m), SetPartitions.Enumerate(k, m).LongCount());
        Assert.Equal(15, SetPartitions.Count(4, 4)); // Bell(4)
        Assert.Equal(52, SetPartitions.Count(5, 5)); // Bell(5)
    }

    [Fact]
    public void InvariantFeatureCountsMatchTheFormula()
    {
        // Hidden-neuron: C·(2M − 3 + d0 + 2·dM); all-neuron: 2M·C.
        var h = Mlp(Symmetry.HiddenNeuron, 2, 32, 32, 1);
        Assert.Equal(2 * 3 - 3 + 2 + 2 * 1, Basis.InvariantFeaturesPerChannel(h));
        Assert.Equal(224, 32 * Basis.InvariantFeaturesPerChannel(h));
        var h5 = Mlp(Symmetry.HiddenNeuron, 3, 8, 8, 8, 8, 10);
        Assert.Equal(2 * 5 - 3 + 3 + 2 * 10, Basis.InvariantFeaturesPerChannel(h5));
        Assert.Equal(2 * 3, Basis.InvariantFeaturesPerChannel(Mlp(Symmetry.AllNeuron, 2, 32, 32, 1)));
    }

    [Fact]
    public void DocumentedSpecialCases()
    {
        var space = Mlp(Symmetry.HiddenNeuron, 2, 5, 5, 5, 1);
        // Interior W2 → W2: 4 terms (identity, row sums, column sums, total).
        Assert.Equal(4, Basis.Block(space, 2, 2).Count);
        // b2 → b2 (one shared permuted layer): DeepSets, 2 terms.
        Assert.Equal(2, Basis.Block(space, 3, 3).Count);
        // b1 → b3: unrelated, 1 term.
        Assert.Single(Basis.Block(space, 1, 5));
    }
}

/// <summary>Hidden permutations × sign flips (odd activations): the even-block rule against brute-force characters.</summary>
public class SignedBasisCountTests
{
    private static WeightSpace Mlp(Symmetry s, params int[] widths) => BasisCountTests.Mlp(s, widths);

    [Fact]
    public void SirenBasisShrinksFrom75To15TermsAndOneInvariant()
    {
        var signed = Mlp(Symmetry.SignedHiddenNeuron, 2, 32, 32, 1);
        Assert.Equal(75, Basis.CountPerChannelPair(Mlp(Symmetry.HiddenNeuron, 2, 32, 32, 1)));
        Assert.Equal(15, Basis.CountPerChannelPair(signed));
        Assert.Equal(1, Basis.InvariantFeaturesPerChannel(signed));  // b3 alone: every other tensor carries a hidden axis once
        // No cross-neuron terms survive: no term pools or broadcasts over a hidden axis.
        foreach (var t in Basis.All(signed))
            for (int b = 0; b < t.BlockCount; b++)
                if (signed.Layers[t.BlockLayer[b]].Signed) Assert.True(t.BlockHasInput(b) && t.BlockHasOutput(b), t.Describe(signed));
    }

    [Theory]
    [InlineData(new[] { 2, 3, 3, 1 })]
    [InlineData(new[] { 2, 3, 3, 2 })]
    [InlineData(new[] { 1, 2, 2, 1 })]
    [InlineData(new[] { 1, 1, 2, 1 })]     // a hidden layer of width 1
    [InlineData(new[] { 2, 3, 2 })]        // depth 2
    [InlineData(new[] { 1, 2, 2, 2, 1 })]  // depth 4
    public void MlpCountsEqualBruteForceCharacters(int[] widths)
    {
        var space = Mlp(Symmetry.SignedHiddenNeuron, widths);
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
        Assert.Equal(OrbitCounter.CountInvariants(space), Basis.InvariantFeaturesPerChannel(space));
    }

    [Fact]
    public void CnnCountsEqualBruteForceCharacters()
    {
        var space = WeightSpace.FromLayers(new[] { LayerDeclaration.Conv2d(1, 2, 2, 1), LayerDeclaration.Conv2d(2, 2, 1, 2), LayerDeclaration.Dense(2, 2) }, Symmetry.SignedHiddenNeuron);
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
        Assert.Equal(OrbitCounter.CountInvariants(space), Basis.InvariantFeaturesPerChannel(space));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RecurrentSignedCountsEqualBruteForce(int h)
    {
        // A layer on both axes of U (h×h) and on b: U[i,i] is sign-invariant, so even blocks pair the two axes of U.
        var layers = new[] { new NeuronLayer(0, h, true, signed: true) };
        var space = WeightSpace.FromTensors(layers, new[] { ("U", new[] { 0, 0 }), ("b", new[] { 0 }) });
        Assert.Equal(OrbitCounter.CountPairOrbits(space), Basis.CountPerChannelPair(space));
    }

    [Fact]
    public void InvariantAndEquivariantCountsWithoutSignsStillMatch()
    {
        foreach (var s in new[] { Symmetry.HiddenNeuron, Symmetry.AllNeuron })
        {
            var space = Mlp(s, 2, 3, 3, 2);
            Assert.Equal(OrbitCounter.CountInvariants(space), Basis.InvariantFeaturesPerChannel(space));
        }
    }

    [Fact]
    public void OnlySignInvariantTensorsTakeABias()
    {
        var space = Mlp(Symmetry.SignedHiddenNeuron, 2, 4, 4, 1);
        var plan = new LayerPlan(space, 2, 3);
        var withBias = space.Tensors.Where(t => plan.HasBias(t.Index)).Select(t => t.Name).ToArray();
        Assert.Equal(new[] { "b3" }, withBias);
        Assert.Equal(3, plan.BiasCount);
        Assert.Equal(LayerPlan.CountParameters(space, 2, 3), plan.WeightCount + plan.BiasCount);
    }
}
