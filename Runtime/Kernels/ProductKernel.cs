using System;
using System.Threading.Tasks;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// The fused float32 CPU kernel of the product layer: the same map as <see cref="ProductLayerReference{T}"/> (messages
/// m_ℓ[j] = (1/in_ℓ) Σ_i (A_ℓ E_ℓ[j,i]) ⊙ (B_ℓ H_{ℓ−1}[i]) forward and m'_{ℓ−1}[i] = (1/out_ℓ) Σ_j (A'_ℓ E_ℓ[j,i]) ⊙ (B'_ℓ H_ℓ[j])
/// backward along the input network's edges, residual SiLU node and edge updates), scheduled for speed. Generated product
/// models derive from it and override <see cref="ForwardNetwork"/> and <see cref="BackwardNetwork"/> with fused passes
/// printed for their architecture and feature count (docs/generator.md, "Product models"; they read the parameters
/// transposed through <see cref="Prepare"/> and agree with this class to the last bits); this base class's loops are the
/// interpreted kernel, for architectures known only at run time and for a generated kernel made for another feature count.
/// </summary>
/// <remarks>
/// <para>Schedule per network and weight layer ℓ (the input network's own forward pass is the model):</para>
/// <list type="number">
/// <item><b>messages</b> (<see cref="Messages"/>): the node projections B_ℓ H_{ℓ−1}[i] and B'_ℓ H_ℓ[j] once per node; then one
/// pass over the edges E_ℓ[j, i] that computes A_ℓ E and A'_ℓ E once per edge and accumulates both directions' messages;</item>
/// <item><b>node updates</b> (<see cref="NodeUpdate"/>): H' = H + σ(U [H; m; m'] + u) per node;</item>
/// <item><b>edge updates</b> (<see cref="EdgeUpdate"/>): V [E; H'_src; H'_dst] + v is split into V_E E per edge plus the
/// per-node terms V_src H'_src and V_dst H'_dst + v, computed once per node (not once per edge), so the pass over the
/// edges is one D×D product per edge.</item>
/// </list>
/// <para>Backward recomputes the network's messages and node updates (nothing of batch size is kept between the
/// passes), then runs the same passes transposed: the edge pass sums its pre-activation gradients per node, so the
/// per-node weight gradients and input gradients are again once per node. Parameter gradients are accumulated per fixed
/// chunk of <see cref="ChunkNetworks"/> networks and the chunks summed in order (in double): bitwise the same for any
/// thread count. Inner products and row updates are <see cref="DenseKernels.Dot"/> and <see cref="DenseKernels.Axpy"/>
/// (8-lane SIMD with a scalar tail).</para>
/// </remarks>
public class ProductKernel
{
    public const int ChunkNetworks = 4;

    public NeuralGraph Graph { get; }
    public int Features { get; }

