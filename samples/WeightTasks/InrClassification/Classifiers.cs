using System;
using System.Collections.Generic;
using System.Globalization;
using LayerCompiler;
using LayerCompiler.Runtime;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.Training;
using System.IO;
using System.Linq;

namespace WeightTasks.InrClassification;

/// <summary>The model kinds the sample trains.</summary>
internal static class ModelKinds
{
    public const string Hidden = "hidden", All = "all", Mlp = "mlp", Stats = "stats";
    public const string Product = "product", ProductSigned = "product-signed", ProductSignedNorm = "product-signed-ln";
    public static readonly string[] Names = { Hidden, All, Mlp, Stats, Product, ProductSigned, ProductSignedNorm };

    /// <summary>The product-layer kinds have one size: <c>--full</c> does not change them.</summary>
    public static bool IsProduct(string kind) => kind is Product or ProductSigned or ProductSignedNorm;

    public static string Describe(string kind, bool full) => kind switch
    {
        Hidden => $"hidden-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, DWSNets-style)",
        All => $"all-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, NFN NP-style)",
        Mlp => "MLP on flattened weights",
        Stats => "MLP on per-tensor statistics",
        Product => "product layers, hidden-neuron permutations (2 × 32 features)",
        ProductSigned => "product layers, permutations × sign flips (sign-invariant lift, 2 × 32 features)",
        ProductSignedNorm => "product layers, permutations × sign flips, LayerNorm + dropout 0.2 (2 × 32 features)",
        _ => kind,
    };
}

/// <summary>
/// A classifier of INRs together with its view of the data: the equivariant models see per-entry-normalized
/// weights, the baselines see standardized feature vectors computed from the weights. Either way the model takes a
/// batch of raw weights, so the runtime's <see cref="Trainer"/> feeds it (augmented) batches like any other model.
/// </summary>
internal abstract class Classifier
{
    public abstract string Kind { get; }
    public abstract bool Full { get; }
    public abstract Module Module { get; }
    /// <summary>The weight space the zoo must be loaded over.</summary>
    public abstract LayerCompiler.Algebra.WeightSpace Space { get; }
    public string Description => ModelKinds.Describe(Kind, Full);

    /// <summary>Fits the input normalization on the training split.</summary>
    public abstract void FitNormalization(ZooSplit train);
    /// <summary>The input normalization as tensors, keyed without a prefix.</summary>
    public abstract Dictionary<string, Tensor> NormalizationState();
    public abstract void LoadNormalization(IReadOnlyDictionary<string, Tensor> state);

    /// <summary>Logits [batch, classes] for a batch of raw (unnormalized) weights; may overwrite <paramref name="raw"/>.</summary>
    public abstract Tensor Forward(WeightSpaceBatch raw);
    /// <summary>Accumulates parameter gradients for the last <see cref="Forward"/>.</summary>
    public abstract void Backward(Tensor gradLogits);

    /// <summary>The split as a labelled dataset for the trainer.</summary>
    public static IWeightDataset Dataset(ZooSplit split) =>
        new InMemoryWeightDataset(split.Weights, split.Labels ?? throw new ArgumentException($"Split '{split.Name}' has no class labels; this classifier needs a labelled (image) zoo."));

    /// <summary>The CPU step executor: this model with <paramref name="options"/>' optimizer.</summary>
    public ModuleStepExecutor Executor(TrainerOptions options) => new(Module, Forward, Backward, options.CreateOptimizer(Module), options.ClipGradNorm);

    /// <summary>
    /// The whole model on the ILGPU device (<see cref="LayerCompiler.Ilgpu.IlgpuStepExecutor"/>) when its layers were built on
    /// one and every module has a device kernel; otherwise null, with <paramref name="reason"/> saying why when the layers are
    /// on a device (the CPU executor then drives the device layers alone).
    /// </summary>
    public virtual LayerCompiler.Ilgpu.IlgpuStepExecutor? DeviceExecutor(TrainerOptions options, out string? reason) { reason = null; return null; }

    public Dictionary<string, string> Metadata() => new(StringComparer.Ordinal)
    {
        ["model.kind"] = Kind,
        ["model.variant"] = Full ? "full" : "quick",
        ["model.description"] = Description,
        ["model.class"] = Module.GetType().Name,
        ["model.parameters"] = Module.ParameterCount().ToString(CultureInfo.InvariantCulture),
    };

