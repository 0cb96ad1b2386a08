
namespace LayerCompiler.Tools.GpuCheck.Models;

// Input networks and models whose generated kernels (C# CPU and CUDA) gpu-check compares and times.
// The 32 → 32 layer of each SIREN model is the benchmark layer; the hidden width sweeps 32..512.

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)] [Dense(32, 32)] [Dense(32, 1)]
public partial class Siren32 { }

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 64)] [Dense(64, 64)] [Dense(64, 1)]
public partial class Siren64 { }

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 128)] [Dense(128, 128)] [Dense(128, 1)]
public partial class Siren128 { }

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 256)] [Dense(256, 256)] [Dense(256, 1)]
public partial class Siren256 { }

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 512)] [Dense(512, 512)] [Dense(512, 1)]
public partial class Siren512 { }

/// <summary>A small CNN: conv weights carry 3 × 3 kernel axes (fixed, folded into wide channels).</summary>
[InputNetwork]
[Conv2d(1, 8, 3, 3)] [Conv2d(8, 8, 3, 3)] [Dense(8, 10)]
public partial class SmallCnn { }

[EquivariantModel(typeof(Siren32), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren32Model { }

[EquivariantModel(typeof(Siren32), Symmetry = Symmetry.AllNeuron, Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren32AllModel { }

[EquivariantModel(typeof(Siren64), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren64Model { }

[EquivariantModel(typeof(Siren128), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren128Model { }

[EquivariantModel(typeof(Siren256), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren256Model { }

[EquivariantModel(typeof(Siren512), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class Siren512Model { }

[EquivariantModel(typeof(SmallCnn), Channels = new[] { 16, 16 }, Outputs = 10)]
public partial class SmallCnnModel { }

/// <summary>The reference classifier (samples/WeightTasks): 5 equivariant layers × 32 channels with EquivariantNorm, ReLU, linear head.</summary>
[EquivariantModel(typeof(Siren32), Channels = new[] { 32, 32, 32, 32, 32 }, Outputs = 10, Normalize = true)]
public partial class ReferenceClassifier { }

/// <summary>The other training kernels on the device: GELU, no norm, a hidden head layer.</summary>
[EquivariantModel(typeof(Siren32), Channels = new[] { 16, 16 }, Activation = Activation.GELU, Outputs = 10, HeadHidden = 32)]
public partial class GeluHeadClassifier { }

/// <summary>The sample's head (samples/WeightTasks): max pooling, and mean-and-max with norm, on the device.</summary>
[EquivariantModel(typeof(Siren32), Channels = new[] { 16, 16, 16 }, Outputs = 10, Pooling = HeadPooling.Max)]
public partial class MaxPoolClassifier { }

[EquivariantModel(typeof(Siren32), Channels = new[] { 16, 16 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.MeanAndMax)]
public partial class MeanMaxPoolClassifier { }
