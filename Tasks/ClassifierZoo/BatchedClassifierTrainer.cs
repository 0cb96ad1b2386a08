using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;

namespace LayerCompiler.Tasks.ClassifierZoo;

/// <summary>
/// One network trained by a <see cref="BatchedClassifierTrainer"/>: its flat parameters (tensor order of the weight space),
/// its own optimizer, its own data generator and image subset, its dropout rate (on the last layer's inputs) and an
/// optional 0/1 weight mask (same length as the parameters) that keeps masked entries at exactly zero.
/// </summary>
public sealed class BatchedClassifierRun
{
    /// <param name="flat">Initial parameters; trained in place. With a mask they are multiplied by it once, here.</param>
    /// <param name="weightMask">null: dense. Otherwise 0 or 1 per parameter; masked gradients are zeroed before every
    /// optimizer step and masked parameters are reset to zero after it, so no optimizer (weight decay included) moves them.</param>
    public BatchedClassifierRun(Parameter flat, Optimizer optimizer, Rng dataRng, int[] subset, double dropout = 0, float[]? weightMask = null)
    {
        ArgumentNullException.ThrowIfNull(flat); ArgumentNullException.ThrowIfNull(optimizer); ArgumentNullException.ThrowIfNull(dataRng); ArgumentNullException.ThrowIfNull(subset);
        if (subset.Length == 0) throw new ArgumentException("A run needs at least one training image in its subset.", nameof(subset));
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "Dropout must be in [0, 1).");
        if (weightMask != null)
        {
            if (weightMask.Length != flat.Data.Length) throw new ArgumentException($"The weight mask has {weightMask.Length} entries; the network has {flat.Data.Length} parameters.", nameof(weightMask));
            for (int k = 0; k < weightMask.Length; k++)
                if (weightMask[k] != 0f && weightMask[k] != 1f) throw new ArgumentException($"Weight mask entry {k} is {weightMask[k]}; a mask holds only 0 and 1.", nameof(weightMask));
            for (int k = 0; k < weightMask.Length; k++) if (weightMask[k] == 0f) flat.Data[k] = 0f;
        }
        Flat = flat; Optimizer = optimizer; DataRng = dataRng; Subset = subset; Dropout = dropout; WeightMask = weightMask;
        Cursor = subset.Length;   // the first batch shuffles the subset
    }

    public Parameter Flat { get; }
    public Optimizer Optimizer { get; }
    public Rng DataRng { get; }
    public int[] Subset { get; }
    public double Dropout { get; }
    public float[]? WeightMask { get; }
    internal int Cursor;
    internal readonly SoftmaxCrossEntropy Loss = new();
    /// <summary>Sum and count of the batch losses since the last <see cref="ResetLoss"/>.</summary>
    public double LossSum { get; internal set; }
    public int LossCount { get; internal set; }
    /// <summary>Its parameters became non-finite: it stopped there (its batch entries get zero gradients).</summary>
    public bool Diverged { get; internal set; }
    public double MeanLoss => LossSum / Math.Max(1, LossCount);
    public void ResetLoss() { LossSum = 0; LossCount = 0; }
}

/// <summary>
/// Trains many classifiers of one generated <see cref="ClassifierPass"/> at once: each step every network draws its own
/// batch (without replacement from its subset, reshuffled when used up, from its own generator: independent of threads
/// and of the other networks), one batched forward and weight-gradient call runs them all, softmax cross-entropy (mean
/// over the batch), then each network's optimizer steps. Networks whose parameters become non-finite stop.
/// </summary>
public sealed class BatchedClassifierTrainer
{
    private readonly ClassifierPass _pass;
    private readonly IReadOnlyList<BatchedClassifierRun> _runs;
    private readonly ClassifierImages _train;
    private readonly int _batch;
    private readonly WeightSpaceBatch _grads;
    private readonly int[] _idx, _labels;
    private readonly float[] _logits, _gradLogits;
    private readonly float[]? _mask;
    /// <summary>Every image's activations from the forward pass, read by the backward pass instead of recomputing them.</summary>
    private readonly float[] _saved;

