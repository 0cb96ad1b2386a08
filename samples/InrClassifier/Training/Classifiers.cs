using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler;
using LayerCompiler.Runtime;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.InputNetworks;

namespace InrClassifier.Training;

/// <summary>The model kinds the sample trains.</summary>
internal static class ModelKinds
{
    public const string Hidden = "hidden", All = "all", Mlp = "mlp", Stats = "stats";
    public static readonly string[] Names = { Hidden, All, Mlp, Stats };

    public static string Describe(string kind, bool full) => kind switch
    {
        Hidden => $"hidden-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, DWSNets-style)",
        All => $"all-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, NFN NP-style)",
        Mlp => "MLP on flattened weights",
        Stats => "MLP on per-tensor statistics",
        _ => kind,
    };
}

/// <summary>
/// A classifier of INRs together with its view of the data: the equivariant models see per-entry-normalized
/// weights, the baselines see fixed standardized feature vectors.
/// </summary>
internal abstract class Classifier
{
    private readonly Dictionary<string, int[]> _labels = new(StringComparer.Ordinal);
    private WeightSpaceBatch? _rawTrain;
    private readonly Dictionary<int, WeightSpaceBatch> _rawBatches = new();

    public abstract string Kind { get; }
    public abstract bool Full { get; }
    public abstract Module Module { get; }
    /// <summary>The weight space the zoo must be loaded over.</summary>
    public abstract LayerCompiler.Algebra.WeightSpace Space { get; }
    public string Description => ModelKinds.Describe(Kind, Full);

    /// <summary>Fits the input normalization on the training split.</summary>
    public abstract void FitNormalization(ZooSplit train);
    public abstract Dictionary<string, Tensor> NormalizationState();
    public abstract void LoadNormalization(IReadOnlyDictionary<string, Tensor> state);

    /// <summary>Prepares a split's inputs (after the normalization is fitted or loaded).</summary>
    public void SetData(ZooSplit split)
    {
        if (split.Labels is null) throw new ArgumentException($"Split '{split.Name}' has no class labels; this classifier needs a labelled (image) zoo.");
        _labels[split.Name] = split.Labels;
        if (split.Name == "train") _rawTrain = split.Weights;
        Prepare(split);
    }

    /// <summary>
    /// Logits for training items <paramref name="indices"/> of the "train" split. With an augmentation, the raw weights
    /// are gathered, augmented (drawing from <paramref name="rng"/>) and then normalized or turned into features,
    /// exactly as the evaluation path does for unaugmented inputs; without one this is <c>Forward("train", indices)</c>.
    /// </summary>
    public Tensor ForwardTraining(int[] indices, IWeightAugmentation? augmentation, Rng rng)
    {
        if (augmentation is null) return Forward("train", indices);
        var raw = _rawTrain ?? throw new InvalidOperationException("No training data set.");
        if (!_rawBatches.TryGetValue(indices.Length, out var x))
            _rawBatches[indices.Length] = x = new WeightSpaceBatch(raw.Space, indices.Length, 1);
        Gather(raw, indices, x);
        augmentation.Apply(x, rng);
        return ForwardRaw(x);
    }

    /// <summary>Logits for a batch of raw (unnormalized) weights; may overwrite <paramref name="raw"/>.</summary>
    protected abstract Tensor ForwardRaw(WeightSpaceBatch raw);

    /// <summary>Copies networks <paramref name="indices"/> of <paramref name="source"/> into <paramref name="destination"/>, in order.</summary>
    protected static void Gather(WeightSpaceBatch source, int[] indices, WeightSpaceBatch destination)
    {
        for (int t = 0; t < source.Tensors.Length; t++)
        {
            int size = source.Space.Tensors[t].Size;
            float[] s = source.Tensors[t].Data, d = destination.Tensors[t].Data;
            for (int i = 0; i < indices.Length; i++) Array.Copy(s, (long)indices[i] * size, d, (long)i * size, size);
        }
    }

    protected abstract void Prepare(ZooSplit split);

    public int[] Labels(string split) => _labels.TryGetValue(split, out var l) ? l : throw new InvalidOperationException($"No data set for split '{split}'.");
    public int Count(string split) => Labels(split).Length;

    /// <summary>Logits [indices.Length, classes] for the given items of a split.</summary>
    public abstract Tensor Forward(string split, int[] indices);
    /// <summary>Accumulates parameter gradients for the last <see cref="Forward"/>.</summary>
    public abstract void Backward(Tensor gradLogits);

    public Dictionary<string, string> Metadata() => new(StringComparer.Ordinal)
    {
        ["model.kind"] = Kind,
        ["model.variant"] = Full ? "full" : "quick",
        ["model.description"] = Description,
        ["model.class"] = Module.GetType().Name,
        ["model.parameters"] = Module.ParameterCount().ToString(CultureInfo.InvariantCulture),
    };

    public static Classifier Create(string kind, bool full, ulong seed) => kind switch
    {
        ModelKinds.Hidden => new EquivariantClassifier(kind, full, full ? new HiddenNeuronClassifierFull(seed) : new HiddenNeuronClassifier(seed),
            full ? HiddenNeuronClassifierFull.CreateWeightSpace() : HiddenNeuronClassifier.CreateWeightSpace()),
        ModelKinds.All => new EquivariantClassifier(kind, full, full ? new AllNeuronClassifierFull(seed) : new AllNeuronClassifier(seed),
            full ? AllNeuronClassifierFull.CreateWeightSpace() : AllNeuronClassifier.CreateWeightSpace()),
        ModelKinds.Mlp or ModelKinds.Stats => new FeatureClassifier(kind, full, seed),
        _ => throw new ArgumentException($"Unknown model '{kind}'; choose one of {string.Join(", ", ModelKinds.Names)}."),
    };
}

