using LayerCompiler.Contracts;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits <c>Classifier</c>: a batched forward and weight-gradient pass of an image classifier declared with an input size
    /// (<c>[InputNetwork(InputHeight = …, InputWidth = …)]</c>): valid (unpadded) strided convolutions → activation → …
    /// → global average pooling → dense layers (hidden ones activated, the last one linear: logits), or dense layers over
    /// the flattened image. Every size is a constant of the generated code. Networks run in parallel (each with its own
    /// weights and its own list of image indices into one shared image array); the images of one network run one after
    /// the other, so weight gradients are accumulated per network in a fixed order (deterministic, no races).
    /// A convolution is an im2col (one patch row per output position, laid out like a weight row: in, kh, kw) followed
    /// by one dot product per (output channel, position); its weight gradient is one axpy per (channel, position).
    /// </summary>
    public static class ClassifierEmitter
    {
        private const string Ops = RuntimeNames.FusedOps;
        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        public static bool Supports(ArchitectureInfo arch) => arch.IsImageClassifier && !arch.HasErrors;

        /// <summary>Geometry of one convolution: input map, output map, patch length.</summary>
        private sealed class Conv
        {
            public int In, Out, KH, KW, S, H, W, OH, OW;
            public int K => In * KH * KW;
            public int P => OH * OW;
        }

        /// <summary>
        /// The im2col loop nest of <paramref name="g"/> (output position, input channel, kernel row, kernel column) with
        /// <c>s0 + kx</c> indexing the map and <c>d0 + kx</c> the patch row; <paramref name="statement"/> moves one value
        /// (im2col in the forward pass, col2im's scatter-add in the backward pass).
        /// </summary>
        private static void EmitPatchLoops(IndentedWriter w, Conv g, string statement)
        {
            using (w.Block($"for (int oy = 0; oy < {g.OH}; oy++)"))
            using (w.Block($"for (int ox = 0; ox < {g.OW}; ox++)"))
            {
                w.Line($"int q = (oy * {g.OW} + ox) * {g.K};");
                using (w.Block($"for (int i = 0; i < {g.In}; i++)"))
                using (w.Block($"for (int ky = 0; ky < {g.KH}; ky++)"))
                {
                    w.Line($"int s0 = i * {g.H * g.W} + (oy * {g.S} + ky) * {g.W} + ox * {g.S};");
                    w.Line($"int d0 = q + (i * {g.KH} + ky) * {g.KW};");
                    using (w.Block($"for (int kx = 0; kx < {g.KW}; kx++)"))
                        w.Line(statement);
                }
            }
        }

        private static List<Conv> Geometry(ArchitectureInfo arch)
        {
            var convs = new List<Conv>();
            int h = arch.InputHeight, w = arch.InputWidth;
            foreach (var l in arch.Layers.TakeWhile(l => l.Kind == 1))
            {
                var c = new Conv { In = l.In, Out = l.Out, KH = l.KernelH, KW = l.KernelW, S = l.Stride, H = h, W = w };
                c.OH = (h - l.KernelH) / l.Stride + 1; c.OW = (w - l.KernelW) / l.Stride + 1;
                convs.Add(c);
                h = c.OH; w = c.OW;
            }
            return convs;
        }

        public static void Emit(ArchitectureInfo arch, IndentedWriter w)
        {
            var decls = SourceEmitter.Declarations(arch);
            var act = (InputActivation)arch.InputActivation;
            string omega = IndentedWriter.Float(arch.Omega0);
            int m = decls.Count;
            var wIdx = new int[m]; var bIdx = new int[m];
            for (int l = 0, t = 0; l < m; l++) { wIdx[l] = t++; bIdx[l] = decls[l].Bias ? t++ : -1; }
            var convs = Geometry(arch);
            int nc = convs.Count;
            int channels = nc > 0 ? convs[0].In : decls[0].In / (arch.InputHeight * arch.InputWidth);
            int inputLength = channels * arch.InputHeight * arch.InputWidth;
            int classes = decls[m - 1].Out;
            int featureLength = decls[m - 1].In;
            string geometry = string.Join(" → ", convs.Select(c => $"{c.OH}×{c.OW}"));

            w.Line($"/// <summary>Batched image-classifier pass of this network ({channels}×{arch.InputHeight}×{arch.InputWidth} inputs{(nc > 0 ? ", feature maps " + geometry + ", global average pooling" : "")}, {act} hidden activations, {classes} logits); generated for these sizes.</summary>");
            using (w.Block("public sealed class Classifier"))
            {
                w.Line("public " + RuntimeNames.WeightSpace + " Space { get; } = CreateWeightSpace(global::LayerCompiler.Symmetry.HiddenNeuron);");
                w.Line($"public const int ImageChannels = {channels};");
                w.Line($"public const int ImageHeight = {arch.InputHeight};");
                w.Line($"public const int ImageWidth = {arch.InputWidth};");
                w.Line("/// <summary>Floats per image (channels, rows, columns).</summary>");
                w.Line($"public const int InputLength = {inputLength};");
                w.Line("/// <summary>Logits per image.</summary>");
                w.Line($"public const int Outputs = {classes};");
                w.Line("/// <summary>Inputs of the last (linear) layer: the length of one image's feature mask (dropout).</summary>");
                w.Line($"public const int FeatureLength = {featureLength};");
                w.Line($"public global::LayerCompiler.InputActivation Activation => global::LayerCompiler.InputActivation.{act};");
                w.Line();
                using (w.Block("private void Check(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, int outputLength, string outputName, float[]? featureMask)"))
                {
                    w.Line("if (weights.Channels != 1) throw new global::System.ArgumentException($\"Input-network weights have 1 channel, got {weights.Channels}.\", nameof(weights));");
                    w.Line("if (weights.Space.Dimension != Space.Dimension || weights.Tensors.Length != Space.Tensors.Count) throw new global::System.ArgumentException(\"The weights are not over this architecture's weight space.\", nameof(weights));");
                    w.Line("if (perNetwork < 0 || indices.Length != weights.Batch * perNetwork) throw new global::System.ArgumentException($\"indices must hold batch × perNetwork = {weights.Batch * perNetwork} image indices, got {indices.Length}.\", nameof(indices));");
                    w.Line($"if (inputs.Length % {inputLength} != 0) throw new global::System.ArgumentException($\"inputs must hold whole images of {inputLength} values, got {{inputs.Length}}.\", nameof(inputs));");
                    w.Line($"int images = inputs.Length / {inputLength};");
                    w.Line("foreach (int i in indices) if ((uint)i >= (uint)images) throw new global::System.ArgumentOutOfRangeException(nameof(indices), $\"Image index {i} is outside the {images} images.\");");
                    w.Line($"if (outputLength != weights.Batch * perNetwork * {classes}) throw new global::System.ArgumentException($\"{{outputName}} must hold batch × perNetwork × {classes} = {{weights.Batch * perNetwork * {classes}}} values, got {{outputLength}}.\", outputName);");
                    w.Line($"if (featureMask != null && featureMask.Length != weights.Batch * perNetwork * {featureLength}) throw new global::System.ArgumentException($\"featureMask must hold batch × perNetwork × {featureLength} values, got {{featureMask.Length}}.\", nameof(featureMask));");
                }
                w.Line();
                w.Line($"/// <summary>logits[(n·perNetwork + j)·{classes} + k]: network n on image indices[n·perNetwork + j] (inputs holds images of {inputLength} floats). featureMask (optional, e.g. inverted dropout) scales the last layer's inputs.</summary>");
                using (w.Block("public void Forward(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, float[] logits, float[]? featureMask = null)"))
                {
                    w.Line("Check(weights, inputs, indices, perNetwork, logits.Length, nameof(logits), featureMask);");
                    w.Line("var t = weights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, null, inputs, indices, perNetwork, logits, featureMask));");
                }
                w.Line();
                w.Line("/// <summary>Overwrites gradWeights with the gradient of Σ gradLogits · logits over every image of each network (the forward pass is recomputed).</summary>");
                using (w.Block("public void Backward(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, float[] gradLogits, " + RuntimeNames.WeightSpaceBatch + " gradWeights, float[]? featureMask = null)"))
                {
                    w.Line("Check(weights, inputs, indices, perNetwork, gradLogits.Length, nameof(gradLogits), featureMask);");
                    w.Line("if (gradWeights.Batch != weights.Batch || gradWeights.Channels != 1 || gradWeights.Space.Dimension != Space.Dimension) throw new global::System.ArgumentException(\"gradWeights must be over this weight space with the weights' batch and 1 channel.\", nameof(gradWeights));");
                    w.Line("var t = weights.Tensors; var g = gradWeights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, g, inputs, indices, perNetwork, gradLogits, featureMask));");
                }
                w.Line();
                w.Line("/// <summary>One network: forward into io (gt null), or forward then backward with io as the logits' gradient.</summary>");
                using (w.Block("private static void Run(int n, " + RuntimeNames.Tensor + "[] t, " + RuntimeNames.Tensor + "[]? gt, float[] inputs, int[] indices, int perNetwork, float[] io, float[]? mask)"))
                {
                    EmitBody(w, decls, convs, wIdx, bIdx, act, omega, inputLength, classes, featureLength, arch.OutputOffset);
                }
            }
        }

        private static void EmitBody(IndentedWriter w, IReadOnlyList<LayerDeclaration> decls, List<Conv> convs, int[] wIdx, int[] bIdx,
            InputActivation act, string omega, int inputLength, int classes, int featureLength, float outputOffset)
        {
            int m = decls.Count, nc = convs.Count;
            for (int l = 0; l < m; l++)
            {
                int ws = decls[l].In * decls[l].Out * decls[l].KernelH * decls[l].KernelW;
                w.Line($"var W{l + 1} = new global::System.ReadOnlySpan<float>(t[{wIdx[l]}].Data, n * {ws}, {ws});");
                if (bIdx[l] >= 0) w.Line($"var b{l + 1} = new global::System.ReadOnlySpan<float>(t[{bIdx[l]}].Data, n * {decls[l].Out}, {decls[l].Out});");
            }
            w.Line("bool backward = gt != null;");
            // Gradient views: only when differentiating (the spans are empty otherwise).
            for (int l = 0; l < m; l++)
            {
                int ws = decls[l].In * decls[l].Out * decls[l].KernelH * decls[l].KernelW;
                w.Line($"var gW{l + 1} = backward ? new global::System.Span<float>(gt![{wIdx[l]}].Data, n * {ws}, {ws}) : default;");
                if (bIdx[l] >= 0) w.Line($"var gb{l + 1} = backward ? new global::System.Span<float>(gt![{bIdx[l]}].Data, n * {decls[l].Out}, {decls[l].Out}) : default;");
            }
            using (w.Block("if (backward)"))
                for (int l = 0; l < m; l++)
                {
                    w.Line($"gW{l + 1}.Clear();");
                    if (bIdx[l] >= 0) w.Line($"gb{l + 1}.Clear();");
                }
            // Scratch, once per network: patches, pre-activations and activations of every conv; their gradients.
            for (int c = 0; c < nc; c++)
            {
                var g = convs[c];
                w.Line($"var p{c + 1} = new float[{I((long)g.P * g.K)}]; var z{c + 1} = new float[{I((long)g.Out * g.P)}]; var a{c + 1} = new float[{I((long)g.Out * g.P)}];");
                w.Line($"var ga{c + 1} = backward ? new float[{I((long)g.Out * g.P)}] : null;");
                if (c > 0) w.Line($"var gp{c + 1} = backward ? new float[{I((long)g.P * g.K)}] : null;");
            }
            if (nc > 0) w.Line($"var f = new float[{convs[nc - 1].Out}]; var gf = backward ? new float[{convs[nc - 1].Out}] : null;");
            for (int l = nc; l < m - 1; l++)
                w.Line($"var z{l + 1} = new float[{decls[l].Out}]; var a{l + 1} = new float[{decls[l].Out}]; var ga{l + 1} = backward ? new float[{decls[l].Out}] : null;");
            w.Line($"var hm = new float[{featureLength}];");
            w.Line($"var y = new float[{classes}];");

            using (w.Block("for (int j = 0; j < perNetwork; j++)"))
            {
                w.Line("int item = n * perNetwork + j;");
                w.Line($"var x = new global::System.ReadOnlySpan<float>(inputs, indices[item] * {inputLength}, {inputLength});");
                // Convolutions.
                for (int c = 0; c < nc; c++)
                {
                    var g = convs[c];
                    string src = c == 0 ? "x" : $"a{c}";
                    EmitPatchLoops(w, g, $"p{c + 1}[d0 + kx] = {src}[s0 + kx];");
                    using (w.Block($"for (int o = 0; o < {g.Out}; o++)"))
                    {
                        w.Line($"var wr = W{c + 1}.Slice(o * {g.K}, {g.K});");
                        w.Line($"float bias = {(bIdx[c] >= 0 ? $"b{c + 1}[o]" : "0f")};");
                        using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
                        {
                            w.Line($"float zz = {Ops}.Dot(wr, new global::System.ReadOnlySpan<float>(p{c + 1}, p * {g.K}, {g.K})) + bias;");
                            w.Line($"z{c + 1}[o * {g.P} + p] = zz;");
                            w.Line($"a{c + 1}[o * {g.P} + p] = {InputNetworkEmitter.Activate(act, "zz", omega)};");
                        }
                    }
                }
                if (nc > 0)
                {
                    var last = convs[nc - 1];
                    using (w.Block($"for (int ch = 0; ch < {last.Out}; ch++)"))
                    {
                        w.Line("float s = 0f;");
                        w.Line($"for (int p = 0; p < {last.P}; p++) s += a{nc}[ch * {last.P} + p];");
                        w.Line($"f[ch] = s * {IndentedWriter.Float(1f / last.P)};");
                    }
                }
                // Dense layers: the input of dense layer l is "h{l}".
                string Input(int l) => l == nc ? (nc > 0 ? "f" : "x") : $"a{l}";
                for (int l = nc; l < m; l++)
                {
                    var d = decls[l];
                    bool lastLayer = l == m - 1;
                    string input = Input(l);
                    if (lastLayer)
                    {
                        // The last layer reads its inputs through the optional mask (hm = input ⊙ mask).
                        using (w.Block("if (mask != null)"))
                            w.Line($"for (int k = 0; k < {featureLength}; k++) hm[k] = {input}[k] * mask[item * {featureLength} + k];");
                        using (w.Block("else"))
                            w.Line($"{(input == "x" ? "x" : $"new global::System.ReadOnlySpan<float>({input})")}.CopyTo(hm);");
                        input = "hm";
                    }
                    string inSpan = input == "x" ? "x" : $"new global::System.ReadOnlySpan<float>({input})";
                    using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                    {
                        w.Line($"float zz = {Ops}.Dot(W{l + 1}.Slice(o * {d.In}, {d.In}), {inSpan}){(bIdx[l] >= 0 ? $" + b{l + 1}[o]" : "")};");
                        if (lastLayer) w.Line($"y[o] = zz{(outputOffset != 0 ? " + " + IndentedWriter.Float(outputOffset) : "")};");
                        else { w.Line($"z{l + 1}[o] = zz;"); w.Line($"a{l + 1}[o] = {InputNetworkEmitter.Activate(act, "zz", omega)};"); }
                    }
                }
                using (w.Block("if (!backward)"))
                {
                    w.Line($"new global::System.ReadOnlySpan<float>(y).CopyTo(new global::System.Span<float>(io, item * {classes}, {classes}));");
                    w.Line("continue;");
                }
                // Backward: dense layers from the last; g is the gradient of the current layer's output.
                w.Line($"var gy = new global::System.ReadOnlySpan<float>(io, item * {classes}, {classes});");
                for (int l = m - 1; l >= nc; l--)
                {
                    var d = decls[l];
                    bool lastLayer = l == m - 1;
                    string g = lastLayer ? "gy" : $"new global::System.ReadOnlySpan<float>(ga{l + 1})";
                    string input = lastLayer ? "hm" : Input(l);
                    string inSpan = input == "x" ? "x" : $"new global::System.ReadOnlySpan<float>({input})";
                    w.Line($"{Ops}.OuterAdd({g}, {inSpan}, gW{l + 1});");
                    if (bIdx[l] >= 0) w.Line($"{Ops}.Add({g}, gb{l + 1});");
                    if (l == 0) continue; // the input image needs no gradient
                    string gin = l == nc ? "gf" : $"ga{l}";
                    w.Line($"global::System.Array.Clear({gin}!);");
                    using (w.Block($"for (int o = 0; o < {d.Out}; o++)"))
                        w.Line($"{Ops}.Axpy({g}[o], W{l + 1}.Slice(o * {d.In}, {d.In}), {gin});");
                    if (lastLayer)
                        using (w.Block("if (mask != null)"))
                            w.Line($"for (int k = 0; k < {featureLength}; k++) {gin}![k] *= mask[item * {featureLength} + k];");
                    if (l > nc)
                        w.Line($"for (int k = 0; k < {decls[l - 1].Out}; k++) {gin}![k] *= {InputNetworkEmitter.Derivative(act, $"z{l}[k]", $"a{l}[k]", omega)};");
                }
                if (nc > 0)
                {
                    var last = convs[nc - 1];
                    // Global average pooling: each position gets its channel's gradient / positions.
                    using (w.Block($"for (int ch = 0; ch < {last.Out}; ch++)"))
                    {
                        w.Line($"float v = gf![ch] * {IndentedWriter.Float(1f / last.P)};");
                        w.Line($"for (int p = 0; p < {last.P}; p++) ga{nc}![ch * {last.P} + p] = v;");
                    }
                }
                for (int c = nc - 1; c >= 0; c--)
                {
                    var g = convs[c];
                    // ga holds dL/da; turn it into dL/dz in place.
                    w.Line($"for (int k = 0; k < {g.Out * g.P}; k++) ga{c + 1}![k] *= {InputNetworkEmitter.Derivative(act, $"z{c + 1}[k]", $"a{c + 1}[k]", omega)};");
                    if (c > 0) w.Line($"global::System.Array.Clear(gp{c + 1}!);");
                    using (w.Block($"for (int o = 0; o < {g.Out}; o++)"))
                    {
                        w.Line($"var gwr = gW{c + 1}.Slice(o * {g.K}, {g.K});");
                        if (c > 0) w.Line($"var wr = W{c + 1}.Slice(o * {g.K}, {g.K});");
                        w.Line("float gbias = 0f;");
                        using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
                        {
                            w.Line($"float gz = ga{c + 1}![o * {g.P} + p];");
                            w.Line("if (gz == 0f) continue;");
                            w.Line("gbias += gz;");
                            w.Line($"{Ops}.Axpy(gz, new global::System.ReadOnlySpan<float>(p{c + 1}, p * {g.K}, {g.K}), gwr);");
                            if (c > 0) w.Line($"{Ops}.Axpy(gz, wr, new global::System.Span<float>(gp{c + 1}, p * {g.K}, {g.K}));");
                        }
                        if (bIdx[c] >= 0) w.Line($"gb{c + 1}[o] += gbias;");
                    }
                    if (c == 0) continue;
                    // col2im: scatter the patch gradients back onto the previous map.
                    w.Line($"global::System.Array.Clear(ga{c}!);");
                    EmitPatchLoops(w, g, $"ga{c}![s0 + kx] += gp{c + 1}![d0 + kx];");
                }
            }
        }
    }
}
