using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Tasks.Models;

namespace LayerCompiler.Tasks.Editing;

/// <summary>
/// An INR editor (NFN §5.4): U' = U + γ·F(Û), with Û the per-entry normalized weights, F a weight → weight map
/// (<see cref="EditKinds"/>) and γ a learned scalar initialized to 0.01. Its output row i is U'_i flattened (tensor by tensor),
/// what <see cref="RenderingObjective"/> renders.
/// </summary>
public sealed class WeightEditor : WeightModel
{
    private readonly Editor _module;
    private readonly Dictionary<int, WeightSpaceBatch> _buffers = new();
    private InputNormalizer? _normalizer;
    private Tensor? _delta;
    private int _n;

    private WeightEditor(string kind, Algebra.WeightSpace space, Module delta, EquivariantNetwork? equivariant, Sequential? dense, bool pointwise, bool reference = false)
    {
        Kind = kind; Space = space;
        _module = new Editor(delta);
        _equivariant = equivariant; _dense = dense; _pointwise = pointwise;
        if (pointwise && !reference && dense != null && PointwiseLayers(dense) is Linear[] linears)
        {
            _pointwiseLinears = linears;
            _pointwiseNet = new MlpInputNetwork(Algebra.WeightSpace.FromLayers(linears.Select(l => Algebra.LayerDeclaration.Dense(l.InFeatures, l.OutFeatures)).ToArray(), Symmetry.HiddenNeuron),
                InputActivation.ReLU);
            _pointwiseParams = new float[_pointwiseNet.ParameterCount];
        }
    }

    /// <summary>The Linear layers of Linear, ReLU, …, ReLU, Linear from 1 input to 1 output, all with biases; else null.</summary>
    private static Linear[]? PointwiseLayers(Sequential mlp)
    {
        var linears = new List<Linear>();
        for (int i = 0; i < mlp.Count; i++)
        {
            if (i % 2 == 0) { if (mlp[i] is Linear { Bias: not null } l) linears.Add(l); else return null; }
            else if (mlp[i] is not ReLU) return null;
        }
        if (mlp.Count % 2 == 0 || linears[0].InFeatures != 1 || linears[^1].OutFeatures != 1) return null;
        for (int i = 1; i < linears.Count; i++) if (linears[i].InFeatures != linears[i - 1].OutFeatures) return null;
        return linears.ToArray();
    }

    /// <summary>Δ = MLP(x) for every entry of x (the pointwise kernels).</summary>
    private float[] PointwiseForward(float[] x)
    {
        var net = _pointwiseNet!;
        var p = _pointwiseParams;
        foreach (var (l, t) in _pointwiseLinears.Select((l, t) => (l, t)))
        {
            l.Weight.Data.CopyTo(p, net.TensorOffset(2 * t));
            l.Bias!.Data.CopyTo(p, net.TensorOffset(2 * t + 1));
        }
        var delta = new float[x.Length];
        Parallel.For(0, (x.Length + PointwiseChunk - 1) / PointwiseChunk, Take, (c, _, ws) =>
        {
            int start = c * PointwiseChunk, count = Math.Min(PointwiseChunk, x.Length - start);
            net.ForwardNetwork(p, x.AsSpan(start, count), count, delta.AsSpan(start, count), ws);
            return ws;
        }, _workspaces.Add);
        return delta;
    }

