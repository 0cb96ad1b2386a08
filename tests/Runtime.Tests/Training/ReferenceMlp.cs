using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Runtime.Tests.Training;

/// <summary>Test helpers: a float64 reference evaluation of raw input networks and small random batches.</summary>
internal static class ReferenceMlp
{
    /// <summary>Evaluates network <paramref name="n"/> of a raw (1-channel) batch as a ReLU MLP with (out, in) weights, in float64.</summary>
    public static double[] Run(WeightSpaceBatch w, int n, double[] input)
    {
        var space = w.Space;
        var h = input;
        int t = 0;
        for (int m = 0; m < space.Depth; m++)
        {
            var d = space.Declarations[m];
            var weight = w.Tensors[t++];
            var y = new double[d.Out];
            for (int o = 0; o < d.Out; o++)
                for (int i = 0; i < d.In; i++) y[o] += (double)weight.Data[(n * d.Out + o) * d.In + i] * h[i];
            if (d.Bias) { var b = w.Tensors[t++]; for (int o = 0; o < d.Out; o++) y[o] += b.Data[n * d.Out + o]; }
            if (m < space.Depth - 1) for (int o = 0; o < d.Out; o++) y[o] = Math.Max(0, y[o]);
            h = y;
        }
        return h;
    }

    public static WS Space(params int[] widths) =>
        WS.FromLayers(Enumerable.Range(0, widths.Length - 1).Select(i => LayerDeclaration.Dense(widths[i], widths[i + 1])).ToArray(), Symmetry.HiddenNeuron);

    public static WeightSpaceBatch Random(WS space, int batch, ulong seed, double scale = 1)
    {
        var b = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in b.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(scale * rng.Normal());
        return b;
    }

    public static void AssertBitwiseEqual(WeightSpaceBatch a, WeightSpaceBatch b)
    {
        Assert.Equal(a.Batch, b.Batch);
        for (int t = 0; t < a.Tensors.Length; t++)
        {
            Assert.Equal(a.Tensors[t].Shape, b.Tensors[t].Shape);
            Assert.Equal(a.Tensors[t].Data, b.Tensors[t].Data);
        }
    }
}
