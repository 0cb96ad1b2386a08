using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.ClassifierZoo;
using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Tasks.Tickets;

/// <summary>
/// The mask predictor's network: weight → weight over the 784→128→128→10 MLP, equivariant head with one output channel
/// (a logit per weight). All-neuron symmetry: under the hidden-neuron symmetry the 784 fixed input indices make every
/// W1→W1 term a dense 784×784 factor per channel pair (millions of parameters, ~10⁹ multiply-adds per network and
/// layer); an all-neuron layer is also equivariant to every hidden-neuron permutation (a subgroup), with few parameters.
/// </summary>
[EquivariantModel(typeof(ZooMlp3Relu), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class TicketMaskModel { }

/// <summary>
/// Class-balanced binary cross-entropy on weight-shaped logits (one channel) over the weight entries of every network:
/// kept entries (fraction p of a network's weights) weigh 1/(2p) each, pruned ones 1/(2(1 − p)), so both classes count
/// equally (at 95 % sparsity plain BCE is dominated by the pruned entries). Bias entries are excluded (they are never
/// pruned) and get zero gradient. <see cref="MaskLogitObjective"/> is the same loss on flat [batch, dimension]
/// outputs, the form the runtime's one <see cref="Trainer"/> trains with.
/// </summary>
public static class MaskLogitLoss
{
    /// <param name="targets">Per network, its 0/1 mask, flat in tensor order.</param>
    public static (double Loss, WeightSpaceBatch Grad) Compute(WeightSpaceBatch logits, IReadOnlyList<float[]> targets)
    {
        ArgumentNullException.ThrowIfNull(logits); ArgumentNullException.ThrowIfNull(targets);
        if (logits.Channels != 1) throw new ArgumentException($"Mask logits have one channel; got {logits.Channels}.", nameof(logits));
        if (targets.Count != logits.Batch) throw new ArgumentException($"{targets.Count} target masks for {logits.Batch} networks.", nameof(targets));
        var space = logits.Space;
        int dim = checked((int)space.Dimension);
        var flat = new float[logits.Batch * dim]; var y = new float[logits.Batch * dim];
        for (int n = 0; n < logits.Batch; n++)
        {
            if (targets[n] is null || targets[n].Length != dim) throw new ArgumentException($"Target mask {n} has {targets[n]?.Length ?? 0} entries; the weight space has {space.Dimension}.", nameof(targets));
            ClassifierZooBuilder.Gather(logits, n, flat.AsSpan(n * dim, dim));
            targets[n].CopyTo(y, n * dim);
        }
        var (loss, gradFlat) = ComputeFlat(space, flat, y, logits.Batch);
        var grad = new WeightSpaceBatch(space, logits.Batch, 1);
        for (int n = 0; n < logits.Batch; n++) ClassifierZooBuilder.Scatter(gradFlat.AsSpan(n * dim, dim), grad, n);
        return (loss, grad);
    }

    /// <summary>
    /// The loss on flat logits [batch · dimension] (network n's entries at n · dimension, tensor order) against flat 0/1
    /// masks of the same layout; the gradient has that layout too.
    /// </summary>
    public static (double Loss, float[] Grad) ComputeFlat(WeightSpace space, ReadOnlySpan<float> logits, ReadOnlySpan<float> targets, int batch)
    {
        ArgumentNullException.ThrowIfNull(space);
        int dim = checked((int)space.Dimension);
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "At least one network.");
        if (logits.Length != batch * dim) throw new ArgumentException($"{logits.Length} logits for {batch} networks of {dim} entries.", nameof(logits));
        if (targets.Length != batch * dim) throw new ArgumentException($"{targets.Length} mask entries for {batch} networks of {dim} entries.", nameof(targets));
        long weightsPerNet = 0;
        foreach (var t in space.Tensors) if (!t.IsBias) weightsPerNet += t.Size;
        double loss = 0;
        var grad = new float[batch * dim];
        for (int n = 0; n < batch; n++)
        {
            var y = targets.Slice(n * dim, dim);
            var z = logits.Slice(n * dim, dim);
            var g = grad.AsSpan(n * dim, dim);
            long kept = 0; int o = 0;
            foreach (var t in space.Tensors)
            {
                if (!t.IsBias)
                    for (int k = 0; k < t.Size; k++)
                    {
                        if (y[o + k] != 0f && y[o + k] != 1f) throw new ArgumentException($"Target mask {n} entry {o + k} is {y[o + k]}; masks hold 0 and 1.", nameof(targets));
                        if (y[o + k] == 1f) kept++;
                    }
                o += t.Size;
            }
            if (kept == 0 || kept == weightsPerNet) throw new ArgumentException($"Target mask {n} keeps {kept} of {weightsPerNet} weights; a balanced loss needs both kept and pruned weights.", nameof(targets));
            double wPos = 0.5 / kept / batch, wNeg = 0.5 / (weightsPerNet - kept) / batch;
            o = 0;
            foreach (var t in space.Tensors)
            {
                if (!t.IsBias)
                    for (int k = o; k < o + t.Size; k++)
                    {
                        double zk = z[k], yk = y[k], wk = yk == 1 ? wPos : wNeg;
                        // softplus(z) − y·z, stable for both signs.
                        loss += wk * (Math.Max(zk, 0) + Math.Log(1 + Math.Exp(-Math.Abs(zk))) - yk * zk);
                        g[k] = (float)((1 / (1 + Math.Exp(-zk)) - yk) * wk);
                    }
                o += t.Size;
            }
        }
        return (loss, grad);
    }
}

/// <summary>Predicts a pruning mask from a network's initial weights: per-weight logits of <see cref="TicketMaskModel"/>, top-k per tensor.</summary>
public sealed class TicketMaskPredictor
{
    public TicketMaskPredictor(ulong seed) => Model = new TicketMaskModel(seed);

    public EquivariantNetwork Model { get; }

    /// <summary>
    /// The model's input: each tensor of each network divided by its root mean square (a zero tensor stays zero). Per
    /// tensor, so it commutes with every neuron permutation; it puts the 1/√fan_in-scaled layers on one scale.
    /// </summary>
    public WeightSpaceBatch Inputs(IReadOnlyList<float[]> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count == 0) throw new ArgumentException("No networks given.", nameof(weights));
        var space = Model.Space;
        var x = new WeightSpaceBatch(space, weights.Count, 1);
        for (int n = 0; n < weights.Count; n++)
        {
            if (weights[n].Length != space.Dimension) throw new ArgumentException($"Network {n} has {weights[n].Length} parameters; the predictor's weight space has {space.Dimension}.", nameof(weights));
            ClassifierZooBuilder.Scatter(weights[n], x, n);
        }
        NormalizeInPlace(x);
        return x;
    }

    /// <summary>Divides each tensor of each network in <paramref name="x"/> (raw weights, one channel) by its root mean square.</summary>
    public static void NormalizeInPlace(WeightSpaceBatch x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Channels != 1) throw new ArgumentException($"The predictor reads raw weights (1 channel); got {x.Channels}.", nameof(x));
        for (int ti = 0; ti < x.Tensors.Length; ti++)
        {
            int size = x.Space.Tensors[ti].Size;
            for (int n = 0; n < x.Batch; n++)
            {
                var v = x.Tensors[ti].Data.AsSpan(n * size, size);
                double ss = 0;
                foreach (float e in v) ss += (double)e * e;
                float inv = ss > 0 ? (float)(1 / Math.Sqrt(ss / size)) : 0f;
                for (int k = 0; k < size; k++) v[k] *= inv;
            }
        }
    }

    /// <summary>Per-weight logits of each network, flat in tensor order (bias entries are outputs too, but unused).</summary>
    public float[][] Logits(IReadOnlyList<float[]> weights)
    {
        Model.Train(false);
        var y = Model.ForwardEquivariant(Inputs(weights));
        var r = new float[weights.Count][];
        for (int n = 0; n < r.Length; n++) { r[n] = new float[Model.Space.Dimension]; ClassifierZooBuilder.Gather(y, n, r[n]); }
        return r;
    }

    /// <summary>The predicted mask: the top (1 − sparsity) logits of every weight tensor, biases kept.</summary>
    public float[] PredictMask(float[] initialWeights, double sparsity) => PruningMasks.KeepLargest(Logits(new[] { initialWeights })[0], Model.Space, sparsity);

    /// <summary>
    /// The one <see cref="Trainer"/>'s settings for the predictor: Adam (AdamW without weight decay, no AMSGrad), a constant
    /// rate, no validation, no input normalization (the RMS scaling is part of the model's forward), the last epoch kept.
    /// </summary>
    public static TrainerOptions TrainerOptions(int epochs, int batchSize, float learningRate, ulong orderSeed) => new()
    {
        Task = TrainingTask.Regression, Epochs = epochs, BatchSize = batchSize, EvalBatchSize = Math.Max(1, batchSize), LearningRate = learningRate,
        WeightDecay = 0, AmsGrad = false, Cosine = false, Seed = orderSeed, Normalization = InputNormalization.None, RestoreBest = false,
        Selection = SelectionMetric.ValidationLoss, Tag = "ticket-mask-predictor",
    };

    /// <summary>
    /// Trains the predictor on (initialization, IMP mask) pairs through the runtime's one <see cref="Trainer"/> with
    /// <see cref="MaskLogitObjective"/>: <paramref name="epochs"/> passes in the trainer's shuffled order (seeded by
    /// <paramref name="orderSeed"/>), minibatches of <paramref name="batchSize"/>, Adam at <paramref name="learningRate"/>.
    /// Returns the mean training loss of each epoch.
    /// </summary>
    public double[] Train(IReadOnlyList<float[]> initialWeights, IReadOnlyList<float[]> masks, int epochs, int batchSize, float learningRate, ulong orderSeed,
        Action<int, double>? onEpoch = null, IProgress<TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(initialWeights); ArgumentNullException.ThrowIfNull(masks);
        if (initialWeights.Count != masks.Count) throw new ArgumentException($"{initialWeights.Count} initializations but {masks.Count} masks.", nameof(masks));
        if (initialWeights.Count == 0) throw new ArgumentException("No training pairs.", nameof(initialWeights));
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Train for at least one epoch.");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        var space = Model.Space;
        int dim = checked((int)space.Dimension);
        var networks = new WeightSpaceBatch(space, initialWeights.Count, 1);
        var targets = new float[initialWeights.Count * dim];
        for (int n = 0; n < initialWeights.Count; n++)
        {
            if (initialWeights[n].Length != dim) throw new ArgumentException($"Initialization {n} has {initialWeights[n].Length} parameters; the predictor's weight space has {dim}.", nameof(initialWeights));
            if (masks[n].Length != dim) throw new ArgumentException($"Mask {n} has {masks[n].Length} entries; the predictor's weight space has {dim}.", nameof(masks));
            ClassifierZooBuilder.Scatter(initialWeights[n], networks, n);
            masks[n].CopyTo(targets, n * dim);
        }
        var options = TrainerOptions(epochs, batchSize, learningRate, orderSeed);
        var trainer = new Trainer(Executor(options), options, new MaskLogitObjective(space));
        var history = trainer.Fit(new InMemoryWeightDataset(networks, targets, dim), null, new EpochCallback(onEpoch, progress));
        Model.Train(false);
        return history.Epochs.Select(e => e.TrainLoss).ToArray();
    }

    /// <summary>
    /// The predictor as the trainer's step executor: a batch of raw initial weights → RMS-scaled per tensor → the
    /// equivariant network → its weight-shaped logits flattened to [batch, dimension]; the gradient goes back the same way.
    /// </summary>
    public ModuleStepExecutor Executor(TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var space = Model.Space;
        int dim = checked((int)space.Dimension);
        var gradBuffers = new Dictionary<int, WeightSpaceBatch>();
        Tensor Forward(WeightSpaceBatch raw)
        {
            NormalizeInPlace(raw);
            var y = Model.ForwardEquivariant(raw);
            var flat = new Tensor(raw.Batch, dim);
            for (int n = 0; n < raw.Batch; n++) ClassifierZooBuilder.Gather(y, n, flat.Data.AsSpan(n * dim, dim));
            return flat;
        }
        void Backward(Tensor grad)
        {
            int batch = grad.Data.Length / dim;
            if (!gradBuffers.TryGetValue(batch, out var g)) gradBuffers[batch] = g = new WeightSpaceBatch(space, batch, 1);
            for (int n = 0; n < batch; n++) ClassifierZooBuilder.Scatter(grad.Data.AsSpan(n * dim, dim), g, n);
            Model.BackwardEquivariant(g);
        }
        return new ModuleStepExecutor(Model, Forward, Backward, options.CreateOptimizer(Model), options.ClipGradNorm);
    }

    private sealed class EpochCallback(Action<int, double>? onEpoch, IProgress<TrainingProgress>? inner) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            inner?.Report(value);
            if (value.Kind == ProgressKind.EpochEnd && value.Metrics is { } m) onEpoch?.Invoke(m.Epoch, m.TrainLoss);
        }
    }
}

/// <summary>
/// <see cref="MaskLogitLoss"/> as the trainer's objective: outputs [batch, dimension] are the flattened per-weight logits,
/// targets [batch, dimension] the 0/1 masks (same layout).
/// </summary>
public sealed class MaskLogitObjective(WeightSpace space) : ITrainingObjective
{
    public string Name => "balanced_mask_bce";

    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var y = targets.RequireValues(Name);
        int dim = checked((int)space.Dimension);
        if (outputs.Data.Length % dim != 0 || outputs.Data.Length == 0)
            throw new ArgumentException($"Mask logits hold {outputs.Data.Length} values; expected [batch, {dim}] (one per weight-space entry).", nameof(outputs));
        int batch = outputs.Data.Length / dim;
        var (loss, grad) = MaskLogitLoss.ComputeFlat(space, outputs.Data, y.Data, batch);
        return ((float)loss, new Tensor(grad, batch, dim));
    }
}
