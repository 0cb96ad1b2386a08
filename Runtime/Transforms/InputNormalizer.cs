using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace LayerCompiler.Runtime.Transforms;

/// <summary>Which entries share one mean and standard deviation.</summary>
public enum NormalizationGranularity
{
    /// <summary>One mean/std per weight-space entry and channel (DWSNets' setup). Not exactly permutation-invariant:
    /// it is when the training distribution is (e.g. with permutation augmentation), approximately otherwise.</summary>
    PerEntry,
    /// <summary>One mean/std per weight tensor and channel: commutes with every neuron permutation.</summary>
    PerTensor,
}

/// <summary>
/// Standardizes weight-space inputs with statistics of the training networks: x ↦ (x − mean) / std.
/// </summary>
/// <remarks>
/// <para>Fit by streaming: <see cref="Accumulator"/> takes batches one by one (float64 sums, Chan et al.'s
/// pairwise combination of per-batch means and squared deviations, so large datasets do not lose precision),
/// <see cref="Accumulator.Build"/> gives the normalizer. The standard deviation is the population one
/// (divide by the count). Where it is below <see cref="MinStd"/> (e.g. a constant entry) the entry is only centred.</para>
/// <para>Statistics are stored per channel, with shape <c>[axes..., channels]</c> per tensor (<c>[1, channels]</c>
/// for <see cref="NormalizationGranularity.PerTensor"/>), and saved as tensors by <see cref="ToTensors"/>.</para>
/// </remarks>
public sealed class InputNormalizer
{
    public const float DefaultMinStd = 1e-8f;

    public global::LayerCompiler.Algebra.WeightSpace Space { get; }
    public NormalizationGranularity Granularity { get; }
    public int Channels { get; }
    public float MinStd { get; }

    /// <summary>Per tensor: the means, flat (entry-major, channel-minor).</summary>
    public IReadOnlyList<float[]> Mean => _mean;

    /// <summary>Per tensor: the standard deviations, flat like <see cref="Mean"/>.</summary>
    public IReadOnlyList<float[]> Std => _std;

    // _divisor is the std where it exceeds MinStd, else 1 (the entry is only centred). Apply divides rather than
    // multiplying by a reciprocal: (x − mean) / std is the correctly rounded quotient, the same on every backend.
    private readonly float[][] _mean, _std, _divisor;

