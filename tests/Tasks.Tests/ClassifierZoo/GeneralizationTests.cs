using System.Xml.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Transforms;
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
    [InlineData("probe")]
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
        // What the report draws: a prediction per test checkpoint, validation τ per epoch.
        Assert.Equal(r.Test, r.TestPredicted.Length);
        Assert.Equal(zoo.Indices(ClassifierZooSplits.Test).Select(i => zoo.TestAccuracy[i]), r.TestActual);
        Assert.Equal(2, r.ValidationTauPerEpoch.Length);
        Assert.Equal(r.ValidationTau, r.ValidationTauPerEpoch[r.BestEpoch - 1]);
    }

    [Fact]
    public void TheReportHasTheHistogramTheTauBarsAndPerModelScatterAndTauCurves()
    {
        var s = new ClassifierZooSettings { Architecture = ZooArchitecture.Cnn, Runs = 12, RunsPerShard = 12, BatchSize = 8, TrainPool = 48, TestCount = 40, CheckpointEpochs = new[] { 1, 2 }, Seed = 9 };
        string dir = Path.Combine(_root, "zoo-report");
        new ClassifierZooBuilder(s, dir, Images(48, 1), Images(40, 2)).Build();
        var zoo = ClassifierZooReader.Read(dir, s);
        var gs = new GeneralizationSettings { Epochs = 3 };
        var results = new[] { GeneralizationExperiment.Run(zoo, "statnn", 0, gs), GeneralizationExperiment.Run(zoo, "statnn", 1, gs), GeneralizationExperiment.Run(zoo, "mlp", 0, gs) };
        string path = Path.Combine(_root, "report.html");
        GeneralizationReport.Build(zoo, results, gs, "test").Write(path);
        XNamespace svg = "http://www.w3.org/2000/svg";
        var doc = XDocument.Parse(File.ReadAllText(path).Replace("<!DOCTYPE html>", ""));
        var charts = doc.Descendants(svg + "svg").Select(e => (Title: e.Element(svg + "title")!.Value, Svg: e)).ToList();
        // Histogram: 10 bins × 3 splits, the counts add up to the zoo.
        var hist = charts.Single(c => c.Title.StartsWith("Checkpoints per test-accuracy bin")).Svg;
        var histBars = hist.Descendants(svg + "rect").Where(b => (string?)b.Attribute("class") == "bar").ToList();
        Assert.Equal(30, histBars.Count);
        Assert.Equal(zoo.Count, histBars.Sum(b => double.Parse((string)b.Attribute("data-mean")!, System.Globalization.CultureInfo.InvariantCulture)));
        // τ bars: one per model, statnn over 2 seeds.
        var tau = charts.Single(c => c.Title.StartsWith("Test Kendall τ")).Svg.Descendants(svg + "rect").Where(b => (string?)b.Attribute("class") == "bar").ToList();
        Assert.Equal(new[] { "statnn", "mlp" }, tau.Select(b => (string?)b.Attribute("data-group")));
        Assert.Equal("2", (string?)tau[0].Attribute("data-count"));
        // Per model: the predicted-vs-true scatter (every seed's test checkpoints) and validation τ per epoch (a line per seed).
        var scatter = charts.Single(c => c.Title == "statnn: predicted vs true (test split)").Svg;
        Assert.Equal(2 * results[0].Test, scatter.Descendants(svg + "circle").Count());
        var curves = charts.Single(c => c.Title == "statnn: validation Kendall τ per epoch").Svg;
        // One legend entry per seed (a seed whose validation τ is undefined on this tiny split draws no line, but is listed).
        Assert.Equal(new[] { "seed 0", "seed 1" }, curves.Descendants(svg + "text").Select(t => t.Value).Where(v => v.StartsWith("seed ")));
        Assert.Single(charts, c => c.Title == "mlp: predicted vs true (test split)");

        // The results file round-trips (the combined report of separate runs reads it).
        string json = Path.Combine(_root, "results.json");
        GeneralizationResultsFile.Write(json, results);
        var back = GeneralizationResultsFile.Read(json);
        Assert.Equal(results.Select(r => (r.Kind, r.Seed, r.TestTau)), back.Select(r => (r.Kind, r.Seed, r.TestTau)));
        Assert.Equal(results[2].TestPredicted, back[2].TestPredicted);
        File.WriteAllText(json, "{\"not\": \"results\"}");
        var e = Assert.Throws<InvalidDataException>(() => GeneralizationResultsFile.Read(json));
        Assert.Contains(json, e.Message);
        Assert.Throws<ArgumentException>(() => GeneralizationReport.Build(zoo, Array.Empty<GeneralizationResult>(), gs));
    }

    private ClassifierZooData SmallZoo(string name)
    {
        var s = new ClassifierZooSettings { Architecture = ZooArchitecture.Cnn, Runs = 12, RunsPerShard = 6, BatchSize = 8, TrainPool = 48, TestCount = 40, CheckpointEpochs = new[] { 1, 2 }, Seed = 9 };
        string dir = Path.Combine(_root, name);
        new ClassifierZooBuilder(s, dir, Images(48, 1), Images(40, 2)).Build();
        return ClassifierZooReader.Read(dir, s);
    }

    [Theory]
    [InlineData("hnp")]
    [InlineData("statnn")]
    public void AnInterruptedRunResumesToTheUninterruptedResult_AndAFinishedRunIsReadBack(string kind)
    {
        var zoo = SmallZoo("zoo-resume");
        var gs = new GeneralizationSettings { Epochs = 4 };
        var whole = GeneralizationExperiment.Run(zoo, kind, 3, gs, runDir: Path.Combine(_root, "whole"));

        // Ctrl-C after epoch 2: the epoch checkpoint is on disk, no result yet.
        string dir = Path.Combine(_root, "interrupted");
        using var cts = new CancellationTokenSource();
        var stop = new LayerCompiler.Tasks.Models.WeightModelTraining.SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd && p.Epoch == 2) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => GeneralizationExperiment.Run(zoo, kind, 3, gs, stop, dir, cts.Token));
        Assert.True(File.Exists(Path.Combine(dir, GeneralizationExperiment.CheckpointFile)));
        Assert.False(File.Exists(Path.Combine(dir, GeneralizationExperiment.ResultFile)));

        int epochsRun = 0;
        var count = new LayerCompiler.Tasks.Models.WeightModelTraining.SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd) epochsRun++; });
        var resumed = GeneralizationExperiment.Run(zoo, kind, 3, gs, count, dir);
        Assert.Equal(2, epochsRun);
        Assert.Equal(whole.TestPredicted, resumed.TestPredicted);
        Assert.Equal(whole.ValidationTauPerEpoch, resumed.ValidationTauPerEpoch);
        Assert.Equal((whole.TestTau, whole.TestR2, whole.BestEpoch), (resumed.TestTau, resumed.TestR2, resumed.BestEpoch));

        // Finished: read back without training (the checkpoint is not even needed), equal to what was returned.
        File.Delete(Path.Combine(dir, GeneralizationExperiment.CheckpointFile));
        epochsRun = 0;
        var again = GeneralizationExperiment.Run(zoo, kind, 3, gs, count, dir);
        Assert.Equal(0, epochsRun);
        Assert.Equal(resumed.TestPredicted, again.TestPredicted);
        Assert.Equal(resumed.TrainLossPerEpoch, again.TrainLossPerEpoch);

        // Another run's directory is refused naming the file and the difference.
        var e = Assert.Throws<InvalidOperationException>(() => GeneralizationExperiment.Run(zoo, kind, 3, new GeneralizationSettings { Epochs = 5 }, runDir: dir));
        Assert.Contains(Path.Combine(dir, GeneralizationExperiment.ResultFile), e.Message);
        Assert.Contains("4 training epochs, not 5", e.Message);
        e = Assert.Throws<InvalidOperationException>(() => GeneralizationExperiment.Run(zoo, kind, 4, gs, runDir: dir));
        Assert.Contains("seed 3, not 4", e.Message);
        e = Assert.Throws<InvalidOperationException>(() => GeneralizationExperiment.Run(zoo, kind, 3, gs with { LearningRate = 2e-3f }, runDir: dir));
        Assert.Contains("other settings", e.Message);
        Assert.Contains("lr=0.002", e.Message);
        // A half-trained checkpoint of other settings is refused too (the trainer's fingerprint).
        string other = Path.Combine(_root, "other");
        using var cts2 = new CancellationTokenSource();
        var stop2 = new LayerCompiler.Tasks.Models.WeightModelTraining.SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd) cts2.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => GeneralizationExperiment.Run(zoo, kind, 3, gs, stop2, other, cts2.Token));
        e = Assert.Throws<InvalidOperationException>(() => GeneralizationExperiment.Run(zoo, kind, 3, gs with { LearningRate = 2e-3f }, runDir: other));
        Assert.Contains(GeneralizationExperiment.CheckpointFile, e.Message);
    }

    [Fact]
    public void RunAllGivesTheSameResultsWithOneOrTwoJobs_InModelThenSeedOrder()
    {
        var zoo = SmallZoo("zoo-jobs");
        var gs = new GeneralizationSettings { Epochs = 2 };
        var kinds = new[] { "hnp", "statnn" }; var seeds = new ulong[] { 0, 1 };
        var one = GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs, Path.Combine(_root, "jobs1"), jobs: 1);
        var lines = new List<string>();
        void Log(string l) { lock (lines) lines.Add(l); }
        var two = GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs, Path.Combine(_root, "jobs2"), jobs: 2, log: Log);
        Assert.Equal(new[] { ("hnp", 0UL), ("hnp", 1UL), ("statnn", 0UL), ("statnn", 1UL) }, two.Select(r => (r.Kind, r.Seed)));
        for (int i = 0; i < one.Count; i++) Assert.Equal(one[i].TestPredicted, two[i].TestPredicted);
        Assert.Equal(4, lines.Count(l => l.Contains(": training (")));
        Assert.True(File.Exists(Path.Combine(_root, "jobs2", GeneralizationExperiment.RunName("statnn", 1), GeneralizationExperiment.ResultFile)));
        // Rerun: every run is read back.
        lines.Clear();
        var three = GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs, Path.Combine(_root, "jobs2"), jobs: 2, log: Log);
        Assert.Equal(4, lines.Count(l => l.Contains(": finished earlier (")));
        Assert.Equal(two.Select(r => r.TestTau), three.Select(r => r.TestTau));
        // One run's error reaches the caller as itself, not wrapped.
        var e = Assert.Throws<InvalidOperationException>(() => GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs with { Epochs = 3 }, Path.Combine(_root, "jobs2"), jobs: 2));
        Assert.Contains("2 training epochs, not 3", e.Message);
        Assert.Throws<ArgumentException>(() => GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs, Path.Combine(_root, "jobs0"), jobs: 0));
    }

    [Fact]
    public void RunAllTakesRunsOneAtATimeInWorkOrder()
    {
        // Two jobs over 12 runs: each worker takes the next run of the work order when it finishes one. A range-partitioned
        // loop hands each worker a block up front (it started runs 0 and 6 of a 12-run table, and the block of slow runs
        // then ran on one core while the other sat idle).
        var zoo = SmallZoo("zoo-order");
        var gs = new GeneralizationSettings { Epochs = 1 };
        var kinds = new[] { "statnn", "mlp" }; var seeds = new ulong[] { 0, 1, 2, 3, 4, 5 };
        var lines = new List<string>();
        void Log(string l) { lock (lines) lines.Add(l); }
        // The first two runs wait for each other, so both workers are in flight at once (tiny runs would otherwise let one
        // worker do everything before the second starts).
        using var bothStarted = new CountdownEvent(2);
        IProgress<TrainingProgress>? Started(string kind, ulong seed)
        {
            lock (bothStarted) { if (bothStarted.IsSet) return null; bothStarted.Signal(); }
            Assert.True(bothStarted.Wait(TimeSpan.FromSeconds(60)), "the second job never started");
            return null;
        }
        GeneralizationExperiment.RunAll(zoo, kinds, seeds, gs, Path.Combine(_root, "order"), jobs: 2, log: Log, progressFor: Started);
        var started = lines.Where(l => l.Contains(": training (")).Select(l => l[..l.IndexOf(':')]).ToList();
        var order = kinds.SelectMany(k => seeds.Select(x => $"{k} seed {x}")).ToList();
        Assert.Equal(order.Count, started.Count);
        // Both workers hold their first run until the other has one: those two are the first two of the work order.
        Assert.True(started.Take(2).Order().SequenceEqual(order.Take(2).Order()), "the first two runs started: " + string.Join(", ", started));
    }

    [Fact]
    public void ARestrictedResultIsScoredOnlyOnTheCheckpointsAboveTheAccuracy()
    {
        var actual = new float[] { 0.10f, 0.11f, 0.50f, 0.70f, 0.60f, 0.10f };
        var predicted = new float[] { 0.40f, 0.10f, 0.55f, 0.52f, 0.60f, 0.30f };
        var all = new GeneralizationResult("z", "hnp", 0, RegressionMetrics.KendallTau(predicted, actual), RegressionMetrics.RSquared(predicted, actual), 0.5, 3, 10, 2, actual.Length)
        { TestPredicted = predicted, TestActual = actual };
        var above = all.OnTestAccuracyAtLeast(0.2);
        Assert.Equal(3, above.Test);
        Assert.Equal(new[] { 0.50f, 0.70f, 0.60f }, above.TestActual);
        Assert.Equal(new[] { 0.55f, 0.52f, 0.60f }, above.TestPredicted);
        // Among the three, of the pairs by true accuracy (0.50, 0.70), (0.50, 0.60), (0.70, 0.60) only the second is ordered
        // the same by the predictions: τ = (1 − 2) / 3, while with the chance-level checkpoints the split looks ordered (0.41).
        Assert.Equal(-1.0 / 3, above.TestTau, 12);
        Assert.Equal(RegressionMetrics.RSquared(above.TestPredicted, above.TestActual), above.TestR2, 12);
        Assert.True(all.TestTau > 0);
        Assert.Equal(all.TestTau, all.OnTestAccuracyAtLeast(0).TestTau, 12);
        Assert.Contains("τ needs at least 2", Assert.Throws<ArgumentException>(() => all.OnTestAccuracyAtLeast(0.65)).Message);
        var old = all with { TestPredicted = Array.Empty<float>(), TestActual = Array.Empty<float>() };
        Assert.Contains("rerun it", Assert.Throws<InvalidOperationException>(() => old.OnTestAccuracyAtLeast(0.2)).Message);
    }

    [Fact]
    public void HnpOnAFull784PixelMlpIsTooLargeSoItSeesW1PooledToBlocks()
    {
        // Parameters of one 16 → 16 channel layer: the dense factor over the 784 fixed input pixels makes the full HNP layer huge.
        long full = LayerPlan.CountParameters(ClassifierPass.SpaceOf(ZooArchitecture.Mlp3, Symmetry.HiddenNeuron), 16, 16);
        long pooled = LayerPlan.CountParameters(Mlp3PooledAccuracyHnp.CreateWeightSpace(), 16, 16);
        long np = LayerPlan.CountParameters(ClassifierPass.SpaceOf(ZooArchitecture.Mlp3, Symmetry.AllNeuron), 16, 16);
        // The figures docs/results.md quotes.
        Assert.Equal(324_925_552, full);
        Assert.Equal(2_031_232, pooled);
        Assert.Equal(15_968, np);
        Assert.Equal(2_187_968, LayerPlan.CountParameters(Mlp5PooledAccuracyHnp.CreateWeightSpace(), 16, 16));
    }

    [Fact]
    public void InputPoolingSumsPixelBlocksCopiesTheRestAndCommutesWithHiddenPermutations()
    {
        var zooSpace = ClassifierPass.SpaceOf(ZooArchitecture.Mlp3);
        var pooledSpace = Mlp3PooledAccuracyHnp.CreateWeightSpace();
        var pooling = new InputPooling(zooSpace, pooledSpace);
        var rng = new Rng(4);
        var x = new WeightSpaceBatch(zooSpace, 2, 1);
        foreach (var t in x.Tensors) for (int k = 0; k < t.Length; k++) t.Data[k] = (float)rng.Normal();
        var y = new WeightSpaceBatch(pooledSpace, 2, 1);
        pooling.Apply(x, y);
        // Network 1, hidden neuron 5, block (row 2, column 3): pixels rows 8..11, columns 12..15.
        double sum = 0;
        for (int r = 8; r < 12; r++) for (int c = 12; c < 16; c++) sum += x.Tensors[0].Data[(1 * 128 + 5) * 784 + r * 28 + c];
        Assert.Equal(sum, y.Tensors[0].Data[(1 * 128 + 5) * 49 + 2 * 7 + 3], 4);
        for (int t = 1; t < x.Tensors.Length; t++) Assert.Equal(x.Tensors[t].Data, y.Tensors[t].Data);
        // pool(g·x) = g·pool(x) for hidden-neuron permutations g (the same per-layer permutations act on both spaces).
        var g = Permutations.Random(zooSpace, rng);
        var gy = new WeightSpaceBatch(pooledSpace, 2, 1);
        pooling.Apply(Permutations.Apply(x, g), gy);
        Assert.Equal(Permutations.Apply(y, g).Tensors.SelectMany(t => t.Data), gy.Tensors.SelectMany(t => t.Data));
        var e = Assert.Throws<ArgumentException>(() => new InputPooling(ClassifierPass.SpaceOf(ZooArchitecture.Mlp5), pooledSpace));
        Assert.Contains("tensors", e.Message);
    }

    /// <summary>
    /// The probing regressor's features are each network's logits on the probe images under ReLU, then under tanh (checked
    /// against the generated passes network by network), unchanged by hidden-neuron permutations up to rounding.
    /// </summary>
    [Theory]
    [InlineData(ZooArchitecture.Cnn)]
    [InlineData(ZooArchitecture.Mlp3)]
    public void ProbeFeaturesAreTheLogitsUnderBothActivations_AndInvariantToHiddenPermutations(ZooArchitecture arch)
    {
        var model = new ProbeRegressor("probe", arch, 0);
        var space = ClassifierPass.SpaceOf(arch);
        var rng = new Rng(6);
        var x = new WeightSpaceBatch(space, 2, 1);
        foreach (var t in x.Tensors) for (int k = 0; k < t.Length; k++) t.Data[k] = (float)(0.2 * rng.Normal());
        var f = model.Features(x);
        int k0 = ProbeRegressor.ProbeImages, c = 10, per = k0 * c;
        Assert.Equal(new[] { 2, 2 * per }, f.Shape);
        var images = LayerCompiler.Tasks.Models.ProbeSet.Random(k0, 784, ProbeRegressor.ProbeSeed, 0f, 1f);
        var idx = Enumerable.Range(0, 2 * k0).Select(i => i % k0).ToArray();
        foreach (var (act, at) in new[] { (InputActivation.ReLU, 0), (InputActivation.Tanh, per) })
        {
            var logits = new float[2 * per];
            ClassifierPass.For(arch, act).Forward(x, images, idx, k0, logits, null);
            for (int n = 0; n < 2; n++) Assert.Equal(logits.AsSpan(n * per, per).ToArray(), f.Data.AsSpan(n * 2 * per + at, per).ToArray());
        }
        Assert.NotEqual(f.Data.AsSpan(0, per).ToArray(), f.Data.AsSpan(per, per).ToArray()); // the two activations differ
        var moved = model.Features(Permutations.Apply(x, Permutations.Random(space, rng)));
        for (int i = 0; i < f.Length; i++) Assert.True(Math.Abs(f.Data[i] - moved.Data[i]) <= 1e-4f * (1 + Math.Abs(f.Data[i])), $"feature {i}: {f.Data[i]} vs {moved.Data[i]}");
    }

    /// <summary>
    /// The feature regressors (StatNN, flattened MLP, probing) are the project's one features → standardization → MLP model:
    /// each keeps its task name, saves its fitted standardization, and a regressor of the same kind and seed that loads it
    /// gives bitwise the same outputs; a standardization of another feature count is refused naming both counts.
    /// </summary>
    [Theory]
    [InlineData(GeneralizationModelKinds.StatNn, 8 * 7)] // 4 layers × (weight, bias), 7 statistics each
    [InlineData(GeneralizationModelKinds.Mlp, 4970)]
    [InlineData(GeneralizationModelKinds.Probe, 2 * ProbeRegressor.ProbeImages * 10)]
    public void FeatureRegressorsRoundTripTheirStandardization(string kind, int features)
    {
        var space = ClassifierPass.SpaceOf(ZooArchitecture.Cnn);
        var rng = new Rng(11);
        var x = new WeightSpaceBatch(space, 5, 1);
        foreach (var t in x.Tensors) for (int k = 0; k < t.Length; k++) t.Data[k] = (float)(0.3 * rng.Normal());
        var a = Assert.IsAssignableFrom<LayerCompiler.Tasks.Models.FeatureMlpModel>(AccuracyRegressors.Create(kind, ZooArchitecture.Cnn, 4));
        Assert.Equal(kind, a.Kind);
        Assert.Equal(features, a.FeatureCount);
        a.FitInputs(x);
        var y = a.Forward(x).Data.ToArray();
        Assert.Equal(new[] { 5, 1 }, a.Forward(x).Shape);
        var b = AccuracyRegressors.Create(kind, ZooArchitecture.Cnn, 4);
        Assert.Throws<InvalidOperationException>(() => b.Forward(x));
        b.LoadNormalization(a.NormalizationState());
        Assert.Equal(y, b.Forward(x).Data.ToArray());
        var other = AccuracyRegressors.Create(kind == GeneralizationModelKinds.Mlp ? GeneralizationModelKinds.StatNn : GeneralizationModelKinds.Mlp, ZooArchitecture.Cnn, 4);
        other.FitInputs(x);
        var e = Assert.Throws<InvalidDataException>(() => b.LoadNormalization(other.NormalizationState()));
        Assert.Contains($"reads {features} features", e.Message);
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
        var model = AccuracyRegressors.Create(GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp3, 0);
        var e = Assert.Throws<InvalidDataException>(() => zoo.RequireSpace(model.Space, "the hnp regressor"));
        Assert.Contains(dir, e.Message);
        Assert.Contains("W1[128×784]", e.Message);
    }
}
