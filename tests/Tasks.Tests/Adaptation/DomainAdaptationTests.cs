using System.Collections.Generic;
using System.Xml.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Adaptation;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Reports;

namespace LayerCompiler.Tasks.Tests.Adaptation;

/// <summary>
/// Domain adaptation: the Δv model commutes with permutations of the binary CNN's hidden channels, the adaptation loss's
/// gradient matches float64 central differences, a seed gives bitwise the same zoo and results (and resumes to them), and
/// bad inputs are refused saying what is wrong.
/// </summary>
public sealed class DomainAdaptationTests
{
    private static readonly ClassifierReference64 Reference = new(new ClassifierReference64.Layer[]
    {
        new(true, 1, 16, 3, 3, 2), new(true, 16, 16, 3, 3, 2), new(true, 16, 16, 3, 3, 2), new(false, 16, 2),
    }, InputActivation.ReLU, 1, 28, 28);

    /// <summary>Random images in [0, 1] with labels i mod 10 (every class present).</summary>
    private static ClassifierImages Images(int count, ulong seed)
    {
        var rng = new Rng(seed);
        var px = new float[count * 784];
        for (int i = 0; i < count; i++)
        {
            // A class-dependent blob plus noise, so that the classes are learnable.
            int label = i % 10, cy = 4 + 2 * label, cx = 24 - 2 * label;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    px[i * 784 + y * 28 + x] = (float)Math.Clamp(0.3 * rng.NextDouble() + (Math.Abs(y - cy) < 4 && Math.Abs(x - cx) < 4 ? 0.7 : 0), 0, 1);
        }
        return new ClassifierImages(px, Enumerable.Range(0, count).Select(i => i % 10).ToArray(), count, 784);
    }

    private static AdaptationSettings Tiny => new()
    {
        Pairs = 2, ClassifiersPerPair = 4, SourceImages = 200, HeldOutImages = 100, ClassifierSteps = 4, BatchSize = 4,
        DrawsPerClassifier = 2, ModelEpochs = 2, ModelBatch = 2, FineTuneSteps = 2,
    };

    private static AdaptationImages TinyImages(AdaptationSettings s)
    {
        var train = Images(s.SourceImages, 11);
        var test = Images(s.HeldOutImages, 12);
        return new AdaptationImages(train, s.Corruption.Apply(train, 21), test, s.Corruption.Apply(test, 22));
    }

    [Fact]
    public void DeltaModelCommutesWithRandomPermutationsOfTheHiddenChannels()
    {
        var model = new CnnAdapter(seed: 3);
        var space = model.Space;
        Assert.Equal(3, space.Layers.Count(l => l.Permuted));                      // the three conv layers' 16 channels
        var x = TestUtil.Random(space, 2, 1, seed: 4, scale: 0.5);
        var y = model.ForwardEquivariant(x.Clone()).Clone();                      // outputs live in the model's buffers
        var rng = new Rng(5);
        for (int trial = 0; trial < 3; trial++)
        {
            var g = Permutations.Random(space, rng);
            var yp = model.ForwardEquivariant(Permutations.Apply(x, g)).Clone();
            Assert.True(TestUtil.RelativeError(Permutations.Apply(y, g), yp) < 1e-5, $"trial {trial}: Δv(πv) ≠ πΔv(v)");
            // The test can fail: permuting one conv's output channels without the next conv's inputs is not a symmetry.
            int w2 = Enumerable.Range(0, space.Tensors.Count).Where(t => !space.Tensors[t].IsBias).ElementAt(1);
            var broken = Permutations.ApplyPerAxis(x, (t, a) => t == w2 && a == 1 ? g[space.Tensors[t].Axes[a].Layer] : null);
            Assert.True(TestUtil.RelativeError(model.ForwardEquivariant(broken), yp) > 1e-3);
        }
    }

