using System;
using System.Collections.Generic;
using System.Globalization;
using LayerCompiler;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.Training;
using System.IO;
using System.Linq;

namespace WeightTasks.InrClassification;

/// <summary>The model kinds the sample trains.</summary>
internal static class ModelKinds
{
    public const string Hidden = "hidden", All = "all", Mlp = "mlp", Stats = "stats";
    public const string Product = "product", ProductSigned = "product-signed", ProductSignedNorm = "product-signed-ln", ProductSignedWide = "product-signed-wide";
    public const string Probe = "probe", ProbeGrid = "probe-grid";
    public static readonly string[] Names = { Hidden, All, Mlp, Stats, Product, ProductSigned, ProductSignedNorm, ProductSignedWide, Probe, ProbeGrid };

    /// <summary>The random probes of <see cref="Probe"/>: how many, and their seed (fixed: every training seed probes the same points).</summary>
    public const int RandomProbes = 128;
    public const ulong ProbeSeed = 0x9B0BE5;

    /// <summary>The probe models read the INR's function, not its weights, and have one size.</summary>
    public static bool IsProbe(string kind) => kind is Probe or ProbeGrid;

    /// <summary>The product-layer kinds have one size: <c>--full</c> does not change them.</summary>
    public static bool IsProduct(string kind) => kind is Product or ProductSigned or ProductSignedNorm or ProductSignedWide;

    public static string Describe(string kind, bool full) => kind switch
    {
        Hidden => $"hidden-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, DWSNets-style)",
        All => $"all-neuron equivariant ({(full ? "5 × 32" : "3 × 16")} channels, NFN NP-style)",
        Mlp => "MLP on flattened weights",
        Stats => "MLP on per-tensor statistics",
        Product => "product layers, hidden-neuron permutations (2 × 32 features)",
        ProductSigned => "product layers, permutations × sign flips (sign-invariant lift, 2 × 32 features)",
        ProductSignedNorm => "product layers, permutations × sign flips, LayerNorm + dropout 0.2 (2 × 32 features)",
        ProductSignedWide => "product layers, permutations × sign flips (sign-invariant lift, 2 × 64 features)",
        Probe => $"probing: the INR's outputs at {RandomProbes} fixed random points → MLP 512-512",
        ProbeGrid => "probing: the INR's outputs on its 28 × 28 fitting grid → MLP 512-512",
        _ => kind,
    };
}

/// <summary>
/// A classifier of INRs: one of the task library's weight models (<see cref="EquivariantWeightModel"/> on per-entry-normalized
/// weights, <see cref="FeatureWeightModel"/> on standardized feature vectors, <see cref="ProbeWeightModel"/> on the INR's
/// outputs at fixed probes, or the sample's <see cref="ProductWeightModel"/>)
/// with the sample's model kind and size. The model takes a batch of raw weights, so the runtime's <see cref="Trainer"/> feeds
/// it (augmented) batches like any other model.
/// </summary>
internal sealed class Classifier
{
    private Classifier(string kind, bool full, WeightModel model)
    {
        Kind = kind; Full = full; Model = model;
    }

    public string Kind { get; }
    public bool Full { get; }
    /// <summary>The weight model that computes the logits.</summary>
    public WeightModel Model { get; }
    public Module Module => Model.Module;
    /// <summary>The weight space the zoo must be loaded over.</summary>
    public LayerCompiler.Algebra.WeightSpace Space => Model.Space;
    public string Description => ModelKinds.Describe(Kind, Full);

    /// <summary>Fits the input normalization on the training split.</summary>
    public void FitNormalization(ZooSplit train) => Model.FitInputs(train.Weights);
    /// <summary>The input normalization as tensors, keyed without a prefix.</summary>
    public Dictionary<string, Tensor> NormalizationState() => Model.NormalizationState();
    public void LoadNormalization(IReadOnlyDictionary<string, Tensor> state) => Model.LoadNormalization(state);

    /// <summary>Logits [batch, classes] for a batch of raw (unnormalized) weights; may overwrite <paramref name="raw"/>.</summary>
    public Tensor Forward(WeightSpaceBatch raw) => Model.Forward(raw);
    /// <summary>Accumulates parameter gradients for the last <see cref="Forward"/>.</summary>
    public void Backward(Tensor gradLogits) => Model.Backward(gradLogits);

    /// <summary>The split as a labelled dataset for the trainer.</summary>
    public static IWeightDataset Dataset(ZooSplit split) =>
        new InMemoryWeightDataset(split.Weights, split.Labels ?? throw new ArgumentException($"Split '{split.Name}' has no class labels; this classifier needs a labelled (image) zoo."));

