using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;
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
/// A regressor of test accuracy from raw weights together with its view of them: the equivariant models see
/// per-entry-normalized weights, the baselines standardized feature vectors (both fitted on the training split).
/// </summary>
public abstract class AccuracyRegressor
{
    public abstract string Kind { get; }
    public abstract Module Module { get; }
    public abstract WeightSpace Space { get; }
    public abstract void FitNormalization(WeightSpaceBatch train);
    /// <summary>Logits [batch, 1] for raw weights (may overwrite <paramref name="raw"/>).</summary>
    public abstract Tensor Forward(WeightSpaceBatch raw);
    public abstract void Backward(Tensor grad);
    public ModuleStepExecutor Executor(TrainerOptions options) => new(Module, Forward, Backward, options.CreateOptimizer(Module), options.ClipGradNorm);

    public static AccuracyRegressor Create(string kind, ZooArchitecture arch, ulong seed) => (kind, arch) switch
    {
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Cnn) => new EquivariantRegressor(kind, new CnnAccuracyHnp(seed), CnnAccuracyHnp.CreateWeightSpace()),
        (GeneralizationModelKinds.Np, ZooArchitecture.Cnn) => new EquivariantRegressor(kind, new CnnAccuracyNp(seed), CnnAccuracyNp.CreateWeightSpace()),
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp3) => new PooledInputRegressor(kind, new Mlp3PooledAccuracyHnp(seed), Mlp3PooledAccuracyHnp.CreateWeightSpace(), ClassifierPass.SpaceOf(arch)),
        (GeneralizationModelKinds.Np, ZooArchitecture.Mlp3) => new EquivariantRegressor(kind, new Mlp3AccuracyNp(seed), Mlp3AccuracyNp.CreateWeightSpace()),
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp5) => new PooledInputRegressor(kind, new Mlp5PooledAccuracyHnp(seed), Mlp5PooledAccuracyHnp.CreateWeightSpace(), ClassifierPass.SpaceOf(arch)),
        (GeneralizationModelKinds.Np, ZooArchitecture.Mlp5) => new EquivariantRegressor(kind, new Mlp5AccuracyNp(seed), Mlp5AccuracyNp.CreateWeightSpace()),
        (GeneralizationModelKinds.StatNn or GeneralizationModelKinds.Mlp, _) => new FeatureRegressor(kind, ClassifierPass.SpaceOf(arch), seed),
        (GeneralizationModelKinds.Probe, _) => new ProbeRegressor(kind, arch, seed),
        _ => throw new ArgumentException($"No '{kind}' regressor for {arch} zoos; models: {string.Join(", ", GeneralizationModelKinds.Accepted)} ."),
    };
}

/// <summary>A generated equivariant network on per-entry-normalized weights.</summary>
public sealed class EquivariantRegressor(string kind, EquivariantNetwork net, WeightSpace space) : AccuracyRegressor
{
    private InputNormalizer? _normalizer;
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    public override string Kind => kind;
    public override Module Module => net;
    public override WeightSpace Space => space;
    public override void FitNormalization(WeightSpaceBatch train) => _normalizer = InputNormalizer.Fit(new[] { train }, NormalizationGranularity.PerEntry, 1e-6f);

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        (_normalizer ?? throw new InvalidOperationException("Fit the normalization first.")).Apply(raw);
        if (ReferenceEquals(raw.Space, space)) return net.Forward(raw);
        // The zoo's weight space and the model's differ only in symmetry (same tensors and shapes: checked by the caller).
        if (!_buffers.TryGetValue(raw.Batch, out var x)) _buffers[raw.Batch] = x = new WeightSpaceBatch(space, raw.Batch, 1);
        for (int t = 0; t < raw.Tensors.Length; t++) Array.Copy(raw.Tensors[t].Data, x.Tensors[t].Data, raw.Tensors[t].Data.Length);
        return net.Forward(x);
    }

    public override void Backward(Tensor grad) => net.BackwardParameters(grad);
}

/// <summary>StatNN (per-tensor mean, variance, 0/25/50/75/100 % quantiles → MLP) or an MLP on the flattened weights.</summary>
public sealed class FeatureRegressor : AccuracyRegressor
{
    private readonly Sequential _mlp;
    private FeatureStandardizer? _standardizer;
    private readonly WeightSpace _space;
    private readonly string _kind;

    public FeatureRegressor(string kind, WeightSpace space, ulong seed)
    {
        _kind = kind; _space = space;
        int inputs = kind == GeneralizationModelKinds.Mlp ? checked((int)space.Dimension) : space.Tensors.Count * WeightFeatures.StatisticNames.Count;
        _mlp = BaselineMlp.Create(inputs, new[] { 64, 64 }, 1, new Rng(seed));
    }

