using System;
using System.Collections.Generic;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Models;

namespace LayerCompiler.Tasks.Sine;

/// <summary>
/// SimCLR over input networks: an equivariant encoder with an invariant embedding head, a projection head
/// Linear(e, e)-ReLU-Linear(e, e), and two augmented views of every network (Gaussian noise, then random masking of entries,
/// both on the per-entry normalized weights, so the noise's std is in units of each entry's spread over the training networks
/// and a masked entry takes its mean). <see cref="Forward"/> returns row i = (projection of view 1, projection of view 2),
/// the layout <see cref="Runtime.Training.ContrastiveObjective"/> reads.
/// </summary>
/// <remarks>
/// Views are drawn from a stream seeded by (<paramref name="seed"/>, the optimizer step in training or a fixed value in eval
/// mode, a hash of the batch's weights): the same run gives the same views, a resumed run draws what the uninterrupted one drew,
/// and every validation pass sees the same views.
/// </remarks>
public sealed class ContrastiveEncoder : WeightModel
{
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    private readonly Pair _module;
    private readonly ulong _seed;
    private InputNormalizer? _normalizer;
    private int _n;

    public ContrastiveEncoder(EquivariantNetwork encoder, ulong seed, float noiseStd = 0.2f, float maskProbability = 0.5f)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (encoder.Head == null) throw new ArgumentException("The encoder needs an invariant head (the embedding).", nameof(encoder));
        if (!(noiseStd >= 0) || !float.IsFinite(noiseStd)) throw new ArgumentOutOfRangeException(nameof(noiseStd), noiseStd, "The noise std must be finite and >= 0.");
        if (!(maskProbability >= 0 && maskProbability < 1)) throw new ArgumentOutOfRangeException(nameof(maskProbability), maskProbability, "The masking probability must be in [0, 1).");
        int e = encoder.Config.Outputs;
        var rng = new Rng(seed ^ 0x9E0_1EC7_10AUL);
        _module = new Pair(encoder, new Sequential(new Linear(e, e, rng), new ReLU(), new Linear(e, e, rng)));
        _seed = seed; NoiseStd = noiseStd; MaskProbability = maskProbability;
    }

    public override string Kind => "equivariant";
    public override Module Module => _module;
    public EquivariantNetwork Encoder => _module.Encoder;
    public int EmbeddingWidth => Encoder.Config.Outputs;
    public float NoiseStd { get; }
    public float MaskProbability { get; }
    public override Algebra.WeightSpace Space => Encoder.Space;
    /// <summary>Optimizer steps taken so far (set by whoever trains the model; seeds the training views).</summary>
    public Func<int> StepCount { get; set; } = () => 0;
    private InputNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is not fitted (call FitInputs).");

    public override void FitInputs(WeightSpaceBatch train) =>
        _normalizer = InputNormalizer.Fit(new[] { Reinterpret(train, Space, new()) }, NormalizationGranularity.PerEntry, EquivariantWeightModel.MinStd);

    /// <summary>The embeddings [N, e] of networks (no augmentation, eval mode, in batches).</summary>
    public Tensor Embed(WeightSpaceBatch networks, int batchSize = 256)
    {
        var plain = new EmbeddingView(this);
        return plain.Predict(networks, batchSize);
    }

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        var x = Normalizer.Apply(Reinterpret(raw, Space, _buffers));
        int n = x.Batch, e = EmbeddingWidth;
        var views = new WeightSpaceBatch(Space, 2 * n, 1);
        var rng = new Rng(Mix(Mix(_seed, Module.IsTraining ? (ulong)StepCount() : ulong.MaxValue), Hash(x)));
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            float[] src = x.Tensors[t].Data, dst = views.Tensors[t].Data;
            int size = src.Length;
            for (int v = 0; v < 2; v++)
                for (int i = 0; i < size; i++)
                {
                    float value = src[i] + (float)(NoiseStd * rng.Normal());
                    dst[v * size + i] = rng.NextDouble() < MaskProbability ? 0f : value;
                }
        }
        var z = _module.Projection.Forward(Encoder.Forward(views));
        var pairs = new Tensor(n, 2 * e);
        for (int i = 0; i < n; i++)
        {
            Array.Copy(z.Data, i * e, pairs.Data, i * 2 * e, e);
            Array.Copy(z.Data, (n + i) * e, pairs.Data, i * 2 * e + e, e);
        }
        _n = n;
        return pairs;
    }

    public override void Backward(Tensor gradOutputs)
    {
        int n = _n, e = EmbeddingWidth;
        var g = new Tensor(2 * n, e);
        for (int i = 0; i < n; i++)
        {
            Array.Copy(gradOutputs.Data, i * 2 * e, g.Data, i * e, e);
            Array.Copy(gradOutputs.Data, i * 2 * e + e, g.Data, (n + i) * e, e);
        }
        Encoder.BackwardParameters(_module.Projection.Backward(g));
    }

    private static ulong Hash(WeightSpaceBatch x)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (var t in x.Tensors)
            foreach (float v in t.Data) { h ^= BitConverter.SingleToUInt32Bits(v); h *= 0x100000001B3UL; }
        return h;
    }

    private static ulong Mix(ulong a, ulong b)
    {
        ulong z = a ^ (b + 0x9E3779B97F4A7C15UL + (a << 6) + (a >> 2));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The encoder and its projection head as one module (parameters <c>encoder.*</c>, <c>projection.*</c>).</summary>
    private sealed class Pair(EquivariantNetwork encoder, Sequential projection) : Module
    {
        public EquivariantNetwork Encoder { get; } = encoder;
        public Sequential Projection { get; } = projection;
        protected override IEnumerable<(string Name, Module Child)> Children() { yield return ("encoder", Encoder); yield return ("projection", Projection); }
    }

    /// <summary>The encoder alone on normalized, unaugmented weights (for embeddings).</summary>
    private sealed class EmbeddingView(ContrastiveEncoder owner) : WeightModel
    {
        private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
        public override string Kind => owner.Kind;
        public override Module Module => owner.Encoder;
        public override Algebra.WeightSpace Space => owner.Space;
        public override void FitInputs(WeightSpaceBatch train) => throw new NotSupportedException();
        public override Tensor Forward(WeightSpaceBatch raw) => owner.Encoder.Forward(owner.Normalizer.Apply(Reinterpret(raw, Space, _buffers)));
        public override void Backward(Tensor gradOutputs) => throw new NotSupportedException();
    }
}
