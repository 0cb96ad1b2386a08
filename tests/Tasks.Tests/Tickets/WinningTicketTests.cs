using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Tickets;

namespace LayerCompiler.Tasks.Tests.Tickets;

/// <summary>
/// Winning-ticket masks on the 784→128→128→10 MLP with synthetic images: IMP masks have exactly the requested per-tensor
/// sparsity over weights (biases kept) and keep the largest magnitudes; masked training keeps pruned weights (and their
/// optimizer state) at exactly zero; the mask predictor is equivariant under hidden-neuron permutations (and sensitive to
/// uncoupled ones); the loss gradient matches finite differences; the whole experiment is bitwise reproducible.
/// </summary>
public sealed class WinningTicketTests
{
    private static readonly WeightSpace Space = ClassifierPass.SpaceOf(ZooArchitecture.Mlp3);

    /// <summary>Images whose label is a bright bar at a class-dependent place, on noise.</summary>
    private static ClassifierImages Images(int count, ulong seed)
    {
        var rng = new Rng(seed);
        var px = new float[count * 784]; var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int c = (int)(rng.NextUInt64() % 10); labels[i] = c;
            for (int p = 0; p < 784; p++) px[i * 784 + p] = (float)(0.2 * rng.NextDouble());
            for (int y = 2; y < 26; y++) px[i * 784 + y * 28 + 2 + 2 * c] = 1f;
        }
        return new ClassifierImages(px, labels, count, 784);
    }

    private static float[] RandomWeights(ulong seed) => WinningTicketExperiment.InitialWeights(Space, seed, 0);

    [Theory]
    [InlineData(0.95)]
    [InlineData(0.5)]
    [InlineData(0.999)]
    public void ImpMaskHasExactlyTheRequestedSparsityPerWeightTensorKeepsBiasesAndTheLargestMagnitudes(double sparsity)
    {
        var w = RandomWeights(7);
        // Ties: a block of equal magnitudes (of both signs) must not change the counts.
        for (int k = 0; k < 2000; k++) w[k] = k % 2 == 0 ? 0.03f : -0.03f;
        var mask = PruningMasks.Magnitude(w, Space, sparsity);
        int o = 0; long weights = 0, kept = 0;
        foreach (var t in Space.Tensors)
        {
            var m = mask.AsSpan(o, t.Size); var v = w.AsSpan(o, t.Size);
            Assert.All(m.ToArray(), x => Assert.True(x == 0f || x == 1f));
            int ones = m.ToArray().Count(x => x == 1f);
            if (t.IsBias) Assert.Equal(t.Size, ones);
            else
            {
                int expected = (int)Math.Round((1 - sparsity) * t.Size, MidpointRounding.AwayFromZero);
                Assert.Equal(Math.Max(1, expected), ones);
                float minKept = float.MaxValue, maxPruned = 0;
                for (int k = 0; k < t.Size; k++)
                    if (m[k] == 1f) minKept = Math.Min(minKept, Math.Abs(v[k])); else maxPruned = Math.Max(maxPruned, Math.Abs(v[k]));
                Assert.True(minKept >= maxPruned, $"{t.Name}: a pruned weight ({maxPruned}) is larger than a kept one ({minKept})");
                weights += t.Size; kept += ones;
            }
            o += t.Size;
        }
        Assert.Equal(1 - (double)kept / weights, PruningMasks.WeightSparsity(mask, Space), 12);
        Assert.True(Math.Abs(PruningMasks.WeightSparsity(mask, Space) - sparsity) <= 3.0 / weights);
        // Deterministic, and the random mask has the same counts.
        Assert.Equal(mask, PruningMasks.Magnitude(w, Space, sparsity));
        var r = PruningMasks.Random(Space, sparsity, new Rng(3));
        Assert.Equal(PruningMasks.WeightSparsity(mask, Space), PruningMasks.WeightSparsity(r, Space));
    }

    [Fact]
    public void BadSparsitiesScoresAndMasksAreRefusedNamingTheValue()
    {
        var w = RandomWeights(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => PruningMasks.Magnitude(w, Space, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PruningMasks.Magnitude(w, Space, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => PruningMasks.Magnitude(w, Space, double.NaN));
        Assert.Throws<ArgumentException>(() => PruningMasks.Magnitude(w.AsSpan(1).ToArray(), Space, 0.9));
        var nan = (float[])w.Clone(); nan[5] = float.NaN;
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => PruningMasks.KeepLargest(nan, Space, 0.9)).Message);
        var flat = new Parameter(w.Length);
        var half = new float[w.Length]; half[3] = 0.5f;
        var e = Assert.Throws<ArgumentException>(() => new BatchedClassifierRun(flat, new Adam(new[] { flat }), new Rng(1), new[] { 0 }, 0, half));
        Assert.Contains("0.5", e.Message);
        Assert.Throws<ArgumentException>(() => new BatchedClassifierRun(flat, new Adam(new[] { flat }), new Rng(1), new[] { 0 }, 0, new float[10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WinningTicketSettings { Sparsity = 1 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new WinningTicketSettings { HeldOutPairs = 0 }.Validate());
    }

    [Fact]
    public void MaskedTrainingKeepsPrunedWeightsAndTheirOptimizerStateAtExactlyZero()
    {
        var train = Images(64, 1);
        var pass = ClassifierPass.For(ZooArchitecture.Mlp3, InputActivation.ReLU);
        var u0 = RandomWeights(2);
        var mask = PruningMasks.Random(Space, 0.9, new Rng(4));
        var runs = new List<BatchedClassifierRun>();
        var optimizers = new List<Optimizer>();
        for (int i = 0; i < 3; i++)
        {
            var flat = new Parameter(u0.Length); u0.CopyTo(flat.Data, 0);
            // Adam with coupled weight decay, SGD with weight decay, and a dense Adam run for contrast.
            Optimizer opt = i == 1 ? new Sgd(new[] { flat }, 0.05f, weightDecay: 1e-2) { DecayAllParameters = true } : new Adam(new[] { flat }, 1e-2f, weightDecay: 1e-2) { DecayAllParameters = true };
            optimizers.Add(opt);
            runs.Add(new BatchedClassifierRun(flat, opt, new Rng(10 + (ulong)i), Enumerable.Range(0, 64).ToArray(), 0, i < 2 ? mask : null));
        }
        var trainer = new BatchedClassifierTrainer(pass, runs, train, 8);
        for (int s = 0; s < 12; s++) trainer.Step();
        for (int i = 0; i < 2; i++)
        {
            var w = runs[i].Flat.Data;
            int changedKept = 0;
            for (int k = 0; k < w.Length; k++)
            {
                if (mask[k] == 0f) Assert.True(w[k] == 0f && !float.IsNegative(w[k]), $"run {i}: pruned parameter {k} is {w[k]}");
                else if (w[k] != u0[k]) changedKept++;
            }
            Assert.True(changedKept > 1000, $"run {i}: only {changedKept} kept parameters changed");
            // The weights the trainer's batch holds are the same (what the generated pass computes with).
            var inBatch = new float[w.Length]; ClassifierZooBuilder.Gather(trainer.Weights, i, inBatch);
            Assert.Equal(w, inBatch);
            foreach (var (name, state) in optimizers[i].StateDict())
                if (state.Length == w.Length)
                    for (int k = 0; k < w.Length; k++) if (mask[k] == 0f) Assert.True(state.Data[k] == 0f, $"run {i}: optimizer state {name} of pruned parameter {k} is {state.Data[k]}");
        }
        // The dense run moves the entries the mask prunes.
        int moved = 0;
        for (int k = 0; k < u0.Length; k++) if (mask[k] == 0f && runs[2].Flat.Data[k] != u0[k]) moved++;
        Assert.True(moved > 10_000, $"the dense run moved only {moved} of the masked entries");
    }

    private static float[] Permute(float[] flat, Func<WeightSpaceBatch, WeightSpaceBatch> g)
    {
        var b = new WeightSpaceBatch(Space, 1, 1);
        ClassifierZooBuilder.Scatter(flat, b, 0);
        var r = new float[flat.Length];
        ClassifierZooBuilder.Gather(g(b), 0, r);
        return r;
    }

    private static double RelativeError(float[] a, float[] b)
    {
        double d = 0, n = 0;
        for (int k = 0; k < a.Length; k++) { d += (double)(a[k] - b[k]) * (a[k] - b[k]); n += (double)b[k] * b[k]; }
        return Math.Sqrt(d / n);
    }

    [Fact]
    public void ThePredictorIsEquivariantUnderHiddenNeuronPermutationsAndSensitiveToUncoupledOnes()
    {
        var predictor = new TicketMaskPredictor(5);
        // Make the parameters non-trivial: a few training steps on random pairs.
        var xs = new[] { RandomWeights(11), RandomWeights(12) };
        var ms = xs.Select(x => PruningMasks.Magnitude(x, Space, 0.95)).ToArray();
        predictor.Train(xs, ms, 2, 1, 1e-2f, 1);
        var u = RandomWeights(13);
        var y = predictor.Logits(new[] { u })[0];
        var rng = new Rng(14);
        for (int trial = 0; trial < 3; trial++)
        {
            var g = Permutations.Random(Space, rng);   // the hidden-neuron space: layers 1 and 2 only
            Assert.Null(g[0]); Assert.Null(g[3]);
            var gu = Permute(u, b => Permutations.Apply(b, g));
            var ygu = predictor.Logits(new[] { gu })[0];
            var gy = Permute(y, b => Permutations.Apply(b, g));
            double err = RelativeError(ygu, gy);
            Assert.True(err < 1e-5, $"trial {trial}: relative error {err}");
            // The predicted mask moves with the weights.
            var m = PruningMasks.KeepLargest(ygu, Space, 0.95);
            var gm = Permute(PruningMasks.KeepLargest(y, Space, 0.95), b => Permutations.Apply(b, g));
            Assert.True(m.Zip(gm).Count(p => p.First != p.Second) <= 4, "the predicted mask of permuted weights is not the permuted mask");
        }
        // Sensitivity: permute the rows of W1 (and b1) but not the columns of W2: not a symmetry, the output must not follow.
        var p1 = rng.Permutation(128);
        Func<WeightSpaceBatch, WeightSpaceBatch> uncoupled = b => Permutations.ApplyPerAxis(b, (t, a) => Space.Tensors[t].LayerNumber == 1 && a == 0 ? p1 : null);
        var yb = predictor.Logits(new[] { Permute(u, uncoupled) })[0];
        Assert.True(RelativeError(yb, Permute(y, uncoupled)) > 1e-3, "the predictor does not see how layers are coupled");
    }

    [Fact]
    public void MaskLossGradientMatchesFiniteDifferencesAndIgnoresBiases()
    {
        var logits = new WeightSpaceBatch(Space, 2, 1);
        var rng = new Rng(3);
        foreach (var t in logits.Tensors) for (int k = 0; k < t.Length; k++) t.Data[k] = (float)(rng.Normal() * 2);
        var targets = new[] { PruningMasks.Random(Space, 0.95, new Rng(1)), PruningMasks.Random(Space, 0.9, new Rng(2)) };
        var (loss, grad) = MaskLogitLoss.Compute(logits, targets);
        Assert.True(loss > 0);
        int w2 = Space.Tensors.ToList().FindIndex(t => t.Name.Contains("2") && !t.IsBias);
        int b1 = Space.Tensors.ToList().FindIndex(t => t.IsBias);
        Assert.All(grad.Tensors[b1].Data, v => Assert.Equal(0f, v));
        // A kept and a pruned entry of network 1 in W2.
        int size = Space.Tensors[w2].Size, off = 0;
        for (int t = 0; t < w2; t++) off += Space.Tensors[t].Size;
        int keptK = Enumerable.Range(0, size).First(k => targets[1][off + k] == 1f), prunedK = Enumerable.Range(0, size).First(k => targets[1][off + k] == 0f);
        foreach (int k in new[] { keptK, prunedK })
        {
            int at = size + k;   // network 1
            float z = logits.Tensors[w2].Data[at];
            const float h = 1e-2f;
            logits.Tensors[w2].Data[at] = z + h; double lp = MaskLogitLoss.Compute(logits, targets).Loss;
            logits.Tensors[w2].Data[at] = z - h; double lm = MaskLogitLoss.Compute(logits, targets).Loss;
            logits.Tensors[w2].Data[at] = z;
            double fd = (lp - lm) / (2 * h), an = grad.Tensors[w2].Data[at];
            Assert.True(Math.Abs(fd - an) <= 1e-3 * Math.Abs(an), $"entry {k}: finite difference {fd}, analytic {an}");
        }
        Assert.Throws<ArgumentException>(() => MaskLogitLoss.Compute(logits, new[] { targets[0] }));
    }

    [Fact]
    public void ThePredictorTrainsThroughTheOneTrainerExactlyAsAnAdamLoopInTheTrainersOrder()
    {
        // Three pairs, batch 2 (a full and a short batch per epoch), two epochs: the trainer's steps against a hand-written
        // Adam loop over the same order (Rng.ForEpoch(seed, epoch, 1), the trainer's documented stream) and MaskLogitLoss.
        var xs = new[] { RandomWeights(21), RandomWeights(22), RandomWeights(23) };
        var ms = xs.Select(x => PruningMasks.Magnitude(x, Space, 0.95)).ToArray();
        const ulong orderSeed = 7; const float lr = 3e-3f;
        var viaTrainer = new TicketMaskPredictor(5);
        var epochs = new List<(int, double)>();
        var history = viaTrainer.Train(xs, ms, 2, 2, lr, orderSeed, (e, l) => epochs.Add((e, l)));

        var manual = new TicketMaskPredictor(5);
        var adam = new Adam(manual.Model.Parameters(), lr);
        manual.Model.Train(true);
        var expected = new double[2];
        for (int e = 0; e < 2; e++)
        {
            var order = Rng.ForEpoch(orderSeed, e + 1, 1).Permutation(xs.Length);
            double sum = 0;
            for (int first = 0; first < order.Length; first += 2)
            {
                var idx = order.Skip(first).Take(2).ToArray();
                var logits = manual.Model.ForwardEquivariant(manual.Inputs(idx.Select(i => xs[i]).ToArray()));
                var (loss, grad) = MaskLogitLoss.Compute(logits, idx.Select(i => ms[i]).ToArray());
                manual.Model.ZeroGrad();
                manual.Model.BackwardEquivariant(grad);
                adam.Step();
                sum += (float)loss * idx.Length;
            }
            expected[e] = sum / xs.Length;
        }
        Assert.Equal(new[] { (1, history[0]), (2, history[1]) }, epochs);
        for (int e = 0; e < 2; e++) Assert.True(Math.Abs(history[e] - expected[e]) <= 1e-5 * expected[e], $"epoch {e + 1}: trainer {history[e]}, loop {expected[e]}");
        var a = viaTrainer.Logits(new[] { xs[0] })[0]; var b = manual.Logits(new[] { xs[0] })[0];
        Assert.True(RelativeError(a, b) < 1e-4, $"logits differ by {RelativeError(a, b)}");
        // The objective is the loss on flat [batch, dimension] outputs; a wrong width is refused naming both.
        var obj = new MaskLogitObjective(Space);
        var err = Assert.Throws<ArgumentException>(() => obj.Compute(new Tensor(1, 7), new LayerCompiler.Runtime.Training.TrainingTargets(null, new Tensor(1, 7))));
        Assert.Contains($"[batch, {Space.Dimension}]", err.Message);
    }

    [Fact]
    public void TheTicketReportDrawsAccuracyBarsPerMaskKindWithSeedSpread()
    {
        WinningTicketResult R(ulong seed, double shift) => new(seed, 0.77 + shift, 0.66 + shift, 0.58 + shift, 0.48 + shift, 0.52 + shift, 0.165, 0.05, 0.14, 0.95, new[] { 0.69, 0.65, 0.61 });
        var report = TicketReport.Build(new[] { R(1, 0), R(2, 0.01), R(3, -0.01) }, WinningTicketSettings.Quick(1), "tickets run --quick");
        System.Xml.Linq.XNamespace svg = "http://www.w3.org/2000/svg";
        var doc = System.Xml.Linq.XDocument.Parse(report.Render().Replace("<!DOCTYPE html>", ""));
        var accuracy = doc.Descendants(svg + "svg").Single(e => e.Element(svg + "title")!.Value.StartsWith("Test accuracy per mask"));
        var bars = accuracy.Descendants(svg + "rect").Where(r => (string?)r.Attribute("class") == "bar").ToList();
        Assert.Equal(TicketReport.MaskKinds, bars.Select(b => (string?)b.Attribute("data-group")));
        Assert.All(bars, b => Assert.Equal("3", (string?)b.Attribute("data-count")));
        Assert.Equal(58.0, double.Parse((string)bars[2].Attribute("data-mean")!, System.Globalization.CultureInfo.InvariantCulture), 9);
        Assert.Equal(1.0, double.Parse((string)bars[2].Attribute("data-std")!, System.Globalization.CultureInfo.InvariantCulture), 9);
        Assert.Equal(15, accuracy.Descendants(svg + "circle").Count());   // a dot per seed and mask kind
        Assert.Throws<ArgumentException>(() => TicketReport.Build(Array.Empty<WinningTicketResult>(), WinningTicketSettings.Quick(1)));
        var nan = R(4, 0) with { Predicted = double.NaN };
        Assert.Contains("'predicted', value 0 is NaN", Assert.Throws<ArgumentException>(() => TicketReport.Build(new[] { nan }, WinningTicketSettings.Quick(4))).Message);
    }

    private static readonly WinningTicketSettings Tiny = new()
    {
        TrainPairs = 3, HeldOutPairs = 2, TrainImages = 64, TestImages = 40, BatchSize = 8, Steps = 6, ModelEpochs = 2, ModelBatchSize = 2, Seed = 9,
    };

    [Fact]
    public void TheSameSeedGivesBitwiseIdenticalResultsAndAnotherSeedDoesNot()
    {
        var train = Images(64, 1); var test = Images(40, 2);
        var a = new WinningTicketExperiment(Tiny, train, test).Run();
        var b = new WinningTicketExperiment(Tiny, train, test).Run();
        static double[] F(WinningTicketResult r) => new[] { r.Dense, r.Imp, r.Predicted, r.Random, r.MagnitudeAtInit, r.PredictedRecall, r.RandomRecall, r.MagnitudeAtInitRecall, r.WeightSparsity };
        Assert.Equal(F(a), F(b));
        Assert.Equal(a.ModelLoss, b.ModelLoss);
        var c = new WinningTicketExperiment(Tiny with { Seed = 10 }, train, test).Run();
        Assert.NotEqual(a.ModelLoss, c.ModelLoss);
        Assert.Equal(0.95, a.WeightSparsity, 3);
        foreach (double v in new[] { a.Dense, a.Imp, a.Predicted, a.Random, a.MagnitudeAtInit }) Assert.InRange(v, 0, 1);
        // Training the initializations for the recipe's steps learns the synthetic task.
        Assert.True(a.Dense > 0.3, $"dense accuracy {a.Dense}");
        Assert.Throws<ArgumentException>(() => new WinningTicketExperiment(Tiny with { TrainImages = 65 }, train, test));
    }
}
