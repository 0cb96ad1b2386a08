using LayerCompiler.Contracts;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits a batched forward and weight-gradient pass of the declared (dense) input network itself,
    /// specialized to its widths: networks in parallel, points one at a time with every activation in
    /// stack memory, weight gradients accumulated per network (so no races and a fixed summation order).
    /// </summary>
    public static class InputNetworkEmitter
    {
        private const string Ops = RuntimeNames.FusedOps;
        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        public static bool Supports(ArchitectureInfo arch) => arch.Layers.All(l => l.Kind == 0);

        public static void Emit(ArchitectureInfo arch, IndentedWriter w)
        {
            var decls = SourceEmitter.Declarations(arch);
            var space = WeightSpace.FromLayers(decls, Symmetry.HiddenNeuron);
            var act = (InputActivation)arch.InputActivation;
            int m = decls.Count;
            // Tensor index of W_l and b_l.
            var wIdx = new int[m]; var bIdx = new int[m];
            for (int l = 0, t = 0; l < m; l++) { wIdx[l] = t++; bIdx[l] = decls[l].Bias ? t++ : -1; }
            int d0 = decls[0].In, dM = decls[m - 1].Out;
            string omega = IndentedWriter.Float(arch.Omega0);

            w.Line($"/// <summary>Runs batches of this network at shared input points ({act} hidden layers{(act == InputActivation.Sine ? ", ω0 = " + arch.Omega0.ToString(CultureInfo.InvariantCulture) : "")}, linear output{(arch.OutputOffset != 0 ? " + " + arch.OutputOffset.ToString(CultureInfo.InvariantCulture) : "")}); generated for these widths.</summary>");
            using (w.Block("public sealed class Network : " + RuntimeNames.IInputNetwork))
            {
                w.Line("public " + RuntimeNames.WeightSpace + " Space { get; } = CreateWeightSpace(global::LayerCompiler.Symmetry.HiddenNeuron);");
                w.Line($"public global::LayerCompiler.InputActivation Activation => global::LayerCompiler.InputActivation.{act};");
                w.Line($"public float Omega0 => {omega};");
                w.Line($"public float OutputOffset => {IndentedWriter.Float(arch.OutputOffset)};");
                w.Line($"public int InputWidth => {d0};");
                w.Line($"public int OutputWidth => {dM};");
                w.Line();
                using (w.Block("private void Check(" + RuntimeNames.WeightSpaceBatch + " weights, float[] points, int pointCount, int outputLength, string outputName)"))
                {
                    w.Line("if (weights.Channels != 1) throw new global::System.ArgumentException($\"Input-network weights have 1 channel, got {weights.Channels}.\", nameof(weights));");
                    w.Line("if (weights.Space.Dimension != Space.Dimension || weights.Tensors.Length != Space.Tensors.Count) throw new global::System.ArgumentException(\"The weights are not over this architecture's weight space.\", nameof(weights));");
                    w.Line($"if (pointCount < 0 || points.Length < pointCount * {d0}) throw new global::System.ArgumentException($\"Expected {{pointCount}} points of {d0} coordinates, got {{points.Length}} values.\", nameof(points));");
                    w.Line($"if (outputLength != weights.Batch * pointCount * {dM}) throw new global::System.ArgumentException($\"{{outputName}} must hold batch × points × {dM} = {{weights.Batch * pointCount * {dM}}} values, got {{outputLength}}.\", outputName);");
                }
                w.Line();
                using (w.Block("public void Forward(" + RuntimeNames.WeightSpaceBatch + " weights, float[] points, int pointCount, float[] output)"))
                {
                    w.Line("Check(weights, points, pointCount, output.Length, nameof(output));");
                    w.Line("var t = weights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => ForwardOne(n, t, points, pointCount, output));");
                }
                w.Line();
                using (w.Block("public void Backward(" + RuntimeNames.WeightSpaceBatch + " weights, float[] points, int pointCount, float[] gradOutput, " + RuntimeNames.WeightSpaceBatch + " gradWeights)"))
                {
                    w.Line("Check(weights, points, pointCount, gradOutput.Length, nameof(gradOutput));");
                    w.Line("if (gradWeights.Batch != weights.Batch || gradWeights.Channels != 1) throw new global::System.ArgumentException(\"gradWeights must match the weights' batch and have 1 channel.\", nameof(gradWeights));");
                    w.Line("var t = weights.Tensors; var g = gradWeights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => BackwardOne(n, t, g, points, pointCount, gradOutput));");
                }
                w.Line();
                using (w.Block("private static void ForwardOne(int n, " + RuntimeNames.Tensor + "[] t, float[] points, int pointCount, float[] output)"))
                {
                    EmitViews(w, decls, wIdx, bIdx, "t", "W", "b", readOnly: true);
                    for (int l = 0; l < m - 1; l++) w.Line($"global::System.Span<float> h{l + 1} = {Buffer(decls[l].Out)};");
                    w.Line("int tiled = 0;");
                    if (Tileable(decls)) EmitTiledForward(w, arch, decls, act, omega);
                    using (w.Block("for (int p = tiled; p < pointCount; p++)"))
                    {
                        w.Line($"var h0 = new global::System.ReadOnlySpan<float>(points, p * {d0}, {d0});");
                        for (int l = 0; l < m; l++)
                        {
                            var d = decls[l];
                            bool last = l == m - 1;
                            string dst = last ? $"output[(n * pointCount + p) * {dM} + o]" : $"h{l + 1}[o]";
                            using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                            {
                                w.Line($"float z = {Ops}.Dot(W{l + 1}.Slice(o * {d.In}, {d.In}), h{l}){(d.Bias ? $" + b{l + 1}[o]" : "")};");
                                w.Line($"{dst} = {(last ? (arch.OutputOffset != 0 ? "z + " + IndentedWriter.Float(arch.OutputOffset) : "z") : Activate(act, "z", omega))};");
                            }
                        }
                    }
                }
                w.Line();
                using (w.Block("private static void BackwardOne(int n, " + RuntimeNames.Tensor + "[] t, " + RuntimeNames.Tensor + "[] gt, float[] points, int pointCount, float[] gradOutput)"))
                {
                    EmitViews(w, decls, wIdx, bIdx, "t", "W", "b", readOnly: true);
                    EmitViews(w, decls, wIdx, bIdx, "gt", "gW", "gb", readOnly: false);
                    for (int l = 0; l < m; l++)
                    {
                        w.Line($"gW{l + 1}.Clear();");
                        if (decls[l].Bias) w.Line($"gb{l + 1}.Clear();");
                    }
                    // z_l (pre-activations) and h_l of hidden layers, and the gradient vectors.
                    for (int l = 0; l < m - 1; l++)
                    {
                        w.Line($"global::System.Span<float> z{l + 1} = {Buffer(decls[l].Out)};");
                        w.Line($"global::System.Span<float> h{l + 1} = {Buffer(decls[l].Out)};");
                        w.Line($"global::System.Span<float> g{l + 1} = {Buffer(decls[l].Out)};");
                    }
                    w.Line("int tiled = 0;");
                    if (Tileable(decls)) EmitTiledBackward(w, decls, act, omega);
                    using (w.Block("for (int p = tiled; p < pointCount; p++)"))
                    {
                        w.Line($"var h0 = new global::System.ReadOnlySpan<float>(points, p * {d0}, {d0});");
                        for (int l = 0; l < m - 1; l++)
                        {
                            var d = decls[l];
                            using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                            {
                                w.Line($"float z = {Ops}.Dot(W{l + 1}.Slice(o * {d.In}, {d.In}), h{l}){(d.Bias ? $" + b{l + 1}[o]" : "")};");
                                w.Line($"z{l + 1}[o] = z;");
                                w.Line($"h{l + 1}[o] = {Activate(act, "z", omega)};");
                            }
                        }
                        w.Line($"var g{m} = new global::System.ReadOnlySpan<float>(gradOutput, (n * pointCount + p) * {dM}, {dM});");
                        for (int l = m - 1; l >= 0; l--)
                        {
                            var d = decls[l];
                            // dW_l += g_l ⊗ h_{l-1}; db_l += g_l; then g_{l-1} = (W_lᵀ g_l) ⊙ act'(z_{l-1}).
                            w.Line($"{Ops}.OuterAdd(g{l + 1}, h{l}, gW{l + 1});");
                            if (d.Bias) w.Line($"{Ops}.Add(g{l + 1}, gb{l + 1});");
                            if (l == 0) continue;
                            w.Line($"g{l}.Clear();");
                            using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                                w.Line($"{Ops}.Axpy(g{l + 1}[o], W{l + 1}.Slice(o * {d.In}, {d.In}), g{l});");
                            using (w.Block($"for (int i = 0; i < {d.In}; i++)"))
                                w.Line($"g{l}[i] *= {Derivative(act, $"z{l}[i]", $"h{l}[i]", omega)};");
                        }
                    }
                }
            }
        }

        /// <summary>Points go 8 to a Vector256 lane set when the per-network lane accumulators stay small.</summary>
        private static bool Tileable(IReadOnlyList<LayerDeclaration> decls) => decls.Sum(d => (long)d.In * d.Out) <= 8192 && decls.All(d => d.Out <= 1024);

        private const string V = "global::System.Runtime.Intrinsics.Vector256";
        private const string VF = "global::System.Runtime.Intrinsics.Vector256<float>";
        private const string VM = RuntimeNames.VectorMath;

        private static string Gather(string arr, string baseExpr, int stride, string offset) =>
            $"{V}.Create({string.Join(", ", Enumerable.Range(0, 8).Select(j => $"{arr}[({baseExpr} + {j}) * {stride} + {offset}]"))})";

        /// <summary>z = b + W·h for 8 points at once: weights broadcast, points in the lanes.</summary>
        private static void EmitTiledLayer(IndentedWriter w, LayerDeclaration d, int l, string prev)
        {
            w.Line($"var acc = {(d.Bias ? $"{V}.Create(b{l + 1}[o])" : $"{VF}.Zero")};");
            using (w.Block($"for (int i = 0; i < {d.In}; i++)"))
                w.Line($"acc = {V}.FusedMultiplyAdd({V}.Create(W{l + 1}[o * {d.In} + i]), {prev}[i], acc);");
        }

        private static string TiledActivate(InputActivation act, string z, string omega) => act switch
        {
            InputActivation.Sine => $"{VM}.SinCos({z} * {omega}).Sin",
            InputActivation.Tanh => $"{VM}.Tanh({z})",
            _ => $"{V}.Max({z}, {VF}.Zero)",
        };

        private static void EmitTiledForward(IndentedWriter w, ArchitectureInfo arch, IReadOnlyList<LayerDeclaration> decls, InputActivation act, string omega)
        {
            int m = decls.Count, d0 = decls[0].In, dM = decls[m - 1].Out;
            w.Line($"global::System.Span<{VF}> t0 = stackalloc {VF}[{d0}];");
            for (int l = 0; l < m - 1; l++) w.Line($"global::System.Span<{VF}> t{l + 1} = stackalloc {VF}[{decls[l].Out}];");
            using (w.Block("for (; tiled + 8 <= pointCount; tiled += 8)"))
            {
                for (int i = 0; i < d0; i++) w.Line($"t0[{i}] = {Gather("points", "tiled", d0, i.ToString(CultureInfo.InvariantCulture))};");
                for (int l = 0; l < m; l++)
                {
                    var d = decls[l];
                    using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                    {
                        EmitTiledLayer(w, d, l, $"t{l}");
                        if (l < m - 1) w.Line($"t{l + 1}[o] = {TiledActivate(act, "acc", omega)};");
                        else
                        {
                            if (arch.OutputOffset != 0) w.Line($"acc += {V}.Create({IndentedWriter.Float(arch.OutputOffset)});");
                            using (w.Block("for (int j = 0; j < 8; j++)"))
                                w.Line($"output[(n * pointCount + tiled + j) * {dM} + o] = {V}.GetElement(acc, j);");
                        }
                    }
                }
            }
        }

        private static void EmitTiledBackward(IndentedWriter w, IReadOnlyList<LayerDeclaration> decls, InputActivation act, string omega)
        {
            int m = decls.Count, d0 = decls[0].In, dM = decls[m - 1].Out;
            w.Line($"global::System.Span<{VF}> t0 = stackalloc {VF}[{d0}];");
            for (int l = 0; l < m - 1; l++)
            {
                w.Line($"global::System.Span<{VF}> zt{l + 1} = stackalloc {VF}[{decls[l].Out}];");
                w.Line($"global::System.Span<{VF}> t{l + 1} = stackalloc {VF}[{decls[l].Out}];");
                w.Line($"global::System.Span<{VF}> gt{l + 1} = stackalloc {VF}[{decls[l].Out}];");
            }
            w.Line($"global::System.Span<{VF}> gt{m} = stackalloc {VF}[{dM}];");
            // Lane accumulators of the weight gradients, reduced once per network.
            for (int l = 0; l < m; l++)
            {
                w.Line($"global::System.Span<{VF}> aW{l + 1} = stackalloc {VF}[{decls[l].In * decls[l].Out}];");
                w.Line($"aW{l + 1}.Clear();");
                if (decls[l].Bias) { w.Line($"global::System.Span<{VF}> ab{l + 1} = stackalloc {VF}[{decls[l].Out}];"); w.Line($"ab{l + 1}.Clear();"); }
            }
            using (w.Block("for (; tiled + 8 <= pointCount; tiled += 8)"))
            {
                for (int i = 0; i < d0; i++) w.Line($"t0[{i}] = {Gather("points", "tiled", d0, i.ToString(CultureInfo.InvariantCulture))};");
                for (int l = 0; l < m - 1; l++)
                {
                    var d = decls[l];
                    using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                    {
                        EmitTiledLayer(w, d, l, $"t{l}");
                        w.Line($"zt{l + 1}[o] = acc;");
                        w.Line($"t{l + 1}[o] = {TiledActivate(act, "acc", omega)};");
                    }
                }
                for (int o = 0; o < dM; o++) w.Line($"gt{m}[{o}] = {Gather("gradOutput", "n * pointCount + tiled", dM, o.ToString(CultureInfo.InvariantCulture))};");
                for (int l = m - 1; l >= 0; l--)
                {
                    var d = decls[l];
                    using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                    {
                        w.Line($"var g = gt{l + 1}[o];");
                        if (d.Bias) w.Line($"ab{l + 1}[o] += g;");
                        using (w.Block($"for (int i = 0; i < {d.In}; i++)"))
                            w.Line($"aW{l + 1}[o * {d.In} + i] = {V}.FusedMultiplyAdd(g, t{l}[i], aW{l + 1}[o * {d.In} + i]);");
                    }
                    if (l == 0) continue;
                    using (w.Block($"for (int i = 0; i < {d.In}; i++)"))
                    {
                        w.Line($"var acc = {VF}.Zero;");
                        using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                            w.Line($"acc = {V}.FusedMultiplyAdd({V}.Create(W{l + 1}[o * {d.In} + i]), gt{l + 1}[o], acc);");
                        string deriv = act switch
                        {
                            InputActivation.Sine => $"{VM}.SinCos(zt{l}[i] * {omega}).Cos * {omega}",
                            InputActivation.Tanh => $"({VF}.One - t{l}[i] * t{l}[i])",
                            _ => $"{V}.ConditionalSelect({V}.GreaterThan(zt{l}[i], {VF}.Zero), {VF}.One, {VF}.Zero)",
                        };
                        w.Line($"gt{l}[i] = acc * {deriv};");
                    }
                }
            }
            for (int l = 0; l < m; l++)
            {
                using (w.Block($"for (int k = 0; k < {decls[l].In * decls[l].Out}; k++)"))
                    w.Line($"gW{l + 1}[k] += {V}.Sum(aW{l + 1}[k]);");
                if (decls[l].Bias)
                    using (w.Block($"for (int k = 0; k < {decls[l].Out}; k++)"))
                        w.Line($"gb{l + 1}[k] += {V}.Sum(ab{l + 1}[k]);");
            }
        }

        /// <summary>Stack memory for ordinary widths; the heap past 4096 floats, so wide layers cannot overflow the stack.</summary>
        private static string Buffer(int size) => size <= 4096 ? $"stackalloc float[{size}]" : $"new float[{size}]";

        private static void EmitViews(IndentedWriter w, IReadOnlyList<LayerDeclaration> decls, int[] wIdx, int[] bIdx, string arr, string wName, string bName, bool readOnly)
        {
            string span = readOnly ? "global::System.ReadOnlySpan<float>" : "global::System.Span<float>";
            for (int l = 0; l < decls.Count; l++)
            {
                int ws = decls[l].In * decls[l].Out;
                w.Line($"var {wName}{l + 1} = new {span}({arr}[{wIdx[l]}].Data, n * {ws}, {ws});");
                if (bIdx[l] >= 0) w.Line($"var {bName}{l + 1} = new {span}({arr}[{bIdx[l]}].Data, n * {decls[l].Out}, {decls[l].Out});");
            }
        }

        internal static string Activate(InputActivation act, string z, string omega) => act switch
        {
            InputActivation.Sine => $"global::System.MathF.Sin({omega} * {z})",
            InputActivation.Tanh => $"global::System.MathF.Tanh({z})",
            _ => $"({z} > 0f ? {z} : 0f)",
        };

        internal static string Derivative(InputActivation act, string z, string h, string omega) => act switch
        {
            InputActivation.Sine => $"{omega} * global::System.MathF.Cos({omega} * {z})",
            InputActivation.Tanh => $"(1f - {h} * {h})",
            _ => $"({z} > 0f ? 1f : 0f)",
        };
    }
}