    /// <param name="device">An accelerator for the equivariant layers (the models' generated ILGPU constructor), or null for the C# kernels.</param>
    public static Classifier Create(string kind, bool full, ulong seed, LayerCompiler.Ilgpu.IlgpuDevice? device = null) =>
        device is not null && ModelKinds.IsProduct(kind)
            ? throw new ArgumentException($"--device: the product models ('{kind}') have no ILGPU kernels yet; train them with --device cpu.")
            : kind switch
    {
        ModelKinds.Hidden => new EquivariantClassifier(kind, full,
            device is null ? (full ? new HiddenNeuronClassifierFull(seed) : new HiddenNeuronClassifier(seed))
                           : (full ? new HiddenNeuronClassifierFull(device, seed) : new HiddenNeuronClassifier(device, seed)),
            full ? HiddenNeuronClassifierFull.CreateWeightSpace() : HiddenNeuronClassifier.CreateWeightSpace()),
        ModelKinds.All => new EquivariantClassifier(kind, full,
            device is null ? (full ? new AllNeuronClassifierFull(seed) : new AllNeuronClassifier(seed))
                           : (full ? new AllNeuronClassifierFull(device, seed) : new AllNeuronClassifier(device, seed)),
            full ? AllNeuronClassifierFull.CreateWeightSpace() : AllNeuronClassifier.CreateWeightSpace()),
        ModelKinds.Mlp or ModelKinds.Stats => new FeatureClassifier(kind, full, seed),
        ModelKinds.Product => new ProductClassifierModel(kind, full, new ProductClassifier(seed)),
        ModelKinds.ProductSigned => new ProductClassifierModel(kind, full, new SignedProductClassifier(seed)),
        ModelKinds.ProductSignedNorm => new ProductClassifierModel(kind, full, new SignedProductClassifierNormalized(seed)),
        _ => throw new ArgumentException($"Unknown model '{kind}'; choose one of {string.Join(", ", ModelKinds.Names)}."),
    };
}

/// <summary>An LayerCompiler-generated equivariant network on per-entry-normalized weights.</summary>
internal sealed class EquivariantClassifier : Classifier
{
    /// <summary>Entries whose standard deviation over the training networks is at most this are only centred.</summary>
    private const float MinStd = 1e-6f;

    private readonly EquivariantNetwork _net;
    private readonly LayerCompiler.Algebra.WeightSpace _space;
    private readonly Dictionary<int, WeightSpaceBatch> _batchBuffers = new();
    private InputNormalizer? _normalizer;

    public EquivariantClassifier(string kind, bool full, EquivariantNetwork net, LayerCompiler.Algebra.WeightSpace space)
    {
        Kind = kind; Full = full; _net = net; _space = space;
    }

    public override string Kind { get; }
    public override bool Full { get; }
    public override Module Module => _net;
    public override LayerCompiler.Algebra.WeightSpace Space => _space;

    // One batch of every training network: the exact two-pass statistics.
    public override void FitNormalization(ZooSplit train) => _normalizer = InputNormalizer.Fit(new[] { train.Weights }, NormalizationGranularity.PerEntry, MinStd);
    public override Dictionary<string, Tensor> NormalizationState() => Normalizer.ToTensors();
    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state) => _normalizer = InputNormalizer.FromTensors(_space, state);
    private InputNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is neither fitted nor loaded.");

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        Normalizer.Apply(raw);
        if (ReferenceEquals(raw.Space, _space)) return _net.Forward(raw);
        // The zoo's weight space and the model's may differ only in symmetry (same tensors, same shapes).
        if (!_batchBuffers.TryGetValue(raw.Batch, out var x))
            _batchBuffers[raw.Batch] = x = new WeightSpaceBatch(_space, raw.Batch, 1);
        for (int t = 0; t < raw.Tensors.Length; t++) Array.Copy(raw.Tensors[t].Data, x.Tensors[t].Data, raw.Tensors[t].Data.Length);
        return _net.Forward(x);
    }

    public override void Backward(Tensor gradLogits) => _net.BackwardParameters(gradLogits);

    public override LayerCompiler.Ilgpu.IlgpuStepExecutor? DeviceExecutor(TrainerOptions options, out string? reason)
    {
        reason = null;
        if (_net.Layers[0].Kernel is not LayerCompiler.Ilgpu.IlgpuEquivariantKernel layer) return null;
        reason = LayerCompiler.Ilgpu.IlgpuStepExecutor.WhyUnsupported(layer.Device, _net, options);
        // The normalization runs on the host before the upload (in place, as Forward); the zoo's space differs only in symmetry.
        return reason == null ? new LayerCompiler.Ilgpu.IlgpuStepExecutor(layer.Device, _net, options, raw => Normalizer.Apply(raw)) : null;
    }
}

