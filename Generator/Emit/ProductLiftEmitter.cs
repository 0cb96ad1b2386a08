using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Contracts;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Prints the sign-invariant lift of a [ProductModel] with <see cref="Symmetry.SignedHiddenNeuron"/> for its architecture:
    /// per network, each hidden neuron's sign-odd reference vector r(ℓ, i) (its bias, its incoming row when the previous
    /// layer is the input, its outgoing column when the next layer is the output; the runtime's <c>SignInvariantLift</c>
    /// order), then every entry x of every tensor times the references of its hidden axes, x · r(ℓ₁, i₁) ⊗ r(ℓ₂, i₂) ⊗ ⋯,
    /// multiplied left to right in the runtime lift's order (so the result is bitwise the run-time lift's), every size a
    /// constant, networks in parallel (each writes only its own rows).
    /// </summary>
    public static class ProductLiftEmitter
    {
        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        public static void Emit(IndentedWriter w, WeightSpace space, string archType)
        {
            int m = space.Depth;
            var sizes = SignReferences.Sizes(space);
            int channels = (int)SignReferences.Channels(space);
            var weight = new int[m + 1];
            var bias = Enumerable.Repeat(-1, m + 1).ToArray();
            foreach (var t in space.Tensors) if (t.IsBias) bias[t.LayerNumber] = t.Index; else weight[t.LayerNumber] = t.Index;
            var widths = new int[m + 1];
            for (int k = 0; k <= m; k++) widths[k] = space.Layers[k].Width;

            w.Line($"/// <summary>Channels of the generated sign-invariant lift (<see cref=\"LiftWeights\"/>).</summary>");
            w.Line($"public const int LiftChannels = {I(channels)};");
            w.Line();
            w.Line($"private static readonly {RuntimeNames.WeightSpace} LiftedSpace = {archType}.CreateWeightSpace(global::LayerCompiler.Symmetry.HiddenNeuron);");
            w.Line();
            w.Line("/// <summary>The lift of this model's input (the generated <see cref=\"LiftWeights\"/>).</summary>");
            w.Line("protected override global::LayerCompiler.Runtime.WeightSpaceBatch LiftInput(global::LayerCompiler.Runtime.WeightSpaceBatch input) => LiftWeights(input);");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// The sign-invariant, permutation-equivariant lift of raw weights (1 channel) to <see cref=\"LiftChannels\"/> channels over");
            w.Line($"/// the same network under hidden permutations: generated for this architecture, bitwise the run-time");
            w.Line("/// <see cref=\"global::LayerCompiler.Runtime.Transforms.SignInvariantLift\"/>. Forward only (the input is not differentiated).");
            w.Line("/// </summary>");
            using (w.Block("public static global::LayerCompiler.Runtime.WeightSpaceBatch LiftWeights(global::LayerCompiler.Runtime.WeightSpaceBatch weights)"))
            {
                w.Line("if (weights == null) throw new global::System.ArgumentNullException(nameof(weights));");
                w.Line("if (weights.Channels != 1) throw new global::System.ArgumentException($\"The lift takes raw weights (1 channel), got {weights.Channels} channels.\", nameof(weights));");
                var shapeChecks = new List<string> { $"weights.Space.Tensors.Count != {I(space.Tensors.Count)}" };
                foreach (var t in space.Tensors)
                {
                    shapeChecks.Add($"weights.Space.Tensors[{I(t.Index)}].Shape.Length != {I(t.Shape.Length)}");
                    for (int a = 0; a < t.Shape.Length; a++) shapeChecks.Add($"weights.Space.Tensors[{I(t.Index)}].Shape[{I(a)}] != {I(t.Shape[a])}");
                }
                w.Line($"if ({string.Join(" || ", shapeChecks)})");
                w.Line("    throw new global::System.ArgumentException(\"The weights are not of this model's architecture.\", nameof(weights));");
                w.Line("int batch = weights.Batch;");
                w.Line($"var lifted = new global::LayerCompiler.Runtime.WeightSpaceBatch(LiftedSpace, batch, {I(channels)});");
                foreach (var t in space.Tensors)
                    w.Line($"float[] x{I(t.Index)} = weights.Tensors[{I(t.Index)}].Data, y{I(t.Index)} = lifted.Tensors[{I(t.Index)}].Data;");
                using (w.Block("global::System.Threading.Tasks.Parallel.For(0, batch, n =>"))
                {
                    for (int l = 1; l < m; l++)
                    {
                        int width = widths[l], size = sizes[l];
                        w.Line($"// r({l}, i): {Describe(space, l, bias, m)}");
                        w.Line($"var r{l} = new float[{I((long)width * size)}];");
                        using (w.Block($"for (int i = 0; i < {I(width)}; i++)"))
                        {
                            w.Line($"int k = i * {I(size)};");
                            if (bias[l] >= 0) w.Line($"r{l}[k++] = x{I(bias[l])}[n * {I(width)} + i];");
                            if (l == 1)
                            {
                                int ins = widths[0];
                                w.Line($"for (int q = 0; q < {I(ins)}; q++) r{l}[k++] = x{I(weight[l])}[(n * {I(width)} + i) * {I(ins)} + q];");
                            }
                            if (l + 1 == m)
                            {
                                int outs = widths[m];
                                w.Line($"for (int o = 0; o < {I(outs)}; o++) r{l}[k++] = x{I(weight[l + 1])}[(n * {I(outs)} + o) * {I(width)} + i];");
                            }
                        }
                    }
                    foreach (var t in space.Tensors) Tensor(w, space, t, sizes, channels);
                }
                w.Line(");");
                w.Line("return lifted;");
            }
        }

        private static string Describe(WeightSpace space, int l, int[] bias, int m)
        {
            var parts = new List<string>();
            if (bias[l] >= 0) parts.Add($"b{l}[i]");
            if (l == 1) parts.Add($"W1[i, :]");
            if (l + 1 == m) parts.Add($"W{l + 1}[:, i]");
            return string.Join(", ", parts);
        }

        private static void Tensor(IndentedWriter w, WeightSpace space, WeightTensor t, int[] sizes, int channels)
        {
            var hidden = Enumerable.Range(0, t.Axes.Length).Where(a => !t.Axes[a].IsKernel && space.Layers[t.Axes[a].Layer].Signed).ToArray();
            int ti = t.Index;
            w.Line($"// {t.Name} [{string.Join(" × ", t.Shape)}]: {(hidden.Length == 0 ? "no hidden axis, copied" : "x · " + string.Join(" ⊗ ", hidden.Select(a => $"r({t.Axes[a].Layer}, i{a})")))}");
            w.OpenScope();
            for (int a = 0; a < t.Axes.Length; a++) w.Open($"for (int i{a} = 0; i{a} < {I(t.Shape[a])}; i{a}++)");
            string e = "i0";
            for (int a = 1; a < t.Axes.Length; a++) e = $"({e}) * {I(t.Shape[a])} + i{a}";
            w.Line($"int e = {e};");
            w.Line($"float v = x{ti}[n * {I(t.Size)} + e];");
            w.Line($"int at = (n * {I(t.Size)} + e) * {I(channels)};");
            if (hidden.Length == 0) w.Line($"y{ti}[at] = v;");
            else
            {
                var index = new List<string>();
                string value = "v";
                for (int h = 0; h < hidden.Length; h++)
                {
                    int a = hidden[h], layer = t.Axes[a].Layer, size = sizes[layer];
                    w.Open($"for (int q{h} = 0; q{h} < {I(size)}; q{h}++)");
                    value = $"{(h == 0 ? value : "(" + value + ")")} * r{layer}[i{a} * {I(size)} + q{h}]";
                    index.Add($"q{h}");
                }
                string channel = index[0];
                for (int h = 1; h < hidden.Length; h++) channel = $"({channel}) * {I(sizes[t.Axes[hidden[h]].Layer])} + {index[h]}";
                w.Line($"y{ti}[at + {channel}] = {value};");
                for (int h = 0; h < hidden.Length; h++) w.Close();
            }
            for (int a = 0; a < t.Axes.Length; a++) w.Close();
            w.Close();
        }
    }
}
