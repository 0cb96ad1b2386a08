using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Tests.Modules;

/// <summary>
/// The product model (encoder, product layers, LayerNorm, dropout, invariant pooling, head): invariance to hidden
/// permutations (and to sign flips after the lift, bitwise), sensitivity to uncoupled permutations, parameter gradients
/// against central differences, determinism, and steps through the one trainer.
/// </summary>
public class ProductNetworkTests
{
    private static WeightSpace Space(Symmetry symmetry, params int[] widths) =>
        WeightSpace.FromLayers(Enumerable.Range(0, widths.Length - 1).Select(i => LayerDeclaration.Dense(widths[i], widths[i + 1])).ToArray(), symmetry);

    private static WeightSpaceBatch Random(WeightSpace space, int batch, ulong seed)
    {
        var x = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)rng.Normal();
        return x;
    }

    private static void Near(float[] a, float[] b, double tol)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= tol * (1 + Math.Abs(a[i])), $"{i}: {a[i]} vs {b[i]}");
    }

    [Theory]
    [InlineData(false, 0f)]
    [InlineData(true, 0f)]
    [InlineData(true, 0.2f)]
    public void OutputsAreInvariantToHiddenPermutations(bool normalize, float dropout)
    {
        var space = Space(Symmetry.HiddenNeuron, 2, 5, 4, 3);
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 4, 2, 3, HeadHidden: 6, Normalize: normalize, Dropout: dropout), space, seed: 1);
        net.Eval();   // dropout off: a mask is not permuted with its input
        var x = Random(space, 3, 2);
        var y = net.Forward(x).Data.ToArray();
        var rng = new Rng(3);
        for (int trial = 0; trial < 3; trial++)
            Near(y, net.Forward(Permutations.Apply(x, Permutations.Random(space, rng))).Data, 1e-5);
        // Rows of W2 permuted without the columns of W3: not a symmetry, and the model sees it.
        var broken = Permutations.ApplyPerAxis(x, (t, axis) => t == 2 && axis == 0 ? new[] { 1, 2, 3, 0 } : null);
        var yb = net.Forward(broken).Data;
        Assert.Contains(y.Zip(yb), q => Math.Abs(q.First - q.Second) > 1e-4);
    }

    [Fact]
    public void SignedModelIsBitwiseInvariantToSignFlips()
    {
        var space = Space(Symmetry.SignedHiddenNeuron, 2, 5, 5, 1);
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.SignedHiddenNeuron, 4, 2, 2), space, seed: 4);
        Assert.NotNull(net.Lift);
        var x = Random(space, 2, 5);
        var y = net.Forward(x).Data.ToArray();
        var rng = new Rng(6);
        for (int trial = 0; trial < 4; trial++)
        {
            var flipped = Permutations.ApplySigns(x, Permutations.RandomSigns(space, rng));
            Assert.Equal(y, net.Forward(flipped).Data);
            Near(y, net.Forward(Permutations.Apply(flipped, Permutations.Random(space, rng))).Data, 1e-5);
        }
        // Negating one weight alone is not a symmetry.
        var one = x.Clone();
        one.Tensors[2].Data[3] = -one.Tensors[2].Data[3];
        Assert.NotEqual(y, net.Forward(one).Data);
    }

    [Theory]
    [InlineData(Symmetry.HiddenNeuron, false, 3)]
    [InlineData(Symmetry.AllNeuron, true, 3)]
    [InlineData(Symmetry.SignedHiddenNeuron, true, 3)]
    [InlineData(Symmetry.SignedHiddenNeuron, true, 10)] // LayerNorm's 8-wide vector path and its scalar tail
    public void ParameterGradientsMatchCentralDifferences(Symmetry symmetry, bool normalize, int features)
    {
        var space = Space(symmetry, 2, 3, 3, 1);
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(symmetry, features, 2, 2, HeadHidden: 4, Normalize: normalize), space, seed: 7);
        var x = Random(space, 2, 8);
        var r = GradCheck.RandomTensor(new Rng(9), 1f, 2, 2);
        double Loss() { var y = net.Forward(x); double s = 0; for (int i = 0; i < y.Length; i++) s += (double)y.Data[i] * r.Data[i]; return s; }
        net.ZeroGrad();
        net.Forward(x);
        net.BackwardParameters(r);
        var rng = new Rng(10);
        foreach (var (name, p) in net.NamedParameters())
        {
            // Three entries of every parameter, in float32 with h = 2e-3 (1e-2 is too coarse for LayerNorm over 3 features; the model is float32; components are checked in float64 elsewhere).
            for (int trial = 0; trial < 3; trial++)
            {
                int i = rng.NextInt(p.Length);
                float keep = p.Data[i];
                const float h = 2e-3f;
                p.Data[i] = keep + h; double plus = Loss();
                p.Data[i] = keep - h; double minus = Loss();
                p.Data[i] = keep;
                double numeric = (plus - minus) / (2 * (double)h);
                Assert.True(Math.Abs(numeric - p.Grad.Data[i]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{name}[{i}]: analytic {p.Grad.Data[i]}, numeric {numeric}");
            }
        }
    }

    /// <summary>A layer without bias: its nodes start from a learned constant; gradients and invariance still hold.</summary>
    [Fact]
    public void ALayerWithoutBias()
    {
        var space = WeightSpace.FromLayers(new[] { LayerDeclaration.Dense(2, 3, false), LayerDeclaration.Dense(3, 2) }, Symmetry.HiddenNeuron);
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 3, 1, 2), space, seed: 21);
        Assert.DoesNotContain(net.NamedParameters(), p => p.Name == "encoder.nodes.1.weight");
        var x = Random(space, 2, 22);
        var y = net.Forward(x).Data.ToArray();
        Near(y, net.Forward(Permutations.Apply(x, Permutations.Random(space, new Rng(23)))).Data, 1e-5);
        var r = GradCheck.RandomTensor(new Rng(24), 1f, 2, 2);
        net.ZeroGrad();
        net.Forward(x);
        net.BackwardParameters(r);
        var bias = net.NamedParameters().Single(p => p.Name == "encoder.nodes.1.bias").Parameter;
        double Loss() { var o = net.Forward(x); double s = 0; for (int i = 0; i < o.Length; i++) s += (double)o.Data[i] * r.Data[i]; return s; }
        for (int i = 0; i < bias.Length; i++)
        {
            float keep = bias.Data[i];
            bias.Data[i] = keep + 2e-3f; double plus = Loss();
            bias.Data[i] = keep - 2e-3f; double minus = Loss();
            bias.Data[i] = keep;
            double numeric = (plus - minus) / (2 * (double)2e-3f);
            Assert.True(Math.Abs(numeric - bias.Grad.Data[i]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"[{i}]: analytic {bias.Grad.Data[i]}, numeric {numeric}");
        }
    }

    [Fact]
    public void SameSeedSameTrainingStepsBitwiseWithDropout()
    {
        var space = Space(Symmetry.HiddenNeuron, 2, 4, 4, 1);
        var x = Random(space, 12, 11);
        var labels = Enumerable.Range(0, 12).Select(i => i % 2).ToArray();
        float[] Run()
        {
            var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 4, 2, 2, Normalize: true, Dropout: 0.1f), space, seed: 12);
            var options = new TrainerOptions { Epochs = 2, BatchSize = 4, LearningRate = 1e-2f, WarmupSteps = 2, Cosine = false, ClipGradNorm = 1f, Seed = 3 };
            var exec = new ModuleStepExecutor(net, net.Forward, net.BackwardParameters, options.CreateOptimizer(net), options.ClipGradNorm);
            new Trainer(exec, options).Fit(new InMemoryWeightDataset(x, labels));
            return net.Parameters().SelectMany(p => p.Data).ToArray();
        }
        var a = Run();
        Assert.Equal(a, Run());
    }

    [Fact]
    public void TrainingLowersTheLoss()
    {
        var space = Space(Symmetry.HiddenNeuron, 2, 4, 1);
        // Two classes told apart by the sign of W2's mean: an invariant the model can learn.
        var x = Random(space, 32, 13);
        var labels = new int[32];
        for (int n = 0; n < 32; n++) labels[n] = x.Tensors[2].Data.AsSpan(n * 4, 4).ToArray().Sum() > 0 ? 1 : 0;
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 4, 1, 2), space, seed: 14);
        var options = new TrainerOptions { Epochs = 15, BatchSize = 8, LearningRate = 1e-2f, WeightDecay = 0, Seed = 5 };
        var exec = new ModuleStepExecutor(net, net.Forward, net.BackwardParameters, options.CreateOptimizer(net));
        var history = new Trainer(exec, options).Fit(new InMemoryWeightDataset(x, labels));
        Assert.True(history.Epochs[^1].TrainLoss < 0.8 * history.Epochs[0].TrainLoss, $"loss {history.Epochs[0].TrainLoss} → {history.Epochs[^1].TrainLoss}");
    }

    [Fact]
    public void StateDictNamesAndBadConfigurations()
    {
        var space = Space(Symmetry.HiddenNeuron, 2, 3, 1);
        var net = ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 2, 1, 2, Normalize: true), space);
        var keys = net.StateDict().Keys.ToArray();
        Assert.Contains("encoder.edges.0.weight", keys);
        Assert.Contains("encoder.inputs", keys);
        Assert.Contains("layers.0.edges.1.forward_edge", keys);
        Assert.Contains("layers.0.nodes.2.update.weight", keys);
        Assert.Contains("norms.0.weight", keys);
        Assert.Contains("head.0.weight", keys);
        Assert.Throws<ArgumentException>(() => ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.HiddenNeuron, 0, 1, 2), space));
        Assert.Throws<ArgumentException>(() => ProductNetwork.CreateInterpreted(new ProductModelConfig(Symmetry.AllNeuron, 2, 1, 2), space));
    }
}
