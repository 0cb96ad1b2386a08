using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Transforms;

/// <summary>
/// Hidden permutations × sign flips (Symmetry.SignedHiddenNeuron): the symmetry is real for odd activations, and the
/// equivariant layer built from the even-block basis commutes with it.
/// </summary>
public class SignFlipTests
{
    private static WeightSpace Space(Symmetry s) => WeightSpace.FromLayers(new[] { LayerDeclaration.Dense(2, 4), LayerDeclaration.Dense(4, 3), LayerDeclaration.Dense(3, 1) }, s);

    private static WeightSpaceBatch Random(WeightSpace space, int batch, int channels, ulong seed)
    {
        var x = new WeightSpaceBatch(space, batch, channels);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    [Theory]
    [InlineData(InputActivation.Sine, true)]
    [InlineData(InputActivation.Tanh, false)]   // the runtime's vectorized tanh is odd only up to rounding (≈ 1e-7)
    public void FlippingAHiddenNeuronPreservesAnOddNetwork(InputActivation activation, bool bitwise)
    {
        var space = Space(Symmetry.SignedHiddenNeuron);
        var net = new MlpInputNetwork(space, activation, omega0: 30f, outputOffset: 0.5f);
        var w = Random(space, batch: 3, channels: 1, seed: 1);
        foreach (var t in w.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] *= 0.3f;
        var points = new float[] { -1f, -0.5f, 0.25f, 0.75f, 0.9f, -0.1f };
        var before = new float[3 * 3];
        net.Forward(w, points, 3, before);
        var flipped = Permutations.ApplySigns(w, Permutations.RandomSigns(space, new Rng(2)));
        Assert.NotEqual(w.Tensors[0].Data, flipped.Tensors[0].Data);   // the flip changed the weights
        var after = new float[3 * 3];
        net.Forward(flipped, points, 3, after);
        if (bitwise) Assert.Equal(before, after);                        // sin(−z) = −sin(z) exactly
        else for (int i = 0; i < before.Length; i++) Assert.True(Math.Abs(before[i] - after[i]) <= 1e-5f, $"{i}: {before[i]} vs {after[i]}");
    }

    [Fact]
    public void AReluNetworkIsNotSignSymmetric()
    {
        var space = Space(Symmetry.SignedHiddenNeuron);
        var net = new MlpInputNetwork(space, InputActivation.ReLU);
        var w = Random(space, 1, 1, 3);
        var points = new float[] { 0.3f, -0.7f, -0.2f, 0.8f };
        var before = new float[2]; var after = new float[2];
        net.Forward(w, points, 2, before);
        var all = new bool[]?[] { null, new[] { true, true, true, true }, new[] { true, true, true }, null };
        net.Forward(Permutations.ApplySigns(w, all), points, 2, after);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void TheSignedLayerIsEquivariantUnderRandomSignedPermutations()
    {
        var space = Space(Symmetry.SignedHiddenNeuron);
        var kernel = new InterpretedKernel(space, 2, 3);
        var rng = new Rng(5);
        var weights = new float[kernel.Plan.WeightCount];
        var bias = new float[kernel.Plan.BiasCount];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)rng.Normal();
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)rng.Normal();
        var x = Random(space, 2, 2, 6);
        for (int trial = 0; trial < 5; trial++)
        {
            var perms = Permutations.Random(space, rng);
            var signs = Permutations.RandomSigns(space, rng);
            WeightSpaceBatch G(WeightSpaceBatch v) => Permutations.Apply(Permutations.ApplySigns(v, signs), perms);
            var y = new WeightSpaceBatch(space, 2, 3);
            kernel.Forward(weights, bias, x, y);
            var yg = new WeightSpaceBatch(space, 2, 3);
            kernel.Forward(weights, bias, G(x), yg);
            var gy = G(y);
            for (int t = 0; t < y.Tensors.Length; t++)
                for (int i = 0; i < gy.Tensors[t].Data.Length; i++)
                    Assert.True(Math.Abs(gy.Tensors[t].Data[i] - yg.Tensors[t].Data[i]) <= 1e-4f * (1 + Math.Abs(gy.Tensors[t].Data[i])),
                        $"{space.Tensors[t].Name}[{i}]: g·f(x) = {gy.Tensors[t].Data[i]}, f(g·x) = {yg.Tensors[t].Data[i]}");
        }
    }

    [Fact]
    public void ThePermutationOnlyLayerIsNotSignEquivariant()
    {
        // The same test with the hidden-neuron basis (pooling over hidden axes, biases everywhere) must fail: sign flips
        // are a larger group than permutations.
        var signedSpace = Space(Symmetry.SignedHiddenNeuron);
        var kernel = new InterpretedKernel(Space(Symmetry.HiddenNeuron), 1, 1);
        var rng = new Rng(7);
        var weights = new float[kernel.Plan.WeightCount];
        var bias = new float[kernel.Plan.BiasCount];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)rng.Normal();
        for (int i = 0; i < bias.Length; i++) bias[i] = (float)rng.Normal();
        var x = Random(kernel.Plan.Space, 1, 1, 8);
        var signs = Permutations.RandomSigns(signedSpace, rng);
        var y = new WeightSpaceBatch(kernel.Plan.Space, 1, 1);
        kernel.Forward(weights, bias, x, y);
        var yg = new WeightSpaceBatch(kernel.Plan.Space, 1, 1);
        kernel.Forward(weights, bias, Permutations.ApplySigns(x, signs), yg);
        var gy = Permutations.ApplySigns(y, signs);
        double maxDiff = gy.Tensors.Zip(yg.Tensors).Max(p => p.First.Data.Zip(p.Second.Data).Max(q => Math.Abs(q.First - q.Second)));
        Assert.True(maxDiff > 1e-2, $"max |g·f(x) − f(g·x)| = {maxDiff}");
    }
}
