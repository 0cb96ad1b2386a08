using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// Probing (Kahana et al., ICLR 2025, "vanilla probing" with fixed probes): the model runs every input network on a fixed set
/// of probe inputs through the network's own forward pass (any <see cref="IInputNetwork"/>: the runtime's
/// <see cref="MlpInputNetwork"/>, which also fits the INR zoos, or the <c>Network</c> class generated for a declared
/// architecture), standardizes the outputs per probe, and classifies them with an MLP.
/// </summary>
/// <remarks>
/// The features are the network's function at the probes, so the model is invariant to every symmetry that preserves the
/// function: hidden-neuron permutations and, for odd activations such as sine, sign flips (up to the rounding of sums taken
/// in another order). It reads no weight directly. Probes: the image grid the INRs were fitted on
/// (<see cref="ProbeSet.Grid"/>) or seeded uniform points in the input box [−1, 1]ᵈ (<see cref="ProbeSet.Random"/>).
/// </remarks>
public sealed class ProbeWeightModel : FeatureMlpModel
{
    private readonly IInputNetwork _network;

    /// <param name="kind">The model's name (run fingerprints).</param>
    /// <param name="network">The input networks' architecture (their forward pass).</param>
    /// <param name="probes">Probe inputs, row-major [count, network.InputWidth].</param>
    /// <param name="hidden">The MLP's hidden widths.</param>
    /// <param name="outputs">Outputs per network (classes).</param>
    public ProbeWeightModel(string kind, IInputNetwork network, float[] probes, IReadOnlyList<int> hidden, int outputs, ulong seed)
        : base(CountFeatures(network, probes), hidden, outputs, seed)
    {
        Kind = kind; _network = network; Probes = (float[])probes.Clone();
        ProbeCount = probes.Length / network.InputWidth;
    }

    private static int CountFeatures(IInputNetwork network, float[] probes)
    {
        ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(probes);
        if (probes.Length == 0 || probes.Length % network.InputWidth != 0)
            throw new ArgumentException($"Probes must be a non-empty [count, {network.InputWidth}] array; got {probes.Length} values.", nameof(probes));
        foreach (var v in probes) if (!float.IsFinite(v)) throw new ArgumentException("Probe coordinates must be finite.", nameof(probes));
        return probes.Length / network.InputWidth * network.OutputWidth;
    }

    public override string Kind { get; }
    public override Algebra.WeightSpace Space => _network.Space;
    /// <summary>The probe inputs, [ProbeCount, InputWidth].</summary>
    public float[] Probes { get; }
    public int ProbeCount { get; }

    /// <summary>The networks' outputs at the probes, [batch, FeatureCount] (one feature per probe and network output; unstandardized).</summary>
    public override Tensor Features(WeightSpaceBatch weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var features = new Tensor(weights.Batch, FeatureCount);
        _network.Forward(weights, Probes, ProbeCount, features.Data);
        return features;
    }

    /// <summary><c>probes</c>, <c>feature_mean</c> and <c>feature_std</c>.</summary>
    public override Dictionary<string, Tensor> NormalizationState()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["probes"] = new Tensor((float[])Probes.Clone(), ProbeCount, _network.InputWidth) };
        foreach (var (name, tensor) in base.NormalizationState()) state[name] = tensor;
        return state;
    }

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue("probes", out var p) || !state.ContainsKey("feature_mean") || !state.ContainsKey("feature_std"))
            throw new InvalidDataException("The checkpoint is not a probe model's: it has no normalizer.probes / normalizer.feature_mean / normalizer.feature_std.");
        if (p.Length != Probes.Length || !p.Data.AsSpan().SequenceEqual(Probes))
            throw new InvalidDataException($"The checkpoint's {p.Length / _network.InputWidth} probes are not this {Kind} model's {ProbeCount} probes.");
        base.LoadNormalization(state);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"ProbeWeightModel({Kind}, {ProbeCount} probes)");
}

/// <summary>Probe inputs for <see cref="ProbeWeightModel"/>.</summary>
public static class ProbeSet
{
    /// <summary>The height × width image grid (x = column, y = row, linspace(−1, 1)) that image INRs are fitted on.</summary>
    public static float[] Grid(int height, int width) => Zoo.InrTask.ImageGrid(height, width);

    /// <summary><paramref name="count"/> points uniform in [<paramref name="low"/>, <paramref name="high"/>]^<paramref name="dimension"/>, from <paramref name="seed"/>.</summary>
    public static float[] Random(int count, int dimension, ulong seed, float low = -1f, float high = 1f)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The probe count must be positive.");
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The input dimension must be positive.");
        if (!(float.IsFinite(low) && float.IsFinite(high) && low < high)) throw new ArgumentException($"The probe box [{low}, {high}] must be finite and non-empty.");
        var rng = new Rng(seed);
        var p = new float[count * dimension];
        for (int i = 0; i < p.Length; i++) p[i] = rng.Uniform(low, high);
        return p;
    }
}
