using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics.Tensors;
using System.Threading.Tasks;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Modules;

/// <summary>The declared options of a product model (the <c>[ProductModel]</c> attribute's values).</summary>
/// <param name="Symmetry">HiddenNeuron, AllNeuron (no positional features for the input and output neurons), or
/// SignedHiddenNeuron (the raw weights go through <see cref="SignInvariantLift"/> first).</param>
/// <param name="Features">Features D per neuron and per edge.</param>
/// <param name="Layers">Product layers.</param>
/// <param name="Outputs">Values per network (e.g. classes).</param>
/// <param name="HeadHidden">Width of a hidden head layer (0: one linear layer).</param>
/// <param name="Normalize">LayerNorm of every node's and edge's features after each product layer.</param>
/// <param name="Dropout">Dropout probability on the features after each product layer (training only).</param>
public sealed record ProductModelConfig(Symmetry Symmetry, int Features, int Layers, int Outputs, int HeadHidden = 0, bool Normalize = false, float Dropout = 0f)
{
    public void Validate()
    {
        if (!Enum.IsDefined(Symmetry)) throw new ArgumentException($"Unknown symmetry {Symmetry}.");
        if (Features <= 0) throw new ArgumentException($"Features must be positive, got {Features}.");
        if (Layers <= 0) throw new ArgumentException($"A product model needs at least one product layer, got {Layers}.");
        if (Outputs <= 0) throw new ArgumentException($"Outputs must be at least 1, got {Outputs}.");
        if (HeadHidden < 0) throw new ArgumentException($"HeadHidden must be 0 (linear head) or positive, got {HeadHidden}.");
        if (!(Dropout >= 0f && Dropout < 1f)) throw new ArgumentException($"Dropout must be in [0, 1), got {Dropout}.");
    }

    public override string ToString() =>
        $"{Symmetry}, {Layers} product layers × {Features} features → {Outputs}{(HeadHidden > 0 ? $" (hidden {HeadHidden})" : "")}{(Normalize ? ", normalized" : "")}{(Dropout > 0 ? $", dropout {Dropout}" : "")}";
}

/// <summary>
/// An invariant network of product layers over the weights of a dense input network (issue 17): the weights become
/// features of the input network's own graph (edge ℓ,j,i from W_ℓ[j,i], node ℓ,j from b_ℓ[j], per-layer linear encoders;
/// learned positional features for the fixed input and output neurons unless the symmetry is AllNeuron); under
/// <see cref="Symmetry.SignedHiddenNeuron"/> the raw weights are first lifted by <see cref="SignInvariantLift"/>, so every
/// feature is exactly sign-invariant. Then <see cref="ProductModelConfig.Layers"/> product layers (fused kernels,
/// <see cref="ProductKernel"/>; generated models supply fused kernels and a lift printed for their architecture), each optionally followed by LayerNorm over the
/// features (<see cref="LayerNormKernels"/>) and dropout (<see cref="Dropout.FillMask32"/>); then the mean of every neuron
/// layer's nodes and every weight layer's edges, (2M + 1)·D invariant features, and a dense head.
/// Parameters: <c>encoder.*</c>, <c>layers.i.edges.ℓ.*</c>, <c>layers.i.nodes.k.*</c>, <c>norms.i.*</c>, <c>head.*</c>.
/// </summary>
/// <remarks>
/// Forward takes raw weights (1 channel); <see cref="BackwardParameters"/> accumulates the parameter gradients (there is
/// no input gradient: the lift is not differentiated). Deterministic: dropout draws from the model's own generator
/// (seeded), kernels reduce in fixed chunks.
/// </remarks>
public class ProductNetwork : Module
{
    public ProductModelConfig Config { get; }
    /// <summary>The raw weights' space (under the declared symmetry).</summary>
    public WeightSpace Space { get; }
    public NeuralGraph Graph { get; }
    public SignInvariantLift? Lift { get; }
    public IReadOnlyList<ProductKernel> Kernels { get; }
    public Sequential Head { get; }

    private readonly int _channels, _d, _m;
    private readonly int[] _weightTensor, _biasTensor;
    private readonly Parameter[] _edgeEncW, _edgeEncB, _nodeEncB;
    private readonly Parameter?[] _nodeEncW;
    private readonly Parameter? _inputPos, _outputPos;
    private readonly ProductLayerParameters<float>[] _values, _grads;
    private readonly ParameterGroup[] _layerGroups;
    private readonly ParameterGroup _encoder;
    private readonly (Parameter W, Parameter B)[] _norms;
    private readonly Rng _dropoutRng;

