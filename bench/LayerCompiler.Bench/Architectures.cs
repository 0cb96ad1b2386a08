
namespace LayerCompiler.Bench;

// The reference space 2→32→32→1 and the sweeps. Channels {32, 32} gives a 32 → 32 kernel.
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)] [Dense(2, 32)] [Dense(32, 32)] [Dense(32, 1)]
public partial class Siren32 { }
[InputNetwork] [Dense(2, 64)] [Dense(64, 64)] [Dense(64, 1)] public partial class Mlp64 { }
[InputNetwork] [Dense(2, 128)] [Dense(128, 128)] [Dense(128, 1)] public partial class Mlp128 { }
[InputNetwork] [Dense(2, 256)] [Dense(256, 256)] [Dense(256, 1)] public partial class Mlp256 { }
[InputNetwork] [Dense(2, 512)] [Dense(512, 512)] [Dense(512, 1)] public partial class Mlp512 { }
[InputNetwork] [Dense(2, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 1)] public partial class Depth5 { }
[InputNetwork] [Dense(2, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 32)] [Dense(32, 1)] public partial class Depth8 { }

[EquivariantModel(typeof(Siren32), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class Layer32 { }
[EquivariantModel(typeof(Mlp64), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class Layer64 { }
[EquivariantModel(typeof(Mlp128), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class Layer128 { }
[EquivariantModel(typeof(Mlp256), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class Layer256 { }
[EquivariantModel(typeof(Mlp512), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class Layer512 { }
[EquivariantModel(typeof(Depth5), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class LayerDepth5 { }
[EquivariantModel(typeof(Depth8), Channels = new[] { 32, 32 }, Outputs = 10)] public partial class LayerDepth8 { }

/// <summary>The reference classifier: 5 equivariant layers of 32 channels, invariant head, 10 classes.</summary>
[EquivariantModel(typeof(Siren32), Channels = new[] { 32, 32, 32, 32, 32 }, Outputs = 10)]
public partial class ReferenceClassifier { }

/// <summary>The normalized reference classifier (samples/WeightTasks `--full`): 5 × 32 channels, EquivariantNorm after every layer, max pooling.</summary>
[EquivariantModel(typeof(Siren32), Channels = new[] { 32, 32, 32, 32, 32 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.Max)]
public partial class ReferenceClassifierNorm { }

/// <summary>Product layers over the reference space (the `product` verb times its generated kernel against PyTorch).</summary>
[ProductModel(typeof(Siren32), Features = 16, Layers = 1, Outputs = 10)]
public partial class ProductSiren32 { }

/// <summary>The same with 32 features (the ablation's product models' width): the `product` verb's fused kernel for --features 32.</summary>
[ProductModel(typeof(Siren32), Features = 32, Layers = 1, Outputs = 10)]
public partial class ProductSiren32Wide { }