/// <summary>
/// A generated product-layer network (<c>[ProductModel]</c>) on weights scaled per tensor. The scaling divides every
/// tensor by its standard deviation over the training networks and does not centre: it commutes with hidden-neuron
/// permutations and with sign flips, so the model stays exactly invariant to both (per-entry centring would not).
/// </summary>
internal sealed class ProductClassifierModel : Classifier
{
    private const float MinStd = 1e-6f;

    private readonly ProductNetwork _net;
    private InputNormalizer? _normalizer;

    public ProductClassifierModel(string kind, bool full, ProductNetwork net)
    {
        Kind = kind; Full = full; _net = net;
    }

    public override string Kind { get; }
    public override bool Full { get; }
    public override Module Module => _net;
    public override LayerCompiler.Algebra.WeightSpace Space => _net.Space;

    public override void FitNormalization(ZooSplit train)
    {
        var fitted = InputNormalizer.Fit(new[] { train.Weights }, NormalizationGranularity.PerTensor, MinStd);
        _normalizer = new InputNormalizer(_net.Space, NormalizationGranularity.PerTensor, fitted.Channels,
            fitted.Mean.Select(m => new float[m.Length]).ToArray(), fitted.Std.Select(s => (float[])s.Clone()).ToArray(), MinStd);
    }

    public override Dictionary<string, Tensor> NormalizationState() => Normalizer.ToTensors();

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state)
    {
        var loaded = InputNormalizer.FromTensors(_net.Space, state);
        if (loaded.Granularity != NormalizationGranularity.PerTensor || loaded.Mean.Any(m => m.Any(v => v != 0)))
            throw new InvalidDataException("The checkpoint's input normalization is not the product models' per-tensor scaling (granularity per tensor, zero means).");
        _normalizer = loaded;
    }

    private InputNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is neither fitted nor loaded.");

    // The network accepts any weight space with the same tensors (the zoo's is under another symmetry).
    public override Tensor Forward(WeightSpaceBatch raw) => _net.Forward(Normalizer.Apply(raw));

    public override void Backward(Tensor gradLogits) => _net.BackwardParameters(gradLogits);
}

/// <summary>A plain MLP on fixed features: flattened weights ("mlp") or per-tensor statistics ("stats").</summary>
internal sealed class FeatureClassifier : Classifier
{
    private readonly Sequential _mlp;
    private FeatureStandardizer? _standardizer;
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

    private Tensor Extract(WeightSpaceBatch weights) => Kind == ModelKinds.Mlp ? WeightFeatures.Flattened(weights) : WeightFeatures.Statistics(weights);

    public override void FitNormalization(ZooSplit train) => _standardizer = FeatureStandardizer.Fit(Extract(train.Weights));

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
        if (!state.TryGetValue("feature_mean", out var m) || !state.TryGetValue("feature_std", out var s))
            throw new InvalidDataException("The checkpoint has no feature standardization (normalizer.feature_mean / normalizer.feature_std).");
        _standardizer = new FeatureStandardizer((float[])m.Data.Clone(), (float[])s.Data.Clone());
    }

    private FeatureStandardizer Standardizer => _standardizer ?? throw new InvalidOperationException("The feature standardization is neither fitted nor loaded.");

    public override Tensor Forward(WeightSpaceBatch raw) => _mlp.Forward(Standardizer.Apply(Extract(raw)));

    public override void Backward(Tensor gradLogits) => _mlp.Backward(gradLogits);
}
