using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Transforms;

/// <summary>A seeded, in-place transformation of a batch of input networks used during training.</summary>
public interface IWeightAugmentation
{
    /// <summary>Throws a clear exception when the augmentation cannot act on <paramref name="space"/> (checked before training starts).</summary>
    void Validate(global::LayerCompiler.Algebra.WeightSpace space);

    /// <summary>Transforms every network of <paramref name="batch"/> in place, drawing all randomness from <paramref name="rng"/>.</summary>
    void Apply(WeightSpaceBatch batch, Rng rng);
}

/// <summary>
/// The training augmentations of the reference setup (DWSNets' classifier), each drawn independently per network.
/// </summary>
/// <remarks>
/// <para>Per network, in this order (each only when enabled):</para>
/// <list type="number">
/// <item>first-layer scaling W1 ← s·W1, s ~ U(<see cref="ScaleMin"/>, <see cref="ScaleMax"/>): the network then computes f(s·x);</item>
/// <item>input rotation W1 ← W1·R(θ), θ ~ U(−<see cref="MaxRotationDegrees"/>, +<see cref="MaxRotationDegrees"/>),
/// R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]]: the network then computes f(R(θ)·x). Needs a dense first layer with
/// 2 inputs (2-D coordinates);</item>
/// <item>input translation b1 ← b1 + W1·t, t ~ U(−<see cref="MaxTranslation"/>, +<see cref="MaxTranslation"/>) per input
/// coordinate: the network then computes f(x + t). Needs a dense first layer with a bias;</item>
/// <item>a uniformly random permutation of every hidden neuron layer (layers 1 … M−1, whatever symmetry the
/// space declares: input and output neurons are never permuted, so the function is unchanged);</item>
/// <item>Gaussian noise w ← w + σ·N(0, 1) on every entry, σ = <see cref="NoiseStd"/>, or, with <see cref="NoiseRelative"/>,
/// σ = <see cref="NoiseStd"/> × the standard deviation of that tensor's entries in that network (so the noise is on the
/// scale of each tensor: SIREN first-layer weights are ≈ 0.06, later ones ≈ 0.2);</item>
/// <item>dropout on weights with probability <see cref="DropoutP"/>, as torch.nn.functional.dropout: dropped
/// entries become 0, kept ones are scaled by 1/(1 − p).</item>
/// </list>
/// <para>The random draws for network n happen in that order, networks in batch order, so the result is a
/// function of the batch and the <see cref="Rng"/> state only. The static methods apply one transformation
/// with given values (for tests and for custom pipelines).</para>
/// </remarks>
public sealed class WeightAugmentation : IWeightAugmentation
{
    public bool PermuteHidden { get; init; }
    public float DropoutP { get; init; }
    public float NoiseStd { get; init; }
    /// <summary>Scale <see cref="NoiseStd"/> by each tensor's standard deviation within the network (per network, per tensor).</summary>
    public bool NoiseRelative { get; init; }
    public float ScaleMin { get; init; } = 1f;
    public float ScaleMax { get; init; } = 1f;
    public float MaxRotationDegrees { get; init; }
    public float MaxTranslation { get; init; }

