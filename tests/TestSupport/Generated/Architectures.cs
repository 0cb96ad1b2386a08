
namespace LayerCompiler.Tests.Generated;

// Input networks declared the way users declare them; the generator runs on this file at build time.

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class Siren2x32x32x1 { }

[InputNetwork]
[Dense(2, 3)]
[Dense(3, 3)]
[Dense(3, 2)]
public partial class Mlp2x3x3x2 { }

[InputNetwork]
[Dense(2, 3)]
[Dense(3, 3)]
[Dense(3, 1)]
public partial class Mlp2x3x3x1 { }

/// <summary>Depth 2.</summary>
[InputNetwork]
[Dense(3, 4)]
[Dense(4, 2)]
public partial class Mlp3x4x2 { }

/// <summary>Depth 5, no bias on one layer.</summary>
[InputNetwork]
[Dense(2, 3)]
[Dense(3, 4)]
[Dense(4, 3, Bias = false)]
[Dense(3, 2)]
[Dense(2, 2)]
public partial class Mlp5 { }

/// <summary>A hidden layer of width 1: keeping its index and pooling it coincide.</summary>
[InputNetwork]
[Dense(1, 1)]
[Dense(1, 2)]
[Dense(2, 1)]
public partial class Narrow1x1x2x1 { }

[InputNetwork]
[Conv2d(1, 2, 3, 3)]
[Conv2d(2, 3, 2, 2)]
[Dense(3, 2)]
public partial class SmallCnn { }

// Models: single 1 → 1 layers (for rank checks), and multi-layer models in both symmetries.

[EquivariantModel(typeof(Mlp2x3x3x2), Channels = new[] { 1 }, Outputs = 1)]
public partial class Mlp2332Hidden11 { }

[EquivariantModel(typeof(Mlp2x3x3x2), Symmetry = Symmetry.AllNeuron, Channels = new[] { 1 }, Outputs = 1)]
public partial class Mlp2332All11 { }

[EquivariantModel(typeof(Mlp2x3x3x1), Channels = new[] { 1 }, Outputs = 1)]
public partial class Mlp2331Hidden11 { }

[EquivariantModel(typeof(Mlp2x3x3x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 1 }, Outputs = 1)]
public partial class Mlp2331All11 { }

[EquivariantModel(typeof(Narrow1x1x2x1), Channels = new[] { 1 }, Outputs = 1)]
public partial class NarrowHidden11 { }

[EquivariantModel(typeof(Narrow1x1x2x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 1 }, Outputs = 1)]
public partial class NarrowAll11 { }

[EquivariantModel(typeof(SmallCnn), Channels = new[] { 1 }, Outputs = 1)]
public partial class SmallCnnHidden11 { }

[EquivariantModel(typeof(SmallCnn), Symmetry = Symmetry.AllNeuron, Channels = new[] { 1 }, Outputs = 1)]
public partial class SmallCnnAll11 { }

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 4, 3 }, Outputs = 10, HeadHidden = 8)]
public partial class SirenClassifier { }

[EquivariantModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 4, 3 }, Outputs = 10)]
public partial class SirenClassifierAll { }

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 4, 3 }, Outputs = 10, Pooling = HeadPooling.Max)]
public partial class SirenClassifierMax { }

[EquivariantModel(typeof(Mlp5), Symmetry = Symmetry.AllNeuron, Channels = new[] { 3, 2 }, Outputs = 4, HeadHidden = 6, Pooling = HeadPooling.MeanAndMax)]
public partial class Depth5AllMeanMax { }

[EquivariantModel(typeof(Mlp3x4x2), Channels = new[] { 3, 2 }, Activation = Activation.GELU, Outputs = 3, Normalize = true)]
public partial class Depth2Classifier { }

[EquivariantModel(typeof(Mlp5), Channels = new[] { 2, 3 }, Outputs = 2, Head = HeadKind.Equivariant)]
public partial class Depth5Editor { }

