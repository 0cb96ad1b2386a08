using System;
using System.Collections.Generic;
using System.IO;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// The models that read a fixed feature vector per input network: features → per-feature standardization (mean and std
/// over the training networks) → MLP. A subclass says only what the features are: the weights flattened or their
/// per-tensor statistics (<see cref="FeatureWeightModel"/>), the network's outputs at fixed probe inputs
/// (<see cref="ProbeWeightModel"/>), a classifier's logits on probe images (the classifier zoos' probing regressor).
/// </summary>
public abstract class FeatureMlpModel : WeightModel
{
    private readonly Sequential _mlp;
    private FeatureStandardizer? _standardizer;

    /// <param name="featureCount">Features per network (the MLP's input width).</param>
    /// <param name="hidden">The MLP's hidden widths.</param>
    /// <param name="outputs">Outputs per network.</param>
    /// <param name="seed">Seeds the MLP's initialization (<see cref="BaselineMlp.Create"/>).</param>
    protected FeatureMlpModel(int featureCount, IReadOnlyList<int> hidden, int outputs, ulong seed)
    {
        if (featureCount <= 0) throw new ArgumentOutOfRangeException(nameof(featureCount), featureCount, "A feature model needs at least one feature.");
        FeatureCount = featureCount;
        _mlp = BaselineMlp.Create(featureCount, hidden, outputs, new Rng(seed));
    }

    public override Module Module => _mlp;

    /// <summary>Features per network.</summary>
    public int FeatureCount { get; }

    /// <summary>The raw (unstandardized) features of every network of <paramref name="weights"/>, [batch, <see cref="FeatureCount"/>].</summary>
    public abstract Tensor Features(WeightSpaceBatch weights);

    public override void FitInputs(WeightSpaceBatch train) => _standardizer = FeatureStandardizer.Fit(Features(train));

    private FeatureStandardizer Standardizer => _standardizer ?? throw new InvalidOperationException("The feature standardization is neither fitted nor loaded (call FitInputs).");

    /// <summary><c>feature_mean</c> and <c>feature_std</c>, one value per feature (a subclass may add what defines its features).</summary>
    public override Dictionary<string, Tensor> NormalizationState()
    {
        var s = Standardizer;
        return new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["feature_mean"] = new Tensor((float[])s.Mean.Clone(), s.Mean.Length),
            ["feature_std"] = new Tensor((float[])s.Std.Clone(), s.Std.Length),
        };
    }

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue("feature_mean", out var m) || !state.TryGetValue("feature_std", out var s))
            throw new InvalidDataException("The checkpoint has no feature standardization (normalizer.feature_mean / normalizer.feature_std).");
        if (m.Length != FeatureCount || s.Length != FeatureCount)
            throw new InvalidDataException($"The checkpoint's feature standardization has {m.Length} means and {s.Length} standard deviations; the {Kind} model reads {FeatureCount} features.");
        _standardizer = new FeatureStandardizer((float[])m.Data.Clone(), (float[])s.Data.Clone());
    }

    public override Tensor Forward(WeightSpaceBatch raw) => _mlp.Forward(Standardizer.Apply(Features(raw)));

    public override void Backward(Tensor gradOutputs) => _mlp.Backward(gradOutputs);
}
