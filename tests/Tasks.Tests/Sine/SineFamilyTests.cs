using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Sine;
using LayerCompiler.Tasks.Zoo;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Sine;

/// <summary>The sin(a·x) family (issue 16's regression corpus), sine zoo identities and refusals, and the recorded SIREN output offset.</summary>
public class SineFamilyTests
{
    private static MlpInputNetwork Siren(float offset, int hidden = 6) => new(
        Space.FromLayers(new[] { LayerDeclaration.Dense(1, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.HiddenNeuron),
        InputActivation.Sine, 30f, offset);

    private static ZooBuildResult Build(InrTask task, string dir, float offset, int steps = 20) =>
        new ZooBuilder(task, Siren(offset), new ZooBuildOptions { Directory = dir, Seed = 1, ShardSize = 8, Fit = InrFitProtocols.SineWaves with { MaxSteps = steps } }).Build();

    [Fact]
    public void FrequencyFamilyDrawsAInItsRange_SineOfAx_DeterministicBySeed()
    {
        var task = new SineFrequencyInrTask(seed: 3, 400, 50, 50, pointCount: 100);
        Assert.Equal("sine-frequency", task.Name);
        Assert.Equal(1, task.RegressionWidth);
        var a = Enumerable.Range(0, 400).Select(i => task.Frequency("train", i)).ToArray();
        Assert.All(a, v => Assert.InRange(v, 0.5f, 10f));
        Assert.True(a.Min() < 1.5f && a.Max() > 9f, $"400 draws of U(0.5, 10) should spread over the range: [{a.Min()}, {a.Max()}]");
        Assert.InRange(a.Average(), 5.25 - 0.5, 5.25 + 0.5);

        // The same seed: the same a (whatever order the items are asked in); another seed or split: other values.
        var again = new SineFrequencyInrTask(seed: 3, 400, 50, 50, pointCount: 100);
        for (int i = 399; i >= 0; i--) Assert.Equal(BitConverter.SingleToInt32Bits(a[i]), BitConverter.SingleToInt32Bits(again.Frequency("train", i)));
        var other = new SineFrequencyInrTask(seed: 4, 400, 50, 50, pointCount: 100);
        Assert.NotEqual(a.Take(10), Enumerable.Range(0, 10).Select(i => other.Frequency("train", i)));
        Assert.NotEqual(a.Take(10), Enumerable.Range(0, 10).Select(i => task.Frequency("validation", i)));

        // The signal is sin(a·x) on 100 points of [−π, π), the regression target is a.
        var target = new float[100];
        task.Target("test", 7, target);
        float f = task.Frequency("test", 7);
        for (int p = 0; p < 100; p++)
        {
            float x = task.Points[p];
            Assert.InRange(x, -MathF.PI, MathF.PI);
            Assert.Equal(MathF.Sin(f * x), target[p]);
        }
        var y = new float[1];
        task.Regression("test", 7, y);
        Assert.Equal(f, y[0]);

        var d = task.Describe();
        Assert.Equal("sin(a*x)", d["family"]);
        Assert.Equal("[0.5, 10)", d["a_range"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SineFrequencyInrTask(0, 1, 1, 1, minA: 10f, maxA: 0.5f));
    }

    [Fact]
    public void SineWavesFamilyRecordsItsFamilyAndRanges()
    {
        var d = new SineWaveInrTask(0, 1, 1, 1).Describe();
        Assert.Equal("a*sin(b*x)", d["family"]);
        Assert.Equal("[0, 10)", d["a_range"]);
        Assert.Equal("[0, 10)", d["b_range"]);
    }

    [Fact]
    public void FrequencyZooRecordsItsFamily_OpensForRegression_AndIsRefusedForEmbeddings()
    {
        using var dir = new TempDirectory();
        string zoo = dir.File("freq");
        var built = Build(new SineFrequencyInrTask(seed: 2, 12, 4, 4, pointCount: 64), zoo, 0.5f);
        var id = built.Manifest.Identity;
        Assert.Equal("sine-frequency", id["task.name"]);
        Assert.Equal("sin(a*x)", id["task.family"]);
        Assert.Equal("[0.5, 10)", id["task.a_range"]);
        Assert.Equal("1", id["targets.width"]);
        Assert.Equal("0.5", id["arch.output_offset"]);

        var (reader, family) = SineZoo.Open(zoo, "sine regress", new[] { SineZoo.Frequency, SineZoo.Waves });
        Assert.Same(SineZoo.Frequency, family);
        Assert.Equal("frequency a", family.FrequencyName);
        var test = reader.Load("test");
        var task = new SineFrequencyInrTask(seed: 2, 12, 4, 4, pointCount: 64);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => task.Frequency("test", i)), SineZoo.Column(test, family.FrequencyColumn));

        // sine embed reads (a, b): a sin(a·x) zoo is refused in one line naming its zoo.json and the mismatch.
        var e = Assert.Throws<ArgumentException>(() => SineZoo.Open(zoo, "sine embed"));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith(Path.Combine(zoo, "zoo.json") + ": a sine-frequency zoo", e.Message);
        Assert.Contains("sine embed needs a sine-waves zoo (a·sin(b·x), 2 targets)", e.Message);
        Assert.Contains("--task sine-waves", e.Message);

        // A sine-waves zoo opens for the regression as the a·sin(b·x) family (predicting b).
        string waves = dir.File("waves");
        Build(new SineWaveInrTask(seed: 2, 4, 2, 2, pointCount: 64), waves, 0.5f, steps: 2);
        var (_, wavesFamily) = SineZoo.Open(waves, "sine regress", new[] { SineZoo.Frequency, SineZoo.Waves });
        Assert.Same(SineZoo.Waves, wavesFamily);
        Assert.Equal("frequency b", wavesFamily.FrequencyName);
    }

    [Fact]
    public void RegressionOnTheFrequencyZooPredictsA()
    {
        using var dir = new TempDirectory();
        string zoo = dir.File("freq");
        Build(new SineFrequencyInrTask(seed: 2, 16, 8, 8, pointCount: 64), zoo, 0.5f);
        var space = ZooReader.Open(zoo).Architecture.CreateSpace();
        var runs = FrequencyRegression.Study(zoo, new[] { 16 }, new[] { "stats" }, new ulong[] { 0 },
            (kind, seed) => new LayerCompiler.Tasks.Models.FeatureWeightModel(kind, space, new[] { 8 }, 1, seed),
            new RegressionTraining(Epochs: 2, BatchSize: 8, LearningRate: 1e-3f, WeightDecay: 5e-4), dir.File("out"));
        var run = Assert.Single(runs);
        Assert.True(double.IsFinite(run.TestMse) && run.TestMse > 0);
        // An untrained-quality predictor's MSE is about the variance of a ~ U(0.5, 10) (7.5), not of b ~ U(0, 10) in another column.
        Assert.InRange(run.TestMse, 0.01, 100);
        Assert.Contains("frequency a of sin(a·x) (sine-frequency zoo)", File.ReadAllText(dir.File("out/results.md")));
        // The same settings again: bitwise the same result (determinism), re-read from the finished run.
        var again = FrequencyRegression.Study(zoo, new[] { 16 }, new[] { "stats" }, new ulong[] { 0 },
            (kind, seed) => new LayerCompiler.Tasks.Models.FeatureWeightModel(kind, space, new[] { 8 }, 1, seed),
            new RegressionTraining(Epochs: 2, BatchSize: 8, LearningRate: 1e-3f, WeightDecay: 5e-4), dir.File("out2"));
        Assert.Equal(run, again.Single());
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0f)]   // zoos built before issue 16 recorded offset 0: they still load with it
    public void RecordedOffsetIsTheOneFittedAndRendered(float offset)
    {
        using var dir = new TempDirectory();
        string zoo = dir.File("zoo");
        var task = new SineWaveInrTask(seed: 6, 4, 2, 2, pointCount: 64);
        Build(task, zoo, offset, steps: 30);
        var reader = ZooReader.Open(zoo);
        Assert.Equal(offset, reader.Architecture.OutputOffset);
        var net = reader.CreateNetwork();
        Assert.Equal(offset, net.OutputOffset);

        // Rendering the stored weights with the recorded network gives back the fitted signal: its PSNR is the stored one.
        var train = reader.Load("train");
        var output = new float[train.Count * task.PointCount];
        net.Forward(train.Weights, task.Points, task.PointCount, output);
        var target = new float[task.PointCount];
        for (int i = 0; i < train.Count; i++)
        {
            task.Target("train", i, target);
            double mse = 0;
            for (int p = 0; p < target.Length; p++) { double d = output[i * target.Length + p] - target[p]; mse += d * d; }
            mse /= target.Length;
            Assert.InRange(10 * Math.Log10(1 / mse), train.Psnr[i] - 0.01, train.Psnr[i] + 0.01);
        }

        // The offset is a constant added to the last layer: the same weights without it render exactly `offset` lower.
        var noOffset = new MlpInputNetwork(net.Space, net.Activation, net.Omega0, 0f);
        var plain = new float[output.Length];
        noOffset.Forward(train.Weights, task.Points, task.PointCount, plain);
        for (int k = 0; k < output.Length; k++) Assert.Equal(plain[k] + offset, output[k], 5);
    }
}
