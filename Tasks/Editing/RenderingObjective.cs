using System;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;

namespace LayerCompiler.Tasks.Editing;

/// <summary>
/// The loss of a weight → weight model through the input network: the model's output row i is the flattened weights of an
/// INR (tensor by tensor, as <see cref="WeightSpaceBatch.Flatten"/> orders one network), rendered by
/// <paramref name="network"/> at <paramref name="points"/>; the loss is the pixel MSE against the batch's regression targets
/// (the wanted signal, [batch, pointCount·outputs]); the gradient goes back through the network's weight gradient.
/// </summary>
public sealed class RenderingObjective(IInputNetwork network, float[] points, int pointCount) : ITrainingObjective
{
    private readonly IInputNetwork _network = network ?? throw new ArgumentNullException(nameof(network));
    private readonly float[] _points = points ?? throw new ArgumentNullException(nameof(points));

    public string Name => FormattableString.Invariant($"render_mse({pointCount} points)");

    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets)
    {
        var wanted = targets.RequireValues(Name);
        int n = outputs.Shape[0], per = checked((int)_network.Space.Dimension), signal = pointCount * _network.OutputWidth;
        if (outputs.Rank != 2 || outputs.Shape[1] != per)
            throw new ArgumentException($"{Name}: outputs must be [batch, {per}] flattened weights, got [{string.Join(", ", outputs.Shape)}].");
        if (wanted.Shape[0] != n || wanted.Length != n * signal)
            throw new ArgumentException($"{Name}: targets must be [{n}, {signal}], got [{string.Join(", ", wanted.Shape)}].");
        var weights = Unflatten(outputs, _network.Space);
        var rendered = new float[n * signal];
        _network.Forward(weights, _points, pointCount, rendered);
        double total = 0, inv = 1.0 / rendered.Length;
        var gradOut = new float[rendered.Length];
        for (int i = 0; i < rendered.Length; i++)
        {
            double d = (double)rendered[i] - wanted.Data[i];
            total += d * d;
            gradOut[i] = (float)(2 * d * inv);
        }
        var gradWeights = new WeightSpaceBatch(_network.Space, n, 1);
        _network.Backward(weights, _points, pointCount, gradOut, gradWeights);
        return ((float)(total * inv), Flatten(gradWeights));
    }

    /// <summary>[n, P] rows of flattened networks → a batch (tensor by tensor, each network's block in memory order).</summary>
    public static WeightSpaceBatch Unflatten(Tensor rows, Algebra.WeightSpace space)
    {
        int n = rows.Shape[0], per = checked((int)space.Dimension);
        var b = new WeightSpaceBatch(space, n, 1);
        int offset = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            int size = space.Tensors[t].Size;
            for (int i = 0; i < n; i++) Array.Copy(rows.Data, (long)i * per + offset, b.Tensors[t].Data, (long)i * size, size);
            offset += size;
        }
        return b;
    }

    /// <summary>The inverse of <see cref="Unflatten"/>: [n, P].</summary>
    public static Tensor Flatten(WeightSpaceBatch batch) => Baselines.WeightFeatures.Flattened(batch);
}
