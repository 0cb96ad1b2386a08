using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tasks.ClassifierZoo;
using ZooSeeds = LayerCompiler.Tasks.Zoo.ZooSeeds;
using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Tasks.Tickets;

/// <summary>The winning-ticket task's sizes and training recipe (NFN §5.3 on the 784→128→128→10 ReLU MLP).</summary>
public sealed record WinningTicketSettings
{
    /// <summary>(initialization, IMP mask) pairs the predictor trains on.</summary>
    public int TrainPairs { get; init; } = 64;
    /// <summary>Held-out initializations on which every mask is trained and tested.</summary>
    public int HeldOutPairs { get; init; } = 16;
    /// <summary>Classifiers train on the first TrainImages training images and are tested on the first TestImages test images.</summary>
    public int TrainImages { get; init; } = 6_000;
    public int TestImages { get; init; } = 2_000;
    /// <summary>The recipe of the dense run and of every masked run: Adam, this many steps of this batch size.</summary>
    public int BatchSize { get; init; } = 32;
    public int Steps { get; init; } = 200;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Pruned fraction of every weight tensor (biases are not pruned).</summary>
    public double Sparsity { get; init; } = 0.95;
    public int ModelEpochs { get; init; } = 10;
    public int ModelBatchSize { get; init; } = 2;
    public double ModelLearningRate { get; init; } = 3e-3;
    public ulong Seed { get; init; } = 1;

    /// <summary>Quick mode: 64 + 16 pairs, 200 Adam steps of 32 on 6,000 images (about one epoch), tested on 2,000; predictor: 10 epochs.</summary>
    public static WinningTicketSettings Quick(ulong seed) => new() { Seed = seed };

    public const string Recipe = "classifier init: PyTorch's Linear default (weights and biases U(±1/√fan_in)); Adam (0.9, 0.999, 1e-8), no weight decay; " +
        "softmax cross-entropy, batches drawn without replacement from the training images (reshuffled when used up), the same data order for every mask of an initialization";

    public void Validate()
    {
        void Positive(string name, double v) { if (!(v > 0)) throw new ArgumentOutOfRangeException(name, v, $"{name} must be positive."); }
        Positive(nameof(TrainPairs), TrainPairs); Positive(nameof(HeldOutPairs), HeldOutPairs); Positive(nameof(TrainImages), TrainImages);
        Positive(nameof(TestImages), TestImages); Positive(nameof(BatchSize), BatchSize); Positive(nameof(Steps), Steps); Positive(nameof(LearningRate), LearningRate);
        Positive(nameof(ModelEpochs), ModelEpochs); Positive(nameof(ModelBatchSize), ModelBatchSize); Positive(nameof(ModelLearningRate), ModelLearningRate);
        if (!(Sparsity > 0 && Sparsity < 1)) throw new ArgumentOutOfRangeException(nameof(Sparsity), Sparsity, "Sparsity must be in (0, 1), e.g. 0.95.");
    }
}

/// <summary>Test accuracy of the classifiers trained from held-out initializations, per mask (mean over held-out pairs), and how much of IMP's mask each recovers.</summary>
public sealed record WinningTicketResult(
    ulong Seed, double Dense, double Imp, double Predicted, double Random, double MagnitudeAtInit,
    double PredictedRecall, double RandomRecall, double MagnitudeAtInitRecall, double WeightSparsity, double[] ModelLoss);

/// <summary>
/// The winning-ticket experiment: train dense classifiers from many initializations U0, prune each one-shot by trained
/// magnitude (IMP's mask M, per tensor), fit the equivariant mask predictor on (U0, M) pairs, then train every held-out
/// U0 ⊙ mask with the dense recipe for four masks: IMP's, the predicted one, a random one, magnitude at initialization.
/// </summary>
public sealed class WinningTicketExperiment
{
    private readonly WinningTicketSettings _s;
    private readonly ClassifierImages _train, _test;
    private readonly ClassifierPass _pass = ClassifierPass.For(ZooArchitecture.Mlp3, InputActivation.ReLU);

    public WinningTicketExperiment(WinningTicketSettings settings, ClassifierImages train, ClassifierImages test)
    {
        ArgumentNullException.ThrowIfNull(settings); ArgumentNullException.ThrowIfNull(train); ArgumentNullException.ThrowIfNull(test);
        settings.Validate();
        if (train.Count < settings.TrainImages) throw new ArgumentException($"The recipe trains on {settings.TrainImages} images; {train.Count} given.", nameof(train));
        if (test.Count < settings.TestImages) throw new ArgumentException($"Classifiers are tested on {settings.TestImages} images; {test.Count} given.", nameof(test));
        _s = settings; _train = train; _test = test;
    }

    public WeightSpace Space => _pass.Space;

    /// <summary>Initialization <paramref name="index"/> of the experiment seeded <paramref name="seed"/>: PyTorch's Linear default, U(±1/√fan_in) for weights and biases.</summary>
    public static float[] InitialWeights(WeightSpace space, ulong seed, int index)
    {
        var rng = new Rng(ZooSeeds.ForItem(seed, "ticket-init", index));
        var w = new float[space.Dimension];
        int o = 0;
        foreach (var t in space.Tensors)
        {
            // Dense weights are (out, in); a bias's fan-in is its layer's weight's.
            int fanIn = t.IsBias ? space.Tensors.First(u => !u.IsBias && u.LayerNumber == t.LayerNumber).Shape[1] : t.Shape[1];
            double bound = 1 / Math.Sqrt(fanIn);
            for (int k = 0; k < t.Size; k++) w[o + k] = (float)((rng.NextDouble() * 2 - 1) * bound);
            o += t.Size;
        }
        return w;
    }