    public BatchedClassifierTrainer(ClassifierPass pass, IReadOnlyList<BatchedClassifierRun> runs, ClassifierImages train, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(pass); ArgumentNullException.ThrowIfNull(runs); ArgumentNullException.ThrowIfNull(train);
        if (runs.Count == 0) throw new ArgumentException("Nothing to train: no runs.", nameof(runs));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (train.InputLength != pass.InputLength) throw new ArgumentException($"The images have {train.InputLength} values each; the {pass.Architecture} classifier takes {pass.InputLength}.", nameof(train));
        long dim = pass.Space.Dimension;
        foreach (var r in runs)
        {
            if (r.Flat.Data.Length != dim) throw new ArgumentException($"A run has {r.Flat.Data.Length} parameters; the {pass.Architecture} weight space has {dim}.", nameof(runs));
            if (r.Subset.Any(i => i < 0 || i >= train.Count)) throw new ArgumentException($"A run's subset names an image outside the {train.Count} training images.", nameof(runs));
        }
        _pass = pass; _runs = runs; _train = train; _batch = batchSize;
        int n = runs.Count, F = pass.FeatureLength, C = pass.Outputs, B = batchSize;
        Weights = new WeightSpaceBatch(pass.Space, n, 1);
        _grads = new WeightSpaceBatch(pass.Space, n, 1);
        for (int i = 0; i < n; i++) ClassifierZooBuilder.Scatter(runs[i].Flat.Data, Weights, i);
        _idx = new int[n * B];
        _labels = new int[n * B];
        _logits = new float[n * B * C];
        _gradLogits = new float[n * B * C];
        _mask = runs.Any(r => r.Dropout > 0) ? new float[n * B * F] : null;
        _saved = new float[(long)n * B * pass.SavedPerImage];
    }

    /// <summary>Every network's current parameters, as the generated pass reads them.</summary>
    public WeightSpaceBatch Weights { get; }
    public ClassifierPass Pass => _pass;
    public IReadOnlyList<BatchedClassifierRun> Runs => _runs;

    /// <summary>One optimizer step of every network that has not diverged.</summary>
    public void Step()
    {
        int n = _runs.Count, F = _pass.FeatureLength, C = _pass.Outputs, B = _batch;
        var members = _runs; var idx = _idx; var labels = _labels; var mask = _mask; var logits = _logits; var gradLogits = _gradLogits;
        // Batches (and dropout masks) from each run's own generator: independent of threads and of the other runs.
        Parallel.For(0, n, i =>
        {
            var r = members[i];
            for (int j = 0; j < B; j++)
            {
                if (r.Cursor == r.Subset.Length) { Shuffle(r.Subset, r.DataRng); r.Cursor = 0; }
                int img = r.Subset[r.Cursor++];
                idx[i * B + j] = img; labels[i * B + j] = _train.Labels[img];
            }
            if (mask != null)
            {
                float keep = (float)(1 - r.Dropout), scale = 1f / keep;
                for (int k = 0; k < B * F; k++) mask[i * B * F + k] = r.Dropout == 0 ? 1f : r.DataRng.NextDouble() < keep ? scale : 0f;
            }
        });
        _pass.ForwardSave(Weights, _train.Pixels, idx, B, logits, _saved, mask);
        Parallel.For(0, n, i =>
        {
            var r = members[i];
            if (r.Diverged) { Array.Clear(gradLogits, i * B * C, B * C); return; }
            var (loss, g) = r.Loss.Compute(new Tensor(logits.AsSpan(i * B * C, B * C).ToArray(), B, C), labels.AsSpan(i * B, B).ToArray());
            g.Data.CopyTo(gradLogits, i * B * C);
            r.LossSum += loss; r.LossCount++;
        });
        _pass.BackwardSaved(Weights, _train.Pixels, idx, B, gradLogits, _grads, _saved, mask);
        Parallel.For(0, n, i =>
        {
            var r = members[i];
            if (r.Diverged) return;
            ClassifierZooBuilder.Gather(_grads, i, r.Flat.Grad.Data);
            var wm = r.WeightMask;
            if (wm != null) { var g = r.Flat.Grad.Data; for (int k = 0; k < g.Length; k++) if (wm[k] == 0f) g[k] = 0f; }
            r.Optimizer.Step();
            if (wm != null) { var w = r.Flat.Data; for (int k = 0; k < w.Length; k++) if (wm[k] == 0f) w[k] = 0f; }
            if (!AllFinite(r.Flat.Data)) { r.Diverged = true; return; }
            ClassifierZooBuilder.Scatter(r.Flat.Data, Weights, i);
        });
    }

    /// <summary>Fisher–Yates with <paramref name="rng"/> (the zoo's shuffle: builds depend on it bit for bit).</summary>
    public static void Shuffle(int[] a, Rng rng)
    {
        for (int i = a.Length - 1; i > 0; i--) { int j = (int)(rng.NextUInt64() % (ulong)(i + 1)); (a[i], a[j]) = (a[j], a[i]); }
    }

    private static bool AllFinite(float[] a)
    {
        foreach (float v in a) if (!float.IsFinite(v)) return false;
        return true;
    }
}
