using System;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Editing;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>
/// The adaptation loss through the input network: the model's output row i is the adapted classifier v'_i (flattened weights,
/// tensor by tensor); its targets row is (class A, class B, then <see cref="ImagesPerItem"/> indices into the target-domain
/// images). The loss is the softmax cross-entropy of v'_i on those images (binary labels: A → 0, B → 1), the mean over images
/// and networks; the gradient w.r.t. v'_i comes from the classifier's generated forward and weight gradient
/// (<see cref="ClassifierPass"/>).
/// </summary>
public sealed class TargetDomainObjective : ITrainingObjective
{
    private readonly ClassifierPass _pass;
    private readonly ClassifierImages _images;

    public TargetDomainObjective(ClassifierPass pass, ClassifierImages images, int imagesPerItem)
    {
        ArgumentNullException.ThrowIfNull(pass); ArgumentNullException.ThrowIfNull(images);
        if (imagesPerItem <= 0) throw new ArgumentOutOfRangeException(nameof(imagesPerItem), imagesPerItem, "An item needs at least one image.");
        if (pass.Outputs != 2) throw new ArgumentException($"The adaptation objective classifies two classes; the {pass.Architecture} pass has {pass.Outputs} outputs.", nameof(pass));
        if (images.InputLength != pass.InputLength) throw new ArgumentException($"The images have {images.InputLength} values each; the classifier takes {pass.InputLength}.", nameof(images));
        _pass = pass; _images = images; ImagesPerItem = imagesPerItem;
    }

    public int ImagesPerItem { get; }
    public int TargetWidth => 2 + ImagesPerItem;
    public string Name => FormattableString.Invariant($"target_cross_entropy({ImagesPerItem} images)");

    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets)
    {
        var (loss, grad) = Compute64(outputs, targets.RequireValues(Name));
        return ((float)loss, grad);
    }

    /// <summary>How many of the items' images the adapted classifiers classify correctly (ties: class A), and how many images.</summary>
    public (long Correct, long Seen) Correct(Tensor outputs, Tensor values)
    {
        var (weights, idx, labels) = Prepare(outputs, values);
        var logits = new float[labels.Length * 2];
        _pass.Forward(weights, _images.Pixels, idx, ImagesPerItem, logits, null);
        long correct = 0;
        for (int r = 0; r < labels.Length; r++) if ((logits[2 * r + 1] > logits[2 * r] ? 1 : 0) == labels[r]) correct++;
        return (correct, labels.Length);
    }

    private (WeightSpaceBatch Weights, int[] Indices, int[] Labels) Prepare(Tensor outputs, Tensor values)
    {
        int per = checked((int)_pass.Space.Dimension), k = ImagesPerItem;
        if (outputs.Rank != 2 || outputs.Shape[1] != per)
            throw new ArgumentException($"{Name}: outputs must be [batch, {per}] flattened classifier weights, got [{string.Join(", ", outputs.Shape)}].");
        int n = outputs.Shape[0];
        if (values.Length != (long)n * TargetWidth)
            throw new ArgumentException($"{Name}: targets must be [{n}, {TargetWidth}] (class A, class B, {k} image indices), got [{string.Join(", ", values.Shape)}].");
        var idx = new int[n * k]; var labels = new int[n * k];
        for (int i = 0; i < n; i++)
        {
            var pair = new ClassPair((int)values.Data[i * TargetWidth], (int)values.Data[i * TargetWidth + 1]);
            for (int j = 0; j < k; j++)
            {
                float v = values.Data[i * TargetWidth + 2 + j];
                int img = (int)v;
                if (img != v || img < 0 || img >= _images.Count) throw new ArgumentException($"{Name}: item {i} names image {v}, not one of the {_images.Count} target images.");
                idx[i * k + j] = img;
                labels[i * k + j] = pair.BinaryLabel(_images.Labels[img], img);
            }
        }
        return (RenderingObjective.Unflatten(outputs, _pass.Space), idx, labels);
    }

    /// <summary>The loss in double (the sum of per-image terms) and its gradient w.r.t. the outputs.</summary>
    public (double Loss, Tensor Grad) Compute64(Tensor outputs, Tensor values)
    {
        var (weights, idx, labels) = Prepare(outputs, values);
        int n = outputs.Shape[0], k = ImagesPerItem, C = 2;
        var logits = new float[n * k * C];
        _pass.Forward(weights, _images.Pixels, idx, k, logits, null);
        var gradLogits = new float[logits.Length];
        double total = 0, scale = 1.0 / ((double)n * k);
        for (int r = 0; r < n * k; r++)
        {
            double z0 = logits[r * C], z1 = logits[r * C + 1], mx = Math.Max(z0, z1);
            double e0 = Math.Exp(z0 - mx), e1 = Math.Exp(z1 - mx), lse = mx + Math.Log(e0 + e1);
            int y = labels[r];
            total += lse - (y == 0 ? z0 : z1);
            gradLogits[r * C] = (float)((e0 / (e0 + e1) - (y == 0 ? 1 : 0)) * scale);
            gradLogits[r * C + 1] = (float)((e1 / (e0 + e1) - (y == 1 ? 1 : 0)) * scale);
        }
        var gradWeights = new WeightSpaceBatch(_pass.Space, n, 1);
        _pass.Backward(weights, _images.Pixels, idx, k, gradLogits, gradWeights, null);
        return (total * scale, RenderingObjective.Flatten(gradWeights));
    }
}

/// <summary>
/// Target-domain accuracy of the adapted classifiers (outputs and targets as <see cref="TargetDomainObjective"/> reads them): the
/// metric the Δv model is selected by. Selecting on the loss instead picks collapsed models: an adaptation that makes every
/// classifier output near-constant logits has a cross-entropy near ln 2, below the unadapted classifiers' overconfident errors.
/// </summary>
public sealed class TargetAccuracyMetric(TargetDomainObjective objective) : IMetric
{
    private readonly TargetDomainObjective _objective = objective ?? throw new ArgumentNullException(nameof(objective));
    public string Name => "target_accuracy";
    public bool HigherIsBetter => true;
    public IMetricAccumulator Start() => new Accumulator(_objective);

    private sealed class Accumulator(TargetDomainObjective objective) : IMetricAccumulator
    {
        private long _correct, _seen;
        public void Add(Tensor outputs, TrainingTargets targets)
        {
            var (correct, seen) = objective.Correct(outputs, targets.RequireValues(objective.Name));
            _correct += correct; _seen += seen;
        }
        public double Result => _seen == 0 ? double.NaN : (double)_correct / _seen;
    }
}
