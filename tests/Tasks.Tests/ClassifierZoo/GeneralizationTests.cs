using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.ClassifierZoo.Generalization;

namespace LayerCompiler.Tasks.Tests.ClassifierZoo;

/// <summary>Predicting generalization end to end on a tiny zoo: every model trains through the one trainer and is tested.</summary>
public sealed class GeneralizationTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "lc-gen-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    private static ClassifierImages Images(int count, ulong seed)
    {
        var rng = new Rng(seed);
        var px = new float[count * 784]; var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int c = (int)(rng.NextUInt64() % 10); labels[i] = c;
            for (int p = 0; p < 784; p++) px[i * 784 + p] = (float)(0.2 * rng.NextDouble());
            int y0 = 2 + (c / 5) * 12, x0 = 2 + (c % 5) * 5;
            for (int y = y0; y < y0 + 8; y++) for (int x = x0; x < x0 + 4; x++) px[i * 784 + y * 28 + x] = 1f;
        }
        return new ClassifierImages(px, labels, count, 784);
    }

    [Theory]
    [InlineData("hnp")]
    [InlineData("np")]
    [InlineData("statnn")]
    [InlineData("mlp")]
    public void EveryModelTrainsAndIsTestedOnTheTestSplit(string kind)
    {
        var s = new ClassifierZooSettings { Architecture = ZooArchitecture.Cnn, Runs = 12, RunsPerShard = 6, BatchSize = 8, TrainPool = 48, TestCount = 40, CheckpointEpochs = new[] { 1, 2 }, Seed = 9 };
        string dir = Path.Combine(_root, "zoo");
        new ClassifierZooBuilder(s, dir, Images(48, 1), Images(40, 2)).Build();
        var zoo = ClassifierZooReader.Read(dir, s);
        var r = GeneralizationExperiment.Run(zoo, kind, 0, new GeneralizationSettings { Epochs = 2 });
        Assert.Equal(zoo.Indices(ClassifierZooSplits.Test).Length, r.Test);
        Assert.True(r.Train > 0 && r.Validation > 0 && r.Test > 0);
        Assert.InRange(r.TestTau, -1, 1);
        Assert.True(double.IsFinite(r.TestR2));
        Assert.Contains(kind, GeneralizationExperiment.Table(new[] { r }));
    }

    [Fact]
    public void KendallTauMetricIsTauBOverTheWholePass()
    {
        var acc = KendallTauMetric.Instance.Start();
        float[] p = { 0.1f, 0.4f, 0.3f, 0.9f }, y = { 0.2f, 0.1f, 0.5f, 0.7f };
        acc.Add(new Tensor(p[..2], 2, 1), new TrainingTargets(null, new Tensor(y[..2], 2, 1)));
        acc.Add(new Tensor(p[2..], 2, 1), new TrainingTargets(null, new Tensor(y[2..], 2, 1)));
        Assert.Equal(RegressionMetrics.KendallTau(p, y), acc.Result);
    }

    [Fact]
    public void AnMlpRegressorRefusesACnnZoo()
    {
        var s = new ClassifierZooSettings { Architecture = ZooArchitecture.Cnn, Runs = 2, RunsPerShard = 2, BatchSize = 8, TrainPool = 48, TestCount = 40, CheckpointEpochs = new[] { 1 }, Seed = 9 };
        string dir = Path.Combine(_root, "zoo2");
        new ClassifierZooBuilder(s, dir, Images(48, 1), Images(40, 2)).Build();
        var zoo = ClassifierZooReader.Read(dir);
        var model = AccuracyRegressor.Create(GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp3, 0);
        var e = Assert.Throws<InvalidDataException>(() => zoo.RequireSpace(model.Space, "the hnp regressor"));
        Assert.Contains(dir, e.Message);
        Assert.Contains("W1[128×784]", e.Message);
    }
}