/// <summary>An LayerCompiler-generated equivariant network on per-entry-normalized weights.</summary>
internal sealed class EquivariantClassifier : Classifier
{
    private readonly EquivariantNetwork _net;
    private readonly LayerCompiler.Algebra.WeightSpace _space;
    private readonly Dictionary<string, WeightSpaceBatch> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<int, WeightSpaceBatch> _batchBuffers = new();
    private EntryNormalizer? _normalizer;

    public EquivariantClassifier(string kind, bool full, EquivariantNetwork net, LayerCompiler.Algebra.WeightSpace space)
    {
        Kind = kind; Full = full; _net = net; _space = space;
    }

    public override string Kind { get; }
    public override bool Full { get; }
    public override Module Module => _net;
    public override LayerCompiler.Algebra.WeightSpace Space => _space;

    public override void FitNormalization(ZooSplit train) => _normalizer = EntryNormalizer.Fit(train.Weights);
    public override Dictionary<string, Tensor> NormalizationState() => Normalizer.State();
    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state) => _normalizer = EntryNormalizer.FromState(state, _space);
    private EntryNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is neither fitted nor loaded.");

    protected override void Prepare(ZooSplit split) => _inputs[split.Name] = Normalizer.Apply(split.Weights);

    public override Tensor Forward(string split, int[] indices)
    {
        var src = _inputs[split];
        if (!_batchBuffers.TryGetValue(indices.Length, out var x))
            _batchBuffers[indices.Length] = x = new WeightSpaceBatch(_space, indices.Length, 1);
        Gather(src, indices, x);
        return _net.Forward(x);
    }

    protected override Tensor ForwardRaw(WeightSpaceBatch raw)
    {
        Normalizer.ApplyInPlace(raw);
        // The zoo's weight space and the model's may differ only in symmetry (same tensors, same shapes).
        if (!_batchBuffers.TryGetValue(raw.Batch, out var x))
            _batchBuffers[raw.Batch] = x = new WeightSpaceBatch(_space, raw.Batch, 1);
        for (int t = 0; t < raw.Tensors.Length; t++) Array.Copy(raw.Tensors[t].Data, x.Tensors[t].Data, raw.Tensors[t].Data.Length);
        return _net.Forward(x);
    }

    public override void Backward(Tensor gradLogits) => _net.BackwardParameters(gradLogits);
}

/// <summary>A plain MLP on fixed features: flattened weights ("mlp") or per-tensor statistics ("stats").</summary>
internal sealed class FeatureClassifier : Classifier
{
    private readonly Sequential _mlp;
    private readonly Dictionary<string, Tensor> _features = new(StringComparer.Ordinal);
    private FeatureStandardizer? _standardizer;
    private Tensor? _batch;
    private readonly LayerCompiler.Algebra.WeightSpace _space = Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron);

    public FeatureClassifier(string kind, bool full, ulong seed)
    {
        Kind = kind; Full = full;
        int inputs = kind == ModelKinds.Mlp ? (int)_space.Dimension : _space.Tensors.Count * WeightFeatures.StatisticNames.Count;
        int[] hidden = full ? new[] { 512, 512 } : new[] { 256, 256 };
        _mlp = BaselineMlp.Create(inputs, hidden, 10, new Rng(seed));
    }

    public override string Kind { get; }
    public override bool Full { get; }
    public override Module Module => _mlp;
    public override LayerCompiler.Algebra.WeightSpace Space => _space;

    private Tensor Extract(ZooSplit split) => Kind == ModelKinds.Mlp ? WeightFeatures.Flattened(split.Weights) : WeightFeatures.Statistics(split.Weights);

    public override void FitNormalization(ZooSplit train) => _standardizer = FeatureStandardizer.Fit(Extract(train));

    public override Dictionary<string, Tensor> NormalizationState()
    {
        var s = _standardizer ?? throw new InvalidOperationException("The feature standardization is not fitted.");
        return new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["normalizer.feature_mean"] = new Tensor((float[])s.Mean.Clone(), s.Mean.Length),
            ["normalizer.feature_std"] = new Tensor((float[])s.Std.Clone(), s.Std.Length),
        };
    }

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("normalizer.feature_mean", out var m) || !state.TryGetValue("normalizer.feature_std", out var s))
            throw new InvalidOperationException("The checkpoint has no feature standardization (normalizer.feature_mean / normalizer.feature_std).");
        _standardizer = new FeatureStandardizer((float[])m.Data.Clone(), (float[])s.Data.Clone());
    }

    protected override void Prepare(ZooSplit split)
    {
        var s = _standardizer ?? throw new InvalidOperationException("The feature standardization is neither fitted nor loaded.");
        _features[split.Name] = s.Apply(Extract(split));
    }

    public override Tensor Forward(string split, int[] indices)
    {
        var f = _features[split];
        int width = f.Shape[1];
        if (_batch is null || _batch.Shape[0] != indices.Length) _batch = new Tensor(indices.Length, width);
        for (int i = 0; i < indices.Length; i++) Array.Copy(f.Data, (long)indices[i] * width, _batch.Data, (long)i * width, width);
        return _mlp.Forward(_batch);
    }

    protected override Tensor ForwardRaw(WeightSpaceBatch raw)
    {
        var s = _standardizer ?? throw new InvalidOperationException("The feature standardization is not fitted.");
        return _mlp.Forward(s.Apply(Kind == ModelKinds.Mlp ? WeightFeatures.Flattened(raw) : WeightFeatures.Statistics(raw)));
    }

    public override void Backward(Tensor gradLogits) => _mlp.Backward(gradLogits);
}
