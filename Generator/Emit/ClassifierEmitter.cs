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
    /// A convolution is a gathered GEMM over output channels in Vector256 FMAs (see <c>EmitConvForward</c>). <c>Backward</c>
    /// recomputes the forward pass image by image; <c>ForwardSave</c> keeps every image's activations in a caller's buffer
    /// and <c>BackwardSaved</c> reads them back instead, with the same arithmetic, so the two give the same bits (a training
    /// step needs the logits before the gradient, so it runs the forward pass anyway).
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
                if (nc > 0) { EmitHelpers(w, convs); w.Line(); }
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
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, null, inputs, indices, perNetwork, logits, featureMask, null, false));");
                }
                w.Line();
                w.Line($"/// <summary>Floats per image that <see cref=\"ForwardSave\"/> keeps for <see cref=\"BackwardSaved\"/> (every layer's pre-activations and activations, the pooled features, the masked features).</summary>");
                w.Line($"public const int SavedPerImage = {I(SavedLength(decls, convs, featureLength))};");
                w.Line();
                w.Line("/// <summary><see cref=\"Forward\"/>, also keeping each image's activations in saved (batch × perNetwork × <see cref=\"SavedPerImage\"/> floats) for <see cref=\"BackwardSaved\"/>.</summary>");
                using (w.Block("public void ForwardSave(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, float[] logits, float[] saved, float[]? featureMask = null)"))
                {
                    w.Line("Check(weights, inputs, indices, perNetwork, logits.Length, nameof(logits), featureMask);");
                    w.Line("CheckSaved(weights, perNetwork, saved);");
                    w.Line("var t = weights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, null, inputs, indices, perNetwork, logits, featureMask, saved, false));");
                }
                w.Line();
                w.Line("/// <summary>");
                w.Line("/// <see cref=\"Backward\"/> without recomputing the forward pass: reads the activations <see cref=\"ForwardSave\"/> kept in saved.");
                w.Line("/// Give it the same weights, inputs, indices and featureMask as that call (unchanged since); the gradient is then bit for bit Backward's.");
                w.Line("/// </summary>");
                using (w.Block("public void BackwardSaved(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, float[] gradLogits, " + RuntimeNames.WeightSpaceBatch + " gradWeights, float[] saved, float[]? featureMask = null)"))
                {
                    w.Line("Check(weights, inputs, indices, perNetwork, gradLogits.Length, nameof(gradLogits), featureMask);");
                    w.Line("CheckSaved(weights, perNetwork, saved);");
                    w.Line("if (gradWeights.Batch != weights.Batch || gradWeights.Channels != 1 || gradWeights.Space.Dimension != Space.Dimension) throw new global::System.ArgumentException(\"gradWeights must be over this weight space with the weights' batch and 1 channel.\", nameof(gradWeights));");
                    w.Line("var t = weights.Tensors; var g = gradWeights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, g, inputs, indices, perNetwork, gradLogits, featureMask, saved, true));");
                }
                w.Line();
                using (w.Block("private static void CheckSaved(" + RuntimeNames.WeightSpaceBatch + " weights, int perNetwork, float[] saved)"))
                {
                    w.Line("if (saved == null) throw new global::System.ArgumentNullException(nameof(saved));");
                    w.Line("if (saved.Length < (long)weights.Batch * perNetwork * SavedPerImage) throw new global::System.ArgumentException($\"saved must hold batch × perNetwork × SavedPerImage = {(long)weights.Batch * perNetwork * SavedPerImage} floats, got {saved.Length}.\", nameof(saved));");
                }
                w.Line();
                w.Line("/// <summary>Overwrites gradWeights with the gradient of Σ gradLogits · logits over every image of each network (the forward pass is recomputed).</summary>");
                using (w.Block("public void Backward(" + RuntimeNames.WeightSpaceBatch + " weights, float[] inputs, int[] indices, int perNetwork, float[] gradLogits, " + RuntimeNames.WeightSpaceBatch + " gradWeights, float[]? featureMask = null)"))
                {
                    w.Line("Check(weights, inputs, indices, perNetwork, gradLogits.Length, nameof(gradLogits), featureMask);");
                    w.Line("if (gradWeights.Batch != weights.Batch || gradWeights.Channels != 1 || gradWeights.Space.Dimension != Space.Dimension) throw new global::System.ArgumentException(\"gradWeights must be over this weight space with the weights' batch and 1 channel.\", nameof(gradWeights));");
                    w.Line("var t = weights.Tensors; var g = gradWeights.Tensors;");
                    w.Line("global::System.Threading.Tasks.Parallel.For(0, weights.Batch, n => Run(n, t, g, inputs, indices, perNetwork, gradLogits, featureMask, null, false));");
                }
                w.Line();
                w.Line("/// <summary>One network: forward into io (gt null; kept in saved when given), or backward with io as the logits' gradient after the forward pass (recomputed, or read from saved when restore).</summary>");
                using (w.Block("private static void Run(int n, " + RuntimeNames.Tensor + "[] t, " + RuntimeNames.Tensor + "[]? gt, float[] inputs, int[] indices, int perNetwork, float[] io, float[]? mask, float[]? saved, bool restore)"))
                {
                    EmitBody(w, decls, convs, wIdx, bIdx, act, omega, inputLength, classes, featureLength, arch.OutputOffset);
                }
            }
        }

        private const string Vec = "global::System.Runtime.Intrinsics.Vector256<float>";
        private const string V256 = "global::System.Runtime.Intrinsics.Vector256";
        private const string Mm = "global::System.Runtime.InteropServices.MemoryMarshal";
        private const int Lanes = 8;
        // The vector paths call the intrinsics directly, not through the emitted helpers: Run is one large method, and once the
        // JIT's inlining budget for it is spent even AggressiveInlining helpers stay calls (Vector256 arguments through memory),
        // which made Backward, emitted after Forward, several times slower than its arithmetic.
        private const string LdX = V256 + ".LoadUnsafe", StX = V256 + ".StoreUnsafe", FmaX = V256 + ".FusedMultiplyAdd",
            AtX = "global::System.Runtime.CompilerServices.Unsafe.Add";

        /// <summary>Independent accumulators per block: about 8 vectors (FMA latency 4 × 2 ports) without spilling 16 registers.</summary>
        private static int Block(int vectors) => vectors <= 0 || vectors >= 8 ? 1 : System.Math.Min(6, System.Math.Max(1, 8 / vectors));

        private static string Data(string array) => $"ref {Mm}.GetArrayDataReference({array})";

        /// <summary>The tables of one convolution's gather: Base[p] (where output position p's patch starts in the input
        /// map) and Off[r] (patch row r = (ky·KW + kx)·In + i relative to it). The image is channel-major (C, H, W); the
        /// maps between layers are position-major (H, W, C), so that a position's channels are contiguous vectors.</summary>
        private static (int[] Base, int[] Off) Tables(Conv g, bool image)
        {
            var bs = new int[g.P]; var off = new int[g.K];
            for (int oy = 0; oy < g.OH; oy++)
                for (int ox = 0; ox < g.OW; ox++)
                {
                    int pix = oy * g.S * g.W + ox * g.S;
                    bs[oy * g.OW + ox] = image ? pix : pix * g.In;
                }
            for (int ky = 0; ky < g.KH; ky++)
                for (int kx = 0; kx < g.KW; kx++)
                    for (int i = 0; i < g.In; i++)
                        off[(ky * g.KW + kx) * g.In + i] = image ? i * g.H * g.W + ky * g.W + kx : (ky * g.W + kx) * g.In + i;
            return (bs, off);
        }

        private static void EmitHelpers(IndentedWriter w, List<Conv> convs)
        {
            for (int c = 0; c < convs.Count; c++)
            {
                var (bs, off) = Tables(convs[c], c == 0);
                w.Line($"private static readonly int[] Base{c + 1} = {{ {string.Join(", ", bs.Select(v => I(v)))} }};");
                w.Line($"private static readonly int[] Off{c + 1} = {{ {string.Join(", ", off.Select(v => I(v)))} }};");
            }
            const string inline = "[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]";
            w.Line($"{inline} private static {Vec} Ld(ref float r, int o) => {V256}.LoadUnsafe(ref r, (nuint)o);");
            w.Line($"{inline} private static void St({Vec} v, ref float r, int o) => {V256}.StoreUnsafe(v, ref r, (nuint)o);");
            w.Line($"{inline} private static float At(ref float r, int o) => global::System.Runtime.CompilerServices.Unsafe.Add(ref r, o);");
            w.Line($"{inline} private static {Vec} Fma({Vec} a, {Vec} b, {Vec} c) => {V256}.FusedMultiplyAdd(a, b, c);");
            w.Line($"{inline} private static float Fma(float a, float b, float c) => global::System.MathF.FusedMultiplyAdd(a, b, c);");
        }

        /// <summary>The arrays one image's backward pass reads, in the order they are kept: z and a of every conv, the pooled
        /// features, z and a of every hidden dense layer, the masked inputs of the last layer.</summary>
        private static List<(string Name, int Length)> SavedArrays(IReadOnlyList<LayerDeclaration> decls, List<Conv> convs, int featureLength)
        {
            var list = new List<(string, int)>();
            int nc = convs.Count;
            for (int c = 0; c < nc; c++) { list.Add(($"z{c + 1}", convs[c].Out * convs[c].P)); list.Add(($"a{c + 1}", convs[c].Out * convs[c].P)); }
            if (nc > 0) list.Add(("f", convs[nc - 1].Out));
            for (int l = nc; l < decls.Count - 1; l++) { list.Add(($"z{l + 1}", decls[l].Out)); list.Add(($"a{l + 1}", decls[l].Out)); }
            list.Add(("hm", featureLength));
            return list;
        }

        private static int SavedLength(IReadOnlyList<LayerDeclaration> decls, List<Conv> convs, int featureLength) => SavedArrays(decls, convs, featureLength).Sum(a => a.Length);

        /// <summary>Names v0…v{n-1} joined, each from <paramref name="f"/>.</summary>
        private static string Join(int n, System.Func<int, string> f) => string.Join(" ", Enumerable.Range(0, n).Select(f));

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
            // Scratch, once per network: each conv's weights transposed to (patch row, out channel), in the backward pass
            // also to (tap, out channel, in channel) and the weight gradient in the first layout; maps and their gradients.
            for (int c = 0; c < nc; c++)
            {
                var g = convs[c];
                int taps = g.KH * g.KW;
                w.Line($"var wt{c + 1} = new float[{I((long)g.K * g.Out)}];");
                w.Line($"for (int o = 0; o < {g.Out}; o++) for (int i = 0; i < {g.In}; i++) for (int k = 0; k < {taps}; k++) wt{c + 1}[(k * {g.In} + i) * {g.Out} + o] = W{c + 1}[(o * {g.In} + i) * {taps} + k];");
                w.Line($"var gwt{c + 1} = backward ? new float[{I((long)g.K * g.Out)}] : null;");
                if (c > 0)
                {
                    w.Line($"var wb{c + 1} = backward ? new float[{I((long)g.K * g.Out)}] : null;");
                    w.Line($"if (backward) for (int o = 0; o < {g.Out}; o++) for (int i = 0; i < {g.In}; i++) for (int k = 0; k < {taps}; k++) wb{c + 1}![(k * {g.Out} + o) * {g.In} + i] = W{c + 1}[(o * {g.In} + i) * {taps} + k];");
                }
                w.Line($"var z{c + 1} = new float[{I((long)g.Out * g.P)}]; var a{c + 1} = new float[{I((long)g.Out * g.P)}];");
                w.Line($"var ga{c + 1} = backward ? new float[{I((long)g.Out * g.P)}] : null;");
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
                var savedArrays = SavedArrays(decls, convs, featureLength);
                int savedLength = savedArrays.Sum(a => a.Length);
                // Backward from saved activations: copy them back instead of the forward pass (which is what produced them).
                using (w.Block("if (restore)"))
                {
                    w.Line($"int so = item * {I(savedLength)};");
                    int off = 0;
                    foreach (var (name, len) in savedArrays) { w.Line($"global::System.Array.Copy(saved!, so + {I(off)}, {name}, 0, {I(len)});"); off += len; }
                }
                w.Line("else");
                w.OpenScope();
                for (int c = 0; c < nc; c++)
                    EmitConvForward(w, convs[c], c, bIdx[c] >= 0, act, omega, inputLength);
                if (nc > 0)
                {
                    var last = convs[nc - 1];
                    using (w.Block($"for (int ch = 0; ch < {last.Out}; ch++)"))
                    {
                        w.Line("float s = 0f;");
                        w.Line($"for (int p = 0; p < {last.P}; p++) s += a{nc}[p * {last.Out} + ch];");
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
                using (w.Block("if (saved != null)"))
                {
                    w.Line($"int so = item * {I(savedLength)};");
                    int off = 0;
                    foreach (var (name, len) in savedArrays) { w.Line($"global::System.Array.Copy({name}, 0, saved, so + {I(off)}, {I(len)});"); off += len; }
                }
                using (w.Block("if (!backward)"))
                {
                    w.Line($"new global::System.ReadOnlySpan<float>(y).CopyTo(new global::System.Span<float>(io, item * {classes}, {classes}));");
                    w.Line("continue;");
                }
                w.Close();
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
                    using (w.Block($"for (int p = 0; p < {last.P}; p++)"))
                        w.Line($"for (int ch = 0; ch < {last.Out}; ch++) ga{nc}![p * {last.Out} + ch] = gf![ch] * {IndentedWriter.Float(1f / last.P)};");
                }
                for (int c = nc - 1; c >= 0; c--)
                    EmitConvBackward(w, convs[c], c, bIdx[c] >= 0, act, omega, inputLength);
            }
            // The weight gradients of the convolutions, accumulated transposed, back into the weights' layout.
            if (nc > 0)
                using (w.Block("if (backward)"))
                    for (int c = 0; c < nc; c++)
                    {
                        var g = convs[c];
                        int taps = g.KH * g.KW;
                        w.Line($"for (int o = 0; o < {g.Out}; o++) for (int i = 0; i < {g.In}; i++) for (int k = 0; k < {taps}; k++) gW{c + 1}[(o * {g.In} + i) * {taps} + k] = gwt{c + 1}![(k * {g.In} + i) * {g.Out} + o];");
                    }
        }

        /// <summary>The source map of conv <paramref name="c"/> as a ref: the image (channel-major) or the previous activations.</summary>
        private static string Source(int c, int inputLength) => c == 0
            ? $"ref global::System.Runtime.CompilerServices.Unsafe.Add(ref {Mm}.GetArrayDataReference(inputs), indices[item] * {inputLength})"
            : Data($"a{c}");

        /// <summary>
        /// z[p·Out + o] = Σ_r src[Base[p] + Off[r]] · wt[r·Out + o] (+ b[o]), then a = act(z): output channels in vectors of
        /// 8 (blocks of positions share each weight load), the rest (or everything without SIMD) one at a time. Both paths
        /// sum over r in the same order with fused multiply-adds, so they give the same bits.
        /// </summary>
        private static void EmitConvForward(IndentedWriter w, Conv g, int c, bool bias, InputActivation act, string omega, int inputLength)
        {
            int c1 = c + 1, V = g.Out / Lanes, pb = Block(V);
            w.Line($"// conv {c1}: {g.In}×{g.H}×{g.W} → {g.Out}×{g.OH}×{g.OW} (kernel {g.KH}×{g.KW}, stride {g.S}), output position-major");
            w.OpenScope();
            w.Line($"ref float src = {Source(c, inputLength)};");
            w.Line($"ref float wt = {Data($"wt{c1}")};");
            w.Line($"ref float z = {Data($"z{c1}")};");
            if (bias) w.Line($"ref float bb = ref {Mm}.GetReference(b{c1});");
            w.Line("int o0 = 0;");
            if (V > 0)
                using (w.Block($"if ({V256}.IsHardwareAccelerated)"))
                {
                    w.Line($"o0 = {V * Lanes};");
                    w.Line("int p = 0;");
                    void Positions(int nb)
                    {
                        w.Line(string.Join(" ", Enumerable.Range(0, nb).Select(q => $"int s{q} = Base{c1}[p + {q}];")));
                        for (int q = 0; q < nb; q++) w.Line($"{Vec} " + string.Join(", ", Enumerable.Range(0, V).Select(v => $"c{q}_{v} = {Vec}.Zero")) + ";");
                        using (w.Block($"for (int r = 0; r < {g.K}; r++)"))
                        {
                            w.Line($"int off = Off{c1}[r], wo = r * {g.Out};");
                            w.Line($"{Vec} " + string.Join(", ", Enumerable.Range(0, V).Select(v => $"w{v} = {LdX}(ref {AtX}(ref wt, wo + {v * Lanes}))")) + ";");
                            for (int q = 0; q < nb; q++)
                            {
                                w.Line($"{Vec} x{q} = {V256}.Create({AtX}(ref src, s{q} + off));");
                                w.Line(Join(V, v => $"c{q}_{v} = {FmaX}(x{q}, w{v}, c{q}_{v});"));
                            }
                        }
                        for (int q = 0; q < nb; q++)
                            w.Line(Join(V, v => $"{StX}(c{q}_{v}{(bias ? $" + {LdX}(ref {AtX}(ref bb, {v * Lanes}))" : "")}, ref {AtX}(ref z, (p + {q}) * {g.Out} + {v * Lanes}));"));
                    }
                    if (pb > 1)
                        using (w.Block($"for (; p + {pb} <= {g.P}; p += {pb})"))
                            Positions(pb);
                    using (w.Block($"for (; p < {g.P}; p++)"))
                        Positions(1);
                }
            using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
            {
                w.Line($"int s0 = Base{c1}[p];");
                using (w.Block($"for (int o = o0; o < {g.Out}; o++)"))
                {
                    w.Line("float s = 0f;");
                    w.Line($"for (int r = 0; r < {g.K}; r++) s = Fma(At(ref src, s0 + Off{c1}[r]), At(ref wt, r * {g.Out} + o), s);");
                    w.Line($"z{c1}[p * {g.Out} + o] = s{(bias ? $" + b{c1}[o]" : "")};");
                }
            }
            // tanh over the whole map at once: TensorPrimitives' vectorized tanh (one MathF.Tanh per value cost more than the convolution).
            if (act == InputActivation.Tanh) w.Line($"global::System.Numerics.Tensors.TensorPrimitives.Tanh(z{c1}, a{c1});");
            else w.Line($"for (int k = 0; k < {g.Out * g.P}; k++) a{c1}[k] = {InputNetworkEmitter.Activate(act, $"z{c1}[k]", omega)};");
            w.Close();
        }

        /// <summary>
        /// ga (dL/da) → dz in place; the bias gradient; the weight gradient gwt[r·Out + o] += Σ_p src[Base[p] + Off[r]] · dz[p·Out + o]
        /// (blocks of patch rows share each dz load); for conv c &gt; 0 the gradient of the previous map, scattered straight
        /// from each position's taps (col2im fused): ga_prev[Base[p] + Off[tap·In] + i] += Σ_o dz[p·Out + o] · wb[(tap·Out + o)·In + i]
        /// (input channels in vectors, blocks of taps share each dz broadcast). Vector and scalar paths give the same bits.
        /// </summary>
        private static void EmitConvBackward(IndentedWriter w, Conv g, int c, bool bias, InputActivation act, string omega, int inputLength)
        {
            int c1 = c + 1, V = g.Out / Lanes, rb = Block(V), taps = g.KH * g.KW, VI = g.In / Lanes, tb = Block(VI);
            w.Line($"// conv {c1} backward");
            w.Line($"for (int k = 0; k < {g.Out * g.P}; k++) ga{c1}![k] *= {InputNetworkEmitter.Derivative(act, $"z{c1}[k]", $"a{c1}[k]", omega)};");
            w.OpenScope();
            w.Line($"ref float src = {Source(c, inputLength)};");
            w.Line($"ref float dz = {Data($"ga{c1}!")};");
            w.Line($"ref float gwt = {Data($"gwt{c1}!")};");
            if (bias)
                using (w.Block($"for (int o = 0; o < {g.Out}; o++)"))
                {
                    w.Line("float s = 0f;");
                    w.Line($"for (int p = 0; p < {g.P}; p++) s += ga{c1}![p * {g.Out} + o];");
                    w.Line($"gb{c1}[o] += s;");
                }
            w.Line("int o0 = 0;");
            if (V > 0)
                using (w.Block($"if ({V256}.IsHardwareAccelerated)"))
                {
                    w.Line($"o0 = {V * Lanes};");
                    w.Line("int r = 0;");
                    void Rows(int nb)
                    {
                        w.Line(string.Join(" ", Enumerable.Range(0, nb).Select(q => $"int f{q} = Off{c1}[r + {q}];")));
                        for (int q = 0; q < nb; q++) w.Line($"{Vec} " + string.Join(", ", Enumerable.Range(0, V).Select(v => $"c{q}_{v} = {Vec}.Zero")) + ";");
                        using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
                        {
                            w.Line($"int sb = Base{c1}[p], dzo = p * {g.Out};");
                            w.Line($"{Vec} " + string.Join(", ", Enumerable.Range(0, V).Select(v => $"d{v} = {LdX}(ref {AtX}(ref dz, dzo + {v * Lanes}))")) + ";");
                            for (int q = 0; q < nb; q++)
                            {
                                w.Line($"{Vec} x{q} = {V256}.Create({AtX}(ref src, sb + f{q}));");
                                w.Line(Join(V, v => $"c{q}_{v} = {FmaX}(x{q}, d{v}, c{q}_{v});"));
                            }
                        }
                        for (int q = 0; q < nb; q++)
                            w.Line(Join(V, v => $"{StX}({LdX}(ref {AtX}(ref gwt, (r + {q}) * {g.Out} + {v * Lanes})) + c{q}_{v}, ref {AtX}(ref gwt, (r + {q}) * {g.Out} + {v * Lanes}));"));
                    }
                    if (rb > 1)
                        using (w.Block($"for (; r + {rb} <= {g.K}; r += {rb})"))
                            Rows(rb);
                    using (w.Block($"for (; r < {g.K}; r++)"))
                        Rows(1);
                }
            using (w.Block($"for (int r = 0; r < {g.K}; r++)"))
            {
                w.Line($"int f0 = Off{c1}[r];");
                using (w.Block($"for (int o = o0; o < {g.Out}; o++)"))
                {
                    w.Line("float s = 0f;");
                    w.Line($"for (int p = 0; p < {g.P}; p++) s = Fma(At(ref src, Base{c1}[p] + f0), At(ref dz, p * {g.Out} + o), s);");
                    w.Line($"gwt{c1}![r * {g.Out} + o] += s;");
                }
            }
            if (c > 0)
            {
                // The previous map's gradient (col2im fused): position by position, tap by tap.
                w.Line($"global::System.Array.Clear(ga{c}!);");
                w.Line($"ref float gs = {Data($"ga{c}!")};");
                w.Line($"ref float wb = {Data($"wb{c1}!")};");
                w.Line("int i0 = 0;");
                if (VI > 0)
                    using (w.Block($"if ({V256}.IsHardwareAccelerated)"))
                    {
                        w.Line($"i0 = {VI * Lanes};");
                        using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
                        {
                            w.Line($"int sb = Base{c1}[p], dzo = p * {g.Out};");
                            w.Line("int k = 0;");
                            void Taps(int nb)
                            {
                                for (int q = 0; q < nb; q++) w.Line($"{Vec} " + string.Join(", ", Enumerable.Range(0, VI).Select(v => $"c{q}_{v} = {Vec}.Zero")) + ";");
                                using (w.Block($"for (int o = 0; o < {g.Out}; o++)"))
                                {
                                    w.Line($"{Vec} d = {V256}.Create({AtX}(ref dz, dzo + o));");
                                    for (int q = 0; q < nb; q++)
                                        w.Line(Join(VI, v => $"c{q}_{v} = {FmaX}(d, {LdX}(ref {AtX}(ref wb, ((k + {q}) * {g.Out} + o) * {g.In} + {v * Lanes})), c{q}_{v});"));
                                }
                                for (int q = 0; q < nb; q++)
                                {
                                    w.Line($"int t{q} = sb + Off{c1}[(k + {q}) * {g.In}];");
                                    w.Line(Join(VI, v => $"{StX}({LdX}(ref {AtX}(ref gs, t{q} + {v * Lanes})) + c{q}_{v}, ref {AtX}(ref gs, t{q} + {v * Lanes}));"));
                                }
                            }
                            if (tb > 1)
                                using (w.Block($"for (; k + {tb} <= {taps}; k += {tb})"))
                                    Taps(tb);
                            using (w.Block($"for (; k < {taps}; k++)"))
                                Taps(1);
                        }
                    }
                using (w.Block($"for (int p = 0; p < {g.P}; p++)"))
                using (w.Block($"for (int k = 0; k < {taps}; k++)"))
                {
                    w.Line($"int t0 = Base{c1}[p] + Off{c1}[k * {g.In}];");
                    using (w.Block($"for (int i = i0; i < {g.In}; i++)"))
                    {
                        w.Line("float s = 0f;");
                        w.Line($"for (int o = 0; o < {g.Out}; o++) s = Fma(At(ref dz, p * {g.Out} + o), At(ref wb, (k * {g.Out} + o) * {g.In} + i), s);");
                        w.Line($"ga{c}![t0 + i] += s;");
                    }
                }
            }
            w.Close();
        }
    }
}