    public override string Kind => _kind;
    public override Module Module => _mlp;
    public override WeightSpace Space => _space;
    private Tensor Extract(WeightSpaceBatch w) => _kind == GeneralizationModelKinds.Mlp ? WeightFeatures.Flattened(w) : WeightFeatures.Statistics(w);
    public override void FitNormalization(WeightSpaceBatch train) => _standardizer = FeatureStandardizer.Fit(Extract(train));
    public override Tensor Forward(WeightSpaceBatch raw) => _mlp.Forward((_standardizer ?? throw new InvalidOperationException("Fit the normalization first.")).Apply(Extract(raw)));
    public override void Backward(Tensor grad) => _mlp.Backward(grad);
}

/// <summary>
/// Probing (the INR classifiers' <see cref="Models.ProbeWeightModel"/> for classifier zoos): every network's logits on
/// <see cref="ProbeImages"/> fixed noise images (pixels uniform in [0, 1], one fixed seed) through the generated classifier
/// pass, standardized per feature, → MLP 64-64 → one logit. The regressor sees only the weights, not the run's
/// activation (a zoo hyperparameter), so it runs every network under both activations the zoos use (ReLU and tanh) and
/// reads both: 2 × images × classes features. Invariant to every hidden-neuron permutation (the networks' functions do not
/// change).
/// </summary>
public sealed class ProbeRegressor : AccuracyRegressor
{
    public const int ProbeImages = 32;
    public const ulong ProbeSeed = 0x9B0BE5;
    private readonly ClassifierPass[] _passes;
    private readonly float[] _images;
    private readonly Sequential _mlp;
    private FeatureStandardizer? _standardizer;

    public ProbeRegressor(string kind, ZooArchitecture arch, ulong seed)
    {
        Kind = kind;
        _passes = new[] { ClassifierPass.For(arch, InputActivation.ReLU), ClassifierPass.For(arch, InputActivation.Tanh) };
        _images = Models.ProbeSet.Random(ProbeImages, _passes[0].InputLength, ProbeSeed, 0f, 1f);
        _mlp = BaselineMlp.Create(FeatureCount, new[] { 64, 64 }, 1, new Rng(seed));
    }

    public override string Kind { get; }
    public override Module Module => _mlp;
    public override WeightSpace Space => _passes[0].Space;
    public int FeatureCount => _passes.Length * ProbeImages * _passes[0].Outputs;

    /// <summary>The logits of every network on the probe images under each activation, [batch, FeatureCount].</summary>
    public Tensor Features(WeightSpaceBatch weights)
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

    public override void FitNormalization(WeightSpaceBatch train) => _standardizer = FeatureStandardizer.Fit(Features(train));
    public override Tensor Forward(WeightSpaceBatch raw) => _mlp.Forward((_standardizer ?? throw new InvalidOperationException("Fit the normalization first.")).Apply(Features(raw)));
    public override void Backward(Tensor grad) => _mlp.Backward(grad);
}

/// <summary>
/// HNP on an MLP zoo: a generated hidden-neuron network on the zoo's weights with W1 pooled over 4×4 pixel blocks
/// (<see cref="InputPooling"/>), then per-entry normalized. <see cref="Space"/> is the zoo's weight space.
/// </summary>
public sealed class PooledInputRegressor(string kind, EquivariantNetwork net, WeightSpace pooledSpace, WeightSpace zooSpace) : AccuracyRegressor
{
    private readonly InputPooling _pooling = new(zooSpace, pooledSpace);
    private InputNormalizer? _normalizer;
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    public override string Kind => kind;
    public override Module Module => net;
    public override WeightSpace Space => zooSpace;
    public WeightSpace PooledSpace => pooledSpace;

    public override void FitNormalization(WeightSpaceBatch train)
    {
        var pooled = new WeightSpaceBatch(pooledSpace, train.Batch, 1);
        _pooling.Apply(train, pooled);
        _normalizer = InputNormalizer.Fit(new[] { pooled }, NormalizationGranularity.PerEntry, 1e-6f);
    }

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        var normalizer = _normalizer ?? throw new InvalidOperationException("Fit the normalization first.");
        if (!_buffers.TryGetValue(raw.Batch, out var x)) _buffers[raw.Batch] = x = new WeightSpaceBatch(pooledSpace, raw.Batch, 1);
        _pooling.Apply(raw, x);
        normalizer.Apply(x);
        return net.Forward(x);
    }

    public override void Backward(Tensor grad) => net.BackwardParameters(grad);
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
