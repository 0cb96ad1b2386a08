using LayerCompiler;

namespace LayerCompiler.Bench.EditSpeed;

// The declarations of samples/WeightTasks/Architectures.cs that inr-edit uses (same attributes, so the same generated code).
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class Siren2x32x32x1 { }

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class HiddenNeuronEditor { }

[EquivariantModel(typeof(Siren2x32x32x1), Symmetry = Symmetry.AllNeuron, Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class AllNeuronEditor { }
