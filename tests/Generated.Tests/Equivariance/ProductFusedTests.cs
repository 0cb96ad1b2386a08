using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>
/// The fused product kernels the generator prints per architecture (ProductKernelEmitter) and the generated sign-invariant
/// lift (ProductLiftEmitter): the kernels against the float64 reference (<see cref="ProductLayerReference{T}"/>: forward,
/// input gradient, every parameter gradient) and against float64 central differences of that reference, bitwise
/// determinism and independence of batch neighbours; the lift bitwise against the run-time <see cref="SignInvariantLift"/>,
/// bitwise invariant to sign flips, bitwise equivariant to permutations, and informative.
/// </summary>
public class ProductFusedTests
{
    public static IEnumerable<object[]> Kernels() => new (string, Func<NeuralGraph, int, ProductKernel>, Func<Algebra.WeightSpace>, int)[]
    {
        ("MLP 3→4→2, D = 4 (scalar)", ProductMlpClassifier.CreateKernel, ProductMlpClassifier.CreateWeightSpace, ProductMlpClassifier.Configuration.Features),
        ("SIREN 2→5→5→1, D = 4", SignedProductClassifier.CreateKernel, SignedProductClassifier.CreateWeightSpace, SignedProductClassifier.Configuration.Features),
        ("tanh 3→6→4→2, D = 11 (8 lanes + tail)", SignedTanhProduct.CreateKernel, SignedTanhProduct.CreateWeightSpace, SignedTanhProduct.Configuration.Features),
        ("SIREN 2→5→5→1, D = 40 (32 + 8 lanes)", WideProduct.CreateKernel, WideProduct.CreateWeightSpace, WideProduct.Configuration.Features),
    }.Select(t => new object[] { t.Item1, t.Item2, t.Item3, t.Item4 });

    private static ProductLayerParameters<double> Parameters(NeuralGraph graph, int d, ulong seed)
    {
        var rng = new Rng(seed);
        var p = new ProductLayerParameters<double>(graph, d);
        p.Initialize(rng.Normal);
        foreach (var (_, v) in p.Named()) for (int i = 0; i < v.Length; i++) v[i] = (float)(v[i] + 0.1 * rng.Normal());
        return p;
    }

    private static GraphFeatures<double> Features(NeuralGraph graph, int batch, int d, ulong seed)
    {
        var f = new GraphFeatures<double>(graph, batch, d);
        var g = new Rng(seed);
        foreach (var a in f.All) for (int i = 0; i < a.Length; i++) a[i] = (float)g.Normal();
        return f;
    }

    private static GraphFeatures<float> ToFloat(GraphFeatures<double> f)
    {
        var o = new GraphFeatures<float>(f.Graph, f.Batch, f.Features);
        foreach (var (a, b) in f.All.Zip(o.All)) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        return o;
    }

