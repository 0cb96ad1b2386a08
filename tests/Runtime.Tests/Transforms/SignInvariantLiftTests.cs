using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Transforms;

public class SignInvariantLiftTests
{
    private static WeightSpace Siren(int hidden = 5) => WeightSpace.FromLayers(
        new[] { LayerDeclaration.Dense(2, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.SignedHiddenNeuron);

    private static WeightSpaceBatch Random(WeightSpace space, int batch, ulong seed)
    {
        var x = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    [Fact]
    public void SirenLiftHasTheDocumentedChannels()
    {
        var lift = new SignInvariantLift(Siren(32));
        Assert.Equal(3, lift.ReferenceSize(1));   // W1[i,0], W1[i,1], b1[i]
        Assert.Equal(2, lift.ReferenceSize(2));   // b2[j], W3[0,j]
        Assert.Equal(6, lift.Channels);           // W2[j,i] · r1(i) ⊗ r2(j)
        Assert.Equal(Symmetry.HiddenNeuron, lift.Output.Symmetry);
    }

    [Fact]
    public void TheLiftIsBitwiseInvariantToSignFlips()
    {
        var space = Siren();
        var lift = new SignInvariantLift(space);
        var x = Random(space, 3, 1);
        var y = lift.Forward(x);
        var rng = new Rng(2);
        for (int trial = 0; trial < 5; trial++)
        {
            var flipped = Permutations.ApplySigns(x, Permutations.RandomSigns(space, rng));
            Assert.NotEqual(x.Flatten(), flipped.Flatten());
            Assert.Equal(y.Flatten(), lift.Forward(flipped).Flatten());
        }
    }

    [Fact]
    public void TheLiftIsBitwiseEquivariantToPermutations()
    {
        var space = Siren();
        var lift = new SignInvariantLift(space);
        var x = Random(space, 2, 3);
        var rng = new Rng(4);
        for (int trial = 0; trial < 5; trial++)
        {
            var p = Permutations.Random(space, rng);
            Assert.Equal(Permutations.Apply(lift.Forward(x), p).Flatten(), lift.Forward(Permutations.Apply(x, p)).Flatten());
        }
    }

    [Fact]
    public void NetworksNotRelatedByTheGroupGetDifferentLifts()
    {
        var space = Siren();
        var lift = new SignInvariantLift(space);
        var x = Random(space, 1, 5);
        var y = lift.Forward(x).Flatten();
        // Flipping the sign of one entry alone (W2[0,0]) is not a group element: the function changes, and so must the lift.
        var single = x.Clone();
        int w2 = space.Tensors.Single(t => t.Name == "W2").Index;
        single.Tensors[w2].Data[0] = -single.Tensors[w2].Data[0];
        Assert.NotEqual(y, lift.Forward(single).Flatten());
        // Nor is flipping a neuron's incoming row without its outgoing column.
        var half = x.Clone();
        int w1 = space.Tensors.Single(t => t.Name == "W1").Index;
        for (int k = 0; k < 2; k++) half.Tensors[w1].Data[k] = -half.Tensors[w1].Data[k];
        Assert.NotEqual(y, lift.Forward(half).Flatten());
        // Nor swapping two neurons' incoming rows alone.
        var swap = x.Clone();
        var d = swap.Tensors[w1].Data;
        (d[0], d[2]) = (d[2], d[0]); (d[1], d[3]) = (d[3], d[1]);
        Assert.NotEqual(y, lift.Forward(swap).Flatten());
    }

    [Fact]
    public void ClearErrorsForSpacesItDoesNotServe()
    {
        var unsigned = WeightSpace.FromLayers(new[] { LayerDeclaration.Dense(2, 3), LayerDeclaration.Dense(3, 1) }, Symmetry.HiddenNeuron);
        Assert.Contains("sign flips", Assert.Throws<ArgumentException>(() => new SignInvariantLift(unsigned)).Message);
        var cnn = WeightSpace.FromLayers(new[] { LayerDeclaration.Conv2d(1, 2, 3, 3), LayerDeclaration.Dense(2, 1) }, Symmetry.SignedHiddenNeuron);
        Assert.Contains("dense networks", Assert.Throws<ArgumentException>(() => new SignInvariantLift(cnn)).Message);
        var noBias = WeightSpace.FromLayers(new[] { LayerDeclaration.Dense(2, 3), LayerDeclaration.Dense(3, 3, bias: false), LayerDeclaration.Dense(3, 3), LayerDeclaration.Dense(3, 1) }, Symmetry.SignedHiddenNeuron);
        Assert.Contains("Bias = true", Assert.Throws<ArgumentException>(() => new SignInvariantLift(noBias)).Message);
        var lift = new SignInvariantLift(Siren());
        Assert.Contains("1 channel", Assert.Throws<ArgumentException>(() => lift.Forward(new WeightSpaceBatch(lift.Input, 1, 2))).Message);
    }
}
