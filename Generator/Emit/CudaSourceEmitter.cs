using LayerCompiler.Contracts;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Lower;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits <c>Namespace.Type.Cuda.g.cs</c>: a model's fused layers on CUDA (<c>LayerCompiler.Gpu.CudaLayerSource</c>, nested in
    /// the model type), each built from its layer plan by the GPU backend when first used.
    /// </summary>
    public static class CudaSourceEmitter
    {
        private const string Rt = RuntimeNames.GpuNamespace + ".";

        public static string EmitModel(EquivariantModelInfo model, ArchitectureInfo arch)
        {
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            var pairs = SourceEmitter.KernelChannelPairs(model).Distinct().ToList();
            SourceEmitter.OpenType(w, model.Type, null);
            w.Line("/// <summary>");
            w.Line("/// The CUDA kernel of one layer's channel pair on <paramref name=\"device\"/>: compiled by NVRTC for the device (cached");
            w.Line("/// on disk), device buffers held by the kernel. Dispose it before the device.");
            w.Line("/// </summary>");
            w.Line($"public static {Rt}CudaEquivariantKernel CreateCudaKernel({Rt}CudaDevice device, {RuntimeNames.LayerPlan} plan) =>");
            w.Line($"    new {Rt}CudaEquivariantKernel(device, CudaSources.ForChannels(plan.InChannels, plan.OutChannels), plan);");
            w.Line();
            w.Line("/// <summary>The fused layers on CUDA: their CUDA C is scheduled from the layer plan when first asked for (see docs/gpu.md).</summary>");
            using (w.Block("public static class CudaSources"))
            {
                w.Line("/// <summary>Threads per block of every kernel.</summary>");
                w.Line($"public const int BlockSize = {CudaKernelEmitter.Threads};");
                foreach (var (cin, cout) in pairs)
                {
                    string id = $"{cin}x{cout}";
                    w.Line();
                    // The source is built at run time, not carried as a string constant: it grows with the square of the
                    // depth, and an assembly's string literals share one heap of about 16 MB (CS8103).
                    w.Line($"private static {Rt}CudaLayerSource? _layer_{id};");
                    w.Line($"/// <summary>The {cin} → {cout} layer with its launch steps.</summary>");
                    w.Line($"public static {Rt}CudaLayerSource Layer_{id} => global::System.Threading.LazyInitializer.EnsureInitialized(ref _layer_{id},");
                    w.Line($"    static () => {Rt}CudaLayerSource.FromPlan(new {RuntimeNames.LayerPlan}(CreateWeightSpace(), {cin}, {cout})));");
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

    }
}
