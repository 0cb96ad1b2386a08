using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// The neuron graph of a dense input network: neuron layers 0..M of the given widths, an edge (j, i) for every weight
/// W_ℓ[j, i] from neuron i of layer ℓ−1 to neuron j of layer ℓ.
/// </summary>
public sealed class NeuralGraph
{
    /// <summary>Widths of the neuron layers 0..M.</summary>
    public IReadOnlyList<int> Widths { get; }
    /// <summary>Number of weight layers M.</summary>
    public int Depth => Widths.Count - 1;

    public NeuralGraph(IReadOnlyList<int> widths)
    {
        if (widths.Count < 2 || widths.Any(w => w <= 0)) throw new ArgumentException($"A neural graph needs at least two neuron layers of positive width, got [{string.Join(", ", widths)}].");
        Widths = widths.ToArray();
    }

    /// <summary>The graph of a dense weight space (MLPs, SIRENs); convolutional spaces are refused.</summary>
    public static NeuralGraph FromSpace(WeightSpace space)
    {
        if (space.Declarations.Count == 0 || space.Declarations.Any(d => d.Kind != LayerKind.Dense))
            throw new ArgumentException("Product layers are defined for dense networks only; this weight space has convolutions.");
        return new NeuralGraph(space.Layers.Select(l => l.Width).ToArray());
    }

    public int Out(int weightLayer) => Widths[weightLayer];
    public int In(int weightLayer) => Widths[weightLayer - 1];
}

/// <summary>
/// Features on a neural graph for a batch of networks: per neuron layer k, <c>Nodes[k]</c> is [batch, width_k, D];
/// per weight layer ℓ = 1..M, <c>Edges[ℓ − 1]</c> is [batch, out_ℓ, in_ℓ, D] (PyTorch orientation, like W_ℓ).
/// </summary>
public sealed class GraphFeatures<T> where T : IFloatingPointIeee754<T>
{
    public NeuralGraph Graph { get; }
    public int Batch { get; }
    public int Features { get; }
    public T[][] Nodes { get; }
    public T[][] Edges { get; }

    public GraphFeatures(NeuralGraph graph, int batch, int features)
    {
        if (batch <= 0 || features <= 0) throw new ArgumentException($"Batch and features must be positive, got {batch} and {features}.");
        Graph = graph; Batch = batch; Features = features;
        Nodes = graph.Widths.Select(w => new T[batch * w * features]).ToArray();
        Edges = Enumerable.Range(1, graph.Depth).Select(l => new T[batch * graph.Out(l) * graph.In(l) * features]).ToArray();
    }

    public GraphFeatures<T> Clone()
    {
        var c = new GraphFeatures<T>(Graph, Batch, Features);
        for (int k = 0; k < Nodes.Length; k++) Nodes[k].CopyTo(c.Nodes[k], 0);
        for (int l = 0; l < Edges.Length; l++) Edges[l].CopyTo(c.Edges[l], 0);
        return c;
    }

    public IEnumerable<T[]> All => Nodes.Concat(Edges);
}

/// <summary>
/// Parameters of one product layer over a neural graph with D features. Per weight layer ℓ: the forward message maps
/// <c>EdgeForward[ℓ−1]</c> (A_ℓ) and <c>NodeForward[ℓ−1]</c> (B_ℓ), the backward message maps <c>EdgeBackward</c>
/// (A'_ℓ) and <c>NodeBackward</c> (B'_ℓ), all [D × D]; the edge update <c>EdgeUpdate[ℓ−1]</c> [D × 3D] and
/// <c>EdgeBias[ℓ−1]</c> [D]. Per neuron layer k: the node update <c>NodeUpdate[k]</c> [D × 3D] and <c>NodeBias[k]</c> [D].
/// Matrices are row-major [out × in].
/// </summary>
public sealed class ProductLayerParameters<T> where T : IFloatingPointIeee754<T>
{
    public int Features { get; }
    public T[][] EdgeForward { get; }
    public T[][] NodeForward { get; }
    public T[][] EdgeBackward { get; }
    public T[][] NodeBackward { get; }
    public T[][] EdgeUpdate { get; }
    public T[][] EdgeBias { get; }
    public T[][] NodeUpdate { get; }
    public T[][] NodeBias { get; }

    public ProductLayerParameters(NeuralGraph graph, int features) : this(graph, features, null) { }

