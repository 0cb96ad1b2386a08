using LayerCompiler.Runtime;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Zoo;

public class ZooTests
{
    private static MlpInputNetwork Siren(int hidden = 8) => new(
        Space.FromLayers(new[] { LayerDeclaration.Dense(2, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.HiddenNeuron),
        InputActivation.Sine, 30f, 0.5f);

    /// <summary>Synthetic 28×28 images: blobs whose position and size depend on the index; label = index % 3.</summary>
    private static (byte[] Images, byte[] Labels) Synthetic(int count, int salt)
    {
        var images = new byte[count * 784];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % 3);
            double cx = 8 + (i * 7 + salt) % 12, cy = 8 + (i * 5 + salt) % 12, r = 4 + i % 5;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    double d = Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                    images[i * 784 + y * 28 + x] = (byte)Math.Clamp(255 * (1 - d / (2 * r)), 0, 255);
                }
        }
        return (images, labels);
    }

    private static ImageInrTask Task(int train = 10, int test = 5, int validation = 3)
    {
        var (ti, tl) = Synthetic(train, 0);
        var (si, sl) = Synthetic(test, 3);
        return new ImageInrTask("synthetic", 28, 28, ti, tl, si, sl, classCount: 3, validationCount: validation, splitSeed: 0);
    }

    private static ZooBuildOptions Options(string dir, int shardSize = 2, int threads = -1, ulong seed = 1, int steps = 4) => new()
    {
        Directory = dir, Seed = seed, ShardSize = shardSize, MaxThreads = threads,
        Fit = InrFitProtocols.FashionMnist with { MaxSteps = steps, LearningRate = 1e-3f },
    };

    [Fact]
    public void PsnrIsTenLog10OfOneOverMse()
    {
        Assert.Equal(40.0, Psnr.FromMse(1e-4), 10);
        Assert.Equal(20.0, Psnr.FromMse(0.01), 10);
        Assert.Equal(1e-4, Psnr.ToMse(40), 15);
        Assert.True(double.IsPositiveInfinity(Psnr.FromMse(0)));
        Assert.Equal(10 * Math.Log10(1 / 0.0625), Psnr.Of(new float[] { 0.25f, 0.5f }, new float[] { 0.5f, 0.25f }), 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => Psnr.FromMse(-1));
        Assert.Equal(40.0, Psnr.FromMse(InrFitProtocols.FashionMnist.StopMse), 9);
    }

    [Fact]
    public void FitterReducesTheLossAndStopsAtTheThreshold()
    {
        var net = Siren();
        var task = Task();
        var target = new float[784];
        task.Target("train", 0, target);
        var p0 = new float[net.ParameterCount];
        SirenInit.Initialize(net, p0, new Rng(1));
        var ws = net.CreateWorkspace();
        double before = net.MseAndGradient(p0, task.Points, 784, target, Span<float>.Empty, ws);

        var fitter = new InrFitter(net, task.Points, 784, new InrFitSettings { MaxSteps = 30, LearningRate = 1e-3f, StopMse = 0 });
        var p = (float[])p0.Clone();
        var r = fitter.Fit(p, target, fitter.CreateScratch());
        Assert.Equal(30, r.Steps);
        Assert.False(r.Stopped);
        Assert.True(r.Mse < before, $"MSE {r.Mse} did not drop below the initial {before}");
        Assert.Equal(net.MseAndGradient(p, task.Points, 784, target, Span<float>.Empty, ws), r.Mse, 12);
        Assert.Equal(Psnr.FromMse(r.Mse), r.Psnr, 12);

        // A threshold the initial network already meets: zero steps, parameters untouched.
        var easy = new InrFitter(net, task.Points, 784, new InrFitSettings { StopMse = 10 });
        var q = (float[])p0.Clone();
        var e = easy.Fit(q, target, easy.CreateScratch());
        Assert.True(e.Stopped);
        Assert.Equal(0, e.Steps);
        Assert.Equal(p0, q);
    }

    [Fact]
    public void SirenInitFollowsTheProtocolBounds()
    {
        var net = Siren(32);
        var p = new float[net.ParameterCount];
        SirenInit.Initialize(net, p, new Rng(5));
        var space = net.Space;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            var values = p.AsSpan(net.TensorOffset(t), wt.Size).ToArray();
            int fanIn = net.Widths[wt.LayerNumber - 1];
            bool last = wt.LayerNumber == net.Depth;
            if (!last && wt.IsBias) { Assert.All(values, v => Assert.Equal(0f, v)); continue; }
            double bound = last ? 1 / Math.Sqrt(fanIn) : Math.Sqrt(6.0 / fanIn) / 30;
            Assert.All(values, v => Assert.InRange(Math.Abs(v), 0, bound));
            if (values.Length >= 32) Assert.True(values.Max(Math.Abs) > 0.7 * bound, $"{wt.Name} does not fill its range");
        }
    }

    [Fact]
    public void TrainValidationSplitIsAFixedPartition()
    {
        var a = Task(train: 40, validation: 7);
        var b = Task(train: 40, validation: 7);
        var train = Enumerable.Range(0, a.Count("train")).Select(i => a.ItemIndex("train", i)).ToArray();
        var val = Enumerable.Range(0, a.Count("validation")).Select(i => a.ItemIndex("validation", i)).ToArray();
        Assert.Equal(33, train.Length);
        Assert.Equal(7, val.Length);
        Assert.Empty(train.Intersect(val));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), train.Concat(val).OrderBy(x => x));
        Assert.Equal(train, Enumerable.Range(0, 33).Select(i => b.ItemIndex("train", i)));
        var ex = Assert.Throws<ArgumentException>(() => a.Count("val"));
        Assert.Contains("train, validation, test", ex.Message);
    }

    [Fact]
    public void SeedsDependOnlyOnZooSeedSplitAndIndex()
    {
        var seeds = new HashSet<ulong>();
        foreach (var split in new[] { "train", "validation", "test" })
            for (long i = 0; i < 100; i++) Assert.True(seeds.Add(ZooSeeds.ForItem(7, split, i)));
        Assert.Equal(ZooSeeds.ForItem(7, "train", 3), ZooSeeds.ForItem(7, "train", 3));
        Assert.NotEqual(ZooSeeds.ForItem(7, "train", 3), ZooSeeds.ForItem(8, "train", 3));
    }

    [Fact]
    public void ShardsRoundTripThroughTheReader()
    {
        using var dir = new TempDirectory();
        var net = Siren();
        var task = Task();
        var result = new ZooBuilder(task, net, Options(dir.Path)).Build();
        Assert.Equal(7 + 3 + 5, result.FittedInrs);
        Assert.Equal(4 + 2 + 3, result.FittedShards);
        Assert.True(result.Manifest.Complete);

        var reader = ZooReader.Open(dir.Path);
        Assert.Equal(new[] { "train", "validation", "test" }, reader.SplitNames);
        Assert.Equal(ZooArchitecture.Of(net), reader.Architecture);
        var train = reader.Load("train");
        Assert.Equal(7, train.Count);
        Assert.Equal(1, train.Weights.Channels);
        for (int i = 0; i < train.Count; i++)
        {
            Assert.Equal(task.ItemIndex("train", i), train.ItemIndex[i]);
            Assert.Equal(task.Label("train", i), train.Labels![i]);
            Assert.InRange(train.Steps[i], 0, 4);
        }
        Assert.Equal(new[] { 7, 8, 2, 1 }, train.Weights.Tensors[0].Shape);
        Assert.Equal(new[] { 7, 8, 8, 1 }, train.Weights.Tensors[2].Shape);

        // The stored PSNR is the PSNR of the stored weights: re-evaluate one INR.
        var flat = new float[net.ParameterCount];
        net.Gather(train.Weights, 3, flat);
        var target = new float[784];
        task.Target("train", 3, target);
        double mse = net.MseAndGradient(flat, task.Points, 784, target, Span<float>.Empty, net.CreateWorkspace());
        Assert.Equal(Psnr.FromMse(mse), train.Psnr[3], 3);

        // A limit loads a prefix.
        var firstThree = reader.Load("test", limit: 3);
        Assert.Equal(3, firstThree.Count);
        Assert.Equal(reader.Load("test").Weights.Tensors[2].Data.AsSpan(0, 3 * 64).ToArray(), firstThree.Weights.Tensors[2].Data);

        // Manifest statistics.
        var stats = reader.Manifest.Split("train").Stats!;
        Assert.Equal(train.Psnr.Average(p => (double)p), stats.PsnrMean, 4);
        Assert.Equal(train.Psnr.Min(), stats.PsnrMin, 4);
    }

    [Fact]
    public void ResultsDoNotDependOnThreadsOrSharding()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        var net = Siren();
        new ZooBuilder(Task(), net, Options(a.Path, shardSize: 2, threads: 1)).Build();
        new ZooBuilder(Task(), net, Options(b.Path, shardSize: 5, threads: 3)).Build();
        foreach (var split in new[] { "train", "validation", "test" })
        {
            var x = ZooReader.Open(a.Path).Load(split);
            var y = ZooReader.Open(b.Path).Load(split);
            Assert.Equal(x.ItemIndex, y.ItemIndex);
            Assert.Equal(x.Psnr, y.Psnr);
            Assert.Equal(x.Weights.Flatten(), y.Weights.Flatten());
        }
    }

    [Fact]
    public void PerSplitLimitTakesTheFirstItemsOfEachSplitWithTheSameInrs()
    {
        using var full = new TempDirectory();
        using var small = new TempDirectory();
        var net = Siren();
        new ZooBuilder(Task(), net, Options(full.Path)).Build();
        new ZooBuilder(Task(), net, Options(small.Path) with { PerSplitLimit = 2, ShardSize = 3 }).Build();
        var f = ZooReader.Open(full.Path).Load("validation");
        var s = ZooReader.Open(small.Path).Load("validation");
        Assert.Equal(2, s.Count);
        Assert.Equal(f.ItemIndex[..2], s.ItemIndex);
        Assert.Equal(f.Weights.Tensors[0].Data.AsSpan(0, 2 * 16).ToArray(), s.Weights.Tensors[0].Data);
    }

    [Fact]
    public void ResumeKeepsFinishedShardsAndRebuildsMissingOrCorruptOnes()
    {
        using var dir = new TempDirectory();
        var net = Siren();
        var first = new ZooBuilder(Task(), net, Options(dir.Path)).Build();
        Assert.Equal(0, first.ReusedShards);
        var before = ZooReader.Open(dir.Path).Load("train").Weights.Flatten();

        string missing = Path.Combine(dir.Path, "train", "shard-00001.safetensors");
        string corrupt = Path.Combine(dir.Path, "test", "shard-00002.safetensors");
        string kept = Path.Combine(dir.Path, "train", "shard-00000.safetensors");
        File.Delete(missing);
        var bytes = File.ReadAllBytes(corrupt);
        File.WriteAllBytes(corrupt, bytes[..(bytes.Length / 2)]);
        var keptTime = File.GetLastWriteTimeUtc(kept);
        var keptBytes = File.ReadAllBytes(kept);

        var messages = new List<string>();
        var second = new ZooBuilder(Task(), net, Options(dir.Path)).Build(new SyncProgress(p => { if (p.Message != null) messages.Add(p.Message); }));
        Assert.Equal(2, second.FittedShards);
        Assert.Equal(1, second.RebuiltShards);
        Assert.Equal(9 - 2, second.ReusedShards);
        Assert.Equal(keptBytes, File.ReadAllBytes(kept));
        Assert.Equal(keptTime, File.GetLastWriteTimeUtc(kept));
        Assert.Contains(messages, m => m.Contains("rebuilding test/shard-00002.safetensors") && m.Contains("unreadable"));
        Assert.Equal(before, ZooReader.Open(dir.Path).Load("train").Weights.Flatten());

        // Re-running a finished build reads every shard and writes nothing, zoo.json included (it is never marked
        // incomplete on the way, and read-only media would do).
        string manifest = Path.Combine(dir.Path, "zoo.json");
        var manifestBytes = File.ReadAllBytes(manifest);
        var manifestTime = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(manifest, manifestTime);
        var third = new ZooBuilder(Task(), net, Options(dir.Path)).Build();
        Assert.Equal(0, third.FittedShards);
        Assert.Equal(9, third.ReusedShards);
        Assert.Equal(manifestBytes, File.ReadAllBytes(manifest));
        Assert.Equal(manifestTime, File.GetLastWriteTimeUtc(manifest));
    }

    [Fact]
    public void CancelledBuildLeavesAnIncompleteZooThatResumes()
    {
        using var dir = new TempDirectory();
        var net = Siren();
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Message?.StartsWith("wrote train/shard-00001") == true) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => new ZooBuilder(Task(), net, Options(dir.Path)).Build(progress, cts.Token));
        var reader = ZooReader.Open(dir.Path);
        Assert.False(reader.Manifest.Complete);
        var ex = Assert.Throws<InvalidDataException>(() => reader.Load("train"));
        Assert.Contains("incomplete", ex.Message);

        var resumed = new ZooBuilder(Task(), net, Options(dir.Path)).Build();
        Assert.Equal(2, resumed.ReusedShards);
        Assert.Equal(7, resumed.FittedShards);
        Assert.Equal(7, ZooReader.Open(dir.Path).Load("train").Count);
    }

    [Fact]
    public void ReaderRejectsCorruptOrForeignShardsWithAMessage()
    {
        using var dir = new TempDirectory();
        new ZooBuilder(Task(), Siren(), Options(dir.Path)).Build();
        string shard0 = Path.Combine(dir.Path, "train", "shard-00000.safetensors");
        string shard1 = Path.Combine(dir.Path, "train", "shard-00001.safetensors");
        var good0 = File.ReadAllBytes(shard0);

        // Truncated file.
        File.WriteAllBytes(shard0, good0[..100]);
        var ex = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path).Load("train"));
        Assert.Contains("shard-00000.safetensors", ex.Message);
        Assert.Contains("not valid", ex.Message);

        // A valid file in the wrong place (shard 1's INRs where shard 0 should be).
        File.Copy(shard1, shard0, overwrite: true);
        ex = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path).Load("train"));
        Assert.Contains("metadata does not match", ex.Message);
        Assert.Contains("'first'", ex.Message);

        // A wrong tensor shape with otherwise valid metadata.
        var f = SafetensorsFile.Parse(good0);
        var tensors = f.Entries.ToDictionary(e => e.Name, e => e.Name == "b1"
            ? SafetensorsRawTensor.FromTensor(new Tensor(new float[2 * 7], 2, 7))
            : new SafetensorsRawTensor(e.DType, e.ShapeArray(), f.GetBytes(e.Name).ToArray()));
        SafetensorsWriter.Write(shard0, tensors, f.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value));
        ex = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path).Load("train"));
        Assert.Contains("'b1'", ex.Message);

        // A NaN weight: named, with the INR and the way to refit it.
        var w2 = SafetensorsFile.Parse(good0).GetFloat32("W2");
        w2.Data[w2.Data.Length - 1] = float.NaN;
        var withNaN = f.Entries.ToDictionary(e => e.Name, e => e.Name == "W2"
            ? SafetensorsRawTensor.FromTensor(w2)
            : new SafetensorsRawTensor(e.DType, e.ShapeArray(), f.GetBytes(e.Name).ToArray()));
        SafetensorsWriter.Write(shard0, withNaN, f.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value));
        ex = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path).Load("train"));
        Assert.Contains("shard-00000.safetensors", ex.Message);
        Assert.Contains($"INR {w2.Shape[0] - 1} of split 'train' has a non-finite weight (NaN in W2)", ex.Message);

        // Missing shard.
        File.Delete(shard0);
        ex = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path).Load("train"));
        Assert.Contains("missing", ex.Message);
    }

    [Fact]
    public void ReaderGivesClearErrorsForBadRequests()
    {
        using var dir = new TempDirectory();
        var missingDir = Path.Combine(dir.Path, "nope");
        var e1 = Assert.Throws<DirectoryNotFoundException>(() => ZooReader.Open(missingDir));
        Assert.Contains("does not exist", e1.Message);
        var e2 = Assert.Throws<FileNotFoundException>(() => ZooReader.Open(dir.Path));
        Assert.Contains("zoo.json", e2.Message);

        new ZooBuilder(Task(), Siren(), Options(dir.Path) with { Splits = new[] { "test" } }).Build();
        var reader = ZooReader.Open(dir.Path);
        var e3 = Assert.Throws<ArgumentException>(() => reader.Load("train"));
        Assert.Contains("has no split 'train'", e3.Message);
        Assert.Contains("test", e3.Message);
        var wrong = Space.FromLayers(new[] { LayerDeclaration.Dense(2, 32), LayerDeclaration.Dense(32, 32), LayerDeclaration.Dense(32, 1) }, Symmetry.HiddenNeuron);
        var e4 = Assert.Throws<ArgumentException>(() => reader.Load("test", wrong));
        Assert.Contains("2-8-8-1", e4.Message);
        // Same shapes under the all-neuron symmetry are fine.
        Assert.Equal(5, reader.Load("test", reader.Architecture.CreateSpace(Symmetry.AllNeuron)).Count);

        File.WriteAllText(Path.Combine(dir.Path, "zoo.json"), "{ not json");
        var e5 = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path));
        Assert.Contains("not valid JSON", e5.Message);
    }

    /// <summary>A damaged number in zoo.json fails when the zoo is opened, naming the key (not later, as a FormatException).</summary>
    [Theory]
    [InlineData("labels.classes", "ten")]
    [InlineData("labels.classes", "-3")]
    [InlineData("shard_size", "0")]
    [InlineData("shard_size", "99999999999")]
    [InlineData("seed", "-1")]
    [InlineData("arch.widths", "2,32,99999999999,1")]
    public void ADamagedNumberInTheManifestIsReportedByKey(string key, string value)
    {
        using var dir = new TempDirectory();
        new ZooBuilder(Task(), Siren(), Options(dir.Path) with { Splits = new[] { "test" } }).Build();
        string manifest = Path.Combine(dir.Path, "zoo.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!;
        var identity = json["identity"]!.AsObject();
        Assert.True(identity.ContainsKey(key), $"zoo.json has no identity key '{key}': {identity.ToJsonString()}");
        identity[key] = value;
        File.WriteAllText(manifest, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => ZooReader.Open(dir.Path));
        Assert.Contains(key, e.Message);
        Assert.Contains("zoo.json", e.Message);
    }

    [Fact]
    public void BuildingIntoAZooWithOtherSettingsIsRefused()
    {
        using var dir = new TempDirectory();
        new ZooBuilder(Task(), Siren(), Options(dir.Path, seed: 1)).Build();
        var ex = Assert.Throws<InvalidOperationException>(() => new ZooBuilder(Task(), Siren(), Options(dir.Path, seed: 2)).Build());
        Assert.Contains("'seed' is '1', expected '2'", ex.Message);
        ex = Assert.Throws<InvalidOperationException>(() => new ZooBuilder(Task(), Siren(), Options(dir.Path, seed: 1, steps: 5)).Build());
        Assert.Contains("fit.max_steps", ex.Message);
    }

    [Fact]
    public void SineWaveZooStoresAmplitudeAndFrequency()
    {
        using var dir = new TempDirectory();
        var net = new MlpInputNetwork(Space.FromLayers(new[] { LayerDeclaration.Dense(1, 8), LayerDeclaration.Dense(8, 8), LayerDeclaration.Dense(8, 1) }, Symmetry.HiddenNeuron),
            InputActivation.Sine, 30f, 0f);
        var task = new SineWaveInrTask(seed: 3, trainCount: 5, validationCount: 2, testCount: 2, pointCount: 100);
        var options = new ZooBuildOptions { Directory = dir.Path, Seed = 4, ShardSize = 3, Fit = InrFitProtocols.SineWaves with { MaxSteps = 3 } };
        new ZooBuilder(task, net, options).Build();
        var train = ZooReader.Open(dir.Path).Load("train");
        Assert.Null(train.Labels);
        Assert.Equal(2, train.TargetWidth);
        for (int i = 0; i < 5; i++)
        {
            var (a, b) = task.Parameters("train", i);
            Assert.InRange(a, 0, 10); Assert.InRange(b, 0, 10);
            Assert.Equal(a, train.Targets![2 * i]);
            Assert.Equal(b, train.Targets[2 * i + 1]);
        }
        var target = new float[100];
        task.Target("train", 1, target);
        var (a1, b1) = task.Parameters("train", 1);
        Assert.Equal(a1 * MathF.Sin(b1 * task.Points[7]), target[7], 5);
        Assert.Equal((float)-Math.PI, task.Points[0]);
    }

    [Fact]
    public void RenderWritesAGridPngOfTheInrs()
    {
        using var dir = new TempDirectory();
        var net = Siren();
        new ZooBuilder(Task(), net, Options(dir.Path) with { Splits = new[] { "test" } }).Build();
        var test = ZooReader.Open(dir.Path).Load("test");
        var images = InrRenderer.Render(net, test.Weights, new[] { 0, 2 }, 28);
        Assert.Equal(2, images.Length);
        var flat = new float[net.ParameterCount];
        net.Gather(test.Weights, 2, flat);
        var direct = new float[784];
        net.ForwardNetwork(flat, InrTask.ImageGrid(28, 28), 784, direct, net.CreateWorkspace());
        Assert.Equal(direct, images[1]);

        string png = Path.Combine(dir.Path, "grid.png");
        InrRenderer.WriteGrid(png, net, test.Weights, Enumerable.Range(0, 5).ToArray(), size: 56, columns: 3, pad: 2);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        int width = (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19];
        int height = (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23];
        Assert.Equal(3 * 56 + 4 * 2, width);
        Assert.Equal(2 * 56 + 3 * 2, height);
    }

    /// <summary>IProgress that runs the callback synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress : IProgress<ZooProgress>
    {
        private readonly Action<ZooProgress> _action;
        public SyncProgress(Action<ZooProgress> action) => _action = action;
        public void Report(ZooProgress value) { lock (this) _action(value); }
    }
}
