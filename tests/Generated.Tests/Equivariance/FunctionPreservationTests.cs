using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>Permuting an MLP's hidden neurons leaves its function unchanged: catches a wrong weight layout.</summary>
public class FunctionPreservationTests
{
    /// <summary>Evaluates network n of a raw (1-channel) batch as a ReLU MLP with (out, in) weights.</summary>
    private static double[] RunMlp(WeightSpaceBatch w, int n, double[] input)
    {
        var space = w.Space;
        var h = input;
        int t = 0;
        for (int m = 0; m < space.Depth; m++)
        {
            var d = space.Declarations[m];
            var W = w.Tensors[t++];
            var outv = new double[d.Out];
            for (int o = 0; o < d.Out; o++)
                for (int i = 0; i < d.In; i++) outv[o] += W.Data[(n * d.Out + o) * d.In + i] * h[i];
            if (d.Bias) { var b = w.Tensors[t++]; for (int o = 0; o < d.Out; o++) outv[o] += b.Data[n * d.Out + o]; }
            if (m < space.Depth - 1) for (int o = 0; o < d.Out; o++) outv[o] = Math.Max(0, outv[o]);
            h = outv;
        }
        return h;
    }

    [Fact]
    public void PermutingHiddenNeuronsPreservesTheFunction()
    {
        foreach (var space in new[] { Mlp5.CreateWeightSpace(Symmetry.HiddenNeuron), Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron) })
        {
            var w = TestUtil.Random(space, 3, 1, 77);
            var rng = new Rng(78);
            var g = Permutations.Random(space, rng);
            var wg = Permutations.Apply(w, g);
            for (int n = 0; n < 3; n++)
                for (int k = 0; k < 5; k++)
                {
                    var input = Enumerable.Range(0, space.Layers[0].Width).Select(_ => rng.Normal()).ToArray();
                    var y = RunMlp(w, n, input); var yg = RunMlp(wg, n, input);
                    for (int i = 0; i < y.Length; i++) Assert.Equal(y[i], yg[i], 1e-9);
                }
            // And the permutation did change the weights (the test is not vacuous).
            Assert.True(TestUtil.RelativeError(wg, w) > 1e-2);
        }
    }

    [Fact]
    public void PermutingInputNeuronsChangesTheFunction()
    {
        // Input neurons are fixed under the hidden-neuron symmetry for a reason.
        var space = Mlp2x3x3x2.CreateWeightSpace(Symmetry.AllNeuron);
        var w = TestUtil.Random(space, 1, 1, 5);
        var perms = new int[]?[space.Layers.Count];
        perms[0] = new[] { 1, 0 };
        var wg = Permutations.Apply(w, perms);
        var input = new[] { 0.3, -1.2 };
        Assert.NotEqual(RunMlp(w, 0, input)[0], RunMlp(wg, 0, input)[0], 6);
    }
}
