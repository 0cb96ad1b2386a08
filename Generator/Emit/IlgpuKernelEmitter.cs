using LayerCompiler.Contracts;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Generator.Lower;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits <c>Namespace.Type.Ilgpu.g.cs</c>: a model's fused layers as ILGPU kernels (C# methods, type-checked by Roslyn
    /// when the project builds, compiled by ILGPU for the accelerator at run time), printed from the same
    /// <see cref="FusedPlan"/> as the C# CPU kernels (<see cref="CSharpKernelEmitter"/>) and the CUDA C
    /// (<see cref="CudaKernelEmitter"/>): the same links, statistics (means of the input, sums of the output gradient),
    /// weight layout and transposed backward links. Only the schedule differs: one thread per output value of each pass
    /// (statistics, broadcast terms, output; the same transposed for the input gradient), and one thread per parameter and
    /// chunk of networks for the weight gradient, chunks added in order by a last kernel (no atomics: deterministic).
    /// Terms that keep no neuron layer (one per ordered pair of tensors) are walked from a run-time table
    /// (<c>IlgpuLayerOps</c>), so the emitted source stays linear in the depth.
    /// </summary>
    public sealed class IlgpuKernelEmitter
    {
        private const string Ns = RuntimeNames.IlgpuNamespace + ".";
        private const string Args = RuntimeNames.IlgpuLayerArgs;
        private const string Index = "global::ILGPU.Index1D";

        private readonly FusedPlan _p;

        /// <summary>Statistics of one batch side: totals of every tensor (the <c>TotalOffsets</c> layout) from <see cref="Base"/>,
        /// then the pooled statistics of the masks in use.</summary>
        private sealed class StatLayout
        {
            public int Base, Channels, Floats;
            public IReadOnlyList<int> Totals = Array.Empty<int>();
            public readonly Dictionary<(int Tensor, int Mask), int> Pooled = new Dictionary<(int, int), int>();
        }

        private readonly StatLayout _fx, _bx, _bg;
        private readonly Dictionary<(int, int), int> _fterms = new Dictionary<(int, int), int>(), _bterms = new Dictionary<(int, int), int>();
        private readonly int _fStatFloats, _fTermFloats, _bStatFloats, _bTermFloats;

        private IlgpuKernelEmitter(FusedPlan plan)
        {
            _p = plan;
            _fx = Layout(plan.Cin, 0, v => FusedPlan.PooledMasks(plan.ForwardLinks, v, false));
            _fStatFloats = _fx.Floats;
            _fTermFloats = TermLayout(plan.ForwardLinks, plan.Cout, _fStatFloats, _fterms);
            _bx = Layout(plan.Cin, 0, v => FusedPlan.PooledMasks(plan.ForwardLinks, v, false));
            _bg = Layout(plan.Cout, _bx.Floats, v => FusedPlan.PooledMasks(plan.BackwardLinks, v, true));
            _bStatFloats = _bx.Floats + _bg.Floats;
            _bTermFloats = TermLayout(plan.BackwardLinks, plan.Cin, _bStatFloats, _bterms);
        }

        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        private StatLayout Layout(int channels, int start, Func<TensorView, IEnumerable<int>> masks)
        {
            var l = new StatLayout { Base = start, Channels = channels, Totals = _p.TotalOffsets(channels).ToArray() };
            int off = start + l.Totals[l.Totals.Count - 1];
            foreach (var v in _p.Views)
                foreach (int m in masks(v).Where(m => m != 0 && m != v.FullMask))
                {
                    l.Pooled[(v.Tensor.Index, m)] = off;
                    off += v.KeptGrid(m) * v.Fixed * channels;
                }
            l.Floats = off - start;
            return l;
        }

        /// <summary>The broadcast-term buffers of a map: per destination tensor, each kept-axes mask of a link into it that is not
        /// a full-size term (mask 0: the total terms). Returns their floats; offsets start at <paramref name="start"/>.</summary>
        private int TermLayout(IReadOnlyList<Link> links, int dstChannels, int start, Dictionary<(int, int), int> offsets)
        {
            int off = start;
            foreach (var d in _p.Views)
                foreach (int m in TermMasks(links, d))
                {
                    offsets[(d.Tensor.Index, m)] = off;
                    off += d.KeptGrid(m) * d.Fixed * dstChannels;
                }
            return off - start;
        }

        private static IEnumerable<int> TermMasks(IEnumerable<Link> links, TensorView d) =>
            new SortedSet<int>(links.Where(l => l.Dst == d.Tensor.Index && IsTerm(l, d)).Select(l => l.DstMask));

        /// <summary>A link summed into a broadcast buffer (it does not keep every axis of its destination, or it keeps none).</summary>
        private static bool IsTerm(Link l, TensorView d) => l.DstMask != d.FullMask || l.DstMask == 0;

        /// <summary>A term that keeps no neuron layer: walked from the run-time table.</summary>
        private static bool IsTotal(Link l) => l.DstMask == 0;

        public static string ClassName(int cin, int cout) => $"IlgpuKernels_{cin}x{cout}";

        public static string EmitModel(EquivariantModelInfo model, IReadOnlyList<FusedPlan> plans)
        {
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            SourceEmitter.OpenType(w, model.Type, null);
            string dev = RuntimeNames.IlgpuDevice, kernel = RuntimeNames.IlgpuEquivariantKernel, source = RuntimeNames.IlgpuLayerSource;
            w.Line("/// <summary>The model with its equivariant layers on an ILGPU accelerator (the rest of the model runs on the host).</summary>");
            w.Line($"public {model.Type.Name}({dev} device, ulong seed = 0) : base(Configuration, CreateWeightSpace(), plan => CreateIlgpuKernel(device, plan), seed) {{ }}");
            w.Line();
            w.Line("/// <summary>The ILGPU kernel of one layer's channel pair on <paramref name=\"device\"/> (kernels compiled by ILGPU on first load).</summary>");
            w.Line($"public static {kernel} CreateIlgpuKernel({dev} device, {RuntimeNames.LayerPlan} plan) =>");
            w.Line($"    new {kernel}(device, IlgpuLayers.ForChannels(plan.InChannels, plan.OutChannels), plan);");
            w.Line();
            w.Line("/// <summary>The fused layers as ILGPU kernels, printed from the layer plans (see docs/gpu.md).</summary>");
            using (w.Block("public static class IlgpuLayers"))
            {
                foreach (var p in plans)
                {
                    string id = $"{p.Cin}x{p.Cout}";
                    var e = new IlgpuKernelEmitter(p);
                    w.Line($"/// <summary>The {p.Cin} → {p.Cout} layer.</summary>");
                    w.Open($"public static {source} Layer_{id} {{ get; }} = new {source}");
                    {
                        string k = ClassName(p.Cin, p.Cout) + ".";
                        w.Line($"InChannels = {I(p.Cin)}, OutChannels = {I(p.Cout)}, WeightCount = {I(p.WeightCount)}, BiasCount = {I(p.BiasCount)},");
                        w.Line($"TotalTermCount = {I(p.ForwardLinks.Count(IsTotal))}, TensorCount = {I(p.Views.Count)},");
                        w.Line($"InputFloats = {I(e.Floats(p.Cin))}, OutputFloats = {I(e.Floats(p.Cout))},");
                        w.Line($"ForwardStatFloats = {I(e._fStatFloats)}, ForwardTermFloats = {I(e._fTermFloats)}, BackwardStatFloats = {I(e._bStatFloats)}, BackwardTermFloats = {I(e._bTermFloats)},");
                        w.Line($"InputStatistics = {k}InputStatistics, ForwardTerms = {k}ForwardTerms, ForwardOutput = {k}ForwardOutput,");
                        w.Line($"BackwardStatistics = {k}BackwardStatistics, BackwardTerms = {k}BackwardTerms, BackwardOutput = {k}BackwardOutput,");
                        w.Line($"WeightGradient = {k}WeightGradient, GradientFinish = {k}GradientFinish,");
                    }
                    w.Close(";");
                    w.Line();
                }
                w.Line("/// <summary>The layer for a channel pair of this model.</summary>");
                using (w.Block($"public static {source} ForChannels(int inChannels, int outChannels)"))
                using (w.Block("switch ((inChannels, outChannels))"))
                {
                    foreach (var p in plans) w.Line($"case ({p.Cin}, {p.Cout}): return Layer_{p.Cin}x{p.Cout};");
                    w.Line("default: throw new global::System.ArgumentException($\"No ILGPU kernel was generated for {inChannels} → {outChannels} channels.\");");
                }
                foreach (var p in plans)
                {
                    w.Line();
                    new IlgpuKernelEmitter(p).EmitKernels(w);
                }
            }
            SourceEmitter.CloseType(w, model.Type);
            return w.ToString();
        }

        private int Floats(int channels) => _p.Views.Sum(v => v.Tensor.Size) * channels;

        private int TensorStart(int t, int channels) => _p.Views.Take(t).Sum(v => v.Tensor.Size) * channels;

        /// <summary>Where network n's tensor t starts in a batch buffer of <paramref name="channels"/>-channel networks.</summary>
        private string TensorBase(int t, int channels) => $"a.Batch * {I(TensorStart(t, channels))} + n * {I((long)_p.Views[t].Tensor.Size * channels)}";

        private void EmitKernels(IndentedWriter w)
        {
            w.Line($"/// <summary>Kernels of the {_p.Cin} → {_p.Cout} layer: {_p.TermCount} basis terms, {_p.WeightCount} weights, {_p.BiasCount} biases.</summary>");
            using (w.Block($"private static class {ClassName(_p.Cin, _p.Cout)}"))
            {
                int fPer = _fStatFloats + _fTermFloats, bPer = _bStatFloats + _bTermFloats;
                EmitStatistics(w, "InputStatistics", fPer, new[] { (_fx, "a.X", true) });
                EmitTerms(w, "ForwardTerms", _p.ForwardLinks, _fterms, _fTermFloats, _fStatFloats, fPer, _fx, _p.Cout, backward: false);
                EmitOutput(w, "ForwardOutput", _p.ForwardLinks, _fterms, fPer, _fx, _p.Cout, backward: false);
                EmitStatistics(w, "BackwardStatistics", bPer, new[] { (_bx, "a.X", true), (_bg, "a.G", false) });
                EmitTerms(w, "BackwardTerms", _p.BackwardLinks, _bterms, _bTermFloats, _bStatFloats, bPer, _bg, _p.Cin, backward: true);
                EmitOutput(w, "BackwardOutput", _p.BackwardLinks, _bterms, bPer, _bg, _p.Cin, backward: true);
                EmitWeightGradient(w, bPer);
                EmitFinish(w);
            }
        }

        // ------------------------------------------------------------------ index arithmetic

        private static string MixedRadix(IList<(string Var, int Size)> digits)
        {
            if (digits.Count == 0) return "0";
            string e = digits[0].Var;
            for (int i = 1; i < digits.Count; i++) e = $"({e}) * {I(digits[i].Size)} + {digits[i].Var}";
            return e;
        }

        /// <summary>The digits of index <paramref name="idx"/> over the given sizes (last fastest).</summary>
        private static string[] Digits(IList<int> sizes, string idx)
        {
            var r = new string[sizes.Count];
            long stride = 1;
            for (int j = sizes.Count - 1; j >= 0; j--)
            {
                string q = stride == 1 ? $"({idx})" : $"(({idx}) / {I(stride)})";
                r[j] = j == 0 ? q : $"({q} % {I(sizes[j])})";
                stride *= sizes[j];
            }
            return r;
        }

        private static int[] KeptAxes(TensorView v, int mask) => Enumerable.Range(0, v.PermSizes.Count).Where(i => (mask & (1 << i)) != 0).ToArray();

        /// <summary>Digits (by permuted-axis position) of the kept index <paramref name="idx"/> of a mask.</summary>
        private static Dictionary<int, string> KeptDigits(TensorView v, int mask, string idx)
        {
            var kept = KeptAxes(v, mask);
            var d = Digits(kept.Select(i => v.PermSizes[i]).ToList(), idx);
            var r = new Dictionary<int, string>();
            for (int j = 0; j < kept.Length; j++) r[kept[j]] = d[j];
            return r;
        }

        /// <summary>Offset within one network's tensor of the value at permuted digits <paramref name="perm"/> (every permuted
        /// axis) and wide index <paramref name="wide"/> (fixed index × channels + channel).</summary>
        private static string MemOffset(TensorView v, int channels, IDictionary<int, string> perm, string wide)
        {
            int wideSize = v.Fixed * channels;
            string grid = MixedRadix(Enumerable.Range(0, v.PermSizes.Count).Select(i => (perm[i], v.PermSizes[i])).ToList());
            if (v.Trailing) return grid == "0" ? $"({wide})" : $"({grid}) * {I(wideSize)} + ({wide})";
            var axes = v.Tensor.Axes;
            var fixedAxes = v.Tensor.FixedAxes;
            var fd = Digits(fixedAxes.Select(i => axes[i].Size).ToList(), $"({wide}) / {I(channels)}");
            var all = Enumerable.Range(0, axes.Count).Select(i => axes[i].Permuted
                ? (perm[v.Tensor.PermutedAxes.IndexOf(i)], axes[i].Size)
                : (fd[fixedAxes.IndexOf(i)], axes[i].Size)).ToList();
            return $"({MixedRadix(all)}) * {I(channels)} + ({wide}) % {I(channels)}";
        }

        /// <summary>Value <paramref name="i"/> of the statistic (or the tensor itself, for its full mask) of a link's source at kept
        /// index <paramref name="kd"/> of network n.</summary>
        private string Source(Link l, string kd, string i, StatLayout s, string arr, string per)
        {
            var v = _p.Views[l.Src];
            if (l.SrcMask == v.FullMask) return $"{arr}[{TensorBase(l.Src, s.Channels)} + {MemOffset(v, s.Channels, KeptDigits(v, v.FullMask, kd), i)}]";
            int off = l.SrcMask == 0 ? s.Base + s.Totals[l.Src] : s.Pooled[(l.Src, l.SrcMask)];
            string at = l.SrcMask == 0 ? $"{I(off)} + ({i})" : $"{I(off)} + ({kd}) * {I(v.Fixed * s.Channels)} + ({i})";
            return $"a.S[s + {at}]";
        }

        private static string WeightAt(Link l, string i, string j, bool backward) =>
            backward ? $"a.W[{I(l.WOffset)} + ({j}) * {I(l.Cols)} + ({i})]" : $"a.W[{I(l.WOffset)} + ({i}) * {I(l.Cols)} + ({j})]";

        private static string Scaled(Link l, string acc) => l.Scale == 1 ? acc : $"{acc} * {IndentedWriter.Float((float)l.Scale)}";

        /// <summary>The sum of one link's source · W at kept index kd, output entry j, as statements adding into <c>acc</c>.</summary>
        private void EmitLinkSum(IndentedWriter w, Link l, string kd, StatLayout s, string arr, string per, bool backward)
        {
            int inW = backward ? l.Cols : l.Rows;
            if (inW != _p.Views[l.Src].Fixed * s.Channels) throw new InvalidOperationException($"Link {l.Description}: {inW} inputs, source holds {_p.Views[l.Src].Fixed * s.Channels}.");
            w.OpenScope();
            w.Line("float sum = 0f;");
            w.Line($"for (int i = 0; i < {I(inW)}; i++) sum += {Source(l, kd, "i", s, arr, per)} * {WeightAt(l, "i", "j", backward)};");
            w.Line($"acc += {Scaled(l, "sum")};");
            w.Close();
        }

        // ------------------------------------------------------------------ kernels

        private static void OpenKernel(IndentedWriter w, string name, string summary)
        {
            w.Line($"/// <summary>{summary}</summary>");
            w.Open($"public static void {name}({Index} index, {Args} a)");
        }

        /// <summary>Statistics: one thread per value (network, tensor, mask, kept index, wide index): the sum over the pooled
        /// positions in order, then the mean's scale for the input.</summary>
        private void EmitStatistics(IndentedWriter w, string name, int per, (StatLayout Layout, string Arr, bool Mean)[] sides)
        {
            int floats = sides.Sum(s => s.Layout.Floats);
            OpenKernel(w, name, "Pooled statistics: " + string.Join("; ", sides.Select(s => (s.Mean ? "means of " : "sums of ") + s.Arr.Substring(2))) + " (totals first).");
            w.Line($"int n = index.X / {I(floats)}, k = index.X % {I(floats)};");
            w.Line($"int s = n * {I(per)};");
            foreach (var (layout, arr, mean) in sides)
            {
                foreach (var v in _p.Views)
                {
                    int t = v.Tensor.Index;
                    var masks = new List<(int Mask, int Off)> { (0, layout.Base + layout.Totals[t]) };
                    masks.AddRange(layout.Pooled.Where(p => p.Key.Tensor == t).Select(p => (p.Key.Mask, p.Value)).OrderBy(p => p.Value));
                    foreach (var (m, off) in masks)
                    {
                        int wide = v.Fixed * layout.Channels;
                        int count = v.KeptGrid(m) * wide;
                        int pooled = v.PooledCount(m);
                        int pooledMask = v.FullMask & ~m;
                        w.Line($"// {(mean ? "mean" : "sum")} of {v.Tensor.Name} keeping mask {m}");
                        using (w.Block($"if (k >= {I(off)} && k < {I(off + count)})"))
                        {
                            w.Line($"int r = k - {I(off)};");
                            w.Line($"int wide = r % {I(wide)}, kd = r / {I(wide)};");
                            var digits = KeptDigits(v, m, "kd");
                            foreach (var kv in KeptDigits(v, pooledMask, "q")) digits[kv.Key] = kv.Value;
                            w.Line("float acc = 0f;");
                            w.Line($"for (int q = 0; q < {I(pooled)}; q++) acc += {arr}[{TensorBase(t, layout.Channels)} + {MemOffset(v, layout.Channels, digits, "wide")}];");
                            string value = mean && pooled != 1 ? $"acc * {IndentedWriter.Float((float)(1.0 / pooled))}" : "acc";
                            w.Line($"a.S[s + k] = {value};");
                            w.Line("return;");
                        }
                    }
                }
            }
            w.Close();
            w.Line();
        }

        /// <summary>Broadcast terms: one thread per (network, destination tensor, mask, kept index, output entry): Σ over the
        /// links into that buffer of statistic · W (the total terms through the run-time table).</summary>
        private void EmitTerms(IndentedWriter w, string name, IReadOnlyList<Link> links, Dictionary<(int, int), int> offsets, int floats,
            int statFloats, int per, StatLayout src, int dstChannels, bool backward)
        {
            OpenKernel(w, name, backward ? "Input gradient, broadcast terms: output-gradient sums · Wᵀ (scaled by each mean's adjoint)." : "Forward, broadcast terms: input means · W.");
            if (floats == 0)
            {
                w.Close();
                w.Line();
                return;
            }
            w.Line($"int n = index.X / {I(floats)}, k = index.X % {I(floats)} + {I(statFloats)};");
            w.Line($"int s = n * {I(per)};");
            foreach (var kv in offsets.OrderBy(kv => kv.Value))
            {
                var d = _p.Views[kv.Key.Item1];
                int m = kv.Key.Item2;
                int wide = d.Fixed * dstChannels;
                int count = d.KeptGrid(m) * wide;
                w.Line($"// → {d.Tensor.Name} keeping mask {m}");
                using (w.Block($"if (k >= {I(kv.Value)} && k < {I(kv.Value + count)})"))
                {
                    w.Line($"int r = k - {I(kv.Value)};");
                    w.Line($"int j = r % {I(wide)}, kd = r / {I(wide)};");
                    if (m == 0)
                    {
                        string op = backward ? "TotalsBackward" : "TotalsForward";
                        w.Line($"float acc = {RuntimeNames.IlgpuLayerOps}.{op}(a, {I(_p.Views.Count)}, s + {I(src.Base)}, {I(d.Tensor.Index)}, j);");
                    }
                    else
                    {
                        w.Line("float acc = 0f;");
                        foreach (var l in links.Where(l => l.Dst == d.Tensor.Index && l.DstMask == m))
                            EmitLinkSum(w, l, "kd", src, backward ? "a.G" : "a.X", I(per), backward);
                    }
                    w.Line("a.S[s + k] = acc;");
                    w.Line("return;");
                }
            }
            w.Close();
            w.Line();
        }

        /// <summary>Output pass: one thread per output value (memory order): bias, broadcast terms, every full-size term's
        /// channel mix; then the fused ReLU (forward) or the ReLU mask of the input (backward).</summary>
        private void EmitOutput(IndentedWriter w, string name, IReadOnlyList<Link> links, Dictionary<(int, int), int> terms, int per,
            StatLayout src, int channels, bool backward)
        {
            int floats = Floats(channels);
            OpenKernel(w, name, backward ? "Input gradient: the transposed map, one thread per value; zeroed where the input is ≤ 0 when a.Relu." : "Forward output, one thread per value; ReLU when a.Relu.");
            w.Line($"int n = index.X / {I(floats)}, k = index.X % {I(floats)};");
            w.Line($"int s = n * {I(per)};");
            foreach (var d in _p.Views)
            {
                int t = d.Tensor.Index;
                int start = TensorStart(t, channels), size = d.Tensor.Size * channels;
                w.Line($"// → {d.Tensor.Name}");
                using (w.Block($"if (k >= {I(start)} && k < {I(start + size)})"))
                {
                    w.Line($"int r = k - {I(start)};");
                    var axes = d.Tensor.Axes;
                    var ad = Digits(axes.Select(a => a.Size).ToList(), $"r / {I(channels)}");
                    for (int i = 0; i < axes.Count; i++) w.Line($"int d{i} = {ad[i]};");
                    var perm = new Dictionary<int, string>();
                    for (int pi = 0; pi < d.Tensor.PermutedAxes.Count; pi++) perm[pi] = $"d{d.Tensor.PermutedAxes[pi]}";
                    string fix = MixedRadix(d.Tensor.FixedAxes.Select(i => ($"d{i}", axes[i].Size)).ToList());
                    w.Line($"int j = ({fix}) * {I(channels)} + r % {I(channels)};");
                    w.Line($"float acc = {(backward ? "0f" : $"a.B[{I(_p.BiasOffsets[t])} + j]")};");
                    foreach (var kv in terms.Where(kv => kv.Key.Item1 == t).OrderBy(kv => kv.Value))
                    {
                        int m = kv.Key.Item2;
                        string kd = MixedRadix(KeptAxes(d, m).Select(i => (perm[i], d.PermSizes[i])).ToList());
                        w.Line($"acc += a.S[s + {I(kv.Value)} + ({kd}) * {I(d.Fixed * channels)} + j];");
                    }
                    string grid = MixedRadix(Enumerable.Range(0, d.PermSizes.Count).Select(i => (perm[i], d.PermSizes[i])).ToList());
                    var full = links.Where(l => l.Dst == t && !IsTerm(l, d)).ToList();
                    if (full.Count > 0) w.Line($"int g = {grid};");
                    foreach (var l in full) EmitLinkSum(w, l, "g", src, backward ? "a.G" : "a.X", I(per), backward);
                    string at = $"{TensorBase(t, channels)} + r";
                    if (backward) w.Line($"if (a.Relu != 0 && !(a.X[{at}] > 0f)) acc = 0f;");
                    else w.Line("if (a.Relu != 0 && !(acc > 0f)) acc = 0f;");
                    w.Line($"a.Y[{at}] = acc;");
                    w.Line("return;");
                }
            }
            w.Close();
            w.Line();
        }

        /// <summary>Weight and bias gradients, one thread per parameter and chunk of networks: Σ over the chunk's networks (in
        /// order) and the term's kept positions of (input statistic) ⊗ (output-gradient statistic); the partial goes to scratch
        /// after the per-network region.</summary>
        private void EmitWeightGradient(IndentedWriter w, int per)
        {
            int pc = _p.WeightCount + _p.BiasCount;
            int chunk = IlgpuChunkSize;
            OpenKernel(w, "WeightGradient", $"Parameter gradients of networks [{chunk}c, {chunk}c + {chunk}), one thread per parameter and chunk c.");
            w.Line($"int c = index.X / {I(pc)}, e = index.X % {I(pc)};");
            w.Line($"int n0 = c * {I(chunk)}, n1 = global::System.Math.Min(a.Batch, n0 + {I(chunk)});");
            w.Line("float acc = 0f;");
            bool first = true;
            foreach (var l in _p.ForwardLinks.Where(l => !IsTotal(l)).OrderBy(l => l.WOffset))
            {
                var sv = _p.Views[l.Src]; var dv = _p.Views[l.Dst];
                int size = l.Rows * l.Cols;
                w.Line($"// {l.Description}");
                w.Open($"{(first ? "" : "else ")}if (e >= {I(l.WOffset)} && e < {I(l.WOffset + size)})");
                first = false;
                w.Line($"int i = (e - {I(l.WOffset)}) / {I(l.Cols)}, j = (e - {I(l.WOffset)}) % {I(l.Cols)};");
                using (w.Block("for (int n = n0; n < n1; n++)"))
                {
                    w.Line($"int s = n * {I(per)};");
                    using (w.Block($"for (int kd = 0; kd < {I(dv.KeptGrid(l.DstMask))}; kd++)"))
                    {
                        string x = Source(l, "kd", "i", _bx, "a.X", I(per));
                        var back = new Link(l.Term, l.Dst, l.DstMask, l.Src, l.SrcMask, l.WOffset, l.Rows, l.Cols, true, 1, l.Description);
                        string g = Source(back, "kd", "j", _bg, "a.G", I(per));
                        w.Line($"acc += {x} * {g};");
                    }
                }
                w.Close();
            }
            if (_p.ForwardLinks.Any(IsTotal))
            {
                w.Open($"{(first ? "" : "else ")}if (e < {I(_p.WeightCount)})");
                w.Line($"acc = {RuntimeNames.IlgpuLayerOps}.TotalsWeightGradient(a, {I(_p.Views.Count)}, e, n0, n1, {I(per)}, {I(_bg.Base)});");
                w.Close();
                first = false;
            }
            foreach (var v in _p.Views)
            {
                int t = v.Tensor.Index, wide = v.Fixed * _p.Cout, off = _p.WeightCount + _p.BiasOffsets[t];
                w.Line($"// bias of {v.Tensor.Name}: the total sum of its output gradient");
                w.Open($"{(first ? "" : "else ")}if (e >= {I(off)} && e < {I(off + wide)})");
                first = false;
                w.Line($"for (int n = n0; n < n1; n++) acc += a.S[n * {I(per)} + {I(_bg.Base + _bg.Totals[t])} + e - {I(off)}];");
                w.Close();
            }
            w.Line($"a.S[a.Batch * {I(per)} + c * {I(pc)} + e] = acc;");
            w.Close();
            w.Line();
        }

        private void EmitFinish(IndentedWriter w)
        {
            int pc = _p.WeightCount + _p.BiasCount;
            int bPer = _bStatFloats + _bTermFloats;
            OpenKernel(w, "GradientFinish", "Adds the chunks' partial gradients in chunk order into the weight and bias gradients.");
            w.Line("int e = index.X;");
            w.Line($"int chunks = (a.Batch + {I(IlgpuChunkSize - 1)}) / {I(IlgpuChunkSize)};");
            w.Line("float sum = 0f;");
            w.Line($"for (int c = 0; c < chunks; c++) sum += a.S[a.Batch * {I(bPer)} + c * {I(pc)} + e];");
            w.Line($"if (e < {I(_p.WeightCount)}) a.Gw[e] += sum; else a.Gb[e - {I(_p.WeightCount)}] += sum;");
            w.Close();
        }

        /// <summary>Networks per gradient chunk (<c>IlgpuLayerSource.ChunkSize</c>, checked by a test).</summary>
        public const int IlgpuChunkSize = 8;
    }
}