    /// <summary>
    /// The protocol's augmentations: hidden-neuron permutation, dropout 0.01, Gaussian noise σ = <paramref name="noiseStd"/>
    /// (absolute, or times each tensor's standard deviation when <paramref name="relativeNoise"/>), first-layer scale
    /// U(0.8, 1.2), rotation U(−45°, 45°) when <paramref name="rotate"/> (the input networks see 2-D coordinates),
    /// translation off unless <paramref name="maxTranslation"/> &gt; 0.
    /// </summary>
    public static WeightAugmentation Reference(float noiseStd = 0.1f, bool rotate = true, float maxTranslation = 0f, bool relativeNoise = false) => new()
    {
        PermuteHidden = true, DropoutP = 0.01f, NoiseStd = noiseStd, NoiseRelative = relativeNoise, ScaleMin = 0.8f, ScaleMax = 1.2f,
        MaxRotationDegrees = rotate ? 45f : 0f, MaxTranslation = maxTranslation,
    };

    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"WeightAugmentation(permute={PermuteHidden}, dropout={DropoutP:R}, noise={NoiseStd:R}{(NoiseRelative ? "×std" : "")}, scale=[{ScaleMin:R}, {ScaleMax:R}], rotation={MaxRotationDegrees:R}°, translation={MaxTranslation:R})");

    private bool Scales => ScaleMin != 1f || ScaleMax != 1f;

    public void Validate(global::LayerCompiler.Algebra.WeightSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (!(DropoutP >= 0f && DropoutP < 1f)) throw new ArgumentOutOfRangeException(nameof(DropoutP), DropoutP, "Weight dropout p must be in [0, 1).");
        if (!(NoiseStd >= 0f) || float.IsInfinity(NoiseStd)) throw new ArgumentOutOfRangeException(nameof(NoiseStd), NoiseStd, "Noise std must be finite and >= 0.");
        if (!(ScaleMin > 0f && ScaleMin <= ScaleMax) || float.IsInfinity(ScaleMax))
            throw new ArgumentOutOfRangeException(nameof(ScaleMin), $"First-layer scale range [{ScaleMin}, {ScaleMax}] must satisfy 0 < min <= max < ∞.");
        if (!(MaxRotationDegrees >= 0f && MaxRotationDegrees <= 180f)) throw new ArgumentOutOfRangeException(nameof(MaxRotationDegrees), MaxRotationDegrees, "Max rotation must be in [0°, 180°].");
        if (!(MaxTranslation >= 0f) || float.IsInfinity(MaxTranslation)) throw new ArgumentOutOfRangeException(nameof(MaxTranslation), MaxTranslation, "Max translation must be finite and >= 0.");
        if (Scales) FirstWeight(space, "first-layer scaling");
        if (MaxRotationDegrees > 0f) CheckRotatable(space);
        if (MaxTranslation > 0f) CheckTranslatable(space);
    }

    public void Apply(WeightSpaceBatch batch, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(rng);
        Validate(batch.Space);
        var space = batch.Space;
        int inputs = space.Layers[0].Width;
        var shift = new float[inputs];
        var hidden = HiddenLayers(space);
        for (int n = 0; n < batch.Batch; n++)
        {
            if (Scales) ScaleFirstLayer(batch, n, rng.Uniform(ScaleMin, ScaleMax));
            if (MaxRotationDegrees > 0f)
                RotateFirstLayer(batch, n, (2 * rng.NextDouble() - 1) * MaxRotationDegrees * Math.PI / 180);
            if (MaxTranslation > 0f)
            {
                for (int i = 0; i < inputs; i++) shift[i] = rng.Uniform(-MaxTranslation, MaxTranslation);
                TranslateInputs(batch, n, shift);
            }
            if (PermuteHidden && hidden.Count > 0)
            {
                var perms = new int[]?[space.Layers.Count];
                foreach (int l in hidden) perms[l] = rng.Permutation(space.Layers[l].Width);
                PermuteNetwork(batch, n, perms);
            }
            if (NoiseStd > 0f)
            {
                if (NoiseRelative) AddRelativeNoise(batch, n, NoiseStd, rng);
                else AddNoise(batch, n, NoiseStd, rng);
            }
            if (DropoutP > 0f) Dropout(batch, n, DropoutP, rng);
        }
    }

    /// <summary>Neuron layers strictly between the input and the output layer.</summary>
    public static IReadOnlyList<int> HiddenLayers(global::LayerCompiler.Algebra.WeightSpace space) =>
        Enumerable.Range(1, Math.Max(0, space.Layers.Count - 2)).ToArray();

    /// <summary>
    /// Permutes the neurons of network <paramref name="network"/> only, in place: one permutation per neuron layer
    /// (null = identity), same convention as <see cref="Permutations.Apply"/> (out[p[i]] = in[i]).
    /// </summary>
    public static void PermuteNetwork(WeightSpaceBatch batch, int network, int[]?[] perLayer)
    {
        CheckNetwork(batch, network);
        ArgumentNullException.ThrowIfNull(perLayer);
        int c = batch.Channels;
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            var wt = batch.Space.Tensors[t];
            var perms = new int[]?[wt.Axes.Length];
            bool any = false;
            for (int a = 0; a < wt.Axes.Length; a++)
            {
                int layer = wt.Axes[a].Layer;
                perms[a] = layer >= 0 && layer < perLayer.Length ? perLayer[layer] : null;
                if (perms[a] is int[] p)
                {
                    if (p.Length != wt.Axes[a].Size)
                        throw new ArgumentException($"Permutation of length {p.Length} for axis {a} of {wt.Name}, which has size {wt.Axes[a].Size}.");
                    any = true;
                }
            }
            if (!any) continue;
            var data = batch.Tensors[t].Data;
            int size = wt.Size;
            var src = new float[size * c];
            Array.Copy(data, (long)network * size * c, src, 0, size * c);
            var idx = new int[wt.Axes.Length];
            for (int e = 0; e < size; e++)
            {
                RowMajor.Unravel(e, wt.Shape, idx);
                for (int a = 0; a < idx.Length; a++) if (perms[a] is int[] p) idx[a] = p[idx[a]];
                int target = RowMajor.Ravel(idx, wt.Shape);
                Array.Copy(src, e * c, data, ((long)network * size + target) * c, c);
            }
        }
    }

    /// <summary>W1 ← s·W1 for one network (the network then computes f(s·x) for a dense first layer).</summary>
    public static void ScaleFirstLayer(WeightSpaceBatch batch, int network, float scale)
    {
        CheckNetwork(batch, network);
        var wt = FirstWeight(batch.Space, "first-layer scaling");
        var span = NetworkSpan(batch, network, wt.Index);
        for (int i = 0; i < span.Length; i++) span[i] *= scale;
    }

    /// <summary>
    /// W1 ← W1·R(θ), R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]], for one network: it then computes f(R(θ)·x).
    /// Needs a dense first layer with 2 inputs.
    /// </summary>
    public static void RotateFirstLayer(WeightSpaceBatch batch, int network, double thetaRadians)
    {
        CheckNetwork(batch, network);
        var wt = CheckRotatable(batch.Space);
        int c = batch.Channels, rows = wt.Shape[0];
        double cos = Math.Cos(thetaRadians), sin = Math.Sin(thetaRadians);
        var d = batch.Tensors[wt.Index].Data;
        int o = network * wt.Size * c;
        for (int r = 0; r < rows; r++)
            for (int ch = 0; ch < c; ch++)
            {
                int i0 = o + (r * 2) * c + ch, i1 = o + (r * 2 + 1) * c + ch;
                double a = d[i0], b = d[i1];
                d[i0] = (float)(a * cos + b * sin);
                d[i1] = (float)(-a * sin + b * cos);
            }
    }

    /// <summary>b1 ← b1 + W1·t for one network: it then computes f(x + t). Needs a dense first layer with a bias.</summary>
    public static void TranslateInputs(WeightSpaceBatch batch, int network, ReadOnlySpan<float> shift)
    {
        CheckNetwork(batch, network);
        var (w, b) = CheckTranslatable(batch.Space);
        int c = batch.Channels, rows = w.Shape[0], cols = w.Shape[1];
        if (shift.Length != cols) throw new ArgumentException($"The shift has {shift.Length} coordinates; the input networks have {cols} inputs.", nameof(shift));
        float[] wd = batch.Tensors[w.Index].Data, bd = batch.Tensors[b.Index].Data;
        int wo = network * w.Size * c, bo = network * b.Size * c;
        for (int r = 0; r < rows; r++)
            for (int ch = 0; ch < c; ch++)
            {
                double acc = bd[bo + r * c + ch];
                for (int k = 0; k < cols; k++) acc += (double)wd[wo + (r * cols + k) * c + ch] * shift[k];
                bd[bo + r * c + ch] = (float)acc;
            }
    }

    /// <summary>w ← w + σ·N(0, 1) on every entry of one network.</summary>
    public static void AddNoise(WeightSpaceBatch batch, int network, float std, Rng rng)
    {
        CheckNetwork(batch, network);
        ArgumentNullException.ThrowIfNull(rng);
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            var span = NetworkSpan(batch, network, t);
            for (int i = 0; i < span.Length; i++) span[i] += (float)(std * rng.Normal());
        }
    }

    /// <summary>w ← w + σ_t·N(0, 1) on every entry of one network, σ_t = <paramref name="relativeStd"/> × the standard deviation of tensor t's entries in that network.</summary>
    public static void AddRelativeNoise(WeightSpaceBatch batch, int network, float relativeStd, Rng rng)
    {
        CheckNetwork(batch, network);
        ArgumentNullException.ThrowIfNull(rng);
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            var span = NetworkSpan(batch, network, t);
            if (span.Length < 2) continue; // a single entry has no spread to scale by
            double sum = 0, sq = 0;
            for (int i = 0; i < span.Length; i++) sum += span[i];
            double mean = sum / span.Length;
            for (int i = 0; i < span.Length; i++) { double d = span[i] - mean; sq += d * d; }
            double std = relativeStd * Math.Sqrt(sq / span.Length);
            for (int i = 0; i < span.Length; i++) span[i] += (float)(std * rng.Normal());
        }
    }

    /// <summary>Zeroes each entry of one network with probability p and scales the others by 1/(1 − p).</summary>
    public static void Dropout(WeightSpaceBatch batch, int network, float p, Rng rng)
    {
        CheckNetwork(batch, network);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout p must be in [0, 1).");
        float keep = 1f / (1f - p);
        for (int t = 0; t < batch.Tensors.Length; t++)
        {
            var span = NetworkSpan(batch, network, t);
            for (int i = 0; i < span.Length; i++) span[i] = rng.NextDouble() < p ? 0f : span[i] * keep;
        }
    }

    private static Span<float> NetworkSpan(WeightSpaceBatch batch, int network, int tensor)
    {
        int len = batch.Space.Tensors[tensor].Size * batch.Channels;
        return batch.Tensors[tensor].Data.AsSpan(network * len, len);
    }

    private static void CheckNetwork(WeightSpaceBatch batch, int network)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if ((uint)network >= (uint)batch.Batch) throw new ArgumentOutOfRangeException(nameof(network), network, $"The batch holds {batch.Batch} networks.");
    }

    private static WeightTensor FirstWeight(global::LayerCompiler.Algebra.WeightSpace space, string what) =>
        space.Tensors.FirstOrDefault(t => t.LayerNumber == 1 && !t.IsBias)
        ?? throw new InvalidOperationException($"The {what} augmentation needs a first-layer weight W1; this weight space ({string.Join(", ", space.Tensors.Select(t => t.Name))}) has none.");

    private static WeightTensor CheckRotatable(global::LayerCompiler.Algebra.WeightSpace space)
    {
        var w = FirstWeight(space, "rotation");
        bool dense = space.Declarations.Count > 0 && space.Declarations[0].Kind == LayerKind.Dense;
        if (!dense || w.Shape.Length != 2 || w.Shape[1] != 2)
            throw new InvalidOperationException(
                $"The rotation augmentation (W1 ← W1·R(θ)) needs a dense first layer with 2 inputs (2-D coordinates); " +
                $"this architecture's first layer is {(space.Declarations.Count > 0 ? space.Declarations[0].ToString() : w.ToString())}. Set MaxRotationDegrees = 0.");
        return w;
    }

    private static (WeightTensor W, WeightTensor B) CheckTranslatable(global::LayerCompiler.Algebra.WeightSpace space)
    {
        var w = FirstWeight(space, "translation");
        var b = space.Tensors.FirstOrDefault(t => t.LayerNumber == 1 && t.IsBias);
        bool dense = space.Declarations.Count > 0 && space.Declarations[0].Kind == LayerKind.Dense;
        if (!dense || w.Shape.Length != 2 || b == null)
            throw new InvalidOperationException(
                $"The translation augmentation (b1 ← b1 + W1·t) needs a dense first layer with a bias; this architecture's first layer is " +
                $"{(space.Declarations.Count > 0 ? space.Declarations[0].ToString() : w.ToString())}. Set MaxTranslation = 0.");
        return (w, b);
    }
}