    public InputNormalizer(global::LayerCompiler.Algebra.WeightSpace space, NormalizationGranularity granularity, int channels,
        IReadOnlyList<float[]> mean, IReadOnlyList<float[]> std, float minStd = DefaultMinStd)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be positive.");
        if (!(minStd >= 0)) throw new ArgumentOutOfRangeException(nameof(minStd), minStd, "minStd must be >= 0.");
        if (mean.Count != space.Tensors.Count || std.Count != space.Tensors.Count)
            throw new ArgumentException($"Expected statistics for {space.Tensors.Count} tensors, got {mean.Count} means and {std.Count} stds.");
        Space = space; Granularity = granularity; Channels = channels; MinStd = minStd;
        _mean = new float[mean.Count][]; _std = new float[mean.Count][]; _divisor = new float[mean.Count][];
        for (int t = 0; t < mean.Count; t++)
        {
            int n = StatCount(space.Tensors[t], granularity, channels);
            if (mean[t].Length != n || std[t].Length != n)
                throw new ArgumentException($"Statistics of {space.Tensors[t].Name} must hold {n} values, got {mean[t].Length} means and {std[t].Length} stds.");
            _mean[t] = (float[])mean[t].Clone();
            _std[t] = (float[])std[t].Clone();
            _divisor[t] = new float[n];
            for (int i = 0; i < n; i++)
            {
                if (!float.IsFinite(_mean[t][i]) || !(_std[t][i] >= 0) || float.IsInfinity(_std[t][i]))
                    throw new ArgumentException($"Statistics of {space.Tensors[t].Name} at {i} are not finite (mean {_mean[t][i]}, std {_std[t][i]}).");
                _divisor[t][i] = _std[t][i] > minStd ? _std[t][i] : 1f;
            }
        }
    }

    private static int StatCount(global::LayerCompiler.Algebra.WeightTensor t, NormalizationGranularity g, int channels) =>
        (g == NormalizationGranularity.PerEntry ? t.Size : 1) * channels;

    /// <summary>Statistics of every network of <paramref name="batches"/>, streamed (one batch in memory at a time when the sequence is lazy).</summary>
    public static InputNormalizer Fit(IEnumerable<WeightSpaceBatch> batches, NormalizationGranularity granularity = NormalizationGranularity.PerEntry,
        float minStd = DefaultMinStd)
    {
        ArgumentNullException.ThrowIfNull(batches);
        Accumulator? acc = null;
        foreach (var b in batches)
        {
            acc ??= new Accumulator(b.Space, b.Channels, granularity);
            acc.Add(b);
        }
        if (acc == null) throw new ArgumentException("No batches to compute statistics from.", nameof(batches));
        return acc.Build(minStd);
    }

    /// <summary>The identity normalizer (mean 0, std 1).</summary>
    public static InputNormalizer Identity(global::LayerCompiler.Algebra.WeightSpace space, int channels = 1,
        NormalizationGranularity granularity = NormalizationGranularity.PerTensor)
    {
        var mean = space.Tensors.Select(t => new float[StatCount(t, granularity, channels)]).ToArray();
        var std = space.Tensors.Select(t => Enumerable.Repeat(1f, StatCount(t, granularity, channels)).ToArray()).ToArray();
        return new InputNormalizer(space, granularity, channels, mean, std);
    }

    /// <summary>Normalizes <paramref name="batch"/> in place and returns it.</summary>
    public WeightSpaceBatch Apply(WeightSpaceBatch batch)
    {
        Check(batch);
        int c = Channels;
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            float[] x = batch.Tensors[t].Data, m = _mean[t], s = _divisor[t];
            int per = batch.Space.Tensors[t].Size * c;
            for (int n = 0; n < batch.Batch; n++)
            {
                int o = n * per;
                if (Granularity == NormalizationGranularity.PerEntry)
                    for (int i = 0; i < per; i++) x[o + i] = (x[o + i] - m[i]) / s[i];
                else
                    for (int i = 0; i < per; i++) { int ch = i % c; x[o + i] = (x[o + i] - m[ch]) / s[ch]; }
            }
        }
        return batch;
    }

    /// <summary>Undoes <see cref="Apply"/> in place (x ↦ x·std + mean, where std was used) and returns the batch.</summary>
    public WeightSpaceBatch Invert(WeightSpaceBatch batch)
    {
        Check(batch);
        int c = Channels;
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            float[] x = batch.Tensors[t].Data, m = _mean[t], s = _divisor[t];
            int per = batch.Space.Tensors[t].Size * c;
            for (int n = 0; n < batch.Batch; n++)
            {
                int o = n * per;
                for (int i = 0; i < per; i++)
                {
                    int k = Granularity == NormalizationGranularity.PerEntry ? i : i % c;
                    x[o + i] = x[o + i] * s[k] + m[k];
                }
            }
        }
        return batch;
    }

    private void Check(WeightSpaceBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Channels != Channels) throw new ArgumentException($"The normalizer was fit on {Channels} channel(s); the batch has {batch.Channels}.", nameof(batch));
        if (batch.Space.Tensors.Count != Space.Tensors.Count || batch.Space.Dimension != Space.Dimension)
            throw new ArgumentException($"The batch's weight space ({batch.Space.Dimension} weights in {batch.Space.Tensors.Count} tensors) is not the normalizer's ({Space.Dimension} in {Space.Tensors.Count}).", nameof(batch));
    }

    /// <summary>
    /// Statistics as tensors: <c>{prefix}mean.{tensor}</c> and <c>{prefix}std.{tensor}</c> (shape <c>[axes..., channels]</c>
    /// or <c>[1, channels]</c>), plus <c>{prefix}config</c> = [granularity, channels, minStd].
    /// </summary>
    public Dictionary<string, Tensor> ToTensors(string prefix = "")
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int t = 0; t < _mean.Length; t++)
        {
            var wt = Space.Tensors[t];
            int[] shape = Granularity == NormalizationGranularity.PerEntry ? wt.Shape.Append(Channels).ToArray() : new[] { 1, Channels };
            d[prefix + "mean." + wt.Name] = new Tensor((float[])_mean[t].Clone(), shape);
            d[prefix + "std." + wt.Name] = new Tensor((float[])_std[t].Clone(), shape);
        }
        d[prefix + "config"] = new Tensor(new[] { (float)Granularity, Channels, MinStd }, 3);
        return d;
    }

    /// <summary>Reads statistics written by <see cref="ToTensors"/>; throws <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public static InputNormalizer FromTensors(global::LayerCompiler.Algebra.WeightSpace space, IReadOnlyDictionary<string, Tensor> tensors, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(tensors);
        var problems = new List<string>();
        if (!tensors.TryGetValue(prefix + "config", out var cfg) || cfg.Length != 3)
            throw new InvalidDataException($"Normalizer statistics: missing or malformed '{prefix}config'.");
        var g = (NormalizationGranularity)(int)cfg.Data[0];
        int channels = (int)cfg.Data[1];
        if (!Enum.IsDefined(g) || channels <= 0) throw new InvalidDataException($"Normalizer statistics: '{prefix}config' holds [{string.Join(", ", cfg.Data)}].");
        var mean = new float[space.Tensors.Count][];
        var std = new float[space.Tensors.Count][];
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            int n = StatCount(wt, g, channels);
            foreach (var (kind, target) in new[] { ("mean", mean), ("std", std) })
            {
                string key = prefix + kind + "." + wt.Name;
                if (!tensors.TryGetValue(key, out var v)) problems.Add($"missing '{key}'");
                else if (v.Length != n) problems.Add($"'{key}' holds {v.Length} values, {wt.Name} needs {n}");
                else target[t] = v.Data;
            }
        }
        if (problems.Count > 0)
            throw new InvalidDataException("Normalizer statistics do not match the weight space:\n  - " + string.Join("\n  - ", problems));
        return new InputNormalizer(space, g, channels, mean, std, cfg.Data[2]);
    }

    public override string ToString()
    {
        var sb = new StringBuilder($"InputNormalizer({Granularity}, {Channels} channel(s)):");
        for (int t = 0; t < _mean.Length; t++)
            sb.Append(' ').Append(Space.Tensors[t].Name).Append(" mean≈").Append(_mean[t].Average().ToString("G3", CultureInfo.InvariantCulture))
              .Append(" std≈").Append(_std[t].Average().ToString("G3", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    /// <summary>Streaming mean/variance accumulation in float64.</summary>
    public sealed class Accumulator
    {
        private readonly global::LayerCompiler.Algebra.WeightSpace _space;
        private readonly int _channels;
        private readonly NormalizationGranularity _granularity;
        private readonly double[][] _mean, _m2;
        private long _networks;

        public Accumulator(global::LayerCompiler.Algebra.WeightSpace space, int channels = 1, NormalizationGranularity granularity = NormalizationGranularity.PerEntry)
        {
            ArgumentNullException.ThrowIfNull(space);
            if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Channels must be positive.");
            _space = space; _channels = channels; _granularity = granularity;
            _mean = space.Tensors.Select(t => new double[StatCount(t, granularity, channels)]).ToArray();
            _m2 = space.Tensors.Select(t => new double[StatCount(t, granularity, channels)]).ToArray();
        }

        /// <summary>Networks added so far.</summary>
        public long Networks => _networks;

        public void Add(WeightSpaceBatch batch)
        {
            ArgumentNullException.ThrowIfNull(batch);
            if (batch.Channels != _channels) throw new ArgumentException($"The accumulator takes {_channels} channel(s); the batch has {batch.Channels}.", nameof(batch));
            if (batch.Space.Tensors.Count != _space.Tensors.Count || batch.Space.Dimension != _space.Dimension)
                throw new ArgumentException("The batch is over a different weight space.", nameof(batch));
            int c = _channels;
            for (int t = 0; t < batch.Tensors.Length; t++)
            {
                float[] x = batch.Tensors[t].Data;
                int per = _space.Tensors[t].Size * c;
                int stats = _mean[t].Length;
                // Mean and squared deviations of this batch alone, then combined with the running ones (Chan et al.).
                var bm = new double[stats];
                var bm2 = new double[stats];
                long nb = _granularity == NormalizationGranularity.PerEntry ? batch.Batch : (long)batch.Batch * _space.Tensors[t].Size;
                for (int n = 0; n < batch.Batch; n++)
                    for (int i = 0; i < per; i++) bm[Stat(i)] += x[n * per + i];
                for (int k = 0; k < stats; k++) bm[k] /= nb;
                for (int n = 0; n < batch.Batch; n++)
                    for (int i = 0; i < per; i++) { double d = x[n * per + i] - bm[Stat(i)]; bm2[Stat(i)] += d * d; }
                if (_networks == 0)
                {
                    // The first batch's two-pass statistics as they are: combining with empty ones would round them (m·n/n).
                    bm.CopyTo(_mean[t], 0);
                    bm2.CopyTo(_m2[t], 0);
                    continue;
                }
                long na = _granularity == NormalizationGranularity.PerEntry ? _networks : _networks * _space.Tensors[t].Size;
                double total = na + nb;
                for (int k = 0; k < stats; k++)
                {
                    double delta = bm[k] - _mean[t][k];
                    _mean[t][k] += delta * nb / total;
                    _m2[t][k] += bm2[k] + delta * delta * na * nb / total;
                }
            }
            _networks += batch.Batch;

            int Stat(int i) => _granularity == NormalizationGranularity.PerEntry ? i : i % c;
        }

        public InputNormalizer Build(float minStd = DefaultMinStd)
        {
            if (_networks == 0) throw new InvalidOperationException("No networks were added; there are no statistics.");
            var mean = new float[_mean.Length][];
            var std = new float[_mean.Length][];
            for (int t = 0; t < _mean.Length; t++)
            {
                double count = _granularity == NormalizationGranularity.PerEntry ? _networks : (double)_networks * _space.Tensors[t].Size;
                mean[t] = _mean[t].Select(v => (float)v).ToArray();
                std[t] = _m2[t].Select(v => (float)Math.Sqrt(v / count)).ToArray();
            }
            return new InputNormalizer(_space, _granularity, _channels, mean, std, minStd);
        }
    }
}
