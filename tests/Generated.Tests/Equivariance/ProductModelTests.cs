using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>
/// Generated product models (<see cref="ProductMlpClassifier"/>, and <see cref="SignedProductClassifier"/> under hidden
/// permutations × sign flips): generated ≈ interpreted (last bits), the generated kernel against the float64 reference
/// (forward and every gradient), invariance, and training steps through the one trainer.
/// </summary>
public class ProductModelTests
{
    public static IEnumerable<object[]> Models() => new (string, Func<ulong, ProductNetwork>, Func<ProductModelConfig>, Func<Algebra.WeightSpace>)[]
    {
        ("MLP 3→4→2, hidden", s => new ProductMlpClassifier(s), () => ProductMlpClassifier.Configuration, ProductMlpClassifier.CreateWeightSpace),
        ("SIREN 2→5→5→1, signed, normalized, dropout", s => new SignedProductClassifier(s), () => SignedProductClassifier.Configuration, SignedProductClassifier.CreateWeightSpace),
    }.Select(t => new object[] { t.Item1, t.Item2, t.Item3, t.Item4 });

    private static WeightSpaceBatch Random(Algebra.WeightSpace space, int batch, ulong seed)
    {
        var x = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    /// <summary>The generated model (fused kernels, generated lift) and the interpreted one (the generic kernel, the run-time
    /// lift) have bitwise the same parameters and agree to the last bits (the fused kernels sum in another order).</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void GeneratedMatchesInterpreted(string name, Func<ulong, ProductNetwork> create, Func<ProductModelConfig> config, Func<Algebra.WeightSpace> space)
    {
        var generated = create(5);
        var interpreted = ProductNetwork.CreateInterpreted(config(), space(), seed: 5);
        Assert.All(generated.Kernels, k => Assert.True(k.IsGenerated && k.FusedFeatures == config().Features, name));
        Assert.All(interpreted.Kernels, k => Assert.False(k.IsGenerated));
        var a = generated.StateDict();
        foreach (var (key, value) in interpreted.StateDict()) Assert.Equal(value.Data, a[key].Data);

        var x = Random(space(), 6, 6);
        var r = new Tensor(6, config().Outputs);
        var rng = new Rng(7);
        for (int i = 0; i < r.Length; i++) r.Data[i] = (float)rng.Normal();
        foreach (var m in new[] { generated, interpreted }) { m.ZeroGrad(); }
        var ye = interpreted.Forward(x).Data;
        var ya = generated.Forward(x).Data;
        for (int i = 0; i < ye.Length; i++) Assert.True(Math.Abs(ya[i] - ye[i]) <= 1e-5f * (1 + Math.Abs(ye[i])), $"{name}: output {i}: {ya[i]} vs {ye[i]}");
        generated.BackwardParameters(r);
        interpreted.BackwardParameters(r);
        foreach (var ((key, p), (_, q)) in generated.NamedParameters().Zip(interpreted.NamedParameters()))
            for (int i = 0; i < p.Grad.Length; i++)
                Assert.True(Math.Abs(p.Grad.Data[i] - q.Grad.Data[i]) <= 1e-4f * (1 + Math.Abs(q.Grad.Data[i])), $"{name}: gradient of {key}[{i}]: {p.Grad.Data[i]} vs {q.Grad.Data[i]}");
    }

    [Fact]
    public void TheGeneratedKernelMatchesTheFloat64Reference()
    {
        var graph = NeuralGraph.FromSpace(ProductMlpClassifier.CreateWeightSpace());
        const int d = 3, batch = 3;
        var kernel = ProductMlpClassifier.CreateKernel(graph, d);
        Assert.True(kernel.IsGenerated);
        var rng = new Rng(8);
        var p = new ProductLayerParameters<double>(graph, d);
        p.Initialize(rng.Normal);
        foreach (var (_, v) in p.Named()) for (int i = 0; i < v.Length; i++) v[i] = (float)(v[i] + 0.1 * rng.Normal());
        GraphFeatures<double> Features(ulong seed)
        {
            var f = new GraphFeatures<double>(graph, batch, d);
            var g = new Rng(seed);
            foreach (var a in f.All) for (int i = 0; i < a.Length; i++) a[i] = (float)g.Normal();
            return f;
        }
        GraphFeatures<float> ToFloat(GraphFeatures<double> f)
        {
            var o = new GraphFeatures<float>(graph, batch, d);
            foreach (var (a, b) in f.All.Zip(o.All)) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];
            return o;
        }
        var x = Features(9);
        var gy = Features(10);
        var p32 = new ProductLayerParameters<float>(graph, d);
        foreach (var ((_, a), (_, b)) in p.Named().Zip(p32.Named())) for (int i = 0; i < a.Length; i++) b[i] = (float)a[i];

        var y = new GraphFeatures<float>(graph, batch, d);
        kernel.Forward(p32, ToFloat(x), y);
        foreach (var (a, e) in y.All.Zip(ProductLayerReference<double>.Forward(p, x).All)) GradCheck.AssertClose(a, e, 2e-5, 2e-5, "y");

        var gp = new ProductLayerParameters<double>(graph, d);
        var gx = ProductLayerReference<double>.Backward(p, x, gy, gp);
        var gp32 = new ProductLayerParameters<float>(graph, d);
        var gx32 = new GraphFeatures<float>(graph, batch, d);
        kernel.Backward(p32, ToFloat(x), ToFloat(gy), gx32, gp32);
        foreach (var (a, e) in gx32.All.Zip(gx.All)) GradCheck.AssertClose(a, e, 1e-4, 1e-4, "gx");
        foreach (var ((n, a), (_, e)) in gp32.Named().Zip(gp.Named())) GradCheck.AssertClose(a, e, 1e-4, 1e-4, n);

        Assert.Throws<ArgumentException>(() => ProductMlpClassifier.CreateKernel(new NeuralGraph(new[] { 3, 5, 2 }), d));
    }