    // Per forward: the input of every product layer, each layer's raw output, the normalized output, dropout masks.
    private GraphFeatures<float>[] _inputs = Array.Empty<GraphFeatures<float>>(), _raw = Array.Empty<GraphFeatures<float>>(), _masks = Array.Empty<GraphFeatures<float>>();
    private float[][][] _mean = Array.Empty<float[][]>(), _invStd = Array.Empty<float[][]>();
    private WeightSpaceBatch? _encoded;
    private Tensor? _features;
    private bool _dropped;

    protected ProductNetwork(ProductModelConfig config, WeightSpace space, Func<NeuralGraph, int, ProductKernel> kernelFactory, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(kernelFactory);
        config.Validate();
        if (space.Symmetry != config.Symmetry) throw new ArgumentException($"The weight space is under {space.Symmetry} symmetry; the model is declared with {config.Symmetry}.");
        Config = config; Space = space;
        Graph = NeuralGraph.FromSpace(space);
        Lift = config.Symmetry == Symmetry.SignedHiddenNeuron ? new SignInvariantLift(space) : null;
        _channels = Lift?.Channels ?? 1;
        _d = config.Features;
        _m = Graph.Depth;
        _weightTensor = new int[_m + 1];
        _biasTensor = Enumerable.Repeat(-1, _m + 1).ToArray();
        foreach (var t in space.Tensors)
            if (t.IsBias) _biasTensor[t.LayerNumber] = t.Index; else _weightTensor[t.LayerNumber] = t.Index;

        var rng = new Rng(seed);
        int c = _channels, d = _d;
        Parameter Normal(Rng r, double std, bool decay, params int[] shape)
        {
            var p = new Parameter(shape) { Decay = decay };
            for (int i = 0; i < p.Length; i++) p.Data[i] = (float)(r.Normal() * std);
            return p;
        }
        var enc = rng.Fork();
        _edgeEncW = Enumerable.Range(1, _m).Select(_ => Normal(enc, 1 / Math.Sqrt(c), true, d, c)).ToArray();
        _edgeEncB = Enumerable.Range(1, _m).Select(_ => new Parameter(d) { Decay = false }).ToArray();
        _nodeEncW = Enumerable.Range(0, _m + 1).Select(k => _biasTensor[k] >= 0 ? Normal(enc, 1 / Math.Sqrt(c), true, d, c) : null).ToArray();
        _nodeEncB = Enumerable.Range(0, _m + 1).Select(_ => new Parameter(d) { Decay = false }).ToArray();
        if (config.Symmetry != Symmetry.AllNeuron)
        {
            _inputPos = Normal(enc, 1, false, Graph.Widths[0], d);
            _outputPos = Normal(enc, 1, false, Graph.Widths[_m], d);
        }
        var named = new List<(string, Parameter)>();
        for (int l = 1; l <= _m; l++) { named.Add(($"edges.{l - 1}.weight", _edgeEncW[l - 1])); named.Add(($"edges.{l - 1}.bias", _edgeEncB[l - 1])); }
        for (int k = 0; k <= _m; k++) { if (_nodeEncW[k] is { } w) named.Add(($"nodes.{k}.weight", w)); named.Add(($"nodes.{k}.bias", _nodeEncB[k])); }
        if (_inputPos != null) { named.Add(("inputs", _inputPos)); named.Add(("outputs", _outputPos!)); }
        _encoder = new ParameterGroup(named);

        var kernels = new List<ProductKernel>();
        _values = new ProductLayerParameters<float>[config.Layers];
        _grads = new ProductLayerParameters<float>[config.Layers];
        _layerGroups = new ParameterGroup[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            var parameters = new List<(string, Parameter)>();
            var byName = new Dictionary<string, Parameter>(StringComparer.Ordinal);
            _values[i] = new ProductLayerParameters<float>(Graph, d, (name, size) =>
            {
                var p = new Parameter(size == d ? new[] { d } : new[] { d, size / d }) { Decay = !name.EndsWith(".bias", StringComparison.Ordinal) };
                parameters.Add((name, p)); byName[name] = p;
                return p.Data;
            });
            _grads[i] = new ProductLayerParameters<float>(Graph, d, (name, _) => byName[name].Grad.Data);
            var layerRng = rng.Fork();
            // Initialize fills the arrays in Named() order; keep the module's parameter order the same.
            _values[i].Initialize(layerRng.Normal);
            _layerGroups[i] = new ParameterGroup(_values[i].Named().Select(t => (t.Name, byName[t.Name])).ToList());
            var kernel = kernelFactory(Graph, d);
            if (kernel.Features != d || kernel.Graph.Depth != _m || !kernel.Graph.Widths.SequenceEqual(Graph.Widths))
                throw new ArgumentException("The kernel factory made a kernel for another graph or feature count.");
            kernels.Add(kernel);
        }
        Kernels = kernels;
        _norms = config.Normalize
            ? Enumerable.Range(0, config.Layers).Select(_ => { var w = new Parameter(d) { Decay = false }; Array.Fill(w.Data, 1f); return (w, new Parameter(d) { Decay = false }); }).ToArray()
            : Array.Empty<(Parameter, Parameter)>();
        _dropoutRng = rng.Fork();
        var headRng = rng.Fork();
        int f = FeatureCount;
        Head = config.HeadHidden > 0
            ? new Sequential(new Linear(f, config.HeadHidden, headRng), new ReLU(), new Linear(config.HeadHidden, config.Outputs, headRng))
            : new Sequential(new Linear(f, config.Outputs, headRng));
    }

