using LayerCompiler.Runtime.Tests.Training;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Modules;

/// <summary>
/// ChannelLayerNorm (LayerNorm over each entry's channels): forward against a float64 definition, input and parameter
/// gradients against float64 central differences, equivariance under permutations of every neuron layer, determinism.
/// </summary>
public class ChannelLayerNormTests
{
    private static WeightSpaceBatch Random(int batch, int channels, ulong seed)
    {
        var space = ReferenceMlp.Space(2, 5, 4, 3);
        var x = new WeightSpaceBatch(space, batch, channels);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(0.5 + 2 * rng.Normal());
        return x;
    }

    private static ChannelLayerNorm Norm(int c, ulong seed)
    {
        var norm = new ChannelLayerNorm(c);
        var rng = new Rng(seed);
        for (int k = 0; k < c; k++) { norm.Weight.Data[k] = (float)(1 + 0.3 * rng.Normal()); norm.Bias.Data[k] = (float)(0.2 * rng.Normal()); }
        return norm;
    }

    /// <summary>float64 LayerNorm of every entry over its channels, with the module's parameters.</summary>
    private static double[][] Reference(double[][] x, int c, double[] w, double[] b)
    {
        return x.Select(t =>
        {
            var y = new double[t.Length];
            for (int r = 0; r < t.Length / c; r++)
            {
                double mean = 0; for (int k = 0; k < c; k++) mean += t[r * c + k]; mean /= c;
                double v = 0; for (int k = 0; k < c; k++) v += (t[r * c + k] - mean) * (t[r * c + k] - mean); v /= c;
                double inv = 1 / Math.Sqrt(v + LayerCompiler.Runtime.Kernels.LayerNormKernels.Epsilon);
                for (int k = 0; k < c; k++) y[r * c + k] = (t[r * c + k] - mean) * inv * w[k] + b[k];
            }
            return y;
        }).ToArray();
    }

    [Fact]
    public void ForwardMatchesTheFloat64Definition()
    {
        const int c = 5;
        var x = Random(3, c, 1);
        var norm = Norm(c, 2);
        var y = norm.Forward(x);
        var r = Reference(x.Tensors.Select(t => GradCheck.ToDouble(t.Data)).ToArray(), c, GradCheck.ToDouble(norm.Weight.Data), GradCheck.ToDouble(norm.Bias.Data));
        for (int t = 0; t < y.Tensors.Length; t++) GradCheck.AssertClose(y.Tensors[t].Data, r[t], 1e-5, 1e-5, $"y[{t}]");
        // Each entry's channels have mean b̄-free statistics: with w = 1, b = 0 every entry has mean 0 and variance ≈ 1.
        var plain = new ChannelLayerNorm(c).Forward(x);
        var e = plain.Tensors[0].Data.AsSpan(0, c).ToArray();
        Assert.True(Math.Abs(e.Average()) < 1e-6);
        Assert.True(Math.Abs(e.Select(v => (double)v * v).Average() - 1) < 1e-3);
    }

    [Fact]
    public void GradientsMatchFloat64CentralDifferences()
    {
        const int c = 4;
        var x = Random(2, c, 3);
        var norm = Norm(c, 4);
        var gyRng = new Rng(5);
        var gy = new WeightSpaceBatch(x.Space, x.Batch, c);
        foreach (var t in gy.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)gyRng.Normal();
        norm.ZeroGrad();
        norm.Forward(x);
        var gx = norm.Backward(gy);

        var x64 = x.Tensors.Select(t => GradCheck.ToDouble(t.Data)).ToArray();
        var w64 = GradCheck.ToDouble(norm.Weight.Data);
        var b64 = GradCheck.ToDouble(norm.Bias.Data);
        var g64 = gy.Tensors.Select(t => GradCheck.ToDouble(t.Data)).ToArray();
        double Loss() => Reference(x64, c, w64, b64).Zip(g64).Sum(p => p.First.Zip(p.Second).Sum(q => q.First * q.Second));
        for (int t = 0; t < x64.Length; t++)
            GradCheck.AssertClose(gx.Tensors[t].Data, GradCheck.Numeric(_ => Loss(), x64[t]), 1e-4, 1e-4, $"dx[{t}]");
        GradCheck.AssertClose(norm.Weight.Grad.Data, GradCheck.Numeric(_ => Loss(), w64), 1e-4, 1e-4, "dweight");
        GradCheck.AssertClose(norm.Bias.Grad.Data, GradCheck.Numeric(_ => Loss(), b64), 1e-4, 1e-4, "dbias");
    }

    [Fact]
    public void CommutesWithPermutationsOfEveryNeuronLayer()
    {
        const int c = 3;
        var x = Random(2, c, 6);
        var norm = Norm(c, 7);
        var rng = new Rng(8);
        // Every layer, inputs and outputs included: the map is per entry.
        var perms = x.Space.Layers.Select(l => (int[]?)rng.Permutation(l.Width)).ToArray();
        var yg = norm.Forward(Permutations.Apply(x, perms)).Clone();
        var gy = Permutations.Apply(norm.Forward(x), perms);
        for (int t = 0; t < yg.Tensors.Length; t++) Assert.Equal(gy.Tensors[t].Data, yg.Tensors[t].Data);
    }

    [Fact]
    public void GradientsAreBitwiseDeterministic()
    {
        const int c = 6;
        var x = Random(9, c, 9);
        float[] Run()
        {
            var norm = Norm(c, 10);
            var gy = norm.Forward(x).Clone();
            norm.Backward(gy);
            return norm.Weight.Grad.Data.Concat(norm.Bias.Grad.Data).ToArray();
        }
        Assert.Equal(Run(), Run());
    }
}