    [Fact]
    public void AdaptedClassifiersCommuteWithHiddenPermutationsAndPermutedClassifiersKeepTheirLogits()
    {
        var pass = ClassifierPass.ForBinaryCnn();
        var (g, train) = TestUtil.ClosedUnderReversal(TestUtil.Random(pass.Space, 3, 1, seed: 6, scale: 0.3));
        var editor = AdaptationModel.Create(seed: 7);
        Assert.Equal(0.01f, editor.Gamma);
        editor.FitInputs(train);
        var v = TestUtil.Random(pass.Space, 2, 1, seed: 8, scale: 0.3);
        var adapted = RenderingObjective.Unflatten(editor.Predict(v), pass.Space);
        var adaptedOfPermuted = RenderingObjective.Unflatten(editor.Predict(Permutations.Apply(v, g)), pass.Space);
        Assert.True(TestUtil.RelativeError(Permutations.Apply(adapted, g), adaptedOfPermuted) < 1e-5);
        // Function preservation: a hidden permutation of a classifier leaves its logits unchanged, so the loss is invariant.
        var images = Images(6, 9);
        var idx = Enumerable.Range(0, 2 * 6).Select(i => i % 6).ToArray();
        var a = new float[2 * 6 * 2]; var b = new float[a.Length];
        pass.Forward(adapted, images.Pixels, idx, 6, a, null);
        pass.Forward(adaptedOfPermuted, images.Pixels, idx, 6, b, null);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 4);
    }

    [Fact]
    public void AdaptationLossGradientWithRespectToDeltaMatchesFloat64FiniteDifferences()
    {
        var pass = ClassifierPass.ForBinaryCnn();
        const int n = 2, k = 3;
        const double s = 0.5;
        var images = Images(20, 10);
        var objective = new TargetDomainObjective(pass, images, k);
        var v = RenderingObjective.Flatten(TestUtil.Random(pass.Space, n, 1, seed: 12, scale: 0.4));
        var delta = RenderingObjective.Flatten(TestUtil.Random(pass.Space, n, 1, seed: 13, scale: 0.4));
        // Items: pair (2, 5) and (0, 9), images of those classes.
        var values = new Tensor(new float[] { 2, 5, 2, 15, 5, 0, 9, 0, 19, 9 }, n, 2 + k);
        int p = v.Shape[1];
        double[] Adapted(double[] d) => Enumerable.Range(0, n * p).Select(i => v.Data[i] + s * d[i]).ToArray();
        // Every (network, image) item of the adapted weights: its float64 logits and its binary label.
        IEnumerable<(double[] Z, int Y)> Items64(double[] d)
        {
            var w = Adapted(d);
            for (int i = 0; i < n; i++)
            {
                var tensors = new double[pass.Space.Tensors.Count][];
                int o = 0;
                for (int t = 0; t < tensors.Length; t++) { int size = pass.Space.Tensors[t].Size; tensors[t] = w.AsSpan(i * p + o, size).ToArray(); o += size; }
                for (int j = 0; j < k; j++)
                {
                    int img = (int)values.Data[i * (2 + k) + 2 + j], y = images.Labels[img] == (int)values.Data[i * (2 + k)] ? 0 : 1;
                    yield return (Reference.Logits(tensors, images.Pixels.AsSpan(img * 784, 784), default), y);
                }
            }
        }
        double Loss64(double[] d) => Items64(d).Sum(e =>
        {
            double mx = Math.Max(e.Z[0], e.Z[1]);
            return mx + Math.Log(Math.Exp(e.Z[0] - mx) + Math.Exp(e.Z[1] - mx)) - e.Z[e.Y];
        }) / (n * k);
        long Correct64(double[] d) => Items64(d).LongCount(e => (e.Z[1] > e.Z[0] ? 1 : 0) == e.Y);
        var d0 = delta.Data.Select(x => (double)x).ToArray();
        var adaptedRows = new Tensor(Adapted(d0).Select(x => (float)x).ToArray(), n, p);
        var (loss, grad) = objective.Compute64(adaptedRows, values);
        Assert.Equal(Loss64(d0), loss, 1e-5);
        Assert.Equal((Correct64(d0), (long)(n * k)), objective.Correct(adaptedRows, values));
        // d loss / d Δ = s · d loss / d v'.
        var rng = new Rng(14);
        double scale = grad.Data.Max(x => Math.Abs((double)x)) * s;
        Assert.True(scale > 1e-6, "the gradient must not vanish for the check to mean anything");
        const double h = 1e-4;
        for (int c = 0; c < 60; c++)
        {
            int i = rng.NextInt(n * p);
            var plus = (double[])d0.Clone(); plus[i] += h;
            var minus = (double[])d0.Clone(); minus[i] -= h;
            double fd = (Loss64(plus) - Loss64(minus)) / (2 * h), analytic = s * grad.Data[i];
            Assert.True(Math.Abs(fd - analytic) <= 2e-3 * scale + 1e-6, $"entry {i}: finite difference {fd:G6}, analytic {analytic:G6}");
        }
    }

    [Fact]
    public void ASeedGivesBitwiseTheSameZooAndResultsAndAnInterruptedRunResumesToThem()
    {
        var s = Tiny;
        var im = TinyImages(s);
        using var d1 = new TempDirectory();
        using var d2 = new TempDirectory();
        var zoo1 = AdaptationZoo.BuildOrLoad(d1.File("zoo"), s, im.SourceTrain, im.SourceHeldOut, im.TargetHeldOut);
        var zoo2 = AdaptationZoo.BuildOrLoad(d2.File("zoo"), s, im.SourceTrain, im.SourceHeldOut, im.TargetHeldOut);
        for (int k = 0; k < s.Pairs; k++)
            Assert.Equal(File.ReadAllBytes(Path.Combine(d1.File("zoo"), AdaptationZoo.ShardFile(k))), File.ReadAllBytes(Path.Combine(d2.File("zoo"), AdaptationZoo.ShardFile(k))));
        Assert.Equal(8, zoo1.Count);
        Assert.All(zoo1.Pairs, p => Assert.True(p.A < p.B));
        // A lost shard is rebuilt bitwise.
        byte[] shard1 = File.ReadAllBytes(Path.Combine(d1.File("zoo"), AdaptationZoo.ShardFile(1)));
        File.Delete(Path.Combine(d1.File("zoo"), AdaptationZoo.ShardFile(1)));
        var again = AdaptationZoo.BuildOrLoad(d1.File("zoo"), s, im.SourceTrain, im.SourceHeldOut, im.TargetHeldOut);
        Assert.Equal(shard1, File.ReadAllBytes(Path.Combine(d1.File("zoo"), AdaptationZoo.ShardFile(1))));
        Assert.Equal(zoo1.Weights.Flatten(), again.Weights.Flatten());

        var r1 = DomainAdaptation.RunSeed(zoo1, im, s, 1, d1.File("seed1"));
        var r2 = DomainAdaptation.RunSeed(zoo2, im, s, 1, d2.File("seed1"));
        Assert.Equal(r1, r2);
        Assert.NotEqual((double)0.01f, r1.Scale);                                // s was trained
        var other = DomainAdaptation.RunSeed(zoo2, im, s, 2, d2.File("seed2"));
        Assert.NotEqual(r1.Scale, other.Scale);
        // A finished run only reloads its best epoch: the same result.
        Assert.Equal(r1, DomainAdaptation.RunSeed(zoo1, im, s, 1, d1.File("seed1")));
        // Interrupted after epoch 1 of 2 (a checkpoint of a 1-epoch run is not the same run: train to epoch 1 by cancelling).
        using var d3 = new TempDirectory();
        var cts = new CancellationTokenSource();
        var stopAfterFirst = new LayerCompiler.Tasks.Models.WeightModelTraining.SyncProgress(p => { if (p.Kind == ProgressKind.EpochEnd) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => DomainAdaptation.RunSeed(zoo1, im, s, 1, d3.File("seed1"), stopAfterFirst, null, cts.Token));
        Assert.True(File.Exists(Path.Combine(d3.File("seed1"), "training-checkpoint.safetensors")));
        Assert.Equal(r1, DomainAdaptation.RunSeed(zoo1, im, s, 1, d3.File("seed1")));
    }

    [Fact]
    public void ATenClassZooOrAZooOfOtherSettingsIsRefusedNamingTheFileAndTheDifference()
    {
        using var d = new TempDirectory();
        File.WriteAllText(d.File(ClassifierZooFormat.ManifestFile), "{}");
        var e = Assert.Throws<InvalidDataException>(() => AdaptationZoo.CheckDirectory(d.Path, Tiny.ZooIdentity()));
        Assert.Contains(d.File(ClassifierZooFormat.ManifestFile), e.Message);
        Assert.Contains("10-class", e.Message);

        using var z = new TempDirectory();
        var s = Tiny;
        var im = TinyImages(s);
        AdaptationZoo.BuildOrLoad(z.Path, s with { Pairs = 1, ClassifiersPerPair = 8 }, im.SourceTrain, im.SourceHeldOut, im.TargetHeldOut);
        var e2 = Assert.Throws<InvalidOperationException>(() => AdaptationZoo.BuildOrLoad(z.Path, s with { Pairs = 1, ClassifiersPerPair = 8, ClassifierSteps = 3 }, im.SourceTrain, im.SourceHeldOut, im.TargetHeldOut));
        Assert.Contains("classifier_steps: expected '3', found '4'", e2.Message);

        File.WriteAllText(Path.Combine(z.Path, AdaptationZoo.ManifestFile), "not json");
        var e3 = Assert.Throws<InvalidDataException>(() => AdaptationZoo.CheckDirectory(z.Path, s.ZooIdentity()));
        Assert.Contains(AdaptationZoo.ManifestFile, e3.Message);

        Assert.Throws<ArgumentOutOfRangeException>(() => (s with { Pairs = 46 }).Validate());
        Assert.Throws<ArgumentException>(() => (s with { Pairs = 1, ClassifiersPerPair = 4 }).Validate());
    }

    [Fact]
    public void TheObjectiveRefusesImagesOfAnotherClassWrongShapesAndTenClassPasses()
    {
        var pass = ClassifierPass.ForBinaryCnn();
        var images = Images(20, 10);
        var objective = new TargetDomainObjective(pass, images, 2);
        var w = RenderingObjective.Flatten(TestUtil.Random(pass.Space, 1, 1, seed: 1, scale: 0.3));
        var e = Assert.Throws<ArgumentException>(() => objective.Compute(w, new TrainingTargets(null, new Tensor(new float[] { 2, 5, 2, 3 }, 1, 4))));
        Assert.Contains("Image 3 has class 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => objective.Compute(w, new TrainingTargets(null, new Tensor(new float[] { 2, 5, 2, 99 }, 1, 4))));
        Assert.Contains("image 99", e.Message);
        e = Assert.Throws<ArgumentException>(() => objective.Compute(new Tensor(1, 10), new TrainingTargets(null, new Tensor(new float[] { 2, 5, 2, 5 }, 1, 4))));
        Assert.Contains("[batch, 4834]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new TargetDomainObjective(ClassifierPass.For(ZooArchitecture.Cnn, InputActivation.ReLU), images, 2));
        Assert.Contains("10 outputs", e.Message);
    }
}
