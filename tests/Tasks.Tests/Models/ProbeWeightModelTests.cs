using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Models;

namespace LayerCompiler.Tasks.Tests.Models;

/// <summary>
/// The probing model: its features are each network's own outputs at the probes (batch layout checked network by network),
/// its logits are invariant to hidden-neuron permutations and sign flips of a SIREN (the function does not change) but not
/// to a change of the function, and its checkpoint state refuses another model's probes or feature count.
/// </summary>
public class ProbeWeightModelTests
{
    private static readonly WeightSpace Space = WeightSpace.FromLayers(
        new[] { LayerDeclaration.Dense(2, 8), LayerDeclaration.Dense(8, 6), LayerDeclaration.Dense(6, 1) }, Symmetry.SignedHiddenNeuron);

    private static MlpInputNetwork Siren() => new(Space, InputActivation.Sine, 30f, 0.5f);

    private static WeightSpaceBatch RandomNetworks(int batch, ulong seed)
    {
        var x = new WeightSpaceBatch(Space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(0.3 * rng.Normal());
        return x;
    }

    private static ProbeWeightModel Model(float[] probes, ulong seed = 1) => new("probe", Siren(), probes, new[] { 16 }, 3, seed);

    [Fact]
    public void Features_AreEachNetworksOutputsAtTheProbes()
    {
        var probes = ProbeSet.Random(5, 2, 7);
        var model = Model(probes);
        var x = RandomNetworks(4, 2);
        var features = model.Features(x);
        Assert.Equal(new[] { 4, 5 }, features.Shape);
        for (int n = 0; n < 4; n++)
        {
            var one = new WeightSpaceBatch(Space, 1, 1);
            for (int t = 0; t < x.Tensors.Length; t++)
            {
                int per = x.Tensors[t].Length / 4;
                Array.Copy(x.Tensors[t].Data, n * per, one.Tensors[t].Data, 0, per);
            }
            var expected = new float[5];
            Siren().Forward(one, probes, 5, expected);
            Assert.Equal(expected, features.Data.AsSpan(n * 5, 5).ToArray());
        }
    }

    [Fact]
    public void Logits_AreInvariantToPermutationsAndSignFlips_ButNotToAnotherFunction()
    {
        var model = Model(ProbeSet.Grid(6, 6));
        var train = RandomNetworks(16, 3);
        model.FitInputs(train);
        model.Module.Eval();
        var x = RandomNetworks(3, 4);
        var y = model.Forward(x.Clone()).Data.ToArray(); // a copy: the MLP reuses its output buffer
        var rng = new Rng(5);
        for (int trial = 0; trial < 3; trial++)
        {
            var moved = Permutations.Apply(Permutations.ApplySigns(x, Permutations.RandomSigns(Space, rng)), Permutations.Random(Space, rng));
            Assert.NotEqual(x.Tensors[0].Data, moved.Tensors[0].Data); // the group element really moved the weights
            var z = model.Forward(moved).Data.ToArray();
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - z[i]) <= 1e-4 * (1 + Math.Abs(y[i])), $"logit {i}: {y[i]} vs {z[i]}");
        }
        // Flipping one output weight's sign changes the function, so the logits move.
        var other = x.Clone();
        other.Tensors[^2].Data[0] = -other.Tensors[^2].Data[0] + 0.5f;
        var w = model.Forward(other).Data.ToArray();
        Assert.Contains(Enumerable.Range(0, y.Length), i => Math.Abs(y[i] - w[i]) > 1e-3);
    }

    [Fact]
    public void NormalizationState_RoundTrips_AndRefusesAnotherModelsProbes()
    {
        var probes = ProbeSet.Random(4, 2, 9);
        var model = Model(probes);
        model.FitInputs(RandomNetworks(8, 6));
        var state = model.NormalizationState();

        var same = Model(probes);
        same.LoadNormalization(state);
        var x = RandomNetworks(2, 7);
        Assert.Equal(model.Forward(x.Clone()).Data.ToArray(), same.Forward(x.Clone()).Data.ToArray());

        var moved = Model(ProbeSet.Random(4, 2, 10));
        Assert.Contains("probes", Assert.Throws<InvalidDataException>(() => moved.LoadNormalization(state)).Message);
        var fewer = Model(ProbeSet.Random(3, 2, 9));
        Assert.Throws<InvalidDataException>(() => fewer.LoadNormalization(state));
        Assert.Throws<InvalidDataException>(() => same.LoadNormalization(new Dictionary<string, Tensor>()));
        Assert.Throws<InvalidOperationException>(() => Model(probes).Forward(x));
    }

    [Fact]
    public void ProbeSets_AreSeededInTheBox_AndBadProbesAreRefused()
    {
        var a = ProbeSet.Random(100, 2, 1);
        Assert.Equal(a, ProbeSet.Random(100, 2, 1));
        Assert.NotEqual(a, ProbeSet.Random(100, 2, 2));
        Assert.All(a, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(2 * 28 * 28, ProbeSet.Grid(28, 28).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProbeSet.Random(0, 2, 1));
        Assert.All(ProbeSet.Random(50, 1, 3, -MathF.PI, MathF.PI), v => Assert.InRange(v, -MathF.PI, MathF.PI));
        Assert.Contains(ProbeSet.Random(50, 1, 3, -MathF.PI, MathF.PI), v => Math.Abs(v) > 1f); // the box, not [−1, 1]
        Assert.Throws<ArgumentException>(() => ProbeSet.Random(5, 1, 3, 1f, 1f));
        Assert.Throws<ArgumentException>(() => Model(new float[3]));            // not [count, 2]
        Assert.Throws<ArgumentException>(() => Model(new[] { 0f, float.NaN }));
    }
}