    /// <summary>Adds d loss / d MLP parameters, given d loss / d Δ, to the Linear layers' gradients.</summary>
    private void PointwiseBackward(float[] x, float[] gradDelta)
    {
        var net = _pointwiseNet!;
        var p = _pointwiseParams;
        int chunks = (x.Length + PointwiseChunk - 1) / PointwiseChunk;
        if (_chunkGrads.Length < chunks) _chunkGrads = Enumerable.Range(0, chunks).Select(_ => new float[net.ParameterCount]).ToArray();
        var grads = _chunkGrads;
        Parallel.For(0, chunks, Take, (c, _, ws) =>
        {
            int start = c * PointwiseChunk, count = Math.Min(PointwiseChunk, x.Length - start);
            net.BackwardNetwork(p, x.AsSpan(start, count), count, gradDelta.AsSpan(start, count), grads[c], ws);
            return ws;
        }, _workspaces.Add);
        for (int t = 0; t < _pointwiseLinears.Length; t++)
        {
            var l = _pointwiseLinears[t];
            Accumulate(l.Weight.Grad.Data, net.TensorOffset(2 * t));
            Accumulate(l.Bias!.Grad.Data, net.TensorOffset(2 * t + 1));
        }

        void Accumulate(float[] target, int offset)
        {
            for (int c = 0; c < chunks; c++)
            {
                var g = grads[c];
                for (int k = 0; k < target.Length; k++) target[k] += g[offset + k];
            }
        }
    }

    private MlpInputNetwork.Workspace Take() => _workspaces.TryTake(out var ws) ? ws : _pointwiseNet!.CreateWorkspace();

    private readonly EquivariantNetwork? _equivariant;
    private readonly Sequential? _dense;
    private readonly bool _pointwise;

    // The pointwise MLP (Linear, ReLU, …, Linear on one scalar) runs as a 1-input ReLU MlpInputNetwork whose "points" are
    // the n·P normalized weight entries: tiled, feature-major kernels, rows split into fixed chunks that run in parallel.
    // Each chunk's parameter gradient goes to its own buffer and the chunks are added in order, so results do not depend
    // on the thread count. Null when the MLP has another shape (then Sequential runs it).
    private const int PointwiseChunk = 16 * MlpInputNetwork.TilePoints;
    private readonly MlpInputNetwork? _pointwiseNet;
    private readonly Linear[] _pointwiseLinears = Array.Empty<Linear>();
    private readonly float[] _pointwiseParams = Array.Empty<float>();
    private readonly ConcurrentBag<MlpInputNetwork.Workspace> _workspaces = new();
    private float[][] _chunkGrads = Array.Empty<float[]>();
    private float[]? _x;

    /// <summary>F = an equivariant network with an equivariant head of one channel (e.g. a generated [EquivariantModel] with Head = Equivariant, Outputs = 1).</summary>
    public static WeightEditor Equivariant(string kind, EquivariantNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (network.Head != null || network.Config.Outputs != 1)
            throw new ArgumentException("The editor needs an equivariant head with one output channel (one Δ per weight).", nameof(network));
        return new WeightEditor(kind, network.Space, network, network, null, false);
    }

    /// <summary>F = an MLP from all P flattened weights to P deltas (the "MLP" baseline).</summary>
    public static WeightEditor FlattenedMlp(Algebra.WeightSpace space, IReadOnlyList<int> hidden, ulong seed)
    {
        int p = checked((int)space.Dimension);
        var mlp = BaselineMlp.Create(p, hidden, p, new Rng(seed));
        return new WeightEditor(EditKinds.Mlp, space, mlp, null, mlp, false);
    }

    /// <summary>F = one small MLP applied to every weight entry on its own (1 → hidden → 1, shared by all entries: the "pointwise" baseline).</summary>
    /// <param name="reference">Run the MLP through <see cref="Sequential"/> on [n·P, 1] rows (the straightforward path, for
    /// tests) instead of the tiled pointwise kernels; the parameters, their names and the results (to float rounding) are the same.</param>
    public static WeightEditor Pointwise(Algebra.WeightSpace space, IReadOnlyList<int> hidden, ulong seed, bool reference = false)
    {
        var mlp = BaselineMlp.Create(1, hidden, 1, new Rng(seed));
        return new WeightEditor(EditKinds.Pointwise, space, mlp, null, mlp, true, reference);
    }

    public override string Kind { get; }
    public override Module Module => _module;
    public override Algebra.WeightSpace Space { get; }
    public float Gamma => _module.Gamma.Data[0];
    private InputNormalizer Normalizer => _normalizer ?? throw new InvalidOperationException("The input normalization is not fitted (call FitInputs).");