    public ProductKernel(NeuralGraph graph, int features)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (features <= 0) throw new ArgumentOutOfRangeException(nameof(features), features, "A product layer needs at least one feature.");
        Graph = graph; Features = features;
    }

    /// <summary>Whether the layer schedule is unrolled by the generator (false: this class's loops).</summary>
    public virtual bool IsGenerated => false;

    /// <summary>The feature count of the generated fused passes this kernel runs (0: the generic passes).</summary>
    public virtual int FusedFeatures => 0;

    /// <summary>y = the layer applied to x (every network; y overwritten).</summary>
    public void Forward(ProductLayerParameters<float> p, GraphFeatures<float> x, GraphFeatures<float> y)
    {
        Check(p, x); Check(x, y, nameof(y));
        object? prepared = Prepare(p);
        Parallel.For(0, x.Batch, () => new Pass(this, p, x) { Prepared = prepared }, (n, _, s) =>
        {
            s.Network = n; s.Y = y;
            ForwardNetwork(s);
            return s;
        }, _ => { });
    }

    /// <summary>Input gradient into <paramref name="gx"/> (overwritten); parameter gradients added to <paramref name="grads"/>.</summary>
    public void Backward(ProductLayerParameters<float> p, GraphFeatures<float> x, GraphFeatures<float> gy, GraphFeatures<float> gx, ProductLayerParameters<float> grads)
    {
        Check(p, x); Check(x, gy, nameof(gy)); Check(x, gx, nameof(gx));
        if (grads.Features != Features || grads.EdgeForward.Length != Graph.Depth) throw new ArgumentException("The gradient buffers are for another layer.", nameof(grads));
        int chunks = (x.Batch + ChunkNetworks - 1) / ChunkNetworks;
        var partial = new ProductLayerParameters<float>[chunks];
        object? prepared = Prepare(p);
        Parallel.For(0, chunks, () => new Pass(this, p, x) { Prepared = prepared }, (c, _, s) =>
        {
            var g = partial[c] = new ProductLayerParameters<float>(Graph, Features);
            s.Grads = g; s.GY = gy; s.GX = gx; s.Y = null;
            for (int n = c * ChunkNetworks; n < Math.Min(x.Batch, (c + 1) * ChunkNetworks); n++)
            {
                s.Network = n;
                BackwardNetwork(s);
            }
            return s;
        }, _ => { });
        var targets = Arrays(grads);
        var parts = System.Array.ConvertAll(partial, Arrays);
        for (int t = 0; t < targets.Length; t++)
        {
            var target = targets[t];
            for (int i = 0; i < target.Length; i++)
            {
                double sum = 0;
                for (int c = 0; c < chunks; c++) sum += parts[c][t][i];
                target[i] += (float)sum;
            }
        }
    }

    private static float[][] Arrays(ProductLayerParameters<float> p)
    {
        var list = new System.Collections.Generic.List<float[]>();
        foreach (var (_, v) in p.Named()) list.Add(v);
        return list.ToArray();
    }

    private void Check(ProductLayerParameters<float> p, GraphFeatures<float> x)
    {
        if (p.Features != Features || x.Features != Features) throw new ArgumentException($"The kernel has {Features} features, the parameters {p.Features} and the input {x.Features}.");
        if (p.EdgeForward.Length != Graph.Depth || x.Graph.Depth != Graph.Depth) throw new ArgumentException($"The kernel is for a graph of depth {Graph.Depth}.");
        for (int k = 0; k <= Graph.Depth; k++)
            if (x.Graph.Widths[k] != Graph.Widths[k]) throw new ArgumentException($"Neuron layer {k} has width {x.Graph.Widths[k]}; the kernel is for {Graph.Widths[k]}.");
    }

    private static void Check(GraphFeatures<float> x, GraphFeatures<float> other, string name)
    {
        if (other.Batch != x.Batch || other.Features != x.Features || other.Graph.Depth != x.Graph.Depth)
            throw new ArgumentException($"'{name}' must have the input's batch, features and graph.", name);
    }

    /// <summary>Called once per <see cref="Forward"/> and <see cref="Backward"/> before the networks run: whatever the
    /// per-network passes read of the parameters in another layout (the generated kernels: <see cref="ProductTransposes"/>).
    /// Handed to every pass as <see cref="Pass.Prepared"/>.</summary>
    protected virtual object? Prepare(ProductLayerParameters<float> p) => null;

    /// <summary>One network's forward: messages of every weight layer, node updates of every neuron layer, edge updates.</summary>
    protected virtual void ForwardNetwork(Pass s)
    {
        int m = Graph.Depth;
        for (int l = 1; l <= m; l++) Messages(s, l, Graph.Out(l), Graph.In(l));
        for (int k = 0; k <= m; k++) NodeUpdate(s, k, Graph.Widths[k]);
        for (int l = 1; l <= m; l++) EdgeUpdate(s, l, Graph.Out(l), Graph.In(l));
    }

    /// <summary>One network's backward: the forward's messages and node updates again, then the passes transposed.</summary>
    protected virtual void BackwardNetwork(Pass s)
    {
        int m = Graph.Depth;
        for (int l = 1; l <= m; l++) Messages(s, l, Graph.Out(l), Graph.In(l));
        for (int k = 0; k <= m; k++) NodeUpdate(s, k, Graph.Widths[k]);
        for (int k = 0; k <= m; k++) StartNodeGradient(s, k, Graph.Widths[k]);
        for (int l = 1; l <= m; l++) EdgeUpdateBackward(s, l, Graph.Out(l), Graph.In(l));
        for (int k = 0; k <= m; k++) NodeUpdateBackward(s, k, Graph.Widths[k]);
        for (int l = 1; l <= m; l++) MessagesBackward(s, l, Graph.Out(l), Graph.In(l));
    }

    /// <summary>The state of one thread's pass over networks: inputs, outputs and per-network scratch of every layer.</summary>
    protected sealed class Pass
    {
        internal readonly ProductLayerParameters<float> P;
        internal readonly GraphFeatures<float> X;
        internal GraphFeatures<float>? Y, GY, GX;
        internal ProductLayerParameters<float>? Grads;
        internal int Network;
        internal readonly int D;
        // Per neuron layer k, [width_k × D]: forward and backward messages into it, node pre-activations, updated nodes,
        // gradient of the updated nodes, gradients of the messages.
        internal readonly float[][] Fwd, Bwd, NodeZ, NodeOut, GNodeOut, GFwd, GBwd;
        // Per node of the widest layer: projections and their gradients; per edge row: message factors.
        internal readonly float[] ProjIn, ProjOut, GProjIn, GProjOut, RowF, RowB, Inp, GInp, Z, Gz, Ge, Gb;

        internal Pass(ProductKernel k, ProductLayerParameters<float> p, GraphFeatures<float> x)
        {
            P = p; X = x; D = k.Features;
            var g = k.Graph;
            int widest = 0;
            foreach (int w in g.Widths) widest = Math.Max(widest, w);
            float[][] PerLayer() { var a = new float[g.Widths.Count][]; for (int i = 0; i < a.Length; i++) a[i] = new float[g.Widths[i] * D]; return a; }
            Fwd = PerLayer(); Bwd = PerLayer(); NodeZ = PerLayer(); NodeOut = PerLayer(); GNodeOut = PerLayer(); GFwd = PerLayer(); GBwd = PerLayer();
            ProjIn = new float[widest * D]; ProjOut = new float[widest * D]; GProjIn = new float[widest * D]; GProjOut = new float[widest * D];
            RowF = new float[widest * D]; RowB = new float[widest * D];
            Inp = new float[3 * D]; GInp = new float[3 * D]; Z = new float[D]; Gz = new float[D]; Ge = new float[D]; Gb = new float[D];
        }

        /// <summary>The layer's parameters, input features, output (forward only), output gradient, input gradient
        /// and parameter gradients (backward only: this chunk's partial sums), and the network this pass is on.</summary>
        public ProductLayerParameters<float> Parameters => P;
        public GraphFeatures<float> Input => X;
        public GraphFeatures<float>? Output => Y;
        public GraphFeatures<float>? OutputGradient => GY;
        public GraphFeatures<float>? InputGradient => GX;
        public ProductLayerParameters<float>? ParameterGradients => Grads;
        public int NetworkIndex => Network;
        /// <summary>What <see cref="Prepare"/> returned for this call (shared by every thread, read only).</summary>
        public object? Prepared { get; internal set; }
        /// <summary>Per-thread scratch a derived kernel keeps between the networks of one thread (null at first).</summary>
        public object? Scratch { get; set; }

        internal Span<float> Node(float[][] nodes, int k, int width, int v) => nodes[k].AsSpan((Network * width + v) * D, D);
        internal Span<float> Edge(float[][] edges, int l, int outs, int ins, int j, int i) => edges[l - 1].AsSpan(((Network * outs + j) * ins + i) * D, D);
    }

    // y[o] = Σ_i M[o, offset + i] x[i], M [rows × cols] row-major
    private static void MatVec(float[] m, int cols, int offset, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int o = 0; o < y.Length; o++) y[o] = DenseKernels.Dot(m.AsSpan(o * cols + offset, x.Length), x);
    }

    // gx[i] += Σ_o M[o, offset + i] gy[o]
    private static void MatTVecAdd(float[] m, int cols, int offset, ReadOnlySpan<float> gy, Span<float> gx)
    {
        for (int o = 0; o < gy.Length; o++) DenseKernels.Axpy(gy[o], m.AsSpan(o * cols + offset, gx.Length), gx);
    }

    // gM[o, offset + i] += gy[o] x[i]
    private static void OuterAdd(float[] gm, int cols, int offset, ReadOnlySpan<float> gy, ReadOnlySpan<float> x)
    {
        for (int o = 0; o < gy.Length; o++) DenseKernels.Axpy(gy[o], x, gm.AsSpan(o * cols + offset, x.Length));
    }

    private static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    /// <summary>Forward message into layer ℓ and backward message into layer ℓ−1 (one pass over W_ℓ's edges).</summary>
    protected void Messages(Pass s, int l, int outs, int ins)
    {
        int d = s.D;
        var p = s.P;
        float[] a = p.EdgeForward[l - 1], b = p.NodeForward[l - 1], ab = p.EdgeBackward[l - 1], bb = p.NodeBackward[l - 1];
        var fwd = s.Fwd[l].AsSpan(0, outs * d);
        var bwd = s.Bwd[l - 1].AsSpan(0, ins * d);
        bwd.Clear();
        for (int i = 0; i < ins; i++) MatVec(b, d, 0, s.Node(s.X.Nodes, l - 1, ins, i), s.ProjIn.AsSpan(i * d, d));
        for (int j = 0; j < outs; j++) MatVec(bb, d, 0, s.Node(s.X.Nodes, l, outs, j), s.ProjOut.AsSpan(j * d, d));
        float invIn = 1f / ins, invOut = 1f / outs;
        for (int j = 0; j < outs; j++)
        {
            var mj = fwd.Slice(j * d, d);
            mj.Clear();
            var hb = s.ProjOut.AsSpan(j * d, d);
            for (int i = 0; i < ins; i++)
            {
                var e = s.Edge(s.X.Edges, l, outs, ins, j, i);
                var ef = s.RowF.AsSpan(0, d);
                var eb = s.RowB.AsSpan(0, d);
                MatVec(a, d, 0, e, ef);
                MatVec(ab, d, 0, e, eb);
                var hf = s.ProjIn.AsSpan(i * d, d);
                var bi = bwd.Slice(i * d, d);
                for (int c = 0; c < d; c++) { mj[c] += ef[c] * hf[c]; bi[c] += eb[c] * hb[c]; }
            }
            for (int c = 0; c < d; c++) mj[c] *= invIn;
        }
        for (int c = 0; c < bwd.Length; c++) bwd[c] *= invOut;
    }

    /// <summary>H'_k = H_k + σ(U_k [H_k; m_k; m'_k] + u_k) for every node of layer k (m_0 = 0, m'_M = 0).</summary>
    protected void NodeUpdate(Pass s, int k, int width)
    {
        int d = s.D, m = Graph.Depth;
        float[] u = s.P.NodeUpdate[k], ub = s.P.NodeBias[k];
        for (int v = 0; v < width; v++)
        {
            var inp = s.Inp.AsSpan();
            var h = s.Node(s.X.Nodes, k, width, v);
            h.CopyTo(inp);
            if (k > 0) s.Fwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(d)); else inp.Slice(d, d).Clear();
            if (k < m) s.Bwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(2 * d)); else inp.Slice(2 * d, d).Clear();
            var z = s.NodeZ[k].AsSpan(v * d, d);
            MatVec(u, 3 * d, 0, inp, z);
            var o = s.NodeOut[k].AsSpan(v * d, d);
            for (int c = 0; c < d; c++)
            {
                z[c] += ub[c];
                o[c] = h[c] + z[c] * Sigmoid(z[c]);
            }
            if (s.Y != null) o.CopyTo(s.Node(s.Y.Nodes, k, width, v));
        }
    }

    /// <summary>E'_ℓ = E_ℓ + σ(V_E E + V_src H'_{ℓ−1}[i] + V_dst H'_ℓ[j] + v) for every edge of W_ℓ (needs the node updates).</summary>
    protected void EdgeUpdate(Pass s, int l, int outs, int ins)
    {
        int d = s.D;
        float[] vw = s.P.EdgeUpdate[l - 1];
        EdgeProjections(s, l, outs, ins);
        var z = s.Z.AsSpan();
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                var e = s.Edge(s.X.Edges, l, outs, ins, j, i);
                MatVec(vw, 3 * d, 0, e, z);
                var ps = s.ProjIn.AsSpan(i * d, d);
                var pd = s.ProjOut.AsSpan(j * d, d);
                var y = s.Edge(s.Y!.Edges, l, outs, ins, j, i);
                for (int c = 0; c < d; c++)
                {
                    float t = z[c] + ps[c] + pd[c];
                    y[c] = e[c] + t * Sigmoid(t);
                }
            }
    }

    // ProjIn[i] = V_src H'_{ℓ−1}[i]; ProjOut[j] = V_dst H'_ℓ[j] + v.
    private static void EdgeProjections(Pass s, int l, int outs, int ins)
    {
        int d = s.D;
        float[] vw = s.P.EdgeUpdate[l - 1], vb = s.P.EdgeBias[l - 1];
        for (int i = 0; i < ins; i++) MatVec(vw, 3 * d, d, s.NodeOut[l - 1].AsSpan(i * d, d), s.ProjIn.AsSpan(i * d, d));
        for (int j = 0; j < outs; j++)
        {
            var pd = s.ProjOut.AsSpan(j * d, d);
            MatVec(vw, 3 * d, 2 * d, s.NodeOut[l].AsSpan(j * d, d), pd);
            for (int c = 0; c < d; c++) pd[c] += vb[c];
        }
    }

    /// <summary>The gradient of the updated nodes starts as the output gradient (the edge updates add theirs).</summary>
    protected void StartNodeGradient(Pass s, int k, int width)
    {
        int d = s.D;
        s.GY!.Nodes[k].AsSpan(s.Network * width * d, width * d).CopyTo(s.GNodeOut[k]);
    }

    /// <summary>Backward of the edge updates of W_ℓ: input gradient of the edges (overwritten), V and v gradients, and the updated nodes' gradients.</summary>
    protected void EdgeUpdateBackward(Pass s, int l, int outs, int ins)
    {
        int d = s.D;
        float[] vw = s.P.EdgeUpdate[l - 1];
        float[] gvw = s.Grads!.EdgeUpdate[l - 1], gvb = s.Grads.EdgeBias[l - 1];
        EdgeProjections(s, l, outs, ins);
        var gps = s.GProjIn.AsSpan(0, ins * d);
        var gpd = s.GProjOut.AsSpan(0, outs * d);
        gps.Clear(); gpd.Clear();
        var z = s.Z.AsSpan();
        var gz = s.Gz.AsSpan();
        for (int j = 0; j < outs; j++)
            for (int i = 0; i < ins; i++)
            {
                var e = s.Edge(s.X.Edges, l, outs, ins, j, i);
                MatVec(vw, 3 * d, 0, e, z);
                var ps = s.ProjIn.AsSpan(i * d, d);
                var pd = s.ProjOut.AsSpan(j * d, d);
                var ge = s.Edge(s.GY!.Edges, l, outs, ins, j, i);
                var gx = s.Edge(s.GX!.Edges, l, outs, ins, j, i);
                var gsi = gps.Slice(i * d, d);
                var gdj = gpd.Slice(j * d, d);
                for (int c = 0; c < d; c++)
                {
                    float t = z[c] + ps[c] + pd[c];
                    float sg = Sigmoid(t);
                    gz[c] = ge[c] * (sg * (1f + t * (1f - sg)));
                    gsi[c] += gz[c];
                    gdj[c] += gz[c];
                }
                ge.CopyTo(gx);
                MatTVecAdd(vw, 3 * d, 0, gz, gx);
                OuterAdd(gvw, 3 * d, 0, gz, e);
            }
        for (int i = 0; i < ins; i++)
        {
            var g = gps.Slice(i * d, d);
            OuterAdd(gvw, 3 * d, d, g, s.NodeOut[l - 1].AsSpan(i * d, d));
            MatTVecAdd(vw, 3 * d, d, g, s.GNodeOut[l - 1].AsSpan(i * d, d));
        }
        for (int j = 0; j < outs; j++)
        {
            var g = gpd.Slice(j * d, d);
            for (int c = 0; c < d; c++) gvb[c] += g[c];
            OuterAdd(gvw, 3 * d, 2 * d, g, s.NodeOut[l].AsSpan(j * d, d));
            MatTVecAdd(vw, 3 * d, 2 * d, g, s.GNodeOut[l].AsSpan(j * d, d));
        }
    }

    /// <summary>Backward of the node updates of layer k: input gradient of the nodes (overwritten), U and u gradients, the messages' gradients.</summary>
    protected void NodeUpdateBackward(Pass s, int k, int width)
    {
        int d = s.D, m = Graph.Depth;
        float[] u = s.P.NodeUpdate[k];
        float[] gu = s.Grads!.NodeUpdate[k], gub = s.Grads.NodeBias[k];
        var gz = s.Gz.AsSpan();
        for (int v = 0; v < width; v++)
        {
            var inp = s.Inp.AsSpan();
            var h = s.Node(s.X.Nodes, k, width, v);
            h.CopyTo(inp);
            if (k > 0) s.Fwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(d)); else inp.Slice(d, d).Clear();
            if (k < m) s.Bwd[k].AsSpan(v * d, d).CopyTo(inp.Slice(2 * d)); else inp.Slice(2 * d, d).Clear();
            var z = s.NodeZ[k].AsSpan(v * d, d);
            var gh = s.GNodeOut[k].AsSpan(v * d, d);
            for (int c = 0; c < d; c++)
            {
                float sg = Sigmoid(z[c]);
                gz[c] = gh[c] * (sg * (1f + z[c] * (1f - sg)));
                gub[c] += gz[c];
            }
            OuterAdd(gu, 3 * d, 0, gz, inp);
            var gin = s.GInp.AsSpan();
            gin.Clear();
            MatTVecAdd(u, 3 * d, 0, gz, gin);
            var gx = s.Node(s.GX!.Nodes, k, width, v);
            for (int c = 0; c < d; c++) gx[c] = gh[c] + gin[c];
            gin.Slice(d, d).CopyTo(s.GFwd[k].AsSpan(v * d, d));
            gin.Slice(2 * d, d).CopyTo(s.GBwd[k].AsSpan(v * d, d));
        }
    }

    /// <summary>Backward of the messages of W_ℓ: adds to the edges' and nodes' input gradients; A, A', B, B' gradients.</summary>
    protected void MessagesBackward(Pass s, int l, int outs, int ins)
    {
        int d = s.D;
        var p = s.P;
        var g = s.Grads!;
        float[] a = p.EdgeForward[l - 1], b = p.NodeForward[l - 1], ab = p.EdgeBackward[l - 1], bb = p.NodeBackward[l - 1];
        for (int i = 0; i < ins; i++) MatVec(b, d, 0, s.Node(s.X.Nodes, l - 1, ins, i), s.ProjIn.AsSpan(i * d, d));
        for (int j = 0; j < outs; j++) MatVec(bb, d, 0, s.Node(s.X.Nodes, l, outs, j), s.ProjOut.AsSpan(j * d, d));
        var ghf = s.GProjIn.AsSpan(0, ins * d);
        var ghb = s.GProjOut.AsSpan(0, outs * d);
        ghf.Clear(); ghb.Clear();
        float invIn = 1f / ins, invOut = 1f / outs;
        var gef = s.Ge.AsSpan();
        var geb = s.Gb.AsSpan();
        for (int j = 0; j < outs; j++)
        {
            var gm = s.GFwd[l].AsSpan(j * d, d);
            var hb = s.ProjOut.AsSpan(j * d, d);
            var ghbj = ghb.Slice(j * d, d);
            for (int i = 0; i < ins; i++)
            {
                var e = s.Edge(s.X.Edges, l, outs, ins, j, i);
                var ef = s.RowF.AsSpan(0, d);
                var eb = s.RowB.AsSpan(0, d);
                MatVec(a, d, 0, e, ef);
                MatVec(ab, d, 0, e, eb);
                var hf = s.ProjIn.AsSpan(i * d, d);
                var gmb = s.GBwd[l - 1].AsSpan(i * d, d);
                var ghfi = ghf.Slice(i * d, d);
                for (int c = 0; c < d; c++)
                {
                    float f = gm[c] * invIn, r = gmb[c] * invOut;
                    gef[c] = f * hf[c];
                    ghfi[c] += f * ef[c];
                    geb[c] = r * hb[c];
                    ghbj[c] += r * eb[c];
                }
                var gx = s.Edge(s.GX!.Edges, l, outs, ins, j, i);
                MatTVecAdd(a, d, 0, gef, gx);
                MatTVecAdd(ab, d, 0, geb, gx);
                OuterAdd(g.EdgeForward[l - 1], d, 0, gef, e);
                OuterAdd(g.EdgeBackward[l - 1], d, 0, geb, e);
            }
        }
        for (int i = 0; i < ins; i++)
        {
            var h = s.Node(s.X.Nodes, l - 1, ins, i);
            OuterAdd(g.NodeForward[l - 1], d, 0, ghf.Slice(i * d, d), h);
            MatTVecAdd(b, d, 0, ghf.Slice(i * d, d), s.Node(s.GX!.Nodes, l - 1, ins, i));
        }
        for (int j = 0; j < outs; j++)
        {
            var h = s.Node(s.X.Nodes, l, outs, j);
            OuterAdd(g.NodeBackward[l - 1], d, 0, ghb.Slice(j * d, d), h);
            MatTVecAdd(bb, d, 0, ghb.Slice(j * d, d), s.Node(s.GX!.Nodes, l, outs, j));
        }
    }
}
