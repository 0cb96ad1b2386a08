
namespace LayerCompiler.Tests.Generated;

// Product models for the fused-kernel and generated-lift tests (issue 17): feature counts that take the SIMD blocks of 32
// and 8 lanes and the scalar tail (11 = 8 + 3, 40 = 32 + 8), and a tanh network whose second hidden layer has no bias
// (its sign reference is its outgoing column only), so the lift has references of two different sizes.
[InputNetwork(Activation = InputActivation.Tanh)]
[Dense(3, 6)]
[Dense(6, 4, Bias = false)]
[Dense(4, 2)]
public partial class Tanh3x6x4x2 { }

[ProductModel(typeof(Tanh3x6x4x2), Symmetry = Symmetry.SignedHiddenNeuron, Features = 11, Layers = 1, Outputs = 2)]
public partial class SignedTanhProduct { }

[ProductModel(typeof(SmallSiren), Features = 40, Layers = 1, Outputs = 3)]
public partial class WideProduct { }
