
namespace LayerCompiler.Tests.Generated;

// A small model for the trainer tests, over the 3→4→2 MLPs declared in Generated/Architectures.cs:
// two equivariant layers of 6 channels, ReLU, invariant pooling, a hidden head layer, 3 classes.
[EquivariantModel(typeof(Mlp3x4x2), Channels = new[] { 6, 6 }, Outputs = 3, HeadHidden = 12)]
public partial class TrainerTestClassifier { }

// Product models (issue 17): a ReLU MLP under hidden permutations, and a SIREN under hidden permutations × sign flips
// (the raw weights go through the sign-invariant lift), with LayerNorm and dropout.
[ProductModel(typeof(Mlp3x4x2), Features = 4, Layers = 2, Outputs = 3, HeadHidden = 8)]
public partial class ProductMlpClassifier { }

[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f)]
[Dense(2, 5)]
[Dense(5, 5)]
[Dense(5, 1)]
public partial class SmallSiren { }

[ProductModel(typeof(SmallSiren), Symmetry = Symmetry.SignedHiddenNeuron, Features = 4, Layers = 2, Outputs = 2, Normalize = true, Dropout = 0.1f)]
public partial class SignedProductClassifier { }
