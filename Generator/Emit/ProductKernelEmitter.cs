using System.Globalization;
using System.Linq;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Prints a [ProductModel]'s fused product-layer passes for its architecture: one method per weight layer (messages,
    /// edge update, their backward) and per neuron layer (node update, its backward), every width and the feature count D
    /// a constant. The per-edge D×D products of a weight layer run as blocked matrix products over all of its edges (the
    /// runtime's <c>ProductSimd.Gemm</c>: register-blocked 8-lane SIMD, bitwise the per-edge row combinations), the edge
    /// SiLU and its derivative as one vectorized pass (<c>ProductSimd.EdgeSilu</c>, <c>EdgeSiluBackward</c>); the per-node
    /// products are the same blocked products over all of a layer's nodes, with the layer's maps pre-transposed once per call
    /// (<c>ProductTransposes</c>). The forward keeps [A e | A' e] per edge, so the backward does not compute them twice,
    /// and every weight gradient is one product over all of a layer's edges or nodes (no per-edge outer products). A
    /// kernel made for another feature count runs the generic schedule (the runtime's <c>ProductKernel</c> passes, widths
    /// constant).
    /// </summary>
    public static class ProductKernelEmitter
    {
        private const string Simd = "global::LayerCompiler.Runtime.Kernels.ProductSimd";
        public const string Transposes = "global::LayerCompiler.Runtime.Kernels.ProductTransposes";
        public const string Scratch = "global::LayerCompiler.Runtime.Kernels.ProductScratch";
        private const string Features = "global::LayerCompiler.Runtime.Kernels.GraphFeatures<float>";
        private const string Params = "global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float>";

        private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

        /// <summary>The members of the nested kernel class: the fused per-network passes (after the constructor).</summary>
        public static void EmitFused(IndentedWriter w, int[] widths, int d, string pass)
        {
            int m = widths.Length - 1;
            w.Line($"/// <summary>The declared feature count: the fused passes below are specialized to it.</summary>");
            w.Line($"public const int D = {I(d)};");
            w.Line();
            w.Line($"protected override object? Prepare({Params} p) => Features == D ? new {Transposes}(p) : null;");
            w.Line();
            using (w.Block($"protected override void ForwardNetwork({pass} s)"))
            {
                w.Line($"if (!(s.Prepared is {Transposes} pt)) {{ GenericForward(s); return; }}");
                w.Line($"var t = s.Scratch as {Scratch} ?? (({Scratch})(s.Scratch = new {Scratch}(Graph, D)));");
                w.Line("var p = s.Parameters; var x = s.Input; var y = s.Output!; int n = s.NetworkIndex;");
                for (int l = 1; l <= m; l++) w.Line($"Messages{l}(pt, t, x, n);");
                for (int k = 0; k <= m; k++) w.Line($"Node{k}(p, pt, t, x, n, y);");
                for (int l = 1; l <= m; l++) w.Line($"Edge{l}(p, pt, t, x, n, y);");
            }
            w.Line();
            using (w.Block($"protected override void BackwardNetwork({pass} s)"))
            {
                w.Line($"if (!(s.Prepared is {Transposes} pt)) {{ GenericBackward(s); return; }}");
                w.Line($"var t = s.Scratch as {Scratch} ?? (({Scratch})(s.Scratch = new {Scratch}(Graph, D)));");
                w.Line("var p = s.Parameters; var g = s.ParameterGradients!; var x = s.Input; var gy = s.OutputGradient!; var gx = s.InputGradient!; int n = s.NetworkIndex;");
                for (int l = 1; l <= m; l++) w.Line($"Messages{l}(pt, t, x, n);");
                for (int k = 0; k <= m; k++) w.Line($"Node{k}(p, pt, t, x, n, null);");
                for (int k = 0; k <= m; k++) w.Line($"global::System.MemoryExtensions.AsSpan(gy.Nodes[{k}], n * {I(widths[k] * d)}, {I(widths[k] * d)}).CopyTo(t.GNodeOut[{k}]);");
                for (int l = 1; l <= m; l++) w.Line($"EdgeBackward{l}(p, pt, g, t, x, gy, gx, n);");
                for (int k = 0; k <= m; k++) w.Line($"NodeBackward{k}(p, g, t, x, gx, n);");
                for (int l = 1; l <= m; l++) w.Line($"MessagesBackward{l}(p, pt, g, t, x, gx, n);");
            }
            for (int l = 1; l <= m; l++) { w.Line(); Messages(w, l, widths[l], widths[l - 1]); }
            for (int k = 0; k <= m; k++) { w.Line(); Node(w, k, widths[k], k > 0, k < m); }
            for (int l = 1; l <= m; l++) { w.Line(); Edge(w, l, widths[l], widths[l - 1]); }
            for (int l = 1; l <= m; l++) { w.Line(); EdgeBackward(w, l, widths[l], widths[l - 1]); }
            for (int k = 0; k <= m; k++) { w.Line(); NodeBackward(w, k, widths[k], k > 0, k < m); }
            for (int l = 1; l <= m; l++) { w.Line(); MessagesBackward(w, l, widths[l], widths[l - 1]); }
        }

        private static string Fill(string template, params (string Key, int Value)[] values)
        {
            foreach (var (key, value) in values) template = template.Replace("{" + key + "}", I(value));
            return template.Replace("PS.", Simd + ".");
        }

        private static void Messages(IndentedWriter w, int l, int outs, int ins) => w.Lines(Fill("""
            // W_{L} ({O}×{I}): the forward message into neuron layer {L} and the backward message into layer {P}; keeps B h, B' h and [A e | A' e].
            private static void Messages{L}(global::LayerCompiler.Runtime.Kernels.ProductTransposes pt, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, int n)
            {
                const int O = {O}, I = {I};
                global::System.ReadOnlySpan<float> hin = global::System.MemoryExtensions.AsSpan(x.Nodes[{P}], n * I * D, I * D), hout = global::System.MemoryExtensions.AsSpan(x.Nodes[{L}], n * O * D, O * D);
                global::System.ReadOnlySpan<float> edges = global::System.MemoryExtensions.AsSpan(x.Edges[{P}], n * O * I * D, O * I * D);
                float[] b = pt.NodeForward[{P}], bb = pt.NodeBackward[{P}];
                global::System.Span<float> hf = t.ProjIn[{P}], hb = t.ProjOut[{P}], efb = t.EdgeFB[{P}], fwd = t.Fwd[{L}], bwd = t.Bwd[{P}];
                hf.Clear(); hb.Clear(); efb.Clear(); fwd.Clear(); bwd.Clear();
                // B h and B' h of every node: blocked products over the layer's nodes.
                PS.Gemm(hin, D, 1, b, D, hf, D, I, D, D);
                PS.Gemm(hout, D, 1, bb, D, hb, D, O, D, D);
                // [A e | A' e] of every edge: one blocked product [O·I × D] · [Aᵀ | A'ᵀ].
                PS.Gemm(edges, D, 1, pt.EdgeMessages[{P}], 2 * D, efb, 2 * D, O * I, 2 * D, D);
                for (int j = 0; j < O; j++)
                {
                    var mj = fwd.Slice(j * D, D);
                    var hbj = hb.Slice(j * D, D);
                    for (int i = 0; i < I; i++)
                    {
                        int at = (j * I + i) * 2 * D;
                        PS.MulAdd(efb.Slice(at, D), hf.Slice(i * D, D), mj);
                        PS.MulAdd(efb.Slice(at + D, D), hbj, bwd.Slice(i * D, D));
                    }
                    PS.Scale(mj, 1f / I);
                }
                PS.Scale(bwd, 1f / O);
            }
            """, ("L", l), ("P", l - 1), ("O", outs), ("I", ins)));

        private static void Node(IndentedWriter w, int k, int width, bool fwd, bool bwd)
        {
            w.Lines(Fill("""
                // Neuron layer {K} ({W} nodes): H' = H + silu(U [H; m; m'] + u){N}.
                private static void Node{K}(global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> p, global::LayerCompiler.Runtime.Kernels.ProductTransposes pt, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, int n, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float>? y)
                {
                    const int W = {W};
                    global::System.ReadOnlySpan<float> h = global::System.MemoryExtensions.AsSpan(x.Nodes[{K}], n * W * D, W * D);
                    float[] ut = pt.NodeUpdate[{K}], ub = p.NodeBias[{K}];
                    global::System.Span<float> z = t.NodeZ[{K}], o = t.NodeOut[{K}];
                    z.Clear();
                    // U [H; m; m'] of every node: blocked products over the layer's nodes, the H part, then m, then m'.
                    PS.Gemm(h, D, 1, ut, D, z, D, W, D, D);
                """, ("K", k), ("W", width)).Replace("{N}", fwd && bwd ? "" : !fwd && !bwd ? " (no messages)" : fwd ? " (no backward message: the output layer)" : " (no forward message: the input layer)"));
            if (fwd) w.Line($"    {Simd}.Gemm(t.Fwd[{I(k)}], D, 1, global::System.MemoryExtensions.AsSpan(ut, D * D), D, z, D, W, D, D);");
            if (bwd) w.Line($"    {Simd}.Gemm(t.Bwd[{I(k)}], D, 1, global::System.MemoryExtensions.AsSpan(ut, 2 * D * D), D, z, D, W, D, D);");
            w.Lines(Fill("""
                    for (int v = 0; v < W; v++)
                    {
                        var zv = z.Slice(v * D, D);
                        var hv = h.Slice(v * D, D);
                        var ov = o.Slice(v * D, D);
                        for (int c = 0; c < D; c++)
                        {
                            float zc = zv[c] + ub[c];
                            zv[c] = zc;
                            ov[c] = hv[c] + zc * PS.Sigmoid(zc);
                        }
                    }
                    if (y != null) o.CopyTo(global::System.MemoryExtensions.AsSpan(y.Nodes[{K}], n * W * D, W * D));
                }
                """, ("K", k)));
        }

        private static void Edge(IndentedWriter w, int l, int outs, int ins) => w.Lines(Fill("""
            // W_{L} ({O}×{I}): E' = E + silu(V_E E + V_src H'_{P}[i] + V_dst H'_{L}[j] + v); the node terms once per node.
            private static void Edge{L}(global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> p, global::LayerCompiler.Runtime.Kernels.ProductTransposes pt, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, int n, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> y)
            {
                const int O = {O}, I = {I};
                float[] vt = pt.EdgeUpdate[{P}], vb = p.EdgeBias[{P}];
                global::System.Span<float> ps = global::System.MemoryExtensions.AsSpan(t.Src, 0, I * D), pd = global::System.MemoryExtensions.AsSpan(t.Dst, 0, O * D), z = t.EdgeZ[{P}];
                ps.Clear(); pd.Clear();
                // The node terms V_src H'[i] and V_dst H'[j] + v: blocked products over the layer's nodes.
                PS.Gemm(t.NodeOut[{P}], D, 1, global::System.MemoryExtensions.AsSpan(vt, D * D), D, ps, D, I, D, D);
                PS.Gemm(t.NodeOut[{L}], D, 1, global::System.MemoryExtensions.AsSpan(vt, 2 * D * D), D, pd, D, O, D, D);
                for (int j = 0; j < O; j++)
                {
                    var pdj = pd.Slice(j * D, D);
                    for (int c = 0; c < D; c++) pdj[c] += vb[c];
                }
                global::System.ReadOnlySpan<float> edges = global::System.MemoryExtensions.AsSpan(x.Edges[{P}], n * O * I * D, O * I * D);
                global::System.Span<float> ye = global::System.MemoryExtensions.AsSpan(y.Edges[{P}], n * O * I * D, O * I * D);
                // V_E e of every edge: one blocked product [O·I × D] · V_Eᵀ (the first D rows of Vᵀ).
                z.Clear();
                PS.Gemm(edges, D, 1, vt, D, z, D, O * I, D, D);
                PS.EdgeSilu(edges, z, ps, pd, ye, O, I, D);
            }
            """, ("L", l), ("P", l - 1), ("O", outs), ("I", ins)));

        private static void EdgeBackward(IndentedWriter w, int l, int outs, int ins) => w.Lines(Fill("""
            // Backward of W_{L}'s edge update: the edges' input gradient (overwritten), V and v gradients, the updated nodes' gradients.
            private static void EdgeBackward{L}(global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> p, global::LayerCompiler.Runtime.Kernels.ProductTransposes pt, global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> g, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> gy, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> gx, int n)
            {
                const int O = {O}, I = {I};
                float[] vt = pt.EdgeUpdate[{P}], v = p.EdgeUpdate[{P}], vb = p.EdgeBias[{P}], gv = g.EdgeUpdate[{P}], gvb = g.EdgeBias[{P}];
                global::System.Span<float> ps = global::System.MemoryExtensions.AsSpan(t.Src, 0, I * D), pd = global::System.MemoryExtensions.AsSpan(t.Dst, 0, O * D), gps = global::System.MemoryExtensions.AsSpan(t.GSrc, 0, I * D), gpd = global::System.MemoryExtensions.AsSpan(t.GDst, 0, O * D), z = t.EdgeZ[{P}], gz = t.G1[{P}];
                ps.Clear(); pd.Clear(); gps.Clear(); gpd.Clear();
                global::System.ReadOnlySpan<float> hin = t.NodeOut[{P}], hout = t.NodeOut[{L}];
                PS.Gemm(hin, D, 1, global::System.MemoryExtensions.AsSpan(vt, D * D), D, ps, D, I, D, D);
                PS.Gemm(hout, D, 1, global::System.MemoryExtensions.AsSpan(vt, 2 * D * D), D, pd, D, O, D, D);
                for (int j = 0; j < O; j++)
                {
                    var pdj = pd.Slice(j * D, D);
                    for (int c = 0; c < D; c++) pdj[c] += vb[c];
                }
                global::System.ReadOnlySpan<float> edges = global::System.MemoryExtensions.AsSpan(x.Edges[{P}], n * O * I * D, O * I * D), ge = global::System.MemoryExtensions.AsSpan(gy.Edges[{P}], n * O * I * D, O * I * D);
                global::System.Span<float> gxe = global::System.MemoryExtensions.AsSpan(gx.Edges[{P}], n * O * I * D, O * I * D);
                z.Clear();
                PS.Gemm(edges, D, 1, vt, D, z, D, O * I, D, D);
                PS.EdgeSiluBackward(ge, z, ps, pd, gz, gps, gpd, O, I, D);
                // The edges' input gradient ge + gz V_E and the V gradients: blocked products over all of the layer's edges.
                ge.CopyTo(gxe);
                PS.Gemm(gz, D, 1, v, 3 * D, gxe, D, O * I, D, D);
                PS.Gemm(gz, 1, D, edges, D, gv, 3 * D, D, D, O * I);
                PS.Gemm(gps, 1, D, hin, D, global::System.MemoryExtensions.AsSpan(gv, D), 3 * D, D, D, I);
                PS.Gemm(gpd, 1, D, hout, D, global::System.MemoryExtensions.AsSpan(gv, 2 * D), 3 * D, D, D, O);
                for (int j = 0; j < O; j++)
                {
                    var gdj = gpd.Slice(j * D, D);
                    for (int c = 0; c < D; c++) gvb[c] += gdj[c];
                }
                PS.Gemm(gpd, D, 1, global::System.MemoryExtensions.AsSpan(v, 2 * D), 3 * D, t.GNodeOut[{L}], D, O, D, D);
                PS.Gemm(gps, D, 1, global::System.MemoryExtensions.AsSpan(v, D), 3 * D, t.GNodeOut[{P}], D, I, D, D);
            }
            """, ("L", l), ("P", l - 1), ("O", outs), ("I", ins)));

        private static void NodeBackward(IndentedWriter w, int k, int width, bool fwd, bool bwd)
        {
            w.Lines(Fill("""
                // Backward of neuron layer {K}'s update: the nodes' input gradient (overwritten), U and u gradients, the messages' gradients.
                private static void NodeBackward{K}(global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> p, global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> g, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> gx, int n)
                {
                    const int W = {W};
                    global::System.ReadOnlySpan<float> h = global::System.MemoryExtensions.AsSpan(x.Nodes[{K}], n * W * D, W * D), z = t.NodeZ[{K}], gh = t.GNodeOut[{K}];
                    float[] u = p.NodeUpdate[{K}], gu = g.NodeUpdate[{K}], gub = g.NodeBias[{K}];
                    global::System.Span<float> gz = t.GNodeZ[{K}], gxn = global::System.MemoryExtensions.AsSpan(gx.Nodes[{K}], n * W * D, W * D);
                    for (int v = 0; v < W; v++)
                    {
                        var zv = z.Slice(v * D, D);
                        var ghv = gh.Slice(v * D, D);
                        var gzv = gz.Slice(v * D, D);
                        for (int c = 0; c < D; c++)
                        {
                            float sg = PS.Sigmoid(zv[c]);
                            float gc = ghv[c] * (sg * (1f + zv[c] * (1f - sg)));
                            gzv[c] = gc;
                            gub[c] += gc;
                        }
                    }
                    // The nodes' input gradient gh + Uᵀ gz and the messages' gradients: blocked products over the layer's nodes.
                    gh.CopyTo(gxn);
                    PS.Gemm(gz, D, 1, u, 3 * D, gxn, D, W, D, D);
                """, ("K", k), ("W", width)));
            if (fwd) w.Line($"    global::System.Array.Clear(t.GFwd[{I(k)}]); {Simd}.Gemm(gz, D, 1, global::System.MemoryExtensions.AsSpan(u, D), 3 * D, t.GFwd[{I(k)}], D, W, D, D);");
            if (bwd) w.Line($"    global::System.Array.Clear(t.GBwd[{I(k)}]); {Simd}.Gemm(gz, D, 1, global::System.MemoryExtensions.AsSpan(u, 2 * D), 3 * D, t.GBwd[{I(k)}], D, W, D, D);");
            w.Line("    // The U gradient gzᵀ [H; m; m'] (row o: Σ_v gz[v, o] times the node's inputs): blocked products over the nodes.");
            w.Line($"    {Simd}.Gemm(gz, 1, D, h, D, gu, 3 * D, D, D, W);");
            if (fwd) w.Line($"    {Simd}.Gemm(gz, 1, D, t.Fwd[{I(k)}], D, global::System.MemoryExtensions.AsSpan(gu, D), 3 * D, D, D, W);");
            if (bwd) w.Line($"    {Simd}.Gemm(gz, 1, D, t.Bwd[{I(k)}], D, global::System.MemoryExtensions.AsSpan(gu, 2 * D), 3 * D, D, D, W);");
            w.Line("}");
        }

        private static void MessagesBackward(IndentedWriter w, int l, int outs, int ins) => w.Lines(Fill("""
            // Backward of W_{L}'s messages (A e, A' e, B h, B' h kept by the forward): adds to the edges' and nodes' input gradients; A, A', B, B' gradients.
            private static void MessagesBackward{L}(global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> p, global::LayerCompiler.Runtime.Kernels.ProductTransposes pt, global::LayerCompiler.Runtime.Kernels.ProductLayerParameters<float> g, global::LayerCompiler.Runtime.Kernels.ProductScratch t, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> x, global::LayerCompiler.Runtime.Kernels.GraphFeatures<float> gx, int n)
            {
                const int O = {O}, I = {I};
                float[] b = p.NodeForward[{P}], bb = p.NodeBackward[{P}];
                float[] ga = g.EdgeForward[{P}], gab = g.EdgeBackward[{P}], gb = g.NodeForward[{P}], gbb = g.NodeBackward[{P}];
                global::System.ReadOnlySpan<float> hin = global::System.MemoryExtensions.AsSpan(x.Nodes[{P}], n * I * D, I * D), hout = global::System.MemoryExtensions.AsSpan(x.Nodes[{L}], n * O * D, O * D);
                global::System.ReadOnlySpan<float> edges = global::System.MemoryExtensions.AsSpan(x.Edges[{P}], n * O * I * D, O * I * D);
                global::System.ReadOnlySpan<float> hf = t.ProjIn[{P}], hb = t.ProjOut[{P}], efb = t.EdgeFB[{P}], gm = t.GFwd[{L}], gmb = t.GBwd[{P}];
                global::System.Span<float> ghf = global::System.MemoryExtensions.AsSpan(t.GSrc, 0, I * D), ghb = global::System.MemoryExtensions.AsSpan(t.GDst, 0, O * D), gfb = t.GFB[{P}];
                global::System.Span<float> gxe = global::System.MemoryExtensions.AsSpan(gx.Edges[{P}], n * O * I * D, O * I * D);
                ghf.Clear(); ghb.Clear();
                for (int j = 0; j < O; j++)
                {
                    var gmj = gm.Slice(j * D, D);
                    var hbj = hb.Slice(j * D, D);
                    var ghbj = ghb.Slice(j * D, D);
                    PS.MessageGradients(gmj, gmb, hf, hbj, efb.Slice(j * I * 2 * D, I * 2 * D), gfb.Slice(j * I * 2 * D, I * 2 * D), ghf, ghbj, 1f / I, 1f / O, I, D);
                }
                // The edges' input gradient [A e | A' e]'s adjoint [g_f | g_b] [A; A'] and the A, A' gradients: blocked products over all edges.
                PS.Gemm(gfb, 2 * D, 1, pt.EdgeMessagesStacked[{P}], D, gxe, D, O * I, D, 2 * D);
                PS.Gemm(gfb, 1, 2 * D, edges, D, ga, D, D, D, O * I);
                PS.Gemm(gfb.Slice(D), 1, 2 * D, edges, D, gab, D, D, D, O * I);
                PS.Gemm(ghf, 1, D, hin, D, gb, D, D, D, I);
                PS.Gemm(ghb, 1, D, hout, D, gbb, D, D, D, O);
                global::System.Span<float> gxin = global::System.MemoryExtensions.AsSpan(gx.Nodes[{P}], n * I * D, I * D), gxout = global::System.MemoryExtensions.AsSpan(gx.Nodes[{L}], n * O * D, O * D);
                PS.Gemm(ghf, D, 1, b, D, gxin, D, I, D, D);
                PS.Gemm(ghb, D, 1, bb, D, gxout, D, O, D, D);
            }
            """, ("L", l), ("P", l - 1), ("O", outs), ("I", ins)));
    }
}