    /// <summary>The same model with the kernels' loops instead of generated ones (architectures known at run time; test oracle).
    /// With the same seed it has the same parameters as the generated model.</summary>
    public static ProductNetwork CreateInterpreted(ProductModelConfig config, WeightSpace space, ulong seed = 0) =>
        new(config, space, (g, d) => new ProductKernel(g, d), seed);

    /// <summary>Invariant features per network: the mean of each neuron layer's nodes and of each weight layer's edges, D each.</summary>
    public int FeatureCount => (2 * _m + 1) * _d;

    private sealed class ParameterGroup(List<(string, Parameter)> parameters) : Module
    {
        protected override IEnumerable<(string, Parameter)> OwnParameters() => parameters;
    }

    private sealed class NormGroup((Parameter W, Parameter B) norm) : Module
    {
        protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", norm.W), ("bias", norm.B) };
    }

    protected override IEnumerable<(string, Module)> Children()
    {
        yield return ("encoder", _encoder);
        for (int i = 0; i < _layerGroups.Length; i++) yield return ($"layers.{i}", _layerGroups[i]);
        for (int i = 0; i < _norms.Length; i++) yield return ($"norms.{i}", new NormGroup(_norms[i]));
        yield return ("head", Head);
    }

    /// <summary>Outputs [batch, Outputs] for raw weights (1 channel).</summary>
    public Tensor Forward(WeightSpaceBatch input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Channels != 1) throw new ArgumentException($"Model input must have 1 channel (raw weights), got {input.Channels}.");
        if (input.Space.Tensors.Count != Space.Tensors.Count || input.Space.Dimension != Space.Dimension)
            throw new ArgumentException($"Input is over a weight space of {input.Space.Dimension} weights in {input.Space.Tensors.Count} tensors; the model expects {Space.Dimension} in {Space.Tensors.Count}.");
        int batch = input.Batch, layers = Config.Layers;
        if (_inputs.Length != layers || _inputs[0].Batch != batch)
        {
            _inputs = Enumerable.Range(0, layers).Select(_ => new GraphFeatures<float>(Graph, batch, _d)).ToArray();
            _raw = Enumerable.Range(0, layers).Select(_ => new GraphFeatures<float>(Graph, batch, _d)).ToArray();
            _masks = Config.Dropout > 0 ? Enumerable.Range(0, layers).Select(_ => new GraphFeatures<float>(Graph, batch, _d)).ToArray() : Array.Empty<GraphFeatures<float>>();
            _mean = Enumerable.Range(0, layers).Select(_ => _raw[0].All.Select(a => new float[a.Length / _d]).ToArray()).ToArray();
            _invStd = Enumerable.Range(0, layers).Select(_ => _raw[0].All.Select(a => new float[a.Length / _d]).ToArray()).ToArray();
            _final = new GraphFeatures<float>(Graph, batch, _d);
            _features = new Tensor(batch, FeatureCount);
        }
        _encoded = Lift != null ? LiftInput(input) : input;
        Encode(_encoded, _inputs[0]);
        _dropped = IsTraining && Config.Dropout > 0;
        for (int i = 0; i < layers; i++)
        {
            var next = i + 1 < layers ? _inputs[i + 1] : _final!;
            Kernels[i].Forward(_values[i], _inputs[i], _raw[i]);
            var src = _raw[i].All.ToArray();
            var dst = next.All.ToArray();
            var masks = _dropped ? _masks[i].All.ToArray() : null;
            // One draw from the model's generator per layer and forward; every (array, network) then fills its mask from its
            // own stream derived from it, so the masks do not depend on the thread count or the order networks run in.
            ulong maskSeed = _dropped ? _dropoutRng.NextUInt64() : 0;
            int layer = i;
            // Networks in parallel: LayerNorm is per row (node or edge) and dropout per value, so each network's rows are
            // computed exactly as one serial pass would.
            Parallel.For(0, batch, n =>
            {
                for (int a = 0; a < src.Length; a++)
                {
                    int rows = src[a].Length / _d / batch, at = n * rows * _d, len = rows * _d;
                    if (Config.Normalize)
                        LayerNormKernels.Forward(src[a].AsSpan(at, len), rows, _d, _norms[layer].W.Data, _norms[layer].B.Data, dst[a].AsSpan(at, len),
                            _mean[layer][a].AsSpan(n * rows, rows), _invStd[layer][a].AsSpan(n * rows, rows));
                    else src[a].AsSpan(at, len).CopyTo(dst[a].AsSpan(at, len));
                    if (masks != null)
                    {
                        var mask = masks[a].AsSpan(at, len);
                        Dropout.FillMask32(mask, Config.Dropout, Rng.ForEpoch(maskSeed, a, (ulong)n));
                        var y = dst[a].AsSpan(at, len);
                        TensorPrimitives.Multiply(y, mask, y);
                    }
                }
            });
        }
        Pool(_final!, _features!);
        return Head.Forward(_features!);
    }

    private GraphFeatures<float>? _final;

    /// <summary>The sign-invariant lift of the raw weights (only under <see cref="Symmetry.SignedHiddenNeuron"/>): the run-time
    /// <see cref="SignInvariantLift"/> here; generated models override it with the lift generated for their architecture
    /// (bitwise the same).</summary>
    protected virtual WeightSpaceBatch LiftInput(WeightSpaceBatch input) => Lift!.Forward(input);

    /// <summary>The invariant features of the last <see cref="Forward"/>.</summary>
    public Tensor Features => _features ?? throw new InvalidOperationException("Call Forward first.");

    private void Encode(WeightSpaceBatch x, GraphFeatures<float> h)
    {
        int batch = x.Batch, c = _channels, d = _d;
        for (int l = 1; l <= _m; l++)
            DenseKernels.LinearForward(x.Tensors[_weightTensor[l]].Data, _edgeEncW[l - 1].Data, _edgeEncB[l - 1].Data, h.Edges[l - 1], batch * Graph.Out(l) * Graph.In(l), c, d);
        for (int k = 0; k <= _m; k++)
        {
            int rows = batch * Graph.Widths[k];
            if (_nodeEncW[k] is { } w) DenseKernels.LinearForward(x.Tensors[_biasTensor[k]].Data, w.Data, _nodeEncB[k].Data, h.Nodes[k], rows, c, d);
            else for (int r = 0; r < rows; r++) _nodeEncB[k].Data.CopyTo(h.Nodes[k], r * d);
        }
        if (_inputPos != null)
            for (int n = 0; n < batch; n++)
            {
                DenseKernels.AddInPlace(_inputPos.Data, h.Nodes[0].AsSpan(n * _inputPos.Length, _inputPos.Length));
                DenseKernels.AddInPlace(_outputPos!.Data, h.Nodes[_m].AsSpan(n * _outputPos.Length, _outputPos.Length));
            }
    }

    private void Pool(GraphFeatures<float> h, Tensor features)
    {
        int d = _d, f = FeatureCount;
        var arrays = h.All.ToArray();
        Parallel.For(0, h.Batch, n =>
        {
            var row = features.Data.AsSpan(n * f, f);
            row.Clear();
            for (int a = 0; a < arrays.Length; a++)
            {
                int rows = arrays[a].Length / d / h.Batch;
                var dst = row.Slice(a * d, d);
                for (int r = 0; r < rows; r++) DenseKernels.AddInPlace(arrays[a].AsSpan((n * rows + r) * d, d), dst);
                float inv = 1f / rows;
                for (int k = 0; k < d; k++) dst[k] *= inv;
            }
        });
    }

    /// <summary>Accumulates every parameter's gradient for d loss / d output of the last <see cref="Forward"/>.</summary>
    public void BackwardParameters(Tensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        var x = _encoded ?? throw new InvalidOperationException("ProductNetwork.BackwardParameters was called before Forward.");
        int batch = x.Batch, d = _d, f = FeatureCount;
        var gf = Head.Backward(gradOutput);
        // Pooling's adjoint: each node/edge gets its mean's gradient / count.
        var g = new GraphFeatures<float>(Graph, batch, d);
        var garrays = g.All.ToArray();
        for (int a = 0; a < garrays.Length; a++)
        {
            int rows = garrays[a].Length / d / batch;
            float inv = 1f / rows;
            for (int n = 0; n < batch; n++)
                for (int r = 0; r < rows; r++)
                    for (int k = 0; k < d; k++) garrays[a][(n * rows + r) * d + k] = gf.Data[n * f + a * d + k] * inv;
        }
        var gx = new GraphFeatures<float>(Graph, batch, d);
        for (int i = Config.Layers - 1; i >= 0; i--)
        {
            var ga = g.All.ToArray();
            var masks = _dropped ? _masks[i].All.ToArray() : null;
            var raw = Config.Normalize ? _raw[i].All.ToArray() : null;
            var tmp = Config.Normalize ? new GraphFeatures<float>(Graph, batch, d) : null;
            var ta = tmp?.All.ToArray();
            // Per network: the LayerNorm parameter gradients' partial sums, added in network order below (deterministic for any
            // thread count).
            var gw = Config.Normalize ? new double[batch][] : null;
            var gb = Config.Normalize ? new double[batch][] : null;
            int layer = i;
            // Without LayerNorm and dropout the gradient passes through unchanged: no per-network pass at all.
            if (masks != null || raw != null)
            {
                Parallel.For(0, batch, n =>
                {
                    double[]? w = gw is null ? null : gw[n] = new double[d], b = gb is null ? null : gb[n] = new double[d];
                    for (int a = 0; a < ga.Length; a++)
                    {
                        int rows = ga[a].Length / d / batch, at = n * rows * d, len = rows * d;
                        if (masks != null)
                        {
                            var gr = ga[a].AsSpan(at, len);
                            TensorPrimitives.Multiply(gr, masks[a].AsSpan(at, len), gr);
                        }
                        if (raw != null)
                            LayerNormKernels.Backward(raw[a].AsSpan(at, len), ga[a].AsSpan(at, len), rows, d, _norms[layer].W.Data,
                                _mean[layer][a].AsSpan(n * rows, rows), _invStd[layer][a].AsSpan(n * rows, rows), ta![a].AsSpan(at, len), w, b);
                    }
                });
            }
            if (Config.Normalize)
            {
                for (int k = 0; k < d; k++)
                {
                    double sw = 0, sb = 0;
                    for (int n = 0; n < batch; n++) { sw += gw![n][k]; sb += gb![n][k]; }
                    _norms[i].W.Grad.Data[k] += (float)sw; _norms[i].B.Grad.Data[k] += (float)sb;
                }
                g = tmp!;
            }
            Kernels[i].Backward(_values[i], _inputs[i], g, gx, _grads[i]);
            (g, gx) = (gx, g);
        }
        // Encoder.
        int c = _channels;
        for (int l = 1; l <= _m; l++)
        {
            int rows = batch * Graph.Out(l) * Graph.In(l);
            DenseKernels.LinearBackwardWeight(g.Edges[l - 1], x.Tensors[_weightTensor[l]].Data, _edgeEncW[l - 1].Grad.Data, rows, c, d);
            DenseKernels.BiasBackward(g.Edges[l - 1], _edgeEncB[l - 1].Grad.Data, rows, d);
        }
        for (int k = 0; k <= _m; k++)
        {
            int rows = batch * Graph.Widths[k];
            if (_nodeEncW[k] is { } w) DenseKernels.LinearBackwardWeight(g.Nodes[k], x.Tensors[_biasTensor[k]].Data, w.Grad.Data, rows, c, d);
            DenseKernels.BiasBackward(g.Nodes[k], _nodeEncB[k].Grad.Data, rows, d);
        }
        if (_inputPos != null)
        {
            DenseKernels.BiasBackward(g.Nodes[0], _inputPos.Grad.Data, batch, _inputPos.Length);
            DenseKernels.BiasBackward(g.Nodes[_m], _outputPos!.Grad.Data, batch, _outputPos.Length);
        }
    }

    public override string ToString() => $"{GetType().Name}({Config}; {ParameterCount()} parameters)";
}
