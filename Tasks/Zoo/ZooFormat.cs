using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>
/// On-disk layout of an INR zoo.
/// <code>
/// DIR/zoo.json                              manifest (JSON, written atomically)
/// DIR/{split}/shard-00000.safetensors       ShardSize INRs each, in split order
/// </code>
/// Each shard holds one F32 tensor per weight tensor of the input network (W1, b1, W2, ...; PyTorch orientation
/// with a leading batch dimension, e.g. W1 [n, 32, 2]), <c>psnr</c> F32 [n] (PSNR in dB of the stored weights;
/// for non-image tasks still 10·log10(1/MSE)), <c>steps</c> I64 [n] (Adam steps taken), the item index I64 [n]
/// (<c>image_index</c>: index in the source image file), and <c>labels</c> I64 [n] and/or <c>targets</c> F32 [n, k].
/// The safetensors metadata repeats the zoo identity (task, architecture, fitting settings, seed, shard size)
/// plus the shard's split, number, first position and count, so a shard is self-describing and a stale or
/// foreign shard is never mistaken for a finished one.
/// </summary>
public static class ZooFormat
{
    public const string FormatName = "layercompiler-inr-zoo/1";
    public const string ManifestFile = "zoo.json";
    public const string PsnrTensor = "psnr";
    public const string StepsTensor = "steps";
    public const string LabelsTensor = "labels";
    public const string TargetsTensor = "targets";
    public const string ImageIndexTensor = "image_index";
    public const string SampleIndexTensor = "sample_index";

    // Identity keys (besides the task.*, arch.* and fit.* families).
    public const string FormatKey = "format";
    public const string SeedKey = "seed";
    public const string ShardSizeKey = "shard_size";
    public const string ClassesKey = "labels.classes";
    public const string TargetWidthKey = "targets.width";
    public const string IndexTensorKey = "index_tensor";

    // Per-shard keys.
    public const string SplitKey = "split";
    public const string ShardKey = "shard";
    public const string FirstKey = "first";
    public const string CountKey = "count";
    public const string SplitCountKey = "split_count";
    public const string FitSecondsKey = "stat.fit_seconds";
    public const string TotalStepsKey = "stat.total_steps";
    /// <summary>Where the shard's INRs were fitted ("cpu", or the accelerator, e.g. "ilgpu Cuda: NVIDIA H100 80GB HBM3"); not part of the identity.</summary>
    public const string FitDeviceKey = "stat.fit_device";

    public static string ShardFileName(string split, int shard) => $"{split}/shard-{shard.ToString("D5", CultureInfo.InvariantCulture)}.safetensors";

    /// <summary>Split names are used as directory names: keep them to lowercase letters, digits, '-' and '_'.</summary>
    public static void CheckSplitName(string split)
    {
        if (string.IsNullOrEmpty(split) || !split.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_'))
            throw new ArgumentException($"Split name '{split}' must be non-empty lowercase letters, digits, '-' or '_'.", nameof(split));
    }

    internal static string Invariant(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    internal static string Invariant(long v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The input network of a zoo: dense widths, biases, hidden activation, ω0, output offset.</summary>
public sealed record ZooArchitecture(int[] Widths, bool[] Biases, InputActivation Activation, float Omega0, float OutputOffset)
{
    public static ZooArchitecture Of(MlpInputNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var decls = network.Space.Declarations;
        return new ZooArchitecture(network.Widths.ToArray(), decls.Select(d => d.Bias).ToArray(), network.Activation, network.Omega0, network.OutputOffset);
    }

    public LayerDeclaration[] Layers() => Enumerable.Range(0, Widths.Length - 1).Select(m => LayerDeclaration.Dense(Widths[m], Widths[m + 1], Biases[m])).ToArray();

    public global::LayerCompiler.Algebra.WeightSpace CreateSpace(Symmetry symmetry = Symmetry.HiddenNeuron) => global::LayerCompiler.Algebra.WeightSpace.FromLayers(Layers(), symmetry);

    public MlpInputNetwork CreateNetwork(Symmetry symmetry = Symmetry.HiddenNeuron) => new(CreateSpace(symmetry), Activation, Omega0, OutputOffset);

    /// <summary>e.g. "2-32-32-1 sine(ω0=30) +0.5".</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{string.Join("-", Widths)} {Activation.ToString().ToLowerInvariant()}{(Activation == InputActivation.Sine ? $"(omega0={Omega0})" : "")}{(OutputOffset != 0 ? $" +{OutputOffset}" : "")}");

    public IReadOnlyDictionary<string, string> ToMetadata() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["arch.widths"] = string.Join(",", Widths),
        ["arch.biases"] = string.Join(",", Biases.Select(b => b ? "1" : "0")),
        ["arch.activation"] = Activation.ToString(),
        ["arch.omega0"] = Omega0.ToString("R", CultureInfo.InvariantCulture),
        ["arch.output_offset"] = OutputOffset.ToString("R", CultureInfo.InvariantCulture),
        ["arch.layout"] = "dense W (out, in) then b (out), layer by layer; shard tensors W1, b1, W2, ... with a leading batch dimension",
    };

    public static ZooArchitecture FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{source}: metadata has no '{key}'.");
        // Each value parsed on its own, so that a damaged one is named.
        T Parse<T>(string key, Func<string, T> parse, string expected)
        {
            string text = Get(key);
            try { return parse(text); }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw new InvalidDataException($"{source}: malformed architecture metadata: '{key}' is '{text}', not {expected}.", e);
            }
        }
        var widths = Parse("arch.widths", t => t.Split(',').Select(s => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)).ToArray(), "a comma-separated list of positive integers");
        var biases = Get("arch.biases").Split(',').Select(s => s == "1").ToArray();
        if (widths.Length < 2 || biases.Length != widths.Length - 1 || widths.Any(w => w <= 0))
            throw new InvalidDataException($"{source}: arch.widths '{Get("arch.widths")}' / arch.biases '{Get("arch.biases")}' do not describe a dense network.");
        var act = Parse("arch.activation", t => Enum.Parse<InputActivation>(t), $"one of {string.Join(", ", Enum.GetNames<InputActivation>())}");
        float omega = Parse("arch.omega0", t => float.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture), "a number");
        float offset = Parse("arch.output_offset", t => float.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture), "a number");
        return new ZooArchitecture(widths, biases, act, omega, offset);
    }

    public bool Equals(ZooArchitecture? other) => other is not null && Widths.SequenceEqual(other.Widths) && Biases.SequenceEqual(other.Biases) &&
        Activation == other.Activation && Omega0.Equals(other.Omega0) && OutputOffset.Equals(other.OutputOffset);

    public override int GetHashCode() => HashCode.Combine(Widths.Length, Activation, Omega0, OutputOffset);
}
