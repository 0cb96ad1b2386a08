using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Tasks.Models;
using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Tasks.ClassifierZoo.Generalization;

// NFN's predicting-generalization models (§5.1): 3 equivariant layers of 16, 16, 5 channels with ReLU, mean pooling, an
// MLP head, one output (a logit: sigmoid(logit) is the predicted accuracy). HNP: hidden-neuron symmetry; NP: all-neuron.

[EquivariantModel(typeof(ZooCnnRelu), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class CnnAccuracyHnp { }

[EquivariantModel(typeof(ZooCnnRelu), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class CnnAccuracyNp { }

[EquivariantModel(typeof(ZooMlp3Relu), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp3AccuracyNp { }

[EquivariantModel(typeof(ZooMlp5Relu), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp5AccuracyNp { }

// HNP on the MLP zoos. Under the hidden-neuron symmetry the 784 input pixels are fixed indices, so every basis term that
// reads or writes W1 carries a dense factor over them: a W1 → W1 term alone is a [784·Cin × 784·Cout] matrix (9.8 M
// parameters for 16 → 16 channels), and the 3-layer MLP's HNP (16, 16, 5 channels) holds 4.5·10⁸ parameters, the 16 → 16
// layer 3.2·10⁸ (LayerPlan.CountParameters; GeneralizationTests pins the figures): 1.8 GB of floats before Adam's state.
// That is not trainable on this project's 2-core CPU. So HNP sees W1 pooled over 4×4 pixel blocks: W1'[h, block]
// = Σ W1[h, pixel in block] (the weight hidden neuron h gives a block of constant brightness), 784 → 49 fixed inputs.
// The pooling acts on the fixed input axis only, so it commutes with every hidden-neuron permutation: the network after it
// is exactly invariant, and the whole regressor as nearly as the CNN's HNP (per-entry input normalization, NFN's, is
// exact only for a permutation-symmetric training set). The pooled MLPs below only declare that weight space (49 → … → 10).

/// <summary>The weight space HNP sees on the 3-layer MLP zoo: W1 pooled to 4×4 pixel blocks (49 → 128 → 128 → 10).</summary>
[InputNetwork(Activation = InputActivation.ReLU)]
[Dense(49, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp3Pooled { }

/// <summary>The weight space HNP sees on the 5-layer MLP zoo: W1 pooled to 4×4 pixel blocks (49 → 128 → 128 → 128 → 128 → 10).</summary>
[InputNetwork(Activation = InputActivation.ReLU)]
[Dense(49, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp5Pooled { }

[EquivariantModel(typeof(ZooMlp3Pooled), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp3PooledAccuracyHnp { }

[EquivariantModel(typeof(ZooMlp5Pooled), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp5PooledAccuracyHnp { }

/// <summary>The regressors compared: hidden-neuron (HNP) and all-neuron (NP) equivariant, StatNN, MLP on flattened weights.</summary>
public static class GeneralizationModelKinds
{
    public const string Hnp = "hnp", Np = "np", StatNn = "statnn", Mlp = "mlp", Probe = "probe";
    /// <summary>The default models (the paper's table).</summary>
    public static readonly string[] All = { Hnp, Np, StatNn, Mlp };
    /// <summary>Every model the task accepts: the defaults and the probing model (opt-in).</summary>
    public static readonly string[] Accepted = { Hnp, Np, StatNn, Mlp, Probe };
}

/// <summary>BCE between sigmoid(output) and the network's test accuracy (NFN's loss), on outputs [batch, 1].</summary>
public sealed class AccuracyBceObjective : ITrainingObjective
{
    private readonly BinaryCrossEntropyWithLogits _loss = new();
    public string Name => "bce_on_accuracy";
    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets) => _loss.Compute(outputs, targets.RequireValues(Name));
}

/// <summary>Kendall's τ-b between outputs and targets over a whole pass (the trainer selects the best epoch by it on validation).</summary>
public sealed class KendallTauMetric : IMetric
{
    public static KendallTauMetric Instance { get; } = new();
    public string Name => "kendall_tau";
    public bool HigherIsBetter => true;
    public IMetricAccumulator Start() => new Accumulator();

    private sealed class Accumulator : IMetricAccumulator
    {
        private readonly List<float> _p = new(), _y = new();
        public void Add(Tensor outputs, TrainingTargets targets)
        {
            _p.AddRange(outputs.Data);
            _y.AddRange(targets.RequireValues("kendall_tau").Data);
        }
        public double Result => _p.Count < 2 ? double.NaN : RegressionMetrics.KendallTau(_p.ToArray(), _y.ToArray());
    }
}

/// <summary>
/// The regressors of test accuracy from raw weights: each is a <see cref="WeightModel"/> with one output (a logit) that
/// carries its own view of the weights, fitted on the training split (the equivariant models per-entry-normalized weights,
/// the baselines and the probing model standardized feature vectors).
/// </summary>
public static class AccuracyRegressors
{
    /// <summary>The hidden widths of the feature models' MLPs (StatNN, flattened, probing).</summary>
    public static IReadOnlyList<int> FeatureMlpHidden { get; } = new[] { 64, 64 };

    public static WeightModel Create(string kind, ZooArchitecture arch, ulong seed) => (kind, arch) switch
    {
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Cnn) => new EquivariantWeightModel(kind, new CnnAccuracyHnp(seed)),
        (GeneralizationModelKinds.Np, ZooArchitecture.Cnn) => new EquivariantWeightModel(kind, new CnnAccuracyNp(seed)),
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp3) => new PooledInputRegressor(kind, new Mlp3PooledAccuracyHnp(seed), ClassifierPass.SpaceOf(arch)),
        (GeneralizationModelKinds.Np, ZooArchitecture.Mlp3) => new EquivariantWeightModel(kind, new Mlp3AccuracyNp(seed)),
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp5) => new PooledInputRegressor(kind, new Mlp5PooledAccuracyHnp(seed), ClassifierPass.SpaceOf(arch)),
        (GeneralizationModelKinds.Np, ZooArchitecture.Mlp5) => new EquivariantWeightModel(kind, new Mlp5AccuracyNp(seed)),
        (GeneralizationModelKinds.StatNn, _) => new FeatureWeightModel(FeatureWeightModel.Statistics, ClassifierPass.SpaceOf(arch), FeatureMlpHidden, 1, seed, kind),
        (GeneralizationModelKinds.Mlp, _) => new FeatureWeightModel(FeatureWeightModel.Flattened, ClassifierPass.SpaceOf(arch), FeatureMlpHidden, 1, seed, kind),
        (GeneralizationModelKinds.Probe, _) => new ProbeRegressor(kind, arch, seed),
        _ => throw new ArgumentException($"No '{kind}' regressor for {arch} zoos; models: {string.Join(", ", GeneralizationModelKinds.Accepted)} ."),
    };
}

/// <summary>
/// Probing (the INR classifiers' <see cref="ProbeWeightModel"/> for classifier zoos): every network's logits on
/// <see cref="ProbeImages"/> fixed noise images (pixels uniform in [0, 1], one fixed seed) through the generated classifier
/// pass, standardized per feature, → MLP 64-64 → one logit. The regressor sees only the weights, not the run's
/// activation (a zoo hyperparameter), so it runs every network under both activations the zoos use (ReLU and tanh) and
/// reads both: 2 × images × classes features. Invariant to every hidden-neuron permutation (the networks' functions do not
/// change).
/// </summary>
public sealed class ProbeRegressor : FeatureMlpModel
{
    public const int ProbeImages = 32;
    public const ulong ProbeSeed = 0x9B0BE5;
    private readonly ClassifierPass[] _passes;
    private readonly float[] _images;

    public ProbeRegressor(string kind, ZooArchitecture arch, ulong seed) : this(kind, Passes(arch), seed) { }

    private ProbeRegressor(string kind, ClassifierPass[] passes, ulong seed)
        : base(passes.Length * ProbeImages * passes[0].Outputs, AccuracyRegressors.FeatureMlpHidden, 1, seed)
    {
        Kind = kind; _passes = passes;
        _images = ProbeSet.Random(ProbeImages, _passes[0].InputLength, ProbeSeed, 0f, 1f);
    }

    private static ClassifierPass[] Passes(ZooArchitecture arch) =>
        new[] { ClassifierPass.For(arch, InputActivation.ReLU), ClassifierPass.For(arch, InputActivation.Tanh) };

    public override string Kind { get; }
    public override WeightSpace Space => _passes[0].Space;

    /// <summary>The logits of every network on the probe images under each activation, [batch, FeatureCount].</summary>
    public override Tensor Features(WeightSpaceBatch weights)
    {
        int n = weights.Batch, per = ProbeImages * _passes[0].Outputs;
        var idx = new int[n * ProbeImages];
        for (int i = 0; i < n; i++) for (int j = 0; j < ProbeImages; j++) idx[i * ProbeImages + j] = j;
        var features = new Tensor(n, FeatureCount);
        var logits = new float[n * per];
        for (int a = 0; a < _passes.Length; a++)
        {
            _passes[a].Forward(weights, _images, idx, ProbeImages, logits, null);
            for (int i = 0; i < n; i++) Array.Copy(logits, i * per, features.Data, i * FeatureCount + a * per, per);
        }
        return features;
    }
}

/// <summary>
/// HNP on an MLP zoo: a generated hidden-neuron network on the zoo's weights with W1 pooled over 4×4 pixel blocks
/// (<see cref="InputPooling"/>), then per-entry normalized. <see cref="Space"/> is the zoo's weight space.
/// </summary>
public sealed class PooledInputRegressor(string kind, EquivariantNetwork net, WeightSpace zooSpace) : WeightModel
{
    private readonly InputPooling _pooling = new(zooSpace, net.Space);
    private InputNormalizer? _normalizer;
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    public override string Kind => kind;
    public override Module Module => net;
    public override WeightSpace Space => zooSpace;
    public WeightSpace PooledSpace => net.Space;

    public override void FitInputs(WeightSpaceBatch train)
    {
        var pooled = new WeightSpaceBatch(PooledSpace, train.Batch, 1);
        _pooling.Apply(train, pooled);
        _normalizer = InputNormalizer.Fit(new[] { pooled }, NormalizationGranularity.PerEntry, EquivariantWeightModel.MinStd);
    }

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        var normalizer = _normalizer ?? throw new InvalidOperationException("The input normalization is not fitted (call FitInputs).");
        if (!_buffers.TryGetValue(raw.Batch, out var x)) _buffers[raw.Batch] = x = new WeightSpaceBatch(PooledSpace, raw.Batch, 1);
        _pooling.Apply(raw, x);
        normalizer.Apply(x);
        return net.Forward(x);
    }

    public override void Backward(Tensor gradOutputs) => net.BackwardParameters(gradOutputs);
}

/// <summary>
/// Sums the first dense layer's weights over square pixel blocks (28×28 inputs, 4×4 blocks → 7×7 = 49 inputs); every
/// other tensor is copied. Acts on the fixed input axis only, so it commutes with hidden-neuron permutations.
/// </summary>
public sealed class InputPooling
{
    private readonly int _w1, _rows, _side, _block, _pooledSide;

    public InputPooling(WeightSpace from, WeightSpace to)
    {
        ArgumentNullException.ThrowIfNull(from); ArgumentNullException.ThrowIfNull(to);
        if (from.Tensors.Count != to.Tensors.Count)
            throw new ArgumentException($"Pooling maps between weight spaces with the same tensors; {from.Tensors.Count} and {to.Tensors.Count} tensors given.");
        _w1 = -1;
        for (int t = 0; t < from.Tensors.Count; t++)
        {
            var a = from.Tensors[t]; var b = to.Tensors[t];
            bool first = !a.IsBias && a.LayerNumber == 1;
            if (first) { _w1 = t; continue; }
            if (a.Size != b.Size || !a.Shape.SequenceEqual(b.Shape))
                throw new ArgumentException($"Tensor {a.Name} is [{string.Join("×", a.Shape)}] in the zoo but [{string.Join("×", b.Shape)}] in the pooled space; only W1 may differ.");
        }
        if (_w1 < 0) throw new ArgumentException("The weight space has no first dense weight W1 to pool.");
        var src = from.Tensors[_w1]; var dst = to.Tensors[_w1];
        if (src.Shape.Length != 2 || dst.Shape.Length != 2 || src.Shape[0] != dst.Shape[0])
            throw new ArgumentException($"W1 is [{string.Join("×", src.Shape)}] in the zoo and [{string.Join("×", dst.Shape)}] pooled; both must be dense [hidden × inputs] with the same hidden width.");
        _rows = src.Shape[0];
        _side = (int)Math.Round(Math.Sqrt(src.Shape[1])); _pooledSide = (int)Math.Round(Math.Sqrt(dst.Shape[1]));
        if (_side * _side != src.Shape[1] || _pooledSide * _pooledSide != dst.Shape[1] || _pooledSide == 0 || _side % _pooledSide != 0)
            throw new ArgumentException($"W1 pooling needs square images whose side the pooled side divides; {src.Shape[1]} → {dst.Shape[1]} inputs given.");
        _block = _side / _pooledSide;
    }

    public void Apply(WeightSpaceBatch source, WeightSpaceBatch destination)
    {
        ArgumentNullException.ThrowIfNull(source); ArgumentNullException.ThrowIfNull(destination);
        if (source.Batch != destination.Batch || source.Channels != 1 || destination.Channels != 1)
            throw new ArgumentException($"Pooling {source.Batch} networks ({source.Channels} channel(s)) into {destination.Batch} ({destination.Channels}); raw weights, one channel, the same count.");
        for (int t = 0; t < source.Tensors.Length; t++)
            if (t != _w1) Array.Copy(source.Tensors[t].Data, destination.Tensors[t].Data, source.Tensors[t].Data.Length);
        int inSrc = _side * _side, inDst = _pooledSide * _pooledSide;
        var s = source.Tensors[_w1].Data; var d = destination.Tensors[_w1].Data;
        for (int n = 0; n < source.Batch; n++)
            for (int h = 0; h < _rows; h++)
            {
                int sRow = (n * _rows + h) * inSrc, dRow = (n * _rows + h) * inDst;
                for (int by = 0; by < _pooledSide; by++)
                    for (int bx = 0; bx < _pooledSide; bx++)
                    {
                        float sum = 0;
                        for (int dy = 0; dy < _block; dy++)
                            for (int dx = 0; dx < _block; dx++)
                                sum += s[sRow + (by * _block + dy) * _side + bx * _block + dx];
                        d[dRow + by * _pooledSide + bx] = sum;
                    }
            }
    }
}