    /// <param name="allocate">Gives the array of each parameter (its <see cref="Named"/> name and length), so that a module can
    /// hand out the storage of its own parameters or gradients; null: new zero arrays.</param>
    public ProductLayerParameters(NeuralGraph graph, int features, Func<string, int, T[]>? allocate)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (features <= 0) throw new ArgumentOutOfRangeException(nameof(features), features, "A product layer needs at least one feature.");
        Features = features;
        int m = graph.Depth, d = features;
        T[] New(string name, int size)
        {
            var a = allocate == null ? new T[size] : allocate(name, size);
            if (a.Length != size) throw new ArgumentException($"The array for '{name}' has {a.Length} elements; it needs {size}.");
            return a;
        }
        T[][] Make(int count, string format, int size) => Enumerable.Range(0, count).Select(i => New(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, i), size)).ToArray();
        EdgeForward = Make(m, "edges.{0}.forward_edge", d * d); NodeForward = Make(m, "edges.{0}.forward_node", d * d);
        EdgeBackward = Make(m, "edges.{0}.backward_edge", d * d); NodeBackward = Make(m, "edges.{0}.backward_node", d * d);
        EdgeUpdate = Make(m, "edges.{0}.update.weight", d * 3 * d); EdgeBias = Make(m, "edges.{0}.update.bias", d);
        NodeUpdate = Make(m + 1, "nodes.{0}.update.weight", d * 3 * d); NodeBias = Make(m + 1, "nodes.{0}.update.bias", d);
    }

    /// <summary>Every parameter array with a PyTorch-style name.</summary>
    public IEnumerable<(string Name, T[] Values)> Named()
    {
        for (int l = 0; l < EdgeForward.Length; l++)
        {
            yield return ($"edges.{l}.forward_edge", EdgeForward[l]);
            yield return ($"edges.{l}.forward_node", NodeForward[l]);
            yield return ($"edges.{l}.backward_edge", EdgeBackward[l]);
            yield return ($"edges.{l}.backward_node", NodeBackward[l]);
            yield return ($"edges.{l}.update.weight", EdgeUpdate[l]);
            yield return ($"edges.{l}.update.bias", EdgeBias[l]);
        }
        for (int k = 0; k < NodeUpdate.Length; k++)
        {
            yield return ($"nodes.{k}.update.weight", NodeUpdate[k]);
            yield return ($"nodes.{k}.update.bias", NodeBias[k]);
        }
    }

    /// <summary>LeCun-normal weights (std 1/√fan-in), zero biases, from <paramref name="normal"/> (a standard normal source).</summary>
    public void Initialize(Func<double> normal)
    {
        int d = Features;
        foreach (var (name, values) in Named())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) { Array.Clear(values); continue; }
            int fanIn = values.Length / d;
            for (int i = 0; i < values.Length; i++) values[i] = T.CreateChecked(normal() / Math.Sqrt(fanIn));
        }
    }
}

/// <summary>
/// The reference (interpreted) product layer: message passing along the input network's own edges whose messages
/// multiply a weight's features by its source neuron's features, in both directions, then residual neuron and edge
/// updates. Generic over the number type so that the same code is checked against finite differences in float64 and
/// serves as the oracle of fused float32 kernels. For one network, with σ = SiLU:
/// <code>
/// m_ℓ[j]   = (1/in_ℓ)  Σ_i (A_ℓ E_ℓ[j,i]) ⊙ (B_ℓ H_{ℓ−1}[i])        forward message into layer ℓ
/// m'_{ℓ−1}[i] = (1/out_ℓ) Σ_j (A'_ℓ E_ℓ[j,i]) ⊙ (B'_ℓ H_ℓ[j])     backward message into layer ℓ−1
/// H'_k[v]  = H_k[v] + σ(U_k [H_k[v]; m_k[v]; m'_k[v]] + u_k)         (m_0 = 0, m'_M = 0)
/// E'_ℓ[j,i] = E_ℓ[j,i] + σ(V_ℓ [E_ℓ[j,i]; H'_{ℓ−1}[i]; H'_ℓ[j]] + v_ℓ)
/// </code>
/// Every operation is per neuron or per edge with parameters shared within a layer, and messages are sums over
/// neighbours, so the layer commutes with permutations of every neuron layer; fixed (input and output) neurons are
/// told apart by their features, which the encoder gives positional components.
/// </summary>
public static class ProductLayerReference<T> where T : IFloatingPointIeee754<T>
{
    public static GraphFeatures<T> Forward(ProductLayerParameters<T> p, GraphFeatures<T> x)
    {
        Check(p, x);
        var y = new GraphFeatures<T>(x.Graph, x.Batch, x.Features);
        for (int n = 0; n < x.Batch; n++) Run(p, x, y, n, gradOutput: null, gradInput: null, gradParams: null);
        return y;
    }

