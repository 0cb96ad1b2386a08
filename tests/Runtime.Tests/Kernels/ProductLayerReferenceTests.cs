using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>The reference product layer (issue 17 item 3): float64 finite differences, permutation equivariance, float32 agreement.</summary>
public class ProductLayerReferenceTests
{
    private static readonly NeuralGraph Graph = new(new[] { 2, 3, 4, 1 });

    private static (ProductLayerParameters<double> P, GraphFeatures<double> X) Random(NeuralGraph graph, int batch, int d, ulong seed)
    {
        var rng = new Rng(seed);
        var p = new ProductLayerParameters<double>(graph, d);
        p.Initialize(rng.Normal);
        foreach (var (name, v) in p.Named()) if (name.EndsWith(".bias", StringComparison.Ordinal)) for (int i = 0; i < v.Length; i++) v[i] = 0.3 * rng.Normal();
        var x = new GraphFeatures<double>(graph, batch, d);
        foreach (var a in x.All) for (int i = 0; i < a.Length; i++) a[i] = rng.Normal();
        return (p, x);
    }

    private static double Loss(GraphFeatures<double> y, GraphFeatures<double> r) => y.All.Zip(r.All).Sum(t => t.First.Zip(t.Second).Sum(q => q.First * q.Second));

    [Fact]
    public void GradientsMatchCentralDifferencesInFloat64()
    {
        const int d = 3;
        var (p, x) = Random(Graph, batch: 2, d, seed: 1);
        var r = new GraphFeatures<double>(Graph, 2, d);
        var rng = new Rng(2);
        foreach (var a in r.All) for (int i = 0; i < a.Length; i++) a[i] = rng.Normal();

        var gp = new ProductLayerParameters<double>(Graph, d);
        var gx = ProductLayerReference<double>.Backward(p, x, r, gp);

        double F() => Loss(ProductLayerReference<double>.Forward(p, x), r);
        void Check(double[] values, double[] analytic, string what)
        {
            for (int i = 0; i < values.Length; i++)
            {
                double keep = values[i];
                values[i] = keep + 1e-6; double plus = F();
                values[i] = keep - 1e-6; double minus = F();
                values[i] = keep;
                double numeric = (plus - minus) / 2e-6;
                Assert.True(Math.Abs(numeric - analytic[i]) <= 1e-6 + 1e-6 * Math.Abs(numeric), $"{what}[{i}]: analytic {analytic[i]:R}, numeric {numeric:R}");
            }
        }
        foreach (var ((name, values), (_, grads)) in p.Named().Zip(gp.Named())) Check(values, grads, name);
        for (int k = 0; k < x.Nodes.Length; k++) Check(x.Nodes[k], gx.Nodes[k], $"nodes[{k}]");
        for (int l = 0; l < x.Edges.Length; l++) Check(x.Edges[l], gx.Edges[l], $"edges[{l}]");
    }

    [Fact]
    public void TheLayerCommutesWithHiddenPermutations()
    {
        const int d = 2;
        var (p, x) = Random(Graph, batch: 1, d, seed: 3);
        var perms = new int[]?[] { null, new[] { 1, 2, 0 }, new[] { 3, 0, 1, 2 }, null };   // no fixed points
        GraphFeatures<double> Permute(GraphFeatures<double> f)
        {
            var o = new GraphFeatures<double>(Graph, 1, d);
            for (int k = 0; k < f.Nodes.Length; k++)
                for (int v = 0; v < Graph.Widths[k]; v++)
                    Array.Copy(f.Nodes[k], v * d, o.Nodes[k], (perms[k]?[v] ?? v) * d, d);
            for (int l = 1; l <= Graph.Depth; l++)
                for (int j = 0; j < Graph.Out(l); j++)
                    for (int i = 0; i < Graph.In(l); i++)
                        Array.Copy(f.Edges[l - 1], (j * Graph.In(l) + i) * d, o.Edges[l - 1], ((perms[l]?[j] ?? j) * Graph.In(l) + (perms[l - 1]?[i] ?? i)) * d, d);
            return o;
        }
        var gy = Permute(ProductLayerReference<double>.Forward(p, x));
        var yg = ProductLayerReference<double>.Forward(p, Permute(x));
        foreach (var (a, b) in gy.All.Zip(yg.All))
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-12, $"{i}: {a[i]} vs {b[i]}");
        // The layer shares its parameters within a layer, so it also commutes with permutations of the input and output
        // neurons: what tells fixed neurons apart is their features (the encoder gives them positional features).
        perms[0] = new[] { 1, 0 };
        var gy0 = Permute(ProductLayerReference<double>.Forward(p, x));
        var yg0 = ProductLayerReference<double>.Forward(p, Permute(x));
        foreach (var (a, b) in gy0.All.Zip(yg0.All))
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-12, $"{i}: {a[i]} vs {b[i]}");
        // A permutation applied to the edges but not to their neurons is not a symmetry.
        var broken = Permute(x);
        x.Nodes[1].CopyTo(broken.Nodes[1], 0);
        var yb = ProductLayerReference<double>.Forward(p, broken);
        Assert.Contains(gy0.Nodes[2].Zip(yb.Nodes[2]), q => Math.Abs(q.First - q.Second) > 1e-6);
    }

    [Fact]
    public void Float32AgreesWithFloat64()
    {
        const int d = 4;
        var (p, x) = Random(new NeuralGraph(new[] { 2, 8, 8, 1 }), batch: 2, d, seed: 5);
        var p32 = new ProductLayerParameters<float>(x.Graph, d);
        foreach (var ((_, a), (_, b)) in p.Named().Zip(p32.Named())) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        var x32 = new GraphFeatures<float>(x.Graph, 2, d);
        foreach (var (a, b) in x.All.Zip(x32.All)) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        var y = ProductLayerReference<double>.Forward(p, x);
        var y32 = ProductLayerReference<float>.Forward(p32, x32);
        foreach (var (a, b) in y.All.Zip(y32.All))
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * (1 + Math.Abs(a[i])), $"{i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void MismatchedShapesAreClearErrors()
    {
        var (p, _) = Random(Graph, 1, 2, 6);
        var other = new GraphFeatures<double>(Graph, 1, 3);
        Assert.Contains("features", Assert.Throws<ArgumentException>(() => ProductLayerReference<double>.Forward(p, other)).Message);
        Assert.Contains("convolutions", Assert.Throws<ArgumentException>(() => NeuralGraph.FromSpace(
            LayerCompiler.Algebra.WeightSpace.FromLayers(new[] { LayerCompiler.Algebra.LayerDeclaration.Conv2d(1, 2, 3, 3), LayerCompiler.Algebra.LayerDeclaration.Dense(2, 1) }, Symmetry.HiddenNeuron))).Message);
    }
}
