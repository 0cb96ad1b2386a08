namespace LayerCompiler.Contracts
{
    /// <summary>
    /// The run-time types that generated code names, as fully qualified <c>global::</c> names. The generator compiles
    /// this file in and emits these constants instead of hand-typed strings; a test in Runtime.Tests resolves every
    /// constant against the runtime, GPU and ILGPU assemblies, so a rename or move on either side fails a build of the tests
    /// instead of every user's generated code.
    /// </summary>
    public static class RuntimeNames
    {
        // Core runtime (LayerCompiler.Runtime)
        public const string Tensor = "global::LayerCompiler.Runtime.Tensor";
        public const string WeightSpaceBatch = "global::LayerCompiler.Runtime.WeightSpaceBatch";
        public const string FusedOps = "global::LayerCompiler.Runtime.Kernels.FusedOps";
        public const string LineOps = "global::LayerCompiler.Runtime.Kernels.LineOps";
        public const string FusedKernel = "global::LayerCompiler.Runtime.Kernels.FusedKernel";
        public const string IEquivariantKernel = "global::LayerCompiler.Runtime.Kernels.IEquivariantKernel";
        public const string Activations = "global::LayerCompiler.Runtime.Kernels.Activations";
        public const string VectorMath = "global::LayerCompiler.Runtime.Kernels.VectorMath";
        public const string ModelConfig = "global::LayerCompiler.Runtime.Modules.ModelConfig";
        public const string EquivariantNetwork = "global::LayerCompiler.Runtime.Modules.EquivariantNetwork";
        public const string ProductNetwork = "global::LayerCompiler.Runtime.Modules.ProductNetwork";
        public const string ProductModelConfig = "global::LayerCompiler.Runtime.Modules.ProductModelConfig";
        public const string ProductKernel = "global::LayerCompiler.Runtime.Kernels.ProductKernel";
        public const string NeuralGraph = "global::LayerCompiler.Runtime.Kernels.NeuralGraph";
        public const string IInputNetwork = "global::LayerCompiler.Runtime.InputNetworks.IInputNetwork";
        public const string InrFitSettings = "global::LayerCompiler.Runtime.InputNetworks.InrFitSettings";

        // Specs (LayerCompiler.Specs)
        public const string WeightSpace = "global::LayerCompiler.Algebra.WeightSpace";
        public const string LayerPlan = "global::LayerCompiler.Algebra.LayerPlan";
        public const string LayerDeclaration = "global::LayerCompiler.Algebra.LayerDeclaration";

        // GPU backend (LayerCompiler.Gpu): named only in the *.Cuda.g.cs sources, emitted where the backend is referenced.
        public const string GpuNamespace = "global::LayerCompiler.Gpu";
        /// <summary>The metadata name the generator looks up to decide whether a project references the GPU backend.</summary>
        public const string GpuBackendMarker = "LayerCompiler.Gpu.CudaLayerSource";
        public const string CudaDevice = GpuNamespace + ".CudaDevice";
        public const string CudaEquivariantKernel = GpuNamespace + ".CudaEquivariantKernel";
        public const string CudaInputNetwork = GpuNamespace + ".CudaInputNetwork";
        public const string CudaInputNetworkSource = GpuNamespace + ".CudaInputNetworkSource";
        public const string CudaInrFitter = GpuNamespace + ".CudaInrFitter";
        public const string CudaLaunchStep = GpuNamespace + ".CudaLaunchStep";
        public const string CudaLayerPass = GpuNamespace + ".CudaLayerPass";
        public const string CudaLayerSource = GpuNamespace + ".CudaLayerSource";

        // ILGPU backend (LayerCompiler.Ilgpu): named only in the *.Ilgpu.g.cs sources, emitted where the backend is referenced.
        public const string IlgpuNamespace = "global::LayerCompiler.Ilgpu";
        /// <summary>The metadata name the generator looks up to decide whether a project references the ILGPU backend.</summary>
        public const string IlgpuBackendMarker = "LayerCompiler.Ilgpu.IlgpuLayerSource";
        public const string IlgpuDevice = IlgpuNamespace + ".IlgpuDevice";
        public const string IlgpuEquivariantKernel = IlgpuNamespace + ".IlgpuEquivariantKernel";
        public const string IlgpuLayerSource = IlgpuNamespace + ".IlgpuLayerSource";
        public const string IlgpuLayerArgs = IlgpuNamespace + ".IlgpuLayerArgs";
        public const string IlgpuLayerOps = IlgpuNamespace + ".IlgpuLayerOps";
        public const string IlgpuInputNetwork = IlgpuNamespace + ".IlgpuInputNetwork";
        public const string IlgpuInputNetworkSource = IlgpuNamespace + ".IlgpuInputNetworkSource";
        public const string IlgpuInputNetworkArgs = IlgpuNamespace + ".IlgpuInputNetworkArgs";

        /// <summary>Every constant above that names a type, for the test that resolves them.</summary>
        public static readonly string[] AllTypes =
        {
            Tensor, WeightSpaceBatch, FusedOps, LineOps, FusedKernel, IEquivariantKernel, Activations, VectorMath,
            ModelConfig, EquivariantNetwork, ProductNetwork, ProductModelConfig, ProductKernel, NeuralGraph, IInputNetwork, InrFitSettings, WeightSpace, LayerPlan, LayerDeclaration,
            CudaDevice, CudaEquivariantKernel, CudaInputNetwork, CudaInputNetworkSource, CudaInrFitter, CudaLaunchStep,
            CudaLayerPass, CudaLayerSource,
            IlgpuDevice, IlgpuEquivariantKernel, IlgpuLayerSource, IlgpuLayerArgs, IlgpuLayerOps,
            IlgpuInputNetwork, IlgpuInputNetworkSource, IlgpuInputNetworkArgs,
        };
    }
}