    public override void FitInputs(WeightSpaceBatch train) =>
        _normalizer = InputNormalizer.Fit(new[] { Reinterpret(train, Space, new()) }, NormalizationGranularity.PerEntry, EquivariantWeightModel.MinStd);

    public override Dictionary<string, Tensor> NormalizationState() => Normalizer.ToTensors();

    public override void LoadNormalization(IReadOnlyDictionary<string, Tensor> state)
    {
        var loaded = InputNormalizer.FromTensors(Space, state);
        if (loaded.Granularity != NormalizationGranularity.PerEntry || loaded.Channels != 1)
            throw new System.IO.InvalidDataException($"The checkpoint's input normalization is {loaded.Granularity} over {loaded.Channels} channel(s); an editor normalizes per entry, one channel.");
        _normalizer = loaded;
    }

    public override Tensor Forward(WeightSpaceBatch raw)
    {
        var u = WeightFeatures.Flattened(raw);                     // [n, P] raw weights (a copy)
        var x = Normalizer.Apply(Reinterpret(raw, Space, _buffers));
        int n = x.Batch, p = u.Shape[1];
        Tensor delta;
        if (_equivariant != null) delta = WeightFeatures.Flattened(_equivariant.ForwardEquivariant(x));
        else if (_pointwiseNet != null) { _x = WeightFeatures.Flattened(x).Data; delta = new Tensor(PointwiseForward(_x), n, p); }
        else if (_pointwise) delta = new Tensor(_dense!.Forward(new Tensor(WeightFeatures.Flattened(x).Data, n * p, 1)).Data, n, p);
        else delta = _dense!.Forward(WeightFeatures.Flattened(x));
        float gamma = Gamma;
        for (int i = 0; i < u.Length; i++) u.Data[i] += gamma * delta.Data[i];
        _delta = delta; _n = n;
        return u;
    }

    public override void Backward(Tensor gradOutputs)
    {
        var delta = _delta ?? throw new InvalidOperationException("Backward before Forward.");
        double dGamma = 0;
        float gamma = Gamma;
        var g = new Tensor(gradOutputs.Shape);
        for (int i = 0; i < g.Length; i++) { dGamma += (double)gradOutputs.Data[i] * delta.Data[i]; g.Data[i] = gamma * gradOutputs.Data[i]; }
        _module.Gamma.Grad.Data[0] += (float)dGamma;
        if (_equivariant != null) _equivariant.BackwardEquivariantParameters(RenderingObjective.Unflatten(g, _equivariant.Space));
        else if (_pointwiseNet != null) PointwiseBackward(_x!, g.Data);
        else if (_pointwise) _dense!.Backward(new Tensor(g.Data, g.Length, 1));
        else _dense!.Backward(g);
    }

    /// <summary>γ (parameter <c>gamma</c>, not decayed) and F (parameters <c>delta.*</c>).</summary>
    private sealed class Editor : Module
    {
        public Editor(Module delta)
        {
            Delta = delta;
            Gamma = new Parameter(1) { Decay = false };
            Gamma.Data[0] = 0.01f;
        }

        public Module Delta { get; }
        public Parameter Gamma { get; }
        protected override IEnumerable<(string Name, Parameter Parameter)> OwnParameters() { yield return ("gamma", Gamma); }
        protected override IEnumerable<(string Name, Module Child)> Children() { yield return ("delta", Delta); }
    }
}

/// <summary>The editors the task trains.</summary>
public static class EditKinds
{
    public const string Hidden = "hidden", All = "all", Pointwise = "pointwise", Mlp = "mlp";
    public static readonly string[] Names = { Hidden, All, Pointwise, Mlp };

    public static string Describe(string kind) => kind switch
    {
        Hidden => "hidden-neuron equivariant (DWSNets / NFN HNP)",
        All => "all-neuron equivariant (NFN NP)",
        Pointwise => "pointwise MLP (each weight alone)",
        Mlp => "MLP on flattened weights",
        _ => kind,
    };
}
