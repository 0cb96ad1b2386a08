using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Lower;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits <c>Namespace.Type.Cuda.g.cs</c>: the CUDA C of every fused layer of a model as string constants, with the
    /// launch metadata the runtime needs (<c>LayerCompiler.Gpu.CudaLayerSource</c>), nested in the model type.
    /// </summary>
    public static class CudaSourceEmitter
    {
        private const string Rt = "global::LayerCompiler.Gpu.";

        public static string EmitModel(EquivariantModelInfo model, ArchitectureInfo arch)
        {
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            var space = WeightSpace.FromLayers(SourceEmitter.Declarations(arch), (Symmetry)model.Symmetry);
            var pairs = SourceEmitter.KernelChannelPairs(model).Distinct().ToList();
            SourceEmitter.OpenType(w, model.Type, null);
            w.Line("/// <summary>");
            w.Line("/// The CUDA kernel of one layer's channel pair on <paramref name=\"device\"/>: compiled by NVRTC for the device (cached");
            w.Line("/// on disk), device buffers held by the kernel. Dispose it before the device.");
            w.Line("/// </summary>");
            w.Line($"public static {Rt}CudaEquivariantKernel CreateCudaKernel({Rt}CudaDevice device, global::LayerCompiler.Algebra.LayerPlan plan) =>");
            w.Line($"    new {Rt}CudaEquivariantKernel(device, CudaSources.ForChannels(plan.InChannels, plan.OutChannels), plan);");
            w.Line();
            w.Line("/// <summary>CUDA C of the fused layers (self-contained, constants baked in) and how to launch them; see docs/gpu.md.</summary>");
            using (w.Block("public static class CudaSources"))
            {
                w.Line("/// <summary>Threads per block of every kernel.</summary>");
                w.Line($"public const int BlockSize = {CudaKernelEmitter.Threads};");
                foreach (var (cin, cout) in pairs)
                {
                    var e = CudaKernelEmitter.Emit(new FusedPlan(new LayerPlan(space, cin, cout)));
                    string id = $"{cin}x{cout}";
                    w.Line();
                    w.Line($"/// <summary>CUDA C of the {cin} → {cout} layer: kernels {string.Join(", ", e.Steps.Select(s => s.Kernel).Distinct())}.</summary>");
                    w.Line($"public const string Kernel_{id} = @\"{e.Source.Replace("\"", "\"\"")}\";");
                    w.Line($"/// <summary>Scratch floats per network of the {cin} → {cout} layer (plus the parameter-gradient chunks, see <see cref=\"Layer_{id}\"/>).</summary>");
                    w.Line($"public const long Kernel_{id}_ScratchFloatsPerNetwork = {e.ScratchPerNetwork};");
                    w.Line($"/// <summary>Largest batch of the {cin} → {cout} layer's 32-bit indices.</summary>");
                    w.Line($"public const int Kernel_{id}_MaxBatch = {e.MaxBatch};");
                    w.Line($"/// <summary>The {cin} → {cout} layer with its launch steps.</summary>");
                    w.Line($"public static {Rt}CudaLayerSource Layer_{id} {{ get; }} = new {Rt}CudaLayerSource(");
                    w.Line($"    Kernel_{id}, {cin}, {cout}, {e.WeightCount}, {e.BiasCount}, new int[] {{ {string.Join(", ", e.TensorSizes)} }},");
                    w.Line($"    BlockSize, Kernel_{id}_ScratchFloatsPerNetwork, {LongArray(e.ScratchChunkTerms)}, Kernel_{id}_MaxBatch,");
                    w.Line($"    new {Rt}CudaLaunchStep[]");
                    w.Line("    {");
                    foreach (var s in e.Steps)
                        w.Line($"        new {Rt}CudaLaunchStep(\"{s.Kernel}\", {Rt}CudaLayerPass.{PassName(s.Pass)}, {LongArray(s.GridTerms)}, {s.ConstantBlocks}),");
                    w.Line("    });");
                }
                w.Line();
                w.Line("/// <summary>The layer for a channel pair of this model.</summary>");
                using (w.Block($"public static {Rt}CudaLayerSource ForChannels(int inChannels, int outChannels)"))
                {
                    using (w.Block("switch ((inChannels, outChannels))"))
                    {
                        foreach (var (cin, cout) in pairs) w.Line($"case ({cin}, {cout}): return Layer_{cin}x{cout};");
                        w.Line("default: throw new global::System.ArgumentException($\"No CUDA kernel was generated for {inChannels} → {outChannels} channels.\");");
                    }
                }
            }
            SourceEmitter.CloseType(w, model.Type);
            return w.ToString();
        }

        private static string LongArray(List<long> values) =>
            values.Count == 0 ? "new long[0]" : $"new long[] {{ {string.Join(", ", values)} }}";

        private static string PassName(int pass) => pass switch { 0 => "Forward", 1 => "ParameterGradient", _ => "InputGradient" };
    }
}
