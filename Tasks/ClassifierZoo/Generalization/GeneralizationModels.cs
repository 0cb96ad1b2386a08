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

[EquivariantModel(typeof(ZooMlp3Relu), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp3AccuracyHnp { }

[EquivariantModel(typeof(ZooMlp3Relu), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16, 5 }, Outputs = 1, HeadHidden = 32)]
public partial class Mlp3AccuracyNp { }

/// <summary>The regressors compared: hidden-neuron (HNP) and all-neuron (NP) equivariant, StatNN, MLP on flattened weights.</summary>
public static class GeneralizationModelKinds
{
    public const string Hnp = "hnp", Np = "np", StatNn = "statnn", Mlp = "mlp";
    public static readonly string[] All = { Hnp, Np, StatNn, Mlp };
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
        (GeneralizationModelKinds.Hnp, ZooArchitecture.Mlp3) => new EquivariantRegressor(kind, new Mlp3AccuracyHnp(seed), Mlp3AccuracyHnp.CreateWeightSpace()),
        (GeneralizationModelKinds.Np, ZooArchitecture.Mlp3) => new EquivariantRegressor(kind, new Mlp3AccuracyNp(seed), Mlp3AccuracyNp.CreateWeightSpace()),
        (GeneralizationModelKinds.StatNn or GeneralizationModelKinds.Mlp, _) => new FeatureRegressor(kind, ClassifierPass.SpaceOf(arch), seed),
        _ => throw new ArgumentException($"No '{kind}' regressor for {arch} zoos; models: {string.Join(", ", GeneralizationModelKinds.All)} (equivariant ones for cnn and mlp3)."),
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
