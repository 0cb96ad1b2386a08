using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading.Tasks;
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
/// <remarks>
/// <para>Dense networks (every <see cref="IInputNetwork"/> of a declared Dense architecture: the SIRENs of the image zoos)
/// run through <see cref="MlpInputNetwork"/>'s tiled kernels straight on the rows (each row is the network's flat parameter
/// vector): one pass per tile renders, forms the output gradient and back-propagates it, networks in parallel, no
/// re-ordering of the weights. The loss is then summed over the renderings in the same order as the reference, so it
/// matches the reference path (<paramref name="reference"/> = true: the network's own Forward and Backward) wherever the
/// renderings agree; the gradient agrees to float rounding. Other networks take the reference path.</para>
/// <para>With <see cref="GradientWanted"/> returning false (e.g. the model is in eval mode: a validation pass), only the
/// loss is computed and the gradient returned is zeros. Not thread-safe (one objective per trainer).</para>
/// </remarks>
public sealed class RenderingObjective : ITrainingObjective
{
    private readonly IInputNetwork _network;
    private readonly float[] _points;
    private readonly int _pointCount;
    private readonly MlpInputNetwork? _flat;
    private readonly ConcurrentBag<MlpInputNetwork.Workspace> _workspaces = new();
    private float[] _rendered = Array.Empty<float>();

    public RenderingObjective(IInputNetwork network, float[] points, int pointCount, bool reference = false)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        _points = points ?? throw new ArgumentNullException(nameof(points));
        _pointCount = pointCount;
        if (!reference) _flat = network as MlpInputNetwork ?? FlatNetwork(network);
    }

    /// <summary>Asked before each <see cref="Compute"/>: false skips the gradient (zeros are returned). Null: always computed.</summary>
    public Func<bool>? GradientWanted { get; init; }

    /// <summary>True when the loss runs through <see cref="MlpInputNetwork"/>'s kernels rather than the network's own passes.</summary>
    public bool UsesFlatKernels => _flat != null;

    public string Name => FormattableString.Invariant($"render_mse({_pointCount} points)");

    /// <summary>The same dense network run by <see cref="MlpInputNetwork"/>, or null when the network is not a plain dense one.</summary>
    private static MlpInputNetwork? FlatNetwork(IInputNetwork network)
    {
        var space = network.Space;
        if (space.Declarations.Count == 0 || space.Declarations.Any(d => d.Kind != LayerKind.Dense) || !Enum.IsDefined(network.Activation)) return null;
        if (network.InputWidth != space.Declarations[0].In || network.OutputWidth != space.Declarations[^1].Out) return null;
        try { return new MlpInputNetwork(space, network.Activation, network.Omega0, network.OutputOffset); }
        catch (ArgumentException) { return null; }
    }

    public (float Loss, Tensor Grad) Compute(Tensor outputs, TrainingTargets targets)
    {
        var wanted = targets.RequireValues(Name);
        int n = outputs.Shape[0], per = checked((int)_network.Space.Dimension), signal = _pointCount * _network.OutputWidth;
        if (outputs.Rank != 2 || outputs.Shape[1] != per)
            throw new ArgumentException($"{Name}: outputs must be [batch, {per}] flattened weights, got [{string.Join(", ", outputs.Shape)}].");
        if (wanted.Shape[0] != n || wanted.Length != n * signal)
            throw new ArgumentException($"{Name}: targets must be [{n}, {signal}], got [{string.Join(", ", wanted.Shape)}].");
        bool gradient = GradientWanted?.Invoke() ?? true;
        if (_flat == null) return Reference(outputs, wanted, n, signal, gradient);

        if (_rendered.Length < n * signal) _rendered = new float[n * signal];
        var rendered = _rendered;
        var grad = new Tensor(n, per);
        double inv = 1.0 / (n * signal);
        var flat = _flat;
        float[] rows = outputs.Data, want = wanted.Data, g = grad.Data, pts = _points;
        int pointCount = _pointCount;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = flat.MaxDegreeOfParallelism }, Take, (i, _, ws) =>
        {
            var parameters = rows.AsSpan(i * per, per);
            var output = rendered.AsSpan(i * signal, signal);
            if (gradient) flat.SquaredErrorGradient(parameters, pts, pointCount, want.AsSpan(i * signal, signal), inv, output, g.AsSpan(i * per, per), ws);
            else flat.ForwardNetwork(parameters, pts, pointCount, output, ws);
            return ws;
        }, _workspaces.Add);
        double total = 0;
        for (int i = 0; i < n * signal; i++)
        {
            double d = (double)rendered[i] - want[i];
            total += d * d;
        }
        return ((float)(total * inv), grad);
    }

    private MlpInputNetwork.Workspace Take() => _workspaces.TryTake(out var ws) ? ws : _flat!.CreateWorkspace();

    /// <summary>The network's own Forward and Backward on the unflattened batch.</summary>
    private (float Loss, Tensor Grad) Reference(Tensor outputs, Tensor wanted, int n, int signal, bool gradient)
    {
        var weights = Unflatten(outputs, _network.Space);
        var rendered = new float[n * signal];
        _network.Forward(weights, _points, _pointCount, rendered);
        double total = 0, inv = 1.0 / rendered.Length;
        var gradOut = new float[rendered.Length];
        for (int i = 0; i < rendered.Length; i++)
        {
            double d = (double)rendered[i] - wanted.Data[i];
            total += d * d;
            gradOut[i] = (float)(2 * d * inv);
        }
        if (!gradient) return ((float)(total * inv), new Tensor(outputs.Shape));
        var gradWeights = new WeightSpaceBatch(_network.Space, n, 1);
        _network.Backward(weights, _points, _pointCount, gradOut, gradWeights);
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