    [Fact]
    public void TheMlpModelIsInvariantToHiddenPermutations()
    {
        var net = new ProductMlpClassifier(11);
        var space = ProductMlpClassifier.CreateWeightSpace();
        var x = Random(space, 4, 12);
        var y = net.Forward(x).Data.ToArray();
        var rng = new Rng(13);
        for (int trial = 0; trial < 3; trial++)
        {
            var yp = net.Forward(Permutations.Apply(x, Permutations.Random(space, rng))).Data;
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - yp[i]) <= 1e-5 * (1 + Math.Abs(y[i])), $"{i}: {y[i]} vs {yp[i]}");
        }
    }

    [Fact]
    public void TheSignedModelIsBitwiseInvariantToSignFlips()
    {
        var net = new SignedProductClassifier(14);
        net.Eval();
        var space = SignedProductClassifier.CreateWeightSpace();
        Assert.True(space.HasSigns);
        var x = Random(space, 3, 15);
        var y = net.Forward(x).Data.ToArray();
        var rng = new Rng(16);
        for (int trial = 0; trial < 4; trial++)
            Assert.Equal(y, net.Forward(Permutations.ApplySigns(x, Permutations.RandomSigns(space, rng))).Data);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void TrainsThroughTheTrainerDeterministically(string name, Func<ulong, ProductNetwork> create, Func<ProductModelConfig> config, Func<Algebra.WeightSpace> space)
    {
        var x = Random(space(), 10, 17);
        var labels = Enumerable.Range(0, 10).Select(i => i % config().Outputs).ToArray();
        (float[] Parameters, double Loss) Run()
        {
            var net = create(18);
            var before = net.Parameters().SelectMany(p => p.Data).ToArray();
            var options = new TrainerOptions { Epochs = 1, BatchSize = 5, LearningRate = 1e-2f, WarmupSteps = 1, Cosine = false, ClipGradNorm = 1f, Seed = 19 };
            var exec = new ModuleStepExecutor(net, net.Forward, net.BackwardParameters, options.CreateOptimizer(net), options.ClipGradNorm);
            var history = new Trainer(exec, options).Fit(new InMemoryWeightDataset(x, labels));
            var after = net.Parameters().SelectMany(p => p.Data).ToArray();
            Assert.NotEqual(before, after);
            return (after, history.Epochs[0].TrainLoss);
        }
        var a = Run();
        Assert.True(double.IsFinite(a.Loss), name);
        var b = Run();
        Assert.Equal(a.Parameters, b.Parameters);
    }
}
