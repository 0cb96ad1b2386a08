using LayerCompiler.Runtime;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Tasks.Tests.Zoo;

/// <summary>
/// The zoo pieces with generated code: a zoo of the generated SIREN architecture, loaded over a generated
/// model's weight space, classified by the generated fused model.
/// </summary>
public sealed class ZooPipelineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lc-zoo-pipeline-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static MlpInputNetwork Siren() =>
        new(Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.Sine, 30f, 0.5f);

    private static ImageInrTask Task()
    {
        byte[] Images(int n, int salt)
        {
            var img = new byte[n * 784];
            for (int i = 0; i < n; i++)
                for (int p = 0; p < 784; p++) img[i * 784 + p] = (byte)(((p % 28) * (i + 1 + salt) + (p / 28) * 3) % 256);
            return img;
        }
        byte[] Labels(int n) => Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
        return new ImageInrTask("synthetic", 28, 28, Images(8, 0), Labels(8), Images(3, 5), Labels(3), 10, validationCount: 2, splitSeed: 1);
    }

    private ZooReader Build()
    {
        new ZooBuilder(Task(), Siren(), new ZooBuildOptions
        {
            Directory = _dir, Seed = 3, ShardSize = 4, Fit = InrFitProtocols.FashionMnist with { MaxSteps = 3 },
        }).Build();
        return ZooReader.Open(_dir);
    }

    [Fact]
    public void GeneratedArchitectureAndMlpInputNetworkAgreeOnTheLayout()
    {
        var net = Siren();
        Assert.Equal(Siren2x32x32x1.WeightCount, net.ParameterCount);
        Assert.Equal(Siren2x32x32x1.Widths.ToArray(), net.Widths);
        Assert.Equal(Siren2x32x32x1.TensorNames, net.Space.Tensors.Select(t => t.Name));
        int offset = 0;
        for (int t = 0; t < net.Space.Tensors.Count; t++) { Assert.Equal(offset, net.TensorOffset(t)); offset += net.Space.Tensors[t].Size; }
    }

    [Fact]
    public void GeneratedModelClassifiesAZooAndIsInvariantToHiddenPermutations()
    {
        var reader = Build();
        Assert.Equal("2-32-32-1 sine(omega0=30) +0.5", reader.Architecture.Describe());
        var test = reader.Load("test", SirenClassifier.CreateWeightSpace());
        Assert.Equal(3, test.Count);

        var model = new SirenClassifier(seed: 1);
        model.Eval();
        var logits = model.Forward(test.Weights).Clone();
        Assert.Equal(new[] { 3, 10 }, logits.Shape);

        var rng = new Rng(4);
        var permuted = Permutations.Apply(test.Weights, Permutations.Random(test.Weights.Space, rng));
        Assert.True(TestUtil.RelativeError(model.Forward(permuted).Data, logits.Data) < 1e-5);

        // The permuted INRs are the same functions.
        var net = Siren();
        var pts = InrTask.ImageGrid(28, 28);
        var a = new float[3 * 784]; var b = new float[3 * 784];
        net.Forward(test.Weights, pts, 784, a);
        net.Forward(permuted, pts, 784, b);
        Assert.True(TestUtil.RelativeError(b, a) < 1e-5);

        // Statistics features are invariant too; flattened weights are not.
        Assert.Equal(WeightFeatures.Statistics(test.Weights).Data, WeightFeatures.Statistics(permuted).Data);
        Assert.NotEqual(WeightFeatures.Flattened(test.Weights).Data, WeightFeatures.Flattened(permuted).Data);
    }

    [Fact]
    public void AFewTrainingStepsOnZooWeightsReduceTheLoss()
    {
        var reader = Build();
        var train = reader.Load("train", SirenClassifier.CreateWeightSpace());
        var model = new SirenClassifier(seed: 2);
        var opt = new AdamW(model.Parameters(), 1e-2f, weightDecay: 0);
        var ce = new SoftmaxCrossEntropy();
        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            var (loss, grad) = ce.Compute(model.Forward(train.Weights), train.Labels!);
            if (step == 0) first = loss;
            last = loss;
            model.ZeroGrad();
            model.Backward(grad);
            opt.Step();
        }
        Assert.True(last < 0.8f * first, $"loss went from {first} to {last}");
    }
}
