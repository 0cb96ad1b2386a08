using System;
using System.Collections.Generic;
using LayerCompiler.Runtime;
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

    private WeightEditor(string kind, Algebra.WeightSpace space, Module delta, EquivariantNetwork? equivariant, Sequential? dense, bool pointwise)
    {
        Kind = kind; Space = space;
        _module = new Editor(delta);
        _equivariant = equivariant; _dense = dense; _pointwise = pointwise;
    }

    private readonly EquivariantNetwork? _equivariant;
    private readonly Sequential? _dense;
    private readonly bool _pointwise;

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
    public static WeightEditor Pointwise(Algebra.WeightSpace space, IReadOnlyList<int> hidden, ulong seed)
    {
        var mlp = BaselineMlp.Create(1, hidden, 1, new Rng(seed));
        return new WeightEditor(EditKinds.Pointwise, space, mlp, null, mlp, true);
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
        if (_equivariant != null) _equivariant.BackwardEquivariant(RenderingObjective.Unflatten(g, _equivariant.Space));
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
