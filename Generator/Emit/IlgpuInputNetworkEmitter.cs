using LayerCompiler.Contracts;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits <c>Namespace.Arch.Ilgpu.g.cs</c> for a dense input network: its batched forward and weight gradient as ILGPU
    /// kernels, specialized to the declared widths (the same network as the generated C# <c>Arch.Network</c>). Parameters
    /// are one flat vector per network, <c>[batch, ParameterCount]</c>, the weight-space tensors in order (W1 (out, in)
    /// row-major, b1, W2, ...), as the CUDA input network. Kernels (argument <c>IlgpuInputNetworkArgs</c>):
    /// <c>Forward</c>, one thread per (network, point); <c>PointBackward</c>, one thread per (network, point): forward,
    /// then the back-propagated gradient of every layer and the layer inputs written to scratch; <c>ParameterGradient</c>,
    /// one thread per (network, parameter): its sum over the points in order (no atomics: deterministic).
    /// </summary>
    public static class IlgpuInputNetworkEmitter
    {
        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        public static string EmitArchitecture(ArchitectureInfo arch)
        {
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            var decls = SourceEmitter.Declarations(arch);
            var space = WeightSpace.FromLayers(decls, Symmetry.HiddenNeuron);
            var act = (InputActivation)arch.InputActivation;
            int m = decls.Count;
            // Offsets of W_l and b_l in a network's flat parameters (tensor order).
            var wOff = new int[m]; var bOff = new int[m];
            int off = 0;
            for (int l = 0; l < m; l++)
            {
                wOff[l] = off; off += decls[l].In * decls[l].Out;
                bOff[l] = decls[l].Bias ? off : -1; if (decls[l].Bias) off += decls[l].Out;
            }
            int parameters = off;
            int d0 = decls[0].In, dM = decls[m - 1].Out;
            // Scratch per (network, point): per layer l, its input h_{l-1} then its gradient g_l.
            var hOff = new int[m]; var gOff = new int[m];
            int row = 0;
            for (int l = 0; l < m; l++) { hOff[l] = row; row += decls[l].In; gOff[l] = row; row += decls[l].Out; }
            int maxHidden = System.Math.Max(1, decls.Take(m - 1).Select(d => d.Out).DefaultIfEmpty(1).Max());
            string omega = IndentedWriter.Float(arch.Omega0);
            string args = RuntimeNames.IlgpuInputNetworkArgs;

            SourceEmitter.OpenType(w, arch.Type, null);
            w.Line("/// <summary>This input network's batched forward and weight gradient as ILGPU kernels (see docs/gpu.md).</summary>");
            using (w.Block("public static class IlgpuNetwork"))
            {
                w.Line($"public const int ParameterCount = {I(parameters)};");
                w.Line();
                w.Line($"public static {RuntimeNames.IlgpuInputNetworkSource} Source {{ get; }} = new {RuntimeNames.IlgpuInputNetworkSource}");
                w.Line($"{{ ParameterCount = {I(parameters)}, InputWidth = {I(d0)}, OutputWidth = {I(dM)}, ScratchPerPoint = {I(row)}, TensorCount = {I(space.Tensors.Count)},");
                w.Line("  Forward = Forward, PointBackward = PointBackward, ParameterGradient = ParameterGradient };");
                w.Line();
                w.Line($"public static {RuntimeNames.IlgpuInputNetwork} Create({RuntimeNames.IlgpuDevice} device) => new {RuntimeNames.IlgpuInputNetwork}(device, Source, CreateWeightSpace(global::LayerCompiler.Symmetry.HiddenNeuron));");
                w.Line();

                w.Line("/// <summary>Outputs of network n at point p: one thread per (n, p).</summary>");
                using (w.Block($"public static void Forward(global::ILGPU.Index1D index, {args} a)"))
                {
                    w.Line("int n = index.X / a.PointCount, p = index.X % a.PointCount;");
                    w.Line($"int pb = n * {I(parameters)};");
                    w.Line($"var hA = global::ILGPU.LocalMemory.Allocate1D<float>({I(maxHidden)});");
                    w.Line($"var hB = global::ILGPU.LocalMemory.Allocate1D<float>({I(maxHidden)});");
                    for (int l = 0; l < m; l++)
                    {
                        var d = decls[l];
                        string src = l == 0 ? $"a.Points[p * {I(d0)} + i]" : (l % 2 == 1 ? "hA[i]" : "hB[i]");
                        string dst = l == m - 1 ? $"a.Out[(n * a.PointCount + p) * {I(dM)} + o]" : (l % 2 == 0 ? "hA[o]" : "hB[o]");
                        using (w.Block($"for (int o = 0; o < {I(d.Out)}; o++)"))
                        {
                            w.Line("float z = 0f;");
                            w.Line($"for (int i = 0; i < {I(d.In)}; i++) z += a.Params[pb + {I(wOff[l])} + o * {I(d.In)} + i] * {src};");
                            if (d.Bias) w.Line($"z += a.Params[pb + {I(bOff[l])} + o];");
                            w.Line($"{dst} = {(l == m - 1 ? (arch.OutputOffset != 0 ? "z + " + IndentedWriter.Float(arch.OutputOffset) : "z") : InputNetworkEmitter.Activate(act, "z", omega))};");
                        }
                    }
                }
                w.Line();

                w.Line("/// <summary>One thread per (n, p): forward, then back-propagates a.Out (the output gradient) and writes each layer's input and gradient to scratch.</summary>");
                using (w.Block($"public static void PointBackward(global::ILGPU.Index1D index, {args} a)"))
                {
                    w.Line("int n = index.X / a.PointCount, p = index.X % a.PointCount;");
                    w.Line($"int pb = n * {I(parameters)}, sb = index.X * {I(row)};");
                    for (int l = 0; l < m - 1; l++) w.Line($"var z{l + 1} = global::ILGPU.LocalMemory.Allocate1D<float>({I(decls[l].Out)});");
                    w.Line($"for (int i = 0; i < {I(d0)}; i++) a.Scratch[sb + {I(hOff[0])} + i] = a.Points[p * {I(d0)} + i];");
                    for (int l = 0; l < m - 1; l++)
                    {
                        var d = decls[l];
                        using (w.Block($"for (int o = 0; o < {I(d.Out)}; o++)"))
                        {
                            w.Line("float z = 0f;");
                            w.Line($"for (int i = 0; i < {I(d.In)}; i++) z += a.Params[pb + {I(wOff[l])} + o * {I(d.In)} + i] * a.Scratch[sb + {I(hOff[l])} + i];");
                            if (d.Bias) w.Line($"z += a.Params[pb + {I(bOff[l])} + o];");
                            w.Line($"z{l + 1}[o] = z;");
                            w.Line($"a.Scratch[sb + {I(hOff[l + 1])} + o] = {InputNetworkEmitter.Activate(act, "z", omega)};");
                        }
                    }
                    w.Line($"for (int o = 0; o < {I(dM)}; o++) a.Scratch[sb + {I(gOff[m - 1])} + o] = a.Out[(n * a.PointCount + p) * {I(dM)} + o];");
                    for (int l = m - 1; l >= 1; l--)
                    {
                        var d = decls[l];
                        // g_{l-1} = (W_lᵀ g_l) ⊙ act'(z_{l-1})
                        using (w.Block($"for (int i = 0; i < {I(d.In)}; i++)"))
                        {
                            w.Line("float s = 0f;");
                            w.Line($"for (int o = 0; o < {I(d.Out)}; o++) s += a.Params[pb + {I(wOff[l])} + o * {I(d.In)} + i] * a.Scratch[sb + {I(gOff[l])} + o];");
                            w.Line($"float h = a.Scratch[sb + {I(hOff[l])} + i];");
                            w.Line($"a.Scratch[sb + {I(gOff[l - 1])} + i] = s * {InputNetworkEmitter.Derivative(act, $"z{l}[i]", "h", omega)};");
                        }
                    }
                }
                w.Line();

                w.Line("/// <summary>Gradient of network n's parameter e (overwritten): its sum over the points in order. One thread per (n, e).</summary>");
                using (w.Block($"public static void ParameterGradient(global::ILGPU.Index1D index, {args} a)"))
                {
                    w.Line($"int n = index.X / {I(parameters)}, e = index.X % {I(parameters)};");
                    w.Line("float acc = 0f;");
                    bool first = true;
                    for (int l = 0; l < m; l++)
                    {
                        var d = decls[l];
                        w.Open($"{(first ? "" : "else ")}if (e >= {I(wOff[l])} && e < {I(wOff[l] + d.In * d.Out)})");
                        first = false;
                        w.Line($"int o = (e - {I(wOff[l])}) / {I(d.In)}, i = (e - {I(wOff[l])}) % {I(d.In)};");
                        w.Line($"for (int p = 0; p < a.PointCount; p++) {{ int sb = (n * a.PointCount + p) * {I(row)}; acc += a.Scratch[sb + {I(gOff[l])} + o] * a.Scratch[sb + {I(hOff[l])} + i]; }}");
                        w.Close();
                        if (d.Bias)
                        {
                            w.Open($"else if (e >= {I(bOff[l])} && e < {I(bOff[l] + d.Out)})");
                            w.Line($"int o = e - {I(bOff[l])};");
                            w.Line($"for (int p = 0; p < a.PointCount; p++) acc += a.Scratch[(n * a.PointCount + p) * {I(row)} + {I(gOff[l])} + o];");
                            w.Close();
                        }
                    }
                    w.Line($"a.Grad[n * {I(parameters)} + e] = acc;");
                }
            }
            SourceEmitter.CloseType(w, arch.Type);
            return w.ToString();
        }
    }
}