    /// <summary>The CPU step executor: this model with <paramref name="options"/>' optimizer.</summary>
    public ModuleStepExecutor Executor(TrainerOptions options) => Model.Executor(options);

    /// <summary>
    /// The whole model on the ILGPU device (<see cref="LayerCompiler.Ilgpu.IlgpuStepExecutor"/>) when its layers were built on
    /// one and every module has a device kernel; otherwise null, with <paramref name="reason"/> saying why when the layers are
    /// on a device (the CPU executor then drives the device layers alone).
    /// </summary>
    public LayerCompiler.Ilgpu.IlgpuStepExecutor? DeviceExecutor(TrainerOptions options, out string? reason)
    {
        reason = null;
        if (Model is not EquivariantWeightModel eq || eq.Network.Layers[0].Kernel is not LayerCompiler.Ilgpu.IlgpuEquivariantKernel layer) return null;
        reason = LayerCompiler.Ilgpu.IlgpuStepExecutor.WhyUnsupported(layer.Device, eq.Network, options);
        // The normalization runs on the host before the upload (in place, as Forward); the zoo's space differs only in symmetry.
        return reason == null ? new LayerCompiler.Ilgpu.IlgpuStepExecutor(layer.Device, eq.Network, options, raw => eq.Normalizer.Apply(raw)) : null;
    }

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
        device is not null && (ModelKinds.IsProduct(kind) || ModelKinds.IsProbe(kind))
            ? throw new ArgumentException($"--device: the {(ModelKinds.IsProduct(kind) ? "product" : "probe")} models ('{kind}') have no ILGPU kernels yet; train them with --device cpu.")
            : new Classifier(kind, full, kind switch
    {
        ModelKinds.Hidden => new EquivariantWeightModel(kind,
            device is null ? (full ? new HiddenNeuronClassifierFull(seed) : new HiddenNeuronClassifier(seed))
                           : (full ? new HiddenNeuronClassifierFull(device, seed) : new HiddenNeuronClassifier(device, seed))),
        ModelKinds.All => new EquivariantWeightModel(kind,
            device is null ? (full ? new AllNeuronClassifierFull(seed) : new AllNeuronClassifier(seed))
                           : (full ? new AllNeuronClassifierFull(device, seed) : new AllNeuronClassifier(device, seed))),
        ModelKinds.Mlp or ModelKinds.Stats => new FeatureWeightModel(kind, Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron), full ? new[] { 512, 512 } : new[] { 256, 256 }, 10, seed),
        ModelKinds.Product => new ProductWeightModel(kind, new ProductClassifier(seed)),
        ModelKinds.ProductSigned => new ProductWeightModel(kind, new SignedProductClassifier(seed)),
        ModelKinds.ProductSignedNorm => new ProductWeightModel(kind, new SignedProductClassifierNormalized(seed)),
        ModelKinds.ProductSignedWide => new ProductWeightModel(kind, new WideSignedProductClassifier(seed)),
        ModelKinds.Probe => new ProbeWeightModel(kind, Jobs.Siren, ProbeSet.Random(ModelKinds.RandomProbes, 2, ModelKinds.ProbeSeed), new[] { 512, 512 }, 10, seed),
        ModelKinds.ProbeGrid => new ProbeWeightModel(kind, Jobs.Siren, ProbeSet.Grid(28, 28), new[] { 512, 512 }, 10, seed),
        _ => throw new ArgumentException($"Unknown model '{kind}'; choose one of {string.Join(", ", ModelKinds.Names)}."),
    });
}

/// <summary>
/// A generated product-layer network (<c>[ProductModel]</c>) on weights scaled per tensor. The scaling divides every
/// tensor by its standard deviation over the training networks and does not centre: it commutes with hidden-neuron
/// permutations and with sign flips, so the model stays exactly invariant to both (per-entry centring would not).
/// </summary>
internal sealed class ProductWeightModel : WeightModel
{
    private const float MinStd = 1e-6f;

    private readonly ProductNetwork _net;
    private InputNormalizer? _normalizer;

    public ProductWeightModel(string kind, ProductNetwork net)
    {
        Kind = kind; _net = net;
    }

    public override string Kind { get; }
    public override Module Module => _net;
    public override LayerCompiler.Algebra.WeightSpace Space => _net.Space;

    public override void FitInputs(WeightSpaceBatch train)
    {
        var fitted = InputNormalizer.Fit(new[] { train }, NormalizationGranularity.PerTensor, MinStd);
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
