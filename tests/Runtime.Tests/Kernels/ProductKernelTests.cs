using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>
/// The fused float32 product kernel against the float64 reference (<see cref="ProductLayerReference{T}"/>, itself checked
/// against central differences): forward, input gradient and every parameter gradient; central differences of the
/// float64 forward directly; equivariance; bitwise determinism.
/// </summary>
public class ProductKernelTests
{
    internal static (ProductLayerParameters<double> P, GraphFeatures<double> X) Random(NeuralGraph graph, int batch, int d, ulong seed)
    {
        var rng = new Rng(seed);
        var p = new ProductLayerParameters<double>(graph, d);
        p.Initialize(rng.Normal);
        foreach (var (name, v) in p.Named()) if (name.EndsWith(".bias", StringComparison.Ordinal)) for (int i = 0; i < v.Length; i++) v[i] = 0.3 * rng.Normal();
        var x = new GraphFeatures<double>(graph, batch, d);
        foreach (var a in x.All) for (int i = 0; i < a.Length; i++) a[i] = rng.Normal();
        // Round to float so that both precisions see the same numbers.
        foreach (var (_, v) in p.Named()) for (int i = 0; i < v.Length; i++) v[i] = (float)v[i];
        foreach (var a in x.All) for (int i = 0; i < a.Length; i++) a[i] = (float)a[i];
        return (p, x);
    }

    internal static ProductLayerParameters<float> ToFloat(ProductLayerParameters<double> p, NeuralGraph graph)
    {
        var q = new ProductLayerParameters<float>(graph, p.Features);
        foreach (var ((_, a), (_, b)) in p.Named().Zip(q.Named())) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        return q;
    }

    internal static GraphFeatures<float> ToFloat(GraphFeatures<double> x)
    {
        var y = new GraphFeatures<float>(x.Graph, x.Batch, x.Features);
        foreach (var (a, b) in x.All.Zip(y.All)) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        return y;
    }

    private static void Close(IEnumerable<float[]> actual, IEnumerable<double[]> expected, double tol, string what)
    {
        int k = 0;
        foreach (var (a, e) in actual.Zip(expected))
        {
            GradCheck.AssertClose(a, e, tol, tol, $"{what}[{k}]");
            k++;
        }
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4, 1 }, 3, 2)]
    [InlineData(new[] { 2, 8, 8, 1 }, 4, 6)]
    [InlineData(new[] { 3, 5, 2 }, 8, 5)]
    public void ForwardAndBackwardMatchTheFloat64Reference(int[] widths, int d, int batch)
    {
        var graph = new NeuralGraph(widths);
        var (p, x) = Random(graph, batch, d, seed: (ulong)(d * 10 + batch));
        var gy = Random(graph, batch, d, seed: 99).X;
        var kernel = new ProductKernel(graph, d);
        var p32 = ToFloat(p, graph);
        var x32 = ToFloat(x);
        var y32 = new GraphFeatures<float>(graph, batch, d);
        kernel.Forward(p32, x32, y32);
        Close(y32.All, ProductLayerReference<double>.Forward(p, x).All, 2e-5, "y");

        var gp = new ProductLayerParameters<double>(graph, d);
        var gx = ProductLayerReference<double>.Backward(p, x, gy, gp);
        var gp32 = new ProductLayerParameters<float>(graph, d);
        var gx32 = new GraphFeatures<float>(graph, batch, d);
        kernel.Backward(p32, x32, ToFloat(gy), gx32, gp32);
        Close(gx32.All, gx.All, 1e-4, "gx");
        foreach (var ((name, a), (_, e)) in gp32.Named().Zip(gp.Named())) GradCheck.AssertClose(a, e, 1e-4, 1e-4, name);
    }

    [Fact]
    public void ParameterGradientsMatchCentralDifferencesOfTheFloat64Forward()
    {
        var graph = new NeuralGraph(new[] { 2, 3, 2 });
        const int d = 2;
        var (p, x) = Random(graph, 2, d, seed: 7);
        var r = Random(graph, 2, d, seed: 8).X;
        var gp32 = new ProductLayerParameters<float>(graph, d);
        new ProductKernel(graph, d).Backward(ToFloat(p, graph), ToFloat(x), ToFloat(r), new GraphFeatures<float>(graph, 2, d), gp32);
        double Loss() => ProductLayerReference<double>.Forward(p, x).All.Zip(r.All).Sum(t => t.First.Zip(t.Second).Sum(q => q.First * q.Second));
        foreach (var ((name, values), (_, grads)) in p.Named().Zip(gp32.Named()))
            GradCheck.AssertClose(grads, GradCheck.Numeric(_ => Loss(), values), 1e-4, 1e-4, name);
    }

    [Fact]
    public void CommutesWithPermutationsOfEveryNeuronLayer()
    {
        var graph = new NeuralGraph(new[] { 2, 3, 4, 1 });
        const int d = 3;
        var (p, x) = Random(graph, 1, d, seed: 11);
        var perms = new[] { new[] { 1, 0 }, new[] { 1, 2, 0 }, new[] { 3, 0, 1, 2 }, new[] { 0 } };
        GraphFeatures<float> Permute(GraphFeatures<float> f)
        {
            var o = new GraphFeatures<float>(graph, 1, d);
            for (int k = 0; k < f.Nodes.Length; k++)
                for (int v = 0; v < graph.Widths[k]; v++) Array.Copy(f.Nodes[k], v * d, o.Nodes[k], perms[k][v] * d, d);
            for (int l = 1; l <= graph.Depth; l++)
                for (int j = 0; j < graph.Out(l); j++)
                    for (int i = 0; i < graph.In(l); i++)
                        Array.Copy(f.Edges[l - 1], (j * graph.In(l) + i) * d, o.Edges[l - 1], (perms[l][j] * graph.In(l) + perms[l - 1][i]) * d, d);
            return o;
        }
        var kernel = new ProductKernel(graph, d);
        var p32 = ToFloat(p, graph);
        var x32 = ToFloat(x);
        var y = new GraphFeatures<float>(graph, 1, d);
        kernel.Forward(p32, x32, y);
        var yg = new GraphFeatures<float>(graph, 1, d);
        kernel.Forward(p32, Permute(x32), yg);
        foreach (var (a, b) in Permute(y).All.Zip(yg.All))
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * (1 + Math.Abs(a[i])), $"{i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void BackwardIsBitwiseDeterministic()
    {
        var graph = new NeuralGraph(new[] { 2, 6, 6, 1 });
        const int d = 4;
        var (p, x) = Random(graph, 11, d, seed: 13);
        float[] Run()
        {
            var g = new ProductLayerParameters<float>(graph, d);
            var gx = new GraphFeatures<float>(graph, 11, d);
            new ProductKernel(graph, d).Backward(ToFloat(p, graph), ToFloat(x), ToFloat(x), gx, g);
            return g.Named().SelectMany(t => t.Values).Concat(gx.All.SelectMany(a => a)).ToArray();
        }
        Assert.Equal(Run(), Run());
    }
}