    /// <summary>Accumulates the parameter gradients into <paramref name="gradParams"/> and returns the input gradient.</summary>
    public static GraphFeatures<T> Backward(ProductLayerParameters<T> p, GraphFeatures<T> x, GraphFeatures<T> gradOutput, ProductLayerParameters<T> gradParams)
    {
        Check(p, x);
        var y = new GraphFeatures<T>(x.Graph, x.Batch, x.Features);
        var gx = new GraphFeatures<T>(x.Graph, x.Batch, x.Features);
        for (int n = 0; n < x.Batch; n++) Run(p, x, y, n, gradOutput, gx, gradParams);
        return gx;
    }

    private static void Check(ProductLayerParameters<T> p, GraphFeatures<T> x)
    {
        if (p.Features != x.Features) throw new ArgumentException($"The layer has {p.Features} features, the input {x.Features}.");
        if (p.EdgeForward.Length != x.Graph.Depth) throw new ArgumentException($"The layer is for a graph of depth {p.EdgeForward.Length}, the input has depth {x.Graph.Depth}.");
    }

    private static T Silu(T z) => z / (T.One + T.Exp(-z));
    private static T SiluDerivative(T z)
    {
        T s = T.One / (T.One + T.Exp(-z));
        return s * (T.One + z * (T.One - s));
    }

    // y[o] (+)= Σ_i M[o, offset + i] x[i] for M [rows × cols]
    private static void MatVec(T[] m, int cols, int offset, ReadOnlySpan<T> x, Span<T> y)
    {
        for (int o = 0; o < y.Length; o++)
        {
            T s = T.Zero;
            for (int i = 0; i < x.Length; i++) s += m[o * cols + offset + i] * x[i];
            y[o] += s;
        }
    }

    // gx[i] += Σ_o M[o, offset + i] gy[o];  gM[o, offset + i] += gy[o] x[i]
    private static void MatVecBackward(T[] m, T[]? gm, int cols, int offset, ReadOnlySpan<T> x, ReadOnlySpan<T> gy, Span<T> gx)
    {
        for (int o = 0; o < gy.Length; o++)
            for (int i = 0; i < x.Length; i++)
            {
                gx[i] += m[o * cols + offset + i] * gy[o];
                if (gm != null) gm[o * cols + offset + i] += gy[o] * x[i];
            }
    }