/// <summary>Normalization then ReLU (fused into the normalization by default); 8 channels (vector path) and 13 (vector + scalar tail).</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 8, 13 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.Max)]
public partial class SirenNormClassifier { }

[EquivariantModel(typeof(Mlp5), Channels = new[] { 3, 9 }, Outputs = 2, Head = HeadKind.Equivariant, Normalize = true)]
public partial class Depth5NormEditor { }

[EquivariantModel(typeof(Mlp5), Symmetry = Symmetry.AllNeuron, Channels = new[] { 2 }, Outputs = 4)]
public partial class Depth5AllClassifier { }

[EquivariantModel(typeof(SmallCnn), Channels = new[] { 2, 3 }, Outputs = 3)]
public partial class CnnClassifier { }

[EquivariantModel(typeof(SmallCnn), Symmetry = Symmetry.AllNeuron, Channels = new[] { 3 }, Outputs = 2, Head = HeadKind.Equivariant)]
public partial class CnnEditorAll { }

[EquivariantModel(typeof(Mlp2x3x3x2), Channels = new[] { 3 }, Outputs = 2, Head = HeadKind.Equivariant, Activation = Activation.GELU)]
public partial class Mlp2332Editor { }

[InputNetwork(Activation = InputActivation.Tanh)]
[Dense(3, 4)]
[Dense(4, 4)]
[Dense(4, 2)]
public partial class TanhNet { }

/// <summary>The benchmark's reference size (32 → 32 channels) and a 32 → 16 layer: the kernels' widest register blocks.</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 32, 32, 16 }, Outputs = 10)]
public partial class SirenWide { }

/// <summary>A tiny strided CNN image classifier (9×9 → 4×4 → 2×2 maps, then pooling and two dense layers): its generated Classifier pass is checked against Reference64.</summary>
[InputNetwork(Activation = InputActivation.Tanh, InputHeight = 9, InputWidth = 9)]
[Conv2d(2, 3, 3, 3, Stride = 2)]
[Conv2d(3, 4, 2, 2, Stride = 1, Bias = false)]
[Conv2d(4, 3, 2, 2, Stride = 2)]
[Dense(3, 4)]
[Dense(4, 3)]
public partial class TinyStridedCnn { }

/// <summary>The same with ReLU hidden activations.</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 9, InputWidth = 9)]
[Conv2d(2, 3, 3, 3, Stride = 2)]
[Conv2d(3, 4, 2, 2, Stride = 1, Bias = false)]
[Conv2d(4, 3, 2, 2, Stride = 2)]
[Dense(3, 4)]
[Dense(4, 3)]
public partial class TinyStridedCnnRelu { }

/// <summary>A strided CNN wide enough for the Classifier pass's vector paths (2×11×11 → 8×5×5 → 16×4×4 → 12×2×2: 8 and 16
/// channels are whole vectors of 8, 12 leaves a scalar tail of 4), checked against Reference64 like TinyStridedCnn.</summary>
[InputNetwork(Activation = InputActivation.Tanh, InputHeight = 11, InputWidth = 11)]
[Conv2d(2, 8, 3, 3, Stride = 2)]
[Conv2d(8, 16, 2, 2, Stride = 1, Bias = false)]
[Conv2d(16, 12, 2, 2, Stride = 2)]
[Dense(12, 5)]
[Dense(5, 3)]
public partial class VectorStridedCnn { }

/// <summary>The same with ReLU hidden activations.</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 11, InputWidth = 11)]
[Conv2d(2, 8, 3, 3, Stride = 2)]
[Conv2d(8, 16, 2, 2, Stride = 1, Bias = false)]
[Conv2d(16, 12, 2, 2, Stride = 2)]
[Dense(12, 5)]
[Dense(5, 3)]
public partial class VectorStridedCnnRelu { }

/// <summary>A dense image classifier over flattened 3×4 images of 2 channels (24 inputs).</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 3, InputWidth = 4)]
[Dense(24, 5)]
[Dense(5, 4)]
[Dense(4, 3)]
public partial class TinyImageMlp { }
