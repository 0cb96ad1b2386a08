using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// A model that reads a batch of raw input-network weights together with its own view of them (per-entry normalized
/// weights for equivariant networks, standardized features for the baselines), so the runtime's <see cref="Trainer"/>
/// trains every kind alike through a <see cref="ModuleStepExecutor"/>.
/// </summary>
public abstract class WeightModel
{
    /// <summary>Short name (e.g. "equivariant", "stats", "mlp"); part of run fingerprints.</summary>
    public abstract string Kind { get; }
    public abstract Module Module { get; }
    /// <summary>The weight space batches must be over (tensor shapes; the symmetry may differ).</summary>
    public abstract Algebra.WeightSpace Space { get; }

    /// <summary>Fits the input view (normalization or standardization) on the training networks.</summary>
    public abstract void FitInputs(WeightSpaceBatch train);

    /// <summary>Outputs for raw weights; may overwrite <paramref name="raw"/>.</summary>
    public abstract Tensor Forward(WeightSpaceBatch raw);

    /// <summary>Accumulates the parameter gradients of the last <see cref="Forward"/>.</summary>
    public abstract void Backward(Tensor gradOutputs);

    /// <summary>The fitted input view as tensors, keyed without a prefix (what a model file stores beside the parameters).</summary>
    public virtual Dictionary<string, Tensor> NormalizationState() =>
        throw new NotSupportedException($"The {Kind} model does not save its input view.");

    /// <summary>Restores an input view written by <see cref="NormalizationState"/>; throws <see cref="System.IO.InvalidDataException"/> naming what is wrong.</summary>
    public virtual void LoadNormalization(IReadOnlyDictionary<string, Tensor> state) =>
        throw new NotSupportedException($"The {Kind} model does not load an input view.");

    /// <summary>The CPU step executor with the optimizer <paramref name="options"/> describe.</summary>
    public ModuleStepExecutor Executor(TrainerOptions options) => new(Module, Forward, Backward, options.CreateOptimizer(Module), options.ClipGradNorm);

    /// <summary>Outputs for every network of <paramref name="networks"/> in eval mode, in batches (the networks are not changed).</summary>
    public Tensor Predict(WeightSpaceBatch networks, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(networks);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        bool training = Module.IsTraining;
        Module.Eval();
        try
        {
            var data = new InMemoryWeightDataset(networks, new float[networks.Batch], 1);
            Tensor? result = null;
            int width = 0;
            for (int start = 0; start < networks.Batch; start += batchSize)
            {
                int count = Math.Min(batchSize, networks.Batch - start);
                var x = new WeightSpaceBatch(networks.Space, count, 1);
                data.Fill(Enumerable.Range(start, count).ToArray(), x);
                var y = Forward(x);
                if (result is null) { width = y.Length / count; result = new Tensor(networks.Batch, width); }
                Array.Copy(y.Data, 0, result.Data, (long)start * width, (long)count * width);
            }
            return result!;
        }
        finally { Module.Train(training); }
    }

    /// <summary>Copies a batch over another weight space of the same tensor shapes (e.g. the zoo's into a generated model's).</summary>
    internal static WeightSpaceBatch Reinterpret(WeightSpaceBatch raw, Algebra.WeightSpace space, Dictionary<int, WeightSpaceBatch> buffers)
    {
        if (ReferenceEquals(raw.Space, space)) return raw;
        if (raw.Space.Tensors.Count != space.Tensors.Count || raw.Space.Dimension != space.Dimension)
            throw new ArgumentException($"The networks have {raw.Space.Dimension} weights in {raw.Space.Tensors.Count} tensors; the model reads {space.Dimension} in {space.Tensors.Count}.");
        if (!buffers.TryGetValue(raw.Batch, out var x) || x.Channels != raw.Channels)
            buffers[raw.Batch] = x = new WeightSpaceBatch(space, raw.Batch, raw.Channels);
        for (int t = 0; t < raw.Tensors.Length; t++) Array.Copy(raw.Tensors[t].Data, x.Tensors[t].Data, raw.Tensors[t].Data.Length);
        return x;
    }
}

/// <summary>An equivariant network with an invariant head on per-entry normalized weights (mean and std over the training networks).</summary>
public sealed class EquivariantWeightModel(string kind, EquivariantNetwork network) : WeightModel
{
    /// <summary>Entries whose std over the training networks is at most this are only centred.</summary>
    public const float MinStd = 1e-6f;
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    private InputNormalizer? _normalizer;

    public override string Kind { get; } = kind;
    public EquivariantNetwork Network { get; } = network.Head != null ? network : throw new ArgumentException("The model needs an invariant head (Outputs values per network).", nameof(network));
    public override Module Module => Network;
    public override Algebra.WeightSpace Space => Network.Space;
    public InputNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is not fitted (call FitInputs).");

    public override void FitInputs(WeightSpaceBatch train) =>
        _normalizer = InputNormalizer.Fit(new[] { Reinterpret(train, Space, new()) }, NormalizationGranularity.PerEntry, MinStd);

    public override Dictionary<string, Tensor> NormalizationState() => Normalizer.ToTensors();

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state) => _normalizer = InputNormalizer.FromTensors(Space, state);

    public override Tensor Forward(WeightSpaceBatch raw) => Network.Forward(Normalizer.Apply(Reinterpret(raw, Space, _buffers)));

    public override void Backward(Tensor gradOutputs) => Network.BackwardParameters(gradOutputs);
}

/// <summary>The baselines: an MLP on standardized features of the weights, every weight flattened ("mlp") or per-tensor statistics ("stats").</summary>
public sealed class FeatureWeightModel : FeatureMlpModel
{
    public const string Flattened = "mlp", Statistics = "stats";

    /// <param name="features"><see cref="Flattened"/> or <see cref="Statistics"/>.</param>
    /// <param name="kind">The model's name in run fingerprints and tables; default: <paramref name="features"/>.</param>
    public FeatureWeightModel(string features, Algebra.WeightSpace space, IReadOnlyList<int> hidden, int outputs, ulong seed, string? kind = null)
        : base(CountFeatures(CheckFeatures(features), space ?? throw new ArgumentNullException(nameof(space))), hidden, outputs, seed)
    {
        FeatureKind = features; Space = space; Kind = kind ?? features;
    }

    public override string Kind { get; }
    /// <summary><see cref="Flattened"/> or <see cref="Statistics"/>.</summary>
    public string FeatureKind { get; }
    public override Algebra.WeightSpace Space { get; }

    private static string CheckFeatures(string features) => features is Flattened or Statistics ? features
        : throw new ArgumentException($"Unknown features '{features}'; use '{Flattened}' (flattened weights) or '{Statistics}' (per-tensor statistics).", nameof(features));

    /// <summary>How many features <paramref name="features"/> gives on <paramref name="space"/>.</summary>
    public static int CountFeatures(string features, Algebra.WeightSpace space) =>
        features == Flattened ? checked((int)space.Dimension) : space.Tensors.Count * WeightFeatures.StatisticNames.Count;

    /// <summary>The raw (unstandardized) features of <paramref name="weights"/>.</summary>
    public static Tensor Extract(string features, WeightSpaceBatch weights) =>
        features == Flattened ? WeightFeatures.Flattened(weights) : WeightFeatures.Statistics(weights);

    public override Tensor Features(WeightSpaceBatch weights) => Extract(FeatureKind, weights);
}