    /// <summary>
    /// Trains networks from <paramref name="initial"/> (masked where <paramref name="masks"/> gives one) with the recipe,
    /// network i drawing its batches from the data generator of initialization <paramref name="pair"/>[i]. Returns the
    /// trained weights and their test accuracies.
    /// </summary>
    public (float[][] Weights, float[] TestAccuracy) Train(IReadOnlyList<float[]> initial, IReadOnlyList<float[]?> masks, IReadOnlyList<int> pair)
    {
        int n = initial.Count;
        if (masks.Count != n || pair.Count != n) throw new ArgumentException($"{n} initializations, {masks.Count} masks, {pair.Count} pair indices: one of each per network.");
        var runs = new BatchedClassifierRun[n];
        for (int i = 0; i < n; i++)
        {
            var flat = new Parameter(initial[i].Length);
            initial[i].CopyTo(flat.Data, 0);
            var subset = Enumerable.Range(0, _s.TrainImages).ToArray();
            runs[i] = new BatchedClassifierRun(flat, new Adam(new[] { flat }, (float)_s.LearningRate), new Rng(ZooSeeds.ForItem(_s.Seed, "ticket-data", pair[i])), subset, 0, masks[i]);
        }
        var trainer = new BatchedClassifierTrainer(_pass, runs, _train, _s.BatchSize);
        for (int step = 0; step < _s.Steps; step++) trainer.Step();
        var acc = ClassifierZooBuilder.TestAccuracy(_pass, trainer.Weights, _test, _s.TestImages);
        for (int i = 0; i < n; i++)
            if (runs[i].Diverged) throw new InvalidOperationException($"Network {i} (initialization {pair[i]}) diverged with learning rate {_s.LearningRate}; lower it.");
        return (runs.Select(r => (float[])r.Flat.Data.Clone()).ToArray(), acc);
    }

    public WinningTicketResult Run(Action<string>? log = null)
    {
        ulong seed = _s.Seed;
        int P = _s.TrainPairs + _s.HeldOutPairs;
        var u0 = Enumerable.Range(0, P).Select(i => InitialWeights(Space, seed, i)).ToArray();
        log?.Invoke($"seed {seed}: training {P} dense classifiers ({_s.Steps} steps of {_s.BatchSize})");
        var (trained, denseAcc) = Train(u0, new float[]?[P], Enumerable.Range(0, P).ToArray());
        var imp = trained.Select(w => PruningMasks.Magnitude(w, Space, _s.Sparsity)).ToArray();
        var trainIdx = Enumerable.Range(0, _s.TrainPairs).ToArray();
        var heldIdx = Enumerable.Range(_s.TrainPairs, _s.HeldOutPairs).ToArray();
        log?.Invoke($"seed {seed}: dense test accuracy (held-out initializations) {denseAcc.Skip(_s.TrainPairs).Average():P2}; fitting the mask predictor on {_s.TrainPairs} pairs");

        var predictor = new TicketMaskPredictor(ZooSeeds.ForPurpose(seed, "ticket-model"));
        var loss = predictor.Train(trainIdx.Select(i => u0[i]).ToArray(), trainIdx.Select(i => imp[i]).ToArray(), _s.ModelEpochs, _s.ModelBatchSize,
            (float)_s.ModelLearningRate, ZooSeeds.ForPurpose(seed, "ticket-model-order"), (e, l) => log?.Invoke($"seed {seed}: predictor epoch {e}: BCE {l:F4}"));

        var logits = predictor.Logits(heldIdx.Select(i => u0[i]).ToArray());
        var predicted = logits.Select(z => PruningMasks.KeepLargest(z, Space, _s.Sparsity)).ToArray();
        var random = heldIdx.Select(i => PruningMasks.Random(Space, _s.Sparsity, new Rng(ZooSeeds.ForItem(seed, "ticket-random-mask", i)))).ToArray();
        var atInit = heldIdx.Select(i => PruningMasks.Magnitude(u0[i], Space, _s.Sparsity)).ToArray();
        int H = heldIdx.Length;
        var inits = new List<float[]>(); var masks = new List<float[]?>(); var pairs = new List<int>();
        foreach (var set in new[] { heldIdx.Select(i => imp[i]).ToArray(), predicted, random, atInit })
            for (int h = 0; h < H; h++) { inits.Add(u0[heldIdx[h]]); masks.Add(set[h]); pairs.Add(heldIdx[h]); }
        log?.Invoke($"seed {seed}: training {inits.Count} masked classifiers (IMP, predicted, random, magnitude at init × {H} held-out initializations)");
        var (_, acc) = Train(inits, masks, pairs);
        double Mean(int set) => acc.Skip(set * H).Take(H).Average();
        double RecallOf(float[][] m) => Enumerable.Range(0, H).Average(h => PruningMasks.Recall(m[h], imp[heldIdx[h]], Space));
        return new WinningTicketResult(seed, denseAcc.Skip(_s.TrainPairs).Average(), Mean(0), Mean(1), Mean(2), Mean(3),
            RecallOf(predicted), RecallOf(random), RecallOf(atInit), PruningMasks.WeightSparsity(predicted[0], Space), loss);
    }
}
