using LayerCompiler.Contracts;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Lower;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits one fused kernel class (C# CPU backend) for a <see cref="FusedPlan"/>. Every loop bound,
    /// offset and stride is a literal of the declared architecture. Per network:
    /// 1. pooled statistics of every input tensor in one pass each;
    /// 2. small matrix products turning statistics into row/column/global terms;
    /// 3. one pass per output tensor: channel mix of the entry + broadcast adds.
    /// The backward pass is the same scheme transposed (sum statistics of the output gradient, Wᵀ),
    /// plus parameter gradients as outer products of input and gradient statistics.
    /// </summary>
    public sealed class CSharpKernelEmitter
    {
        private readonly FusedPlan _p;
        private readonly IndentedWriter _w;
        private int _scratch;

        private CSharpKernelEmitter(FusedPlan plan, IndentedWriter w) { _p = plan; _w = w; }

        public static string ClassName(int cin, int cout) => $"FusedKernel_{cin}x{cout}";

        public static void Emit(FusedPlan plan, IndentedWriter w) => new CSharpKernelEmitter(plan, w).EmitClass();

        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        private void EmitClass()
        {
            string name = ClassName(_p.Cin, _p.Cout);
            var fwd = new IndentedWriter();
            var bwd = new IndentedWriter();
            int fwdScratch = EmitForward(fwd);
            int bwdScratch = EmitBackward(bwd);
            _w.Line($"/// <summary>Fused equivariant layer, {_p.Cin} → {_p.Cout} channels: {_p.TermCount} basis terms, {_p.WeightCount} weights, {_p.BiasCount} biases.</summary>");
            using (_w.Block($"private sealed class {name} : {RuntimeNames.FusedKernel}"))
            {
                _w.Line($"public const int WeightCount = {I(_p.WeightCount)};");
                _w.Line($"public const int BiasCount = {I(_p.BiasCount)};");
                _w.Line();
                using (_w.Block($"public {name}({RuntimeNames.LayerPlan} plan) : base(plan, {I(fwdScratch)}, {I(bwdScratch)})"))
                {
                    _w.Line("if (plan.WeightCount != WeightCount || plan.BiasCount != BiasCount || plan.InChannels != " + I(_p.Cin) + " || plan.OutChannels != " + I(_p.Cout) + ")");
                    _w.Line($"    throw new global::System.ArgumentException(\"This kernel was generated for {_p.Cin} → {_p.Cout} channels with \" + WeightCount + \" weights; the plan does not match.\");");
                }
                _w.Line();
                // Compiled fully optimized on first call: tiered compilation's PGO build of these loops measured 7–12 % slower.
                _w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]");
                using (_w.Block("protected override void ForwardNetwork(int n, float[] w, float[] b, " + RuntimeNames.Tensor + "[] x, " + RuntimeNames.Tensor + "[] y, float[] s, bool relu)"))
                    _w.Lines(fwd.ToString().TrimEnd('\n'));
                _w.Line();
                _w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]");
                using (_w.Block("protected override void BackwardNetwork(int n, float[] w, " + RuntimeNames.Tensor + "[] x, " + RuntimeNames.Tensor + "[] gy, " + RuntimeNames.Tensor + "[]? gx, float[] gw, float[] gb, float[] s, bool reluMaskInput)"))
                    _w.Lines(bwd.ToString().TrimEnd('\n'));
                if (PrefetchParts > 0)
                {
                    _w.Line();
                    _w.Line($"/// <summary>Prefetches part <c>part</c> of {I(PrefetchParts)} of network n + 1's input (a hint: its statistics pass then reads from cache).</summary>");
                    using (_w.Block("private static void PrefetchNext(int n, int part, " + RuntimeNames.Tensor + "[] t, int channels)"))
                        foreach (var v in _p.Views)
                        {
                            string size = $"{I(v.Tensor.Size)} * channels";
                            _w.Line($"{RuntimeNames.FusedOps}.PrefetchPart(t[{v.Tensor.Index}].Data, (long)(n + 1) * ({size}), {size}, part, {I(PrefetchParts)});");
                        }
                }
            }
        }

        /// <summary>Input bytes per network above which the next network is not prefetched (it would not stay in L2 beside the current one).</summary>
        public const long PrefetchMaxBytes = 384 * 1024;

        /// <summary>Input bytes per network below which prefetching is not worth its calls (the hardware prefetcher keeps up).</summary>
        public const long PrefetchMinBytes = 16 * 1024;

        /// <summary>
        /// The number of outer-loop iterations (lines of every tensor with two or more permuted axes)
        /// across which the next network's input is prefetched, one equal part per line; 0 when there
        /// are none or a network's input is too large to keep in cache.
        /// </summary>
        private int PrefetchParts
        {
            get
            {
                long bytes = _p.Views.Sum(v => (long)v.Tensor.Size) * Math.Max(_p.Cin, _p.Cout) * sizeof(float);
                if (bytes > PrefetchMaxBytes || bytes < PrefetchMinBytes) return 0;
                return _p.Views.Where(v => v.PermSizes.Count >= 2).Sum(v => v.PermSizes.Take(v.PermSizes.Count - 1).Aggregate(1, (a, b) => a * b));
            }
        }

        private string Alloc(IndentedWriter w, string name, long size)
        {
            w.Line($"var {name} = new global::System.Span<float>(s, {I(_scratch)}, {I(size)});");
            _scratch += (int)size;
            return name;
        }

        // ---------------------------------------------------------------- forward

        private int EmitForward(IndentedWriter w)
        {
            _scratch = 0;
            w.Line("// 1. Inputs as [grid, wide] views; pooled statistics (means), every tensor's total in one vector.");
            foreach (var v in _p.Views) EmitSourceView(w, v, "x", "xs", _p.Cin);
            EmitTotals(w, "xt", "xs", _p.Cin);
            foreach (var v in _p.Views) EmitStats(w, v, "xs", "xm", "xt", _p.Cin, FusedPlan.PooledMasks(_p.ForwardLinks, v, false), mean: true);
            w.Line("// 2-3. Per output tensor: small broadcast terms, then one pass over its entries.");
            EmitMap(w, _p.ForwardLinks, "xs", "xm", "xt", _p.Cin, "y", _p.Cout, biasArray: "b", transposed: false, null, ("x", _p.Cin));
            return _scratch;
        }

        // ---------------------------------------------------------------- backward

        private int EmitBackward(IndentedWriter w)
        {
            _scratch = 0;
            w.Line("// Inputs and output gradients as [grid, wide] views, with their statistics:");
            w.Line("// means of the input (what the forward mixed), sums of the gradient (adjoint of broadcast).");
            foreach (var v in _p.Views) EmitSourceView(w, v, "x", "xs", _p.Cin);
            foreach (var v in _p.Views) EmitSourceView(w, v, "gy", "gs", _p.Cout);
            EmitTotals(w, "xt", "xs", _p.Cin);
            EmitTotals(w, "gt", "gs", _p.Cout);
            foreach (var v in _p.Views) EmitStats(w, v, "xs", "xm", "xt", _p.Cin, FusedPlan.PooledMasks(_p.ForwardLinks, v, false), mean: true);
            foreach (var v in _p.Views) EmitStats(w, v, "gs", "gm", "gt", _p.Cout, FusedPlan.PooledMasks(_p.BackwardLinks, v, true), mean: false);

            w.Line("// Bias gradients: the total sum of each output gradient.");
            foreach (var v in _p.Views)
            {
                int wide = v.Fixed * _p.Cout;
                string total = v.FullMask == 0 ? $"gs{v.Tensor.Index}" : $"gm{v.Tensor.Index}_0";
                w.Line($"{RuntimeNames.FusedOps}.Add({total}, new global::System.Span<float>(gb, {I(_p.BiasOffsets[v.Tensor.Index])}, {I(wide)}));");
            }

            // Weight gradients of full-size terms into a tensor with an outer loop are computed line by
            // line inside the input gradient's pass over that tensor, while the line of the output gradient
            // is in L1 (it is read once for both); without an input gradient, in their own loops below.
            var fused = _p.ForwardLinks.Where(l => l.DstMask == _p.Views[l.Dst].FullMask && _p.Views[l.Dst].PermSizes.Count >= 2).ToList();
            w.Line("// Weight gradients: Σ over kept positions of (input statistic) ⊗ (gradient statistic); full-size terms a line at a time.");
            foreach (var l in _p.ForwardLinks.Except(fused).Where(l => !IsTotal(l))) EmitWeightGradient(w, l);
            if (_p.ForwardLinks.Any(IsTotal)) w.Line("OuterTotals(xt, gt, gw);");
            if (fused.Count > 0)
            {
                using (w.Block("if (gx == null)"))
                {
                    foreach (var l in fused) EmitWeightGradient(w, l);
                    w.Line("return;");
                }
            }
            else w.Line("if (gx == null) return;");
            w.Line("// Input gradient: the transposed map (w holds each term's matrix transposed), with the fused weight gradients.");
            // No prefetch here: a backward network's working set (input, output gradient, input gradient,
            // the chunk's weight gradients) already fills L2, and prefetching the next one measured slower.
            EmitMap(w, _p.BackwardLinks, "gs", "gm", "gt", _p.Cout, "gx", _p.Cin, biasArray: null, transposed: true, fusedGrads: fused);
            return _scratch;
        }

        /// <summary>The weight gradient of one term: Σ over its kept positions of input statistic ⊗ gradient statistic.</summary>
        private void EmitWeightGradient(IndentedWriter w, Link l)
        {
            var a = _p.Views[l.Src]; var o = _p.Views[l.Dst];
            var kept = KeptAxes(o, l.DstMask);
            if (kept.Length == 0)
            {
                w.Line($"{RuntimeNames.LineOps}.OuterAdd({SourceAt(a, l.SrcMask, o, "xs", "xm", _p.Cin)}, {I(a.Fixed * _p.Cin)}, {SourceAt(o, l.DstMask, o, "gs", "gm", _p.Cout)}, {I(o.Fixed * _p.Cout)}, 1, {I(l.Rows)}, {I(l.Cols)}, {GradientSpan(l)});");
                return;
            }
            // A line along the last kept axis, loops over the others.
            int lineAxis = kept[kept.Length - 1];
            var outer = kept.Take(kept.Length - 1).ToArray();
            OpenLoops(w, o, outer);
            EmitWeightGradientLine(w, l, lineAxis);
            CloseLoops(w, outer);
        }

        /// <summary>One line's share of a weight gradient (the loop variables of the other kept axes are open).</summary>
        private void EmitWeightGradientLine(IndentedWriter w, Link l, int lineAxis)
        {
            var a = _p.Views[l.Src]; var o = _p.Views[l.Dst];
            var (xBase, xStride) = LineSource(a, l.SrcMask, o, lineAxis, "xs", "xm", _p.Cin);
            var (gBase, gStride) = LineSource(o, l.DstMask, o, lineAxis, "gs", "gm", _p.Cout);
            w.Line($"{RuntimeNames.LineOps}.OuterAdd({xBase}, {I(xStride)}, {gBase}, {I(gStride)}, {I(o.PermSizes[lineAxis])}, {I(l.Rows)}, {I(l.Cols)}, {GradientSpan(l)});");
        }

        private static string GradientSpan(Link l) => $"new global::System.Span<float>(gw, {I(l.WOffset)}, {I((long)l.Rows * l.Cols)})";

        // ---------------------------------------------------------------- shared pieces

        /// <summary>A [grid, wide] view of tensor v of a batch array: the tensor itself, or a gathered copy when fixed axes come first.</summary>
        private void EmitSourceView(IndentedWriter w, TensorView v, string arr, string prefix, int channels)
        {
            int t = v.Tensor.Index;
            long size = (long)v.Tensor.Size * channels;
            string raw = $"new global::System.Span<float>({arr}[{t}].Data, n * {I(size)}, {I(size)})";
            if (v.Trailing)
            {
                w.Line($"var {prefix}{t} = {raw};");
                return;
            }
            w.Line($"var {prefix}{t}Raw = {raw};");
            Alloc(w, $"{prefix}{t}", size);
            EmitLayoutLoops(w, v, channels, (mem, wide) => $"{prefix}{t}Raw.Slice({mem}, {I(channels)}).CopyTo({prefix}{t}.Slice({wide}, {I(channels)}));");
        }

        /// <summary>Loops over every axis in memory order, giving (memory offset, [grid, wide] offset) of each channel run.</summary>
        private void EmitLayoutLoops(IndentedWriter w, TensorView v, int channels, Func<string, string, string> body)
        {
            var axes = v.Tensor.Axes;
            for (int i = 0; i < axes.Count; i++) w.Open($"for (int a{i} = 0; a{i} < {I(axes[i].Size)}; a{i}++)");
            string mem = "(" + MixedRadix(Enumerable.Range(0, axes.Count).Select(i => ($"a{i}", axes[i].Size)).ToList()) + $") * {I(channels)}";
            string grid = MixedRadix(v.Tensor.PermutedAxes.Select(i => ($"a{i}", axes[i].Size)).ToList());
            string fix = MixedRadix(v.Tensor.FixedAxes.Select(i => ($"a{i}", axes[i].Size)).ToList());
            string wide = $"(({grid}) * {I(v.Fixed)} + {fix}) * {I(channels)}";
            w.Line(body(mem, wide));
            for (int i = 0; i < axes.Count; i++) w.Close();
        }

        private static string MixedRadix(IList<(string Var, int Size)> digits)
        {
            if (digits.Count == 0) return "0";
            string e = digits[0].Var;
            for (int i = 1; i < digits.Count; i++) e = $"({e}) * {I(digits[i].Size)} + {digits[i].Var}";
            return e;
        }

        /// <summary>A term that keeps no neuron layer (total of the source, broadcast over the destination): walked by the runtime's table.</summary>
        private static bool IsTotal(Link l) => l.DstMask == 0;

        /// <summary>
        /// The vector of every tensor's total (its mean or sum over all permuted axes, <see cref="TotalTerms.TotalOffsets"/>
        /// layout), which the runtime's <c>MixTotals</c>/<c>OuterTotals</c> read: tensors without permuted axes are copied in,
        /// the others' totals are computed into it by <see cref="EmitStats"/>.
        /// </summary>
        private void EmitTotals(IndentedWriter w, string name, string src, int channels)
        {
            var offsets = _p.TotalOffsets(channels);
            Alloc(w, name, offsets[offsets.Count - 1]);
            foreach (var v in _p.Views.Where(v => v.FullMask == 0))
                w.Line($"{src}{v.Tensor.Index}.CopyTo({name}.Slice({I(offsets[v.Tensor.Index])}, {I(v.Fixed * channels)}));");
        }

        /// <summary>Pooled statistics of a [grid, wide] view over the axes not in each mask, in one pass; totals (mask 0) land in the totals vector.</summary>
        private void EmitStats(IndentedWriter w, TensorView v, string src, string prefix, string totals, int channels, IEnumerable<int> maskSeq, bool mean)
        {
            var masks = maskSeq.ToList();
            if (masks.Count == 0) return;
            int t = v.Tensor.Index;
            int wide = v.Fixed * channels;
            foreach (int m in masks)
            {
                if (m == 0) w.Line($"var {prefix}{t}_0 = {totals}.Slice({I(_p.TotalOffsets(channels)[t])}, {I(wide)});");
                else Alloc(w, $"{prefix}{t}_{m}", (long)v.KeptGrid(m) * wide);
                w.Line($"{prefix}{t}_{m}.Clear();");
            }
            string ops = RuntimeNames.FusedOps;
            string line = RuntimeNames.LineOps;
            if (v.PermSizes.Count == 1)
                w.Line($"{line}.SumRows({src}{t}, {I(v.PermSizes[0])}, {prefix}{t}_0);");
            else
            {
                bool row = masks.Contains(1), col = masks.Contains(2), tot = masks.Contains(0);
                if (row || col)
                {
                    // One read of the tensor for its row and column sums.
                    w.Line($"{RuntimeNames.LineOps}.Sums2D({src}{t}, {I(v.PermSizes[0])}, {I(v.PermSizes[1])}, {I(wide)}, {(row ? $"{prefix}{t}_1" : "default")}, {(col ? $"{prefix}{t}_2" : "default")});");
                    if (tot)
                    {
                        int by = row ? 0 : 1; string from = row ? $"{prefix}{t}_1" : $"{prefix}{t}_2";
                        w.Line($"{line}.SumRows({from}, {I(v.PermSizes[by])}, {prefix}{t}_0);");
                    }
                }
                else
                {
                    w.Line($"{line}.SumRows({src}{t}, {I(v.PermSizes[0] * v.PermSizes[1])}, {prefix}{t}_0);");
                }
            }
            if (mean)
                foreach (int m in masks)
                    w.Line($"{ops}.Scale({prefix}{t}_{m}, {IndentedWriter.Float((float)(1.0 / v.PooledCount(m)))});");
        }

        /// <summary>Positions (in v's permuted axes) of the axes a mask keeps.</summary>
        private static int[] KeptAxes(TensorView v, int mask) => Enumerable.Range(0, v.PermSizes.Count).Where(i => (mask & (1 << i)) != 0).ToArray();

        private static void OpenLoops(IndentedWriter w, TensorView v, int[] axes)
        {
            foreach (int i in axes) w.Open($"for (int p{i} = 0; p{i} < {I(v.PermSizes[i])}; p{i}++)");
        }

        private static void CloseLoops(IndentedWriter w, int[] axes)
        {
            foreach (var _ in axes) w.Close();
        }

        /// <summary>
        /// The wide vector of source view s's statistic for mask sMask at the current position of the
        /// loops over destination view d's axes (kept axes are matched by neuron layer).
        /// </summary>
        private static string SourceAt(TensorView s, int sMask, TensorView d, string fullPrefix, string statPrefix, int channels)
        {
            int t = s.Tensor.Index;
            int wide = s.Fixed * channels;
            var digits = KeptAxes(s, sMask).Select(i => ($"p{d.PermLayers.IndexOf(s.PermLayers[i])}", s.PermSizes[i])).ToList();
            string idx = MixedRadix(digits);
            string buf = sMask == s.FullMask ? $"{fullPrefix}{t}" : $"{statPrefix}{t}_{sMask}";
            return idx == "0" ? $"{buf}.Slice(0, {I(wide)})" : $"{buf}.Slice(({idx}) * {I(wide)}, {I(wide)})";
        }

        /// <summary>
        /// Emits a fused linear map from links: for each destination tensor, the small terms (kept
        /// axes a proper subset) into broadcast buffers, then one pass over its grid, a line (the last
        /// permuted axis) at a time: broadcast terms first, then each full-size term as a small GEMM.
        /// With <paramref name="transposed"/> the weight array holds each term's matrix transposed.
        /// </summary>
        private void EmitMap(IndentedWriter w, IReadOnlyList<Link> links, string fullPrefix, string statPrefix, string totals, int srcChannels,
            string dstArr, int dstChannels, string? biasArray, bool transposed, IReadOnlyList<Link>? fusedGrads = null, params (string Array, int Channels)[] prefetch)
        {
            int prefetchBase = 0;
            string ops = RuntimeNames.FusedOps;
            string line = RuntimeNames.LineOps;
            int maxWide = _p.Views.Max(v => v.Fixed * dstChannels);
            Alloc(w, "acc", maxWide);
            int maxLine = _p.Views.Where(v => !v.Trailing && v.PermSizes.Count > 0).Select(v => v.PermSizes[v.PermSizes.Count - 1] * v.Fixed * dstChannels).DefaultIfEmpty(0).Max();
            if (maxLine > 0) Alloc(w, "lineBuf", maxLine);
            foreach (var d in _p.Views)
            {
                int t = d.Tensor.Index;
                int wide = d.Fixed * dstChannels;
                var mine = links.Where(l => l.Dst == t).ToList();
                w.Line($"// → {d.Tensor.Name}");
                var small = mine.Where(l => l.DstMask != d.FullMask).GroupBy(l => l.DstMask).OrderBy(g => g.Key).ToList();
                foreach (var g in small)
                {
                    // Broadcast terms: one GEMM over the kept axis (a line of statistics), or one row.
                    int m = g.Key;
                    Alloc(w, $"tt{t}_{m}", (long)d.KeptGrid(m) * wide);
                    w.Line($"tt{t}_{m}.Clear();");
                    var kept = KeptAxes(d, m);
                    if (kept.Length > 1) throw new System.NotSupportedException("A broadcast term keeping two axes.");
                    int rows = kept.Length == 0 ? 1 : d.PermSizes[kept[0]];
                    if (m == 0)
                    {
                        // Total terms, one per source tensor: the runtime walks them (same calls, same order).
                        w.Line($"MixTotals({totals}, w, {I(t)}, tt{t}_0, {(transposed ? "true" : "false")});");
                        continue;
                    }
                    foreach (var l in g)
                    {
                        var sv = _p.Views[l.Src];
                        string srcBase; int srcStride;
                        if (kept.Length == 0) { srcBase = SourceAt(sv, l.SrcMask, d, fullPrefix, statPrefix, srcChannels); srcStride = sv.Fixed * srcChannels; }
                        else (srcBase, srcStride) = LineSource(sv, l.SrcMask, d, kept[0], fullPrefix, statPrefix, srcChannels);
                        int inW = transposed ? l.Cols : l.Rows, outW = transposed ? l.Rows : l.Cols;
                        w.Line($"{line}.MixAdd({srcBase}, {I(srcStride)}, new global::System.ReadOnlySpan<float>(w, {I(l.WOffset)}, {I((long)l.Rows * l.Cols)}), {I(inW)}, {I(outW)}, tt{t}_{m}, {I(wide)}, {I(rows)}{Scale(l)});");
                    }
                }
                string raw = $"new global::System.Span<float>({dstArr}[{t}].Data, n * {I((long)d.Tensor.Size * dstChannels)}, {I((long)d.Tensor.Size * dstChannels)})";
                w.Line($"var out{t} = {raw};");
                w.OpenScope();
                int k = d.PermSizes.Count;
                var full = mine.Where(l => l.DstMask == d.FullMask).ToList();
                if (k == 0)
                {
                    w.Line($"var a = acc.Slice(0, {I(wide)});");
                    if (biasArray != null) w.Line($"new global::System.ReadOnlySpan<float>({biasArray}, {I(_p.BiasOffsets[t])}, {I(wide)}).CopyTo(a);");
                    else w.Line("a.Clear();");
                    foreach (var l in full)
                        w.Line($"{ops}.MixAdd({SourceAt(_p.Views[l.Src], l.SrcMask, d, fullPrefix, statPrefix, srcChannels)}, new global::System.ReadOnlySpan<float>(w, {I(l.WOffset)}, {I((long)l.Rows * l.Cols)}), a{Scale(l)});");
                    EmitFusedRelu(w, transposed, "a", $"xs{t}.Slice(0, {I(wide)})");
                    EmitStore(w, d, dstChannels, $"out{t}");
                    w.Close();
                    continue;
                }
                int last = k - 1, n = d.PermSizes[last];
                var outer = Enumerable.Range(0, last).ToArray();
                OpenLoops(w, d, outer);
                if (outer.Length > 0 && PrefetchParts > 0)
                {
                    string part = $"{I(prefetchBase)} + {MixedRadix(outer.Select(i => ($"p{i}", d.PermSizes[i])).ToList())}";
                    foreach (var (arr, ch) in prefetch) w.Line($"PrefetchNext(n, {part}, {arr}, {I(ch)});");
                    prefetchBase += outer.Aggregate(1, (a, i) => a * d.PermSizes[i]);
                }
                // Terms constant along the line: bias + every broadcast term that does not keep the last axis.
                w.Line($"var init = acc.Slice(0, {I(wide)});");
                if (biasArray != null) w.Line($"new global::System.ReadOnlySpan<float>({biasArray}, {I(_p.BiasOffsets[t])}, {I(wide)}).CopyTo(init);");
                else w.Line("init.Clear();");
                foreach (var g in small.Where(g => (g.Key & (1 << last)) == 0))
                {
                    string idx = MixedRadix(KeptAxes(d, g.Key).Select(i => ($"p{i}", d.PermSizes[i])).ToList());
                    w.Line($"{ops}.Add(tt{t}_{g.Key}.Slice(({idx}) * {I(wide)}, {I(wide)}), init);");
                }
                var lineTerm = small.Where(g => (g.Key & (1 << last)) != 0).ToList();
                string lt = "default";
                if (lineTerm.Count == 1)
                {
                    int m = lineTerm[0].Key;
                    var kept = KeptAxes(d, m).Where(i => i != last).ToList();
                    string baseIdx = kept.Count == 0 ? "0" : $"({MixedRadix(kept.Select(i => ($"p{i}", d.PermSizes[i])).ToList())}) * {I(n)}";
                    lt = $"tt{t}_{m}.Slice(({baseIdx}) * {I(wide)}, {I((long)n * wide)})";
                }
                else if (lineTerm.Count > 1) throw new System.NotSupportedException("More than one broadcast term along a line.");
                string lineStart = outer.Length == 0 ? "0" : $"({MixedRadix(outer.Select(i => ($"p{i}", d.PermSizes[i])).ToList())}) * {I(n)}";
                string dstBlock = d.Trailing ? $"out{t}.Slice(({lineStart}) * {I(wide)}, {I((long)n * wide)})" : $"lineBuf.Slice(0, {I((long)n * wide)})";
                w.Line($"var lineOut = {dstBlock};");
                // The first full-size term writes the line with the broadcast terms folded into its store.
                if (full.Count == 0) w.Line($"{line}.Broadcast(init, {lt}, {I(wide)}, lineOut, {I(wide)}, {I(n)});");
                for (int fi = 0; fi < full.Count; fi++)
                {
                    var l = full[fi];
                    var sv = _p.Views[l.Src];
                    var (baseExpr, stride) = LineSource(sv, l.SrcMask, d, last, fullPrefix, statPrefix, srcChannels);
                    int inW = transposed ? l.Cols : l.Rows, outW = transposed ? l.Rows : l.Cols;
                    string wspan = $"new global::System.ReadOnlySpan<float>(w, {I(l.WOffset)}, {I((long)l.Rows * l.Cols)})";
                    if (fi == 0)
                        w.Line($"{line}.MixAssign(init, {lt}, {I(wide)}, {baseExpr}, {I(stride)}, {wspan}, {I(inW)}, {I(outW)}, lineOut, {I(wide)}, {I(n)}{Scale(l)});");
                    else
                        w.Line($"{line}.MixAdd({baseExpr}, {I(stride)}, {wspan}, {I(inW)}, {I(outW)}, lineOut, {I(wide)}, {I(n)}{Scale(l)});");
                }
                EmitFusedRelu(w, transposed, "lineOut", $"xs{t}.Slice(({lineStart}) * {I(wide)}, {I((long)n * wide)})");
                if (fusedGrads != null)
                    foreach (var l in fusedGrads.Where(l => l.Dst == t)) EmitWeightGradientLine(w, l, last);
                if (!d.Trailing)
                {
                    using (w.Block($"for (int p{last} = 0; p{last} < {I(n)}; p{last}++)"))
                    {
                        w.Line($"var a = lineOut.Slice(p{last} * {I(wide)}, {I(wide)});");
                        EmitStore(w, d, dstChannels, $"out{t}");
                    }
                }
                CloseLoops(w, outer);
                w.Close();
            }
        }

        /// <summary>
        /// A fused ReLU on a finished line (still in cache): in the forward, ReLU of the output; in the
        /// backward, the input gradient zeroed where this layer's input (the previous ReLU's output, same
        /// [grid, wide] layout) is ≤ 0. The activation's own functions, so bitwise the unfused results.
        /// </summary>
        private static void EmitFusedRelu(IndentedWriter w, bool backward, string line, string inputLine)
        {
            const string act = RuntimeNames.Activations;
            if (!backward) w.Line($"if (relu) {act}.ReluForward({line}, {line});");
            else w.Line($"if (reluMaskInput) {act}.ReluBackward({inputLine}, {line}, {line});");
        }

        /// <summary>
        /// The start of a source's line (the destination's last axis at 0) and its stride along the line,
        /// for a full-size link.
        /// </summary>
        private static (string Base, int Stride) LineSource(TensorView s, int sMask, TensorView d, int lastAxis, string fullPrefix, string statPrefix, int channels)
        {
            int t = s.Tensor.Index;
            int wide = s.Fixed * channels;
            var kept = KeptAxes(s, sMask);
            int lineLayer = d.PermLayers[lastAxis];
            int stride = wide;
            bool found = false;
            for (int j = kept.Length - 1; j >= 0; j--)
            {
                if (s.PermLayers[kept[j]] == lineLayer) { found = true; break; }
                stride *= s.PermSizes[kept[j]];
            }
            if (!found) throw new System.NotSupportedException("A full-size term whose source does not run along the line.");
            var digits = kept.Select(i => s.PermLayers[i] == lineLayer ? ("0", s.PermSizes[i]) : ($"p{d.PermLayers.IndexOf(s.PermLayers[i])}", s.PermSizes[i])).ToList();
            string idx = MixedRadix(digits);
            string buf = sMask == s.FullMask ? $"{fullPrefix}{t}" : $"{statPrefix}{t}_{sMask}";
            return ($"{buf}.Slice(({idx}) * {I(wide)})", stride);
        }

        private static string Scale(Link l) => l.Scale == 1 ? "" : ", " + IndentedWriter.Float((float)l.Scale);

        /// <summary>Writes the accumulator of the current grid position into the destination's memory layout.</summary>
        private static void EmitStore(IndentedWriter w, TensorView d, int channels, string dst)
        {
            int wide = d.Fixed * channels;
            if (d.Trailing)
            {
                string grid = MixedRadix(Enumerable.Range(0, d.PermSizes.Count).Select(i => ($"p{i}", d.PermSizes[i])).ToList());
                w.Line($"a.CopyTo({dst}.Slice(({grid}) * {I(wide)}, {I(wide)}));");
                return;
            }
            var axes = d.Tensor.Axes;
            var fixedAxes = d.Tensor.FixedAxes;
            foreach (int i in fixedAxes) w.Open($"for (int f{i} = 0; f{i} < {I(axes[i].Size)}; f{i}++)");
            var memDigits = Enumerable.Range(0, axes.Count).Select(i => (axes[i].Permuted ? $"p{d.Tensor.PermutedAxes.IndexOf(i)}" : $"f{i}", axes[i].Size)).ToList();
            string fix = MixedRadix(fixedAxes.Select(i => ($"f{i}", axes[i].Size)).ToList());
            w.Line($"a.Slice(({fix}) * {I(channels)}, {I(channels)}).CopyTo({dst}.Slice(({MixedRadix(memDigits)}) * {I(channels)}, {I(channels)}));");
            foreach (var _ in fixedAxes) w.Close();
        }
    }
}
