using LayerCompiler;

namespace WeightTasks;

// The INR architecture of the Fashion-MNIST protocol: SIREN 2 → 32 → 32 → 1, sin(30·(W x + b)) hidden
// layers, linear output plus 0.5. LayerCompiler generates its weight-space description.
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class Siren2x32x32x1 { }

// The sine corpora: SIREN 1 → 32 → 32 → 1 fitted to a·sin(b·x) or sin(a·x). The protocol's "same SIREN rules" as the
// image corpus, output offset +0.5 included (the last bias absorbs it). Zoos built before issue 16 recorded offset 0 and
// still load with it: a zoo's network comes from its recorded architecture, not from this declaration.
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(1, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class Siren1x32x32x1 { }

// Classifiers over those weights. LayerCompiler generates fused kernels for every layer. The invariant head
// max-pools each tensor over its permuted axes (DWSNets' reduction): on the quick corpus (15 epochs, one seed)
// test accuracy went from 38.35 % with mean pooling to 41.20 % with max (39.05 % with both side by side).
//
// Quick variants (the default job, sized for 2 CPU cores and a 15-minute budget): 3 equivariant layers of
// 16 channels, invariant pooling, linear head. No normalization layer: in short runs (a few thousand INRs,
// 20 epochs) the per-tensor equivariant normalization measurably slowed learning (train loss 2.20 vs 2.11
// after 5 epochs on 2,000 INRs), so the quick models leave it out; the full variants keep it, as the
// reference setup does.

/// <summary>DWSNets-style hidden-neuron equivariant classifier (the exact symmetry of the INRs).</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 16, 16, 16 }, Outputs = 10, Pooling = HeadPooling.Max)]
public partial class HiddenNeuronClassifier { }

/// <summary>NFN "NP"-style all-neuron equivariant classifier (inputs and outputs treated as permutable too).</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16, 16 }, Outputs = 10, Pooling = HeadPooling.Max)]
public partial class AllNeuronClassifier { }

// Full variants: the reference setup (32 channels, 5 equivariant layers, normalization between layers,
// invariant pooling, linear classifier).

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 32, 32, 32, 32, 32 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.Max)]
public partial class HiddenNeuronClassifierFull { }

[EquivariantModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 32, 32, 32, 32, 32 }, Outputs = 10, Normalize = true, Pooling = HeadPooling.Max)]
public partial class AllNeuronClassifierFull { }

// Sine-wave tasks (samples/WeightTasks/Verbs/SineVerbs.cs) over the SIREN 1 → 32 → 32 → 1 weights. Sized for 2 CPU cores:
// 3 hidden-neuron equivariant layers of 16 channels, max-pooling invariant head.

/// <summary>Regresses the frequency b of a·sin(b·x) from its INR's weights (`sine regress`).</summary>
[EquivariantModel(typeof(Siren1x32x32x1), Channels = new[] { 16, 16, 16 }, Outputs = 1, Pooling = HeadPooling.Max)]
public partial class SineFrequencyRegressor { }

/// <summary>The SimCLR encoder of `sine embed`: a 16-d invariant embedding of a sine INR.</summary>
[EquivariantModel(typeof(Siren1x32x32x1), Channels = new[] { 16, 16, 16 }, Outputs = 16, Pooling = HeadPooling.Max)]
public partial class SineEncoder { }

// INR editing (samples/WeightTasks/Verbs/InrEditVerbs.cs): weight → weight maps with an equivariant head of one channel,
// one Δ per weight of a SIREN 2 → 32 → 32 → 1. NFN uses 3 layers of 128 channels; 2 hidden layers of 16 fit 2 CPU cores.

/// <summary>Hidden-neuron equivariant editor (DWSNets / NFN HNP).</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class HiddenNeuronEditor { }

/// <summary>All-neuron equivariant editor (NFN NP).</summary>
[EquivariantModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class AllNeuronEditor { }

// Product-layer models (issue 17; docs/model.md, "Product layers"): the INR's weights become edge features of its
// own graph, and each layer passes messages that are products of a weight's and a neuron's features. Quick-sized
// for 2 CPU cores: 2 layers of 32 features, linear head over the mean of every node and edge layer.

/// <summary>Product layers under hidden-neuron permutations only.</summary>
[ProductModel(typeof(Siren2x32x32x1), Features = 32, Layers = 2, Outputs = 10)]
public partial class ProductClassifier { }

/// <summary>Product layers under hidden permutations × sign flips (SIREN's sine is odd): the weights go through the
/// sign-invariant lift first.</summary>
[ProductModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.SignedHiddenNeuron, Features = 32, Layers = 2, Outputs = 10)]
public partial class SignedProductClassifier { }

/// <summary>The signed model with ScaleGMN's regularization: LayerNorm after every product layer, dropout 0.2.</summary>
[ProductModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.SignedHiddenNeuron, Features = 32, Layers = 2, Outputs = 10, Normalize = true, Dropout = 0.2f)]
public partial class SignedProductClassifierNormalized { }

/// <summary>The signed model twice as wide (64 features per node and edge), for the full corpus, where the 32-feature model
/// fits its training INRs barely better than its validation INRs.</summary>
[ProductModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.SignedHiddenNeuron, Features = 64, Layers = 2, Outputs = 10)]
public partial class WideSignedProductClassifier { }
