using LayerCompiler.Runtime;
using LayerCompiler.Tasks.ClassifierZoo;

namespace LayerCompiler.Tasks.Tests.ClassifierZoo;

/// <summary>
/// Tiny CNN classifier zoos on synthetic 28×28 images (no data set needed): recorded accuracies equal a re-evaluation,
/// builds are bitwise reproducible, interrupted builds resume to the same bytes, damaged shards and zoos built with other
/// settings or of another architecture are refused with errors naming the file and the mismatch.
/// </summary>
public sealed class ClassifierZooTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "lc-czoo-" + Guid.NewGuid().ToString("N"));
    public ClassifierZooTests() => Directory.CreateDirectory(_root);
    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    private static readonly ClassifierZooSettings Tiny = new()
    {
        Architecture = ZooArchitecture.Cnn, Runs = 6, RunsPerShard = 2, BatchSize = 8, TrainPool = 48, TestCount = 40, CheckpointEpochs = new[] { 1, 2 }, Seed = 5,
    };

    /// <summary>Images whose label is visible in them (a bright square at a class-dependent place), so training does something.</summary>
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

    private static readonly ClassifierImages Train = Images(48, 1), Test = Images(40, 2);

    private string Build(string name, ClassifierZooSettings? s = null, CancellationToken ct = default, IProgress<ClassifierZooProgress>? progress = null)
    {
        string dir = Path.Combine(_root, name);
        new ClassifierZooBuilder(s ?? Tiny, dir, Train, Test).Build(progress, ct);
        return dir;
    }

    [Fact]
    public void RecordedAccuraciesEqualAReEvaluationAndSplitsKeepRunsTogether()
    {
        string dir = Build("a");
        var data = ClassifierZooReader.Read(dir, Tiny);
        Assert.Equal(Tiny.Runs * 2 - data.Count, Enumerable.Range(0, Tiny.Runs).Sum(r => 2 - data.Run.Count(x => x == r)));
        Assert.True(data.Count > 0);
        for (int act = 0; act < 2; act++)
        {
            var activation = act == 0 ? InputActivation.ReLU : InputActivation.Tanh;
            var idx = Enumerable.Range(0, data.Count).Where(i => data.Hyperparameters[i].Activation == activation).ToArray();
            if (idx.Length == 0) continue;
            var acc = ClassifierZooBuilder.TestAccuracy(ClassifierPass.For(ZooArchitecture.Cnn, activation), data.Select(idx), Test, Tiny.TestCount);
            for (int k = 0; k < idx.Length; k++) Assert.Equal(data.TestAccuracy[idx[k]], acc[k]);
        }
        foreach (var g in Enumerable.Range(0, data.Count).GroupBy(i => data.Run[i]))
            Assert.Single(g.Select(i => data.Split[i]).Distinct());
        Assert.All(data.Epoch, e => Assert.Contains(e, new[] { 1, 2 }));
        // Hyperparameters as drawn for the run.
        for (int i = 0; i < data.Count; i++)
        {
            var hp = RunHyperparameters.Draw(Tiny.Seed, data.Run[i]);
            Assert.Equal((float)hp.LearningRate, (float)data.Hyperparameters[i].LearningRate);
            Assert.Equal(hp.Activation, data.Hyperparameters[i].Activation);
        }
        var manifest = ClassifierZooManifest.Load(Path.Combine(dir, ClassifierZooFormat.ManifestFile));
        Assert.NotNull(manifest.Histogram);
        Assert.Equal(data.Count, manifest.Histogram!.Counts.Sum());
    }

    [Fact]
    public void SameSeedGivesIdenticalShardsAndAnInterruptedBuildResumesToThem()
    {
        string a = Build("a");
        using var cts = new CancellationTokenSource();
        string b = Path.Combine(_root, "b");
        // Stop once the first shard is written.
        var progress = new SyncProgress(p => { if (p.Message?.StartsWith("wrote shard-00000", StringComparison.Ordinal) == true) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => new ClassifierZooBuilder(Tiny, b, Train, Test).Build(progress, cts.Token));
        Assert.True(File.Exists(Path.Combine(b, ClassifierZooFormat.ShardFileName(0))));
        Assert.False(File.Exists(Path.Combine(b, ClassifierZooFormat.ShardFileName(2))));
        Assert.Throws<InvalidDataException>(() => ClassifierZooReader.Read(b));   // incomplete
        var result = new ClassifierZooBuilder(Tiny, b, Train, Test).Build();
        Assert.Equal(1, result.KeptShards);
        Assert.Equal(2, result.TrainedShards);
        for (int k = 0; k < 3; k++)
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, ClassifierZooFormat.ShardFileName(k))), File.ReadAllBytes(Path.Combine(b, ClassifierZooFormat.ShardFileName(k))));
    }

    [Fact]
    public void ATruncatedShardIsNamedByTheReaderAndRebuiltByTheBuilder()
    {
        string dir = Build("a");
        string shard = Path.Combine(dir, ClassifierZooFormat.ShardFileName(1));
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ClassifierZooReader.Read(dir));
        Assert.Contains(shard, e.Message);
        Assert.Contains("truncated", e.Message);
        var result = new ClassifierZooBuilder(Tiny, dir, Train, Test).Build();
        Assert.Equal((2, 1), (result.KeptShards, result.RebuiltShards));
        Assert.Equal(bytes, File.ReadAllBytes(shard));
    }

    [Fact]
    public void OtherSettingsAndOtherArchitecturesAreRefusedNamingTheMismatch()
    {
        string dir = Build("a");
        var e = Assert.Throws<InvalidOperationException>(() => new ClassifierZooBuilder(Tiny with { Seed = 6 }, dir, Train, Test).Build());
        Assert.Contains("seed: expected '6', found '5'", e.Message);
        var r = Assert.Throws<InvalidDataException>(() => ClassifierZooReader.Read(dir, Tiny with { TestCount = 30 }));
        Assert.Contains("test_count: expected '30', found '40'", r.Message);
        Assert.Contains(ClassifierZooFormat.ManifestFile, r.Message);
        var data = ClassifierZooReader.Read(dir);
        var a = Assert.Throws<InvalidDataException>(() => data.RequireSpace(ClassifierPass.SpaceOf(ZooArchitecture.Mlp3), "the MLP regressor"));
        Assert.Contains(dir, a.Message);
        Assert.Contains("Cnn", a.Message);
        // A shard copied in from another zoo (other seed) is named with the setting that differs.
        string other = Build("other", Tiny with { Seed = 6 });
        File.Copy(Path.Combine(other, ClassifierZooFormat.ShardFileName(0)), Path.Combine(dir, ClassifierZooFormat.ShardFileName(0)), overwrite: true);
        var s = Assert.Throws<InvalidDataException>(() => ClassifierZooReader.Read(dir));
        Assert.Contains("shard-00000", s.Message);
        Assert.Contains("seed", s.Message);
    }

    [Fact]
    public void NfnSplitsAreHalfTestAndEightyTwentyTrainValidation()
    {
        var s = ClassifierZooSplits.Assign(100, 3);
        Assert.Equal(50, s.Count(x => x == ClassifierZooSplits.Test));
        Assert.Equal(40, s.Count(x => x == ClassifierZooSplits.Train));
        Assert.Equal(10, s.Count(x => x == ClassifierZooSplits.Validation));
        Assert.Equal(s, ClassifierZooSplits.Assign(100, 3));
        Assert.NotEqual(s, ClassifierZooSplits.Assign(100, 4));
    }

    [Fact]
    public void TheZooCnnHasTheSmallCnnZooShape()
    {
        var space = ClassifierPass.SpaceOf(ZooArchitecture.Cnn);
        Assert.Equal(4970, space.Dimension);
        Assert.Equal(784, ZooCnnRelu.Classifier.InputLength);
        Assert.Equal(16, ZooCnnRelu.Classifier.FeatureLength);
        Assert.Equal(784 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10, ClassifierPass.SpaceOf(ZooArchitecture.Mlp3).Dimension);
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports synchronously.</summary>
    private sealed class SyncProgress(Action<ClassifierZooProgress> report) : IProgress<ClassifierZooProgress>
    {
        public void Report(ClassifierZooProgress value) => report(value);
    }
}