    /// <summary>One network's forward and, when <paramref name="gradOutput"/> is given, its backward.</summary>
    private static void Run(ProductLayerParameters<T> p, GraphFeatures<T> x, GraphFeatures<T> y, int n, GraphFeatures<T>? gradOutput, GraphFeatures<T>? gradInput, ProductLayerParameters<T>? gradParams)
    {
        var g = x.Graph;
        int m = g.Depth, d = x.Features;
        Span<T> Node(T[][] nodes, int k, int v) => nodes[k].AsSpan(((n * g.Widths[k]) + v) * d, d);
        Span<T> Edge(T[][] edges, int l, int j, int i) => edges[l - 1].AsSpan((((n * g.Out(l)) + j) * g.In(l) + i) * d, d);
        var nodeGrad = gradOutput == null ? null : g.Widths.Select(w => new T[w * d]).ToArray();

        // Messages: fwd[k] into layer k (k ≥ 1), bwd[k] into layer k (k ≤ M − 1), [width_k × D].
        var fwd = new T[m + 1][];
        var bwd = new T[m + 1][];
        var ef = new T[d]; var eb = new T[d];
        for (int l = 1; l <= m; l++)
        {
            int outs = g.Out(l), ins = g.In(l);
            var hf = new T[ins * d]; var hb = new T[outs * d];
            for (int i = 0; i < ins; i++) MatVec(p.NodeForward[l - 1], d, 0, Node(x.Nodes, l - 1, i), hf.AsSpan(i * d, d));
            for (int j = 0; j < outs; j++) MatVec(p.NodeBackward[l - 1], d, 0, Node(x.Nodes, l, j), hb.AsSpan(j * d, d));
            fwd[l] = new T[outs * d];
            bwd[l - 1] = new T[ins * d];
            T invIn = T.One / T.CreateChecked(ins), invOut = T.One / T.CreateChecked(outs);
            for (int j = 0; j < outs; j++)
                for (int i = 0; i < ins; i++)
                {
                    Array.Clear(ef); Array.Clear(eb);
                    MatVec(p.EdgeForward[l - 1], d, 0, Edge(x.Edges, l, j, i), ef);
                    MatVec(p.EdgeBackward[l - 1], d, 0, Edge(x.Edges, l, j, i), eb);
                    for (int c = 0; c < d; c++)
                    {
                        fwd[l][j * d + c] += ef[c] * hf[i * d + c] * invIn;
                        bwd[l - 1][i * d + c] += eb[c] * hb[j * d + c] * invOut;
                    }
                }
        }

        // Node updates: z = U_k [H; m; m'] + u_k, H' = H + σ(z).
        var nodeIn = new T[m + 1][];
        var nodeZ = new T[m + 1][];
        for (int k = 0; k <= m; k++)
        {
            int w = g.Widths[k];
            nodeIn[k] = new T[w * 3 * d];
            nodeZ[k] = new T[w * d];
            for (int v = 0; v < w; v++)
            {
                var inp = nodeIn[k].AsSpan(v * 3 * d, 3 * d);
                Node(x.Nodes, k, v).CopyTo(inp);
                if (fwd[k] != null) fwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(d));
                if (bwd[k] != null) bwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(2 * d));
                var z = nodeZ[k].AsSpan(v * d, d);
                p.NodeBias[k].CopyTo(z);
                MatVec(p.NodeUpdate[k], 3 * d, 0, inp, z);
                var h = Node(y.Nodes, k, v);
                for (int c = 0; c < d; c++) h[c] = inp[c] + Silu(z[c]);
            }
        }

        // Edge updates: z = V_ℓ [E; H'_{ℓ−1}[i]; H'_ℓ[j]] + v_ℓ, E' = E + σ(z).
        var edgeIn = new T[3 * d];
        var edgeZ = new T[d];
        for (int l = 1; l <= m; l++)
            for (int j = 0; j < g.Out(l); j++)
                for (int i = 0; i < g.In(l); i++)
                {
                    Edge(x.Edges, l, j, i).CopyTo(edgeIn);
                    Node(y.Nodes, l - 1, i).CopyTo(edgeIn.AsSpan(d));
                    Node(y.Nodes, l, j).CopyTo(edgeIn.AsSpan(2 * d));
                    p.EdgeBias[l - 1].CopyTo(edgeZ, 0);
                    MatVec(p.EdgeUpdate[l - 1], 3 * d, 0, edgeIn, edgeZ);
                    var e = Edge(y.Edges, l, j, i);
                    for (int c = 0; c < d; c++) e[c] = edgeIn[c] + Silu(edgeZ[c]);
                    if (gradOutput == null) continue;
                    // Backward of the edge update (needs H', so it runs here, before H' is differentiated).
                    var ge = Edge(gradOutput.Edges, l, j, i);
                    var gz = new T[d];
                    for (int c = 0; c < d; c++) gz[c] = ge[c] * SiluDerivative(edgeZ[c]);
                    var gin = new T[3 * d];
                    MatVecBackward(p.EdgeUpdate[l - 1], gradParams!.EdgeUpdate[l - 1], 3 * d, 0, edgeIn, gz, gin);
                    for (int c = 0; c < d; c++) gradParams.EdgeBias[l - 1][c] += gz[c];
                    var gE = Edge(gradInput!.Edges, l, j, i);
                    for (int c = 0; c < d; c++) gE[c] += ge[c] + gin[c];
                    // Gradients of H'_{ℓ−1}[i] and H'_ℓ[j] go to the output gradient of the nodes (added below).
                    AddTo(NodeGradient(l - 1, i), gin.AsSpan(d, d));
                    AddTo(NodeGradient(l, j), gin.AsSpan(2 * d, d));
                }
        if (gradOutput == null) return;

        // Backward of the node updates: gH' = output gradient + what the edge updates sent.
        var gFwd = new T[m + 1][];
        var gBwd = new T[m + 1][];
        for (int k = 0; k <= m; k++)
        {
            int w = g.Widths[k];
            gFwd[k] = new T[w * d]; gBwd[k] = new T[w * d];
            for (int v = 0; v < w; v++)
            {
                var gh = new T[d];
                Node(gradOutput.Nodes, k, v).CopyTo(gh);
                AddTo(gh, NodeGradient(k, v));
                var z = nodeZ[k].AsSpan(v * d, d);
                var gz = new T[d];
                for (int c = 0; c < d; c++) gz[c] = gh[c] * SiluDerivative(z[c]);
                var gin = new T[3 * d];
                MatVecBackward(p.NodeUpdate[k], gradParams!.NodeUpdate[k], 3 * d, 0, nodeIn[k].AsSpan(v * 3 * d, 3 * d), gz, gin);
                for (int c = 0; c < d; c++) gradParams.NodeBias[k][c] += gz[c];
                var gH = Node(gradInput!.Nodes, k, v);
                for (int c = 0; c < d; c++) gH[c] += gh[c] + gin[c];
                gin.AsSpan(d, d).CopyTo(gFwd[k].AsSpan(v * d, d));
                gin.AsSpan(2 * d, d).CopyTo(gBwd[k].AsSpan(v * d, d));
            }
        }

        // Backward of the messages.
        for (int l = 1; l <= m; l++)
        {
            int outs = g.Out(l), ins = g.In(l);
            var hf = new T[ins * d]; var hb = new T[outs * d];
            for (int i = 0; i < ins; i++) MatVec(p.NodeForward[l - 1], d, 0, Node(x.Nodes, l - 1, i), hf.AsSpan(i * d, d));
            for (int j = 0; j < outs; j++) MatVec(p.NodeBackward[l - 1], d, 0, Node(x.Nodes, l, j), hb.AsSpan(j * d, d));
            var ghf = new T[ins * d]; var ghb = new T[outs * d];
            T invIn = T.One / T.CreateChecked(ins), invOut = T.One / T.CreateChecked(outs);
            var gef = new T[d]; var geb = new T[d];
            for (int j = 0; j < outs; j++)
                for (int i = 0; i < ins; i++)
                {
                    var edge = Edge(x.Edges, l, j, i);
                    Array.Clear(ef); Array.Clear(eb);
                    MatVec(p.EdgeForward[l - 1], d, 0, edge, ef);
                    MatVec(p.EdgeBackward[l - 1], d, 0, edge, eb);
                    for (int c = 0; c < d; c++)
                    {
                        T gm = gFwd[l][j * d + c] * invIn;     // ∂/∂(ef ⊙ hf) of the forward message
                        T gmb = gBwd[l - 1][i * d + c] * invOut; // ∂/∂(eb ⊙ hb) of the backward message
                        gef[c] = gm * hf[i * d + c];
                        ghf[i * d + c] += gm * ef[c];
                        geb[c] = gmb * hb[j * d + c];
                        ghb[j * d + c] += gmb * eb[c];
                    }
                    var gE = Edge(gradInput!.Edges, l, j, i);
                    MatVecBackward(p.EdgeForward[l - 1], gradParams!.EdgeForward[l - 1], d, 0, edge, gef, gE);
                    MatVecBackward(p.EdgeBackward[l - 1], gradParams.EdgeBackward[l - 1], d, 0, edge, geb, gE);
                }
            for (int i = 0; i < ins; i++)
                MatVecBackward(p.NodeForward[l - 1], gradParams!.NodeForward[l - 1], d, 0, Node(x.Nodes, l - 1, i), ghf.AsSpan(i * d, d), Node(gradInput!.Nodes, l - 1, i));
            for (int j = 0; j < outs; j++)
                MatVecBackward(p.NodeBackward[l - 1], gradParams!.NodeBackward[l - 1], d, 0, Node(x.Nodes, l, j), ghb.AsSpan(j * d, d), Node(gradInput!.Nodes, l, j));
        }

        // The gradient the edge updates send to H'_k[v].
        Span<T> NodeGradient(int k, int v) => nodeGrad![k].AsSpan(v * d, d);
    }

    private static void AddTo(Span<T> target, ReadOnlySpan<T> add) { for (int i = 0; i < target.Length; i++) target[i] += add[i]; }
}
