using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tasks.ClassifierZoo;
using System;
using System.Collections.Generic;

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
/// pruned) and get zero gradient. A weight-shaped-output objective for the
/// explicit loop below: the runtime's <c>Trainer</c> takes invariant heads only.
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
        long weightsPerNet = 0;
        foreach (var t in space.Tensors) if (!t.IsBias) weightsPerNet += t.Size;
        double loss = 0;
        var grad = new WeightSpaceBatch(space, logits.Batch, 1);
        for (int n = 0; n < logits.Batch; n++)
        {
            var y = targets[n];
            if (y.Length != space.Dimension) throw new ArgumentException($"Target mask {n} has {y.Length} entries; the weight space has {space.Dimension}.", nameof(targets));
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
            double wPos = 0.5 / kept / logits.Batch, wNeg = 0.5 / (weightsPerNet - kept) / logits.Batch;
            o = 0;
            for (int ti = 0; ti < space.Tensors.Count; ti++)
            {
                var t = space.Tensors[ti];
                if (!t.IsBias)
                {
                    var z = logits.Tensors[ti].Data.AsSpan(n * t.Size, t.Size);
                    var g = grad.Tensors[ti].Data.AsSpan(n * t.Size, t.Size);
                    for (int k = 0; k < t.Size; k++)
                    {
                        double zk = z[k], yk = y[o + k], wk = yk == 1 ? wPos : wNeg;
                        // softplus(z) − y·z, stable for both signs.
                        loss += wk * (Math.Max(zk, 0) + Math.Log(1 + Math.Exp(-Math.Abs(zk))) - yk * zk);
                        g[k] = (float)((1 / (1 + Math.Exp(-zk)) - yk) * wk);
                    }
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
            int o = 0;
            for (int ti = 0; ti < space.Tensors.Count; ti++)
            {
                int size = space.Tensors[ti].Size;
                var src = weights[n].AsSpan(o, size);
                double ss = 0;
                foreach (float v in src) ss += (double)v * v;
                float inv = ss > 0 ? (float)(1 / Math.Sqrt(ss / size)) : 0f;
                var dst = x.Tensors[ti].Data.AsSpan(n * size, size);
                for (int k = 0; k < size; k++) dst[k] = src[k] * inv;
                o += size;
            }
        }
        return x;
    }

    /// <summary>Per-weight logits of each network, flat in tensor order (bias entries are outputs too, but unused).</summary>
    public float[][] Logits(IReadOnlyList<float[]> weights)
    {
        var y = Model.ForwardEquivariant(Inputs(weights));
        var r = new float[weights.Count][];
        for (int n = 0; n < r.Length; n++) { r[n] = new float[Model.Space.Dimension]; ClassifierZooBuilder.Gather(y, n, r[n]); }
        return r;
    }

    /// <summary>The predicted mask: the top (1 − sparsity) logits of every weight tensor, biases kept.</summary>
    public float[] PredictMask(float[] initialWeights, double sparsity) => PruningMasks.KeepLargest(Logits(new[] { initialWeights })[0], Model.Space, sparsity);

    /// <summary>
    /// Adam on <see cref="MaskLogitLoss"/>: <paramref name="epochs"/> passes over the pairs in an order drawn from
    /// <paramref name="rng"/>, minibatches of <paramref name="batchSize"/>. Returns the mean training loss of each epoch.
    /// </summary>
    public double[] Train(IReadOnlyList<float[]> initialWeights, IReadOnlyList<float[]> masks, int epochs, int batchSize, float learningRate, Rng rng, Action<int, double>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(initialWeights); ArgumentNullException.ThrowIfNull(masks); ArgumentNullException.ThrowIfNull(rng);
        if (initialWeights.Count != masks.Count) throw new ArgumentException($"{initialWeights.Count} initializations but {masks.Count} masks.", nameof(masks));
        if (initialWeights.Count == 0) throw new ArgumentException("No training pairs.", nameof(initialWeights));
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "Train for at least one epoch.");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        var optimizer = new Adam(Model.Parameters(), learningRate);
        Model.Train(true);
        var order = new int[initialWeights.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var history = new double[epochs];
        for (int e = 0; e < epochs; e++)
        {
            BatchedClassifierTrainer.Shuffle(order, rng);
            double sum = 0; int batches = 0;
            for (int first = 0; first < order.Length; first += batchSize)
            {
                int m = Math.Min(batchSize, order.Length - first);
                var x = new float[m][]; var y = new float[m][];
                for (int j = 0; j < m; j++) { x[j] = initialWeights[order[first + j]]; y[j] = masks[order[first + j]]; }
                var logits = Model.ForwardEquivariant(Inputs(x));
                var (loss, grad) = MaskLogitLoss.Compute(logits, y);
                if (!double.IsFinite(loss)) throw new InvalidOperationException($"The mask predictor's loss became {loss} in epoch {e + 1}; lower the learning rate.");
                Model.ZeroGrad();
                Model.BackwardEquivariant(grad);
                optimizer.Step();
                sum += loss; batches++;
            }
            history[e] = sum / batches;
            onEpoch?.Invoke(e + 1, history[e]);
        }
        Model.Train(false);
        return history;
    }
}
