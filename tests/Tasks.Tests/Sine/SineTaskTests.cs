using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Sine;
using LayerCompiler.Tasks.Zoo;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Sine;

public class SineTaskTests
{
    private static Space SineSpace(int hidden = 6) =>
        Space.FromLayers(new[] { LayerDeclaration.Dense(1, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.HiddenNeuron);

    /// <summary>A tiny sine-wave zoo: SIREN 1-6-6-1 fitted for a few steps on 64 points.</summary>
    internal static string BuildSineZoo(string dir, int train = 24, int validation = 8, int test = 8)
    {
        var net = new MlpInputNetwork(SineSpace(), InputActivation.Sine, 30f, 0f);
        var task = new SineWaveInrTask(seed: 5, train, validation, test, pointCount: 64);
        new ZooBuilder(task, net, new ZooBuildOptions { Directory = dir, Seed = 1, ShardSize = 16, Fit = InrFitProtocols.SineWaves with { MaxSteps = 20 } }).Build();
        return dir;
    }

    private static EquivariantNetwork Interpreted(Space space, int outputs, ulong seed) =>
        EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 4, 4 }, Activation.ReLU, HeadKind.Invariant, outputs, Pooling: HeadPooling.Max), space, seed);

    [Fact]
    public void LinearProbeRecoversAnExactLinearMapAndPredictsUnseenRows()
    {
        var rng = new Rng(2);
        int n = 50, f = 3;
        var x = new Tensor(n, f); var y = new Tensor(n, 2);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < f; j++) x.Data[i * f + j] = (float)(rng.Normal() * (j + 1) + j);
            y.Data[i * 2] = 2 * x.Data[i * f] - 3 * x.Data[i * f + 1] + 5;
            y.Data[i * 2 + 1] = 0.5f * x.Data[i * f + 2] - 1;
        }
        var probe = LinearProbe.Fit(x, y);
        Assert.True(probe.Mse(x, y).Mean < 1e-8, $"MSE {probe.Mse(x, y).Mean}");
        var p = probe.Predict(new Tensor(new float[] { 1, 1, 4 }, 1, 3));
        Assert.Equal(2 - 3 + 5, p.Data[0], 3);
        Assert.Equal(0.5f * 4 - 1, p.Data[1], 3);
        // A ridge penalty shrinks the fit: a worse training MSE.
        Assert.True(LinearProbe.Fit(x, y, 100).Mse(x, y).Mean > 1e-3);
    }

    [Fact]
    public void LinearProbeSelectionPicksThePenaltyWithTheLowestValidationError()
    {
        // Few noisy rows and many useless features: least squares overfits, a penalty generalizes better.
        var rng = new Rng(9);
        Tensor X(int n) { var t = new Tensor(n, 30); for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.Normal(); return t; }
        Tensor Y(Tensor x) { int n = x.Shape[0]; var t = new Tensor(n, 1); for (int i = 0; i < n; i++) t.Data[i] = x.Data[i * 30] + (float)rng.Normal(); return t; }
        var xt = X(35); var yt = Y(xt); var xv = X(200); var yv = Y(xv);
        var chosen = LinearProbe.FitSelected(xt, yt, xv, yv, LinearProbe.DefaultGrid);
        double best = LinearProbe.DefaultGrid.Min(l => LinearProbe.Fit(xt, yt, l).Mse(xv, yv).Mean);
        Assert.Equal(best, chosen.Mse(xv, yv).Mean);
        Assert.True(chosen.Lambda > 0);
    }

    [Fact]
    public void PcaFindsTheDirectionOfLargestVariance()
    {
        var rng = new Rng(4);
        int n = 400;
        var x = new Tensor(n, 3);
        for (int i = 0; i < n; i++)
        {
            double t = rng.Normal() * 3, s = rng.Normal() * 0.5, r = rng.Normal() * 0.1;
            x.Data[i * 3] = (float)(t * 0.6 - s * 0.8 + 1);
            x.Data[i * 3 + 1] = (float)(t * 0.8 + s * 0.6);
            x.Data[i * 3 + 2] = (float)r;
        }
        var (proj, variances) = Pca.Project(x, 2);
        Assert.InRange(variances[0], 7, 11);
        Assert.InRange(variances[1], 0.15, 0.35);
        // The first projection is ±t: its correlation with x·(0.6, 0.8, 0) is ±1.
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            double a = proj.Data[i * 2], b = x.Data[i * 3] * 0.6 + x.Data[i * 3 + 1] * 0.8;
            sxy += a * b; sxx += a * a; syy += b * b;
        }
        double mean = Enumerable.Range(0, n).Average(i => x.Data[i * 3] * 0.6 + x.Data[i * 3 + 1] * 0.8);
        syy -= n * mean * mean;
        Assert.True(Math.Abs(sxy / Math.Sqrt(sxx * syy)) > 0.999);
    }

    [Fact]
    public void ContrastiveEncoderEmbeddingsAreInvariantAndItsViewsDeterministic()
    {
        var space = SineSpace();
        // Per-entry normalization commutes with a permutation g only when its statistics are g-invariant: fit it on a
        // training set closed under g (g an involution: every hidden layer reversed, so {x, g·x} is closed).
        var (g, train) = TestUtil.ClosedUnderReversal(TestUtil.Random(space, 5, 1, 1));
        var model = new ContrastiveEncoder(Interpreted(space, 5, 3), seed: 7);
        model.FitInputs(train);
        var x = TestUtil.Random(space, 4, 1, 2);
        var e = model.Embed(x).Data;
        var permuted = Permutations.Apply(x, g);
        var ep = model.Embed(permuted).Data;
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - ep[i]) <= 1e-4 * (1 + Math.Abs(e[i])), $"embedding {i}: {e[i]} vs {ep[i]}");

        var a = model.Forward(x.Clone()).Data;
        Assert.Equal(a, model.Forward(x.Clone()).Data);                 // same step, same batch: same views
        model.StepCount = () => 1;
        Assert.NotEqual(a, model.Forward(x.Clone()).Data);              // the next step draws other views
        Assert.Equal(2 * 5, model.Forward(x.Clone()).Shape[1]);
        // The two views of a network differ (noise and masks), so row i's halves differ.
        var o = model.Forward(x.Clone()).Data;
        Assert.NotEqual(o.AsSpan(0, 5).ToArray(), o.AsSpan(5, 5).ToArray());
    }

    [Fact]
    public void ContrastiveEncoderBackwardMatchesFiniteDifferencesOfTheInfoNceLoss()
    {
        var space = SineSpace(4);
        var train = TestUtil.Random(space, 8, 1, 1);
        var model = new ContrastiveEncoder(EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 3 }, Activation.GELU, HeadKind.Invariant, 4), space, 5), seed: 2);
        model.FitInputs(train);
        var x = TestUtil.Random(space, 5, 1, 3);
        var loss = new ContrastiveObjective(0.5f);
        float Loss() => loss.Compute(model.Forward(x.Clone()), default).Loss;
        model.Module.ZeroGrad();
        var (_, grad) = loss.Compute(model.Forward(x.Clone()), default);
        model.Backward(grad);
        // Directional derivative along a random direction over every parameter (float32: h = 1e-2, 3 % tolerance).
        var parameters = model.Module.Parameters().ToList();
        var rng = new Rng(8);
        var direction = parameters.Select(p => Enumerable.Range(0, p.Length).Select(_ => (float)rng.Normal()).ToArray()).ToList();
        double analytic = 0;
        for (int k = 0; k < parameters.Count; k++) for (int i = 0; i < parameters[k].Length; i++) analytic += parameters[k].Grad.Data[i] * direction[k][i];
        const float h = 1e-2f;
        void Move(float s) { for (int k = 0; k < parameters.Count; k++) for (int i = 0; i < parameters[k].Length; i++) parameters[k].Data[i] += s * direction[k][i]; }
        Move(h); double plus = Loss(); Move(-2 * h); double minus = Loss(); Move(h);
        double numeric = (plus - minus) / (2 * h);
        Assert.True(Math.Abs(analytic - numeric) <= 0.03 * Math.Abs(numeric) + 1e-4, $"analytic {analytic}, numeric {numeric}");
    }

    [Fact]
    public void FrequencyRegressionTrainsResumesAndWritesItsResult()
    {
        using var dir = new TempDirectory();
        string zoo = BuildSineZoo(dir.File("zoo"));
        var reader = SineZoo.Open(zoo, "test");
        var (train, val, test) = (reader.Load("train"), reader.Load("validation"), reader.Load("test"));
        var training = new RegressionTraining(Epochs: 3, BatchSize: 8, LearningRate: 1e-3f, WeightDecay: 5e-4);
        WeightModel Model() => new EquivariantWeightModel("equivariant", Interpreted(reader.Architecture.CreateSpace(), 1, 4));
        var run = FrequencyRegression.Train(Model(), train, val, test, training, seed: 0, dir.File("run"));
        Assert.Equal(3, run.Epochs);
        Assert.True(double.IsFinite(run.TestMse) && run.TestMse > 0);
        Assert.True(File.Exists(dir.File("run/result.json")));
        // A finished run resumes to the same model: the same test MSE, bit for bit.
        Assert.Equal(run, FrequencyRegression.Train(Model(), train, val, test, training, seed: 0, dir.File("run")));
        // And a fresh run of the same settings is bitwise the same too (determinism).
        Assert.Equal(run, FrequencyRegression.Train(Model(), train, val, test, training, seed: 0, dir.File("run2")));
        // Another setting into the same directory is refused, naming both.
        var e = Assert.Throws<InvalidOperationException>(() => FrequencyRegression.Train(Model(), train, val, test, training with { LearningRate = 2e-3f }, 0, dir.File("run")));
        Assert.Contains("lr=0.002", e.Message);
    }

    [Fact]
    public void SineTasksRefuseAZooOfAnotherTask()
    {
        using var dir = new TempDirectory();
        var images = new byte[6 * 16]; var labels = new byte[6];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i * 7);
        var task = new ImageInrTask("tiny-images", 4, 4, images, labels, images, labels, 2, 2, 0);
        var net = new MlpInputNetwork(Space.FromLayers(new[] { LayerDeclaration.Dense(2, 4), LayerDeclaration.Dense(4, 1) }, Symmetry.HiddenNeuron), InputActivation.Sine, 30f, 0.5f);
        new ZooBuilder(task, net, new ZooBuildOptions { Directory = dir.Path, ShardSize = 8, Fit = InrFitProtocols.FashionMnist with { MaxSteps = 2 } }).Build();
        var e = Assert.Throws<ArgumentException>(() => SineZoo.Open(dir.Path, "sine regress"));
        Assert.Contains("tiny-images zoo", e.Message);
        Assert.Contains("--task sine-waves", e.Message);
    }

    [Fact]
    public void EmbeddingStudyReadsOutEveryRepresentationAndWritesTheReport()
    {
        using var dir = new TempDirectory();
        string zoo = BuildSineZoo(dir.File("zoo"));
        var space = ZooReader.Open(zoo).Architecture.CreateSpace();
        var results = SineEmbeddings.Study(zoo, new ulong[] { 0 }, seed => new ContrastiveEncoder(Interpreted(space, 4, seed), seed),
            new ContrastiveTraining(Epochs: 2, BatchSize: 8, LearningRate: 5e-3f, WeightDecay: 5e-4), dir.File("out"));
        Assert.Equal(new[] { "weight statistics", "flattened weights", "equivariant encoder, untrained", "equivariant encoder, SimCLR" }, results.Select(r => r.Representation));
        Assert.All(results, r => Assert.True(double.IsFinite(r.TestMse) && Math.Abs(r.TestMse - (r.AmplitudeMse + r.FrequencyMse) / 2) < 1e-9));
        string html = File.ReadAllText(dir.File("out/report.html"));
        Assert.Contains("coloured by amplitude a", html);
        Assert.Contains("<circle", html);
        Assert.True(File.Exists(dir.File("out/seed0/training-checkpoint.safetensors")));
        Assert.Contains("| equivariant encoder, SimCLR |", File.ReadAllText(dir.File("out/results.md")));
    }
}