    private static ProductLayerParameters<float> ToFloat(ProductLayerParameters<double> p, NeuralGraph graph, int d)
    {
        var o = new ProductLayerParameters<float>(graph, d);
        foreach (var ((_, a), (_, b)) in p.Named().Zip(o.Named())) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
        return o;
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void TheFusedKernelMatchesTheFloat64Reference(string name, Func<NeuralGraph, int, ProductKernel> create, Func<Algebra.WeightSpace> space, int d)
    {
        var graph = NeuralGraph.FromSpace(space());
        const int batch = 3;
        var kernel = create(graph, d);
        Assert.Equal(d, kernel.FusedFeatures);
        Assert.Equal(0, create(graph, d + 1).FusedFeatures);
        var p = Parameters(graph, d, 1);
        var x = Features(graph, batch, d, 2);
        var gy = Features(graph, batch, d, 3);
        var p32 = ToFloat(p, graph, d);

        var y = new GraphFeatures<float>(graph, batch, d);
        kernel.Forward(p32, ToFloat(x), y);
        foreach (var (a, e) in y.All.Zip(ProductLayerReference<double>.Forward(p, x).All)) GradCheck.AssertClose(a, e, 2e-5, 2e-5, name + ": y");

        var gp = new ProductLayerParameters<double>(graph, d);
        var gx = ProductLayerReference<double>.Backward(p, x, gy, gp);
        var gp32 = new ProductLayerParameters<float>(graph, d);
        var gx32 = new GraphFeatures<float>(graph, batch, d);
        kernel.Backward(p32, ToFloat(x), ToFloat(gy), gx32, gp32);
        foreach (var (a, e) in gx32.All.Zip(gx.All)) GradCheck.AssertClose(a, e, 1e-4, 1e-4, name + ": gx");
        foreach (var ((n, a), (_, e)) in gp32.Named().Zip(gp.Named())) GradCheck.AssertClose(a, e, 1e-4, 1e-4, name + ": " + n);
    }

    /// <summary>⟨gy, layer(x)⟩'s directional derivatives by float64 central differences of the reference, against the fused
    /// kernel's input and parameter gradients (float32) along the same random directions.</summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void TheFusedGradientsMatchFloat64FiniteDifferences(string name, Func<NeuralGraph, int, ProductKernel> create, Func<Algebra.WeightSpace> space, int d)
    {
        var graph = NeuralGraph.FromSpace(space());
        const int batch = 2;
        var kernel = create(graph, d);
        var p = Parameters(graph, d, 4);
        var x = Features(graph, batch, d, 5);
        var gy = Features(graph, batch, d, 6);
        var dirX = Features(graph, batch, d, 7);
        var dirP = Parameters(graph, d, 8);
        double Objective(ProductLayerParameters<double> q, GraphFeatures<double> z) =>
            ProductLayerReference<double>.Forward(q, z).All.Zip(gy.All).Sum(t => t.First.Zip(t.Second).Sum(u => u.First * u.Second));
        const double h = 1e-5;
        GraphFeatures<double> ShiftX(double s) { var z = x.Clone(); foreach (var (a, v) in z.All.Zip(dirX.All)) for (int i = 0; i < a.Length; i++) a[i] += s * v[i]; return z; }
        ProductLayerParameters<double> ShiftP(double s)
        {
            var q = new ProductLayerParameters<double>(graph, d);
            foreach (var (((_, a), (_, b)), (_, v)) in q.Named().Zip(p.Named()).Zip(dirP.Named())) for (int i = 0; i < a.Length; i++) a[i] = b[i] + s * v[i];
            return q;
        }
        double fdX = (Objective(p, ShiftX(h)) - Objective(p, ShiftX(-h))) / (2 * h);
        double fdP = (Objective(ShiftP(h), x) - Objective(ShiftP(-h), x)) / (2 * h);

        var gp32 = new ProductLayerParameters<float>(graph, d);
        var gx32 = new GraphFeatures<float>(graph, batch, d);
        kernel.Backward(ToFloat(p, graph, d), ToFloat(x), ToFloat(gy), gx32, gp32);
        double dX = gx32.All.Zip(dirX.All).Sum(t => t.First.Zip(t.Second).Sum(u => (double)u.First * u.Second));
        double dP = gp32.Named().Zip(dirP.Named()).Sum(t => t.First.Values.Zip(t.Second.Values).Sum(u => (double)u.First * u.Second));
        Assert.True(Math.Abs(dX - fdX) <= 1e-4 * (1 + Math.Abs(fdX)), $"{name}: input gradient {dX} vs finite differences {fdX}");
        Assert.True(Math.Abs(dP - fdP) <= 1e-4 * (1 + Math.Abs(fdP)), $"{name}: parameter gradient {dP} vs finite differences {fdP}");
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void TheFusedKernelIsBitwiseDeterministicAndIndependentOfBatchNeighbours(string name, Func<NeuralGraph, int, ProductKernel> create, Func<Algebra.WeightSpace> space, int d)
    {
        var graph = NeuralGraph.FromSpace(space());
        const int batch = 9;
        var kernel = create(graph, d);
        var p = ToFloat(Parameters(graph, d, 9), graph, d);
        var x = ToFloat(Features(graph, batch, d, 10));
        var gy = ToFloat(Features(graph, batch, d, 11));
        (GraphFeatures<float> Y, GraphFeatures<float> GX, ProductLayerParameters<float> GP) Run(GraphFeatures<float> input, GraphFeatures<float> gout)
        {
            var y = new GraphFeatures<float>(graph, input.Batch, d);
            kernel.Forward(p, input, y);
            var gx = new GraphFeatures<float>(graph, input.Batch, d);
            var gp = new ProductLayerParameters<float>(graph, d);
            kernel.Backward(p, input, gout, gx, gp);
            return (y, gx, gp);
        }
        var a = Run(x, gy);
        var b = Run(x, gy);
        foreach (var (u, v) in a.Y.All.Zip(b.Y.All)) Assert.Equal(u, v);
        foreach (var (u, v) in a.GX.All.Zip(b.GX.All)) Assert.Equal(u, v);
        foreach (var ((n, u), (_, v)) in a.GP.Named().Zip(b.GP.Named())) Assert.True(u.AsSpan().SequenceEqual(v), $"{name}: {n} differs between two runs");

        // Network 4 alone gives bitwise its rows of the batch's output and input gradient.
        GraphFeatures<float> One(GraphFeatures<float> f)
        {
            var o = new GraphFeatures<float>(graph, 1, d);
            foreach (var (src, dst) in f.All.Zip(o.All)) src.AsSpan(4 * dst.Length, dst.Length).CopyTo(dst);
            return o;
        }
        var single = Run(One(x), One(gy));
        foreach (var (u, v) in single.Y.All.Zip(a.Y.All)) Assert.True(u.AsSpan().SequenceEqual(v.AsSpan(4 * u.Length, u.Length)), name);
        foreach (var (u, v) in single.GX.All.Zip(a.GX.All)) Assert.True(u.AsSpan().SequenceEqual(v.AsSpan(4 * u.Length, u.Length)), name);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void TheFusedKernelIsPermutationEquivariant(string name, Func<NeuralGraph, int, ProductKernel> create, Func<Algebra.WeightSpace> space, int d)
    {
        var graph = NeuralGraph.FromSpace(space());
        const int batch = 2;
        var kernel = create(graph, d);
        var p = ToFloat(Parameters(graph, d, 12), graph, d);
        var x = ToFloat(Features(graph, batch, d, 13));
        var rng = new Rng(14);
        int m = graph.Depth;
        // A random permutation of every hidden neuron layer, applied to nodes and to both ends of the edges.
        var perm = new int[m + 1][];
        for (int k = 0; k <= m; k++)
        {
            perm[k] = Enumerable.Range(0, graph.Widths[k]).ToArray();
            if (k > 0 && k < m) for (int i = perm[k].Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (perm[k][i], perm[k][j]) = (perm[k][j], perm[k][i]); }
        }
        GraphFeatures<float> Permute(GraphFeatures<float> f)
        {
            var o = new GraphFeatures<float>(graph, f.Batch, d);
            for (int n = 0; n < f.Batch; n++)
            {
                for (int k = 0; k <= m; k++)
                    for (int v = 0; v < graph.Widths[k]; v++)
                        f.Nodes[k].AsSpan(((n * graph.Widths[k]) + v) * d, d).CopyTo(o.Nodes[k].AsSpan(((n * graph.Widths[k]) + perm[k][v]) * d, d));
                for (int l = 1; l <= m; l++)
                    for (int j = 0; j < graph.Out(l); j++)
                        for (int i = 0; i < graph.In(l); i++)
                            f.Edges[l - 1].AsSpan(((n * graph.Out(l) + j) * graph.In(l) + i) * d, d)
                                .CopyTo(o.Edges[l - 1].AsSpan(((n * graph.Out(l) + perm[l][j]) * graph.In(l) + perm[l - 1][i]) * d, d));
            }
            return o;
        }
        var y = new GraphFeatures<float>(graph, batch, d);
        kernel.Forward(p, x, y);
        var yp = new GraphFeatures<float>(graph, batch, d);
        kernel.Forward(p, Permute(x), yp);
        foreach (var (u, v) in Permute(y).All.Zip(yp.All))
            for (int i = 0; i < u.Length; i++) Assert.True(Math.Abs(u[i] - v[i]) <= 1e-5f * (1 + Math.Abs(u[i])), $"{name}: {u[i]} vs {v[i]}");
    }

    public static IEnumerable<object[]> Lifts() => new (string, Func<WeightSpaceBatch, WeightSpaceBatch>, Func<Algebra.WeightSpace>, int)[]
    {
        ("SIREN 2→5→5→1", SignedProductClassifier.LiftWeights, SignedProductClassifier.CreateWeightSpace, SignedProductClassifier.LiftChannels),
        ("tanh 3→6→4→2 (a hidden layer without bias)", SignedTanhProduct.LiftWeights, SignedTanhProduct.CreateWeightSpace, SignedTanhProduct.LiftChannels),
    }.Select(t => new object[] { t.Item1, t.Item2, t.Item3, t.Item4 });

    private static WeightSpaceBatch RandomWeights(Algebra.WeightSpace space, int batch, ulong seed)
    {
        var x = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    private static void AssertBitwise(WeightSpaceBatch a, WeightSpaceBatch b, string what)
    {
        Assert.Equal(a.Channels, b.Channels);
        for (int t = 0; t < a.Tensors.Length; t++) Assert.True(a.Tensors[t].Data.AsSpan().SequenceEqual(b.Tensors[t].Data), $"{what}: tensor {t} differs");
    }

    [Theory]
    [MemberData(nameof(Lifts))]
    public void TheGeneratedLiftIsBitwiseTheRunTimeLift(string name, Func<WeightSpaceBatch, WeightSpaceBatch> lift, Func<Algebra.WeightSpace> space, int channels)
    {
        var runtime = new SignInvariantLift(space());
        Assert.Equal(runtime.Channels, channels);
        var x = RandomWeights(space(), 5, 20);
        AssertBitwise(runtime.Forward(x), lift(x), name);
        Assert.Throws<ArgumentException>(() => lift(new WeightSpaceBatch(space(), 2, 2)));
    }

    [Theory]
    [MemberData(nameof(Lifts))]
    public void TheGeneratedLiftIsBitwiseSignInvariantAndPermutationEquivariant(string name, Func<WeightSpaceBatch, WeightSpaceBatch> lift, Func<Algebra.WeightSpace> space, int channels)
    {
        var s = space();
        var x = RandomWeights(s, 4, 21);
        var y = lift(x);
        Assert.Equal(channels, y.Channels);
        var rng = new Rng(22);
        for (int trial = 0; trial < 4; trial++)
        {
            AssertBitwise(y, lift(Permutations.ApplySigns(x, Permutations.RandomSigns(s, rng))), name + ": sign flips");
            var perm = Permutations.Random(s, rng);
            AssertBitwise(Permutations.Apply(y, perm), lift(Permutations.Apply(x, perm)), name + ": permutation");
        }
    }

    /// <summary>Networks not related by the group get different lifts: a group-invariant summary of the lift (the sorted
    /// multiset of each tensor's lifted values) tells a network from a copy with one weight changed, and from another network.</summary>
    [Theory]
    [MemberData(nameof(Lifts))]
    public void TheGeneratedLiftSeparatesNetworksNotRelatedByTheGroup(string name, Func<WeightSpaceBatch, WeightSpaceBatch> lift, Func<Algebra.WeightSpace> space, int channels)
    {
        var s = space();
        var x = RandomWeights(s, 1, 23);
        float[][] Summary(WeightSpaceBatch w) => lift(w).Tensors.Select(t => t.Data.OrderBy(v => v).ToArray()).ToArray();
        bool Same(float[][] a, float[][] b) => a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        var reference = Summary(x);
        var rng = new Rng(24);
        Assert.True(Same(reference, Summary(Permutations.Apply(Permutations.ApplySigns(x, Permutations.RandomSigns(s, rng)), Permutations.Random(s, rng)))), name + ": the summary is invariant");
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            var changed = new WeightSpaceBatch(s, 1, 1);
            for (int u = 0; u < x.Tensors.Length; u++) x.Tensors[u].Data.CopyTo(changed.Tensors[u].Data, 0);
            changed.Tensors[t].Data[0] *= 1.5f;
            Assert.False(Same(reference, Summary(changed)), $"{name}: changing entry 0 of tensor {t} left the lift's summary unchanged");
        }
        Assert.False(Same(reference, Summary(RandomWeights(s, 1, 25))), name + ": another network");
        Assert.Equal(channels, lift(x).Channels);
    }

    [Fact]
    public void SignedModelsUseTheGeneratedLift()
    {
        var generated = new SignedTanhProduct(3);
        var interpreted = ProductNetwork.CreateInterpreted(SignedTanhProduct.Configuration, SignedTanhProduct.CreateWeightSpace(), seed: 3);
        var x = RandomWeights(SignedTanhProduct.CreateWeightSpace(), 4, 26);
        var a = generated.Forward(x).Data;
        var b = interpreted.Forward(x).Data;
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5f * (1 + Math.Abs(b[i])), $"{a[i]} vs {b[i]}");
        var rng = new Rng(27);
        var s = SignedTanhProduct.CreateWeightSpace();
        Assert.Equal(a, generated.Forward(Permutations.ApplySigns(x, Permutations.RandomSigns(s, rng))).Data);
    }
}
