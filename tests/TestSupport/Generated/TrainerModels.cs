
namespace LayerCompiler.Tests.Generated;

// A small model for the trainer tests, over the 3→4→2 MLPs declared in Generated/Architectures.cs:
// two equivariant layers of 6 channels, ReLU, invariant pooling, a hidden head layer, 3 classes.
[EquivariantModel(typeof(Mlp3x4x2), Channels = new[] { 6, 6 }, Outputs = 3, HeadHidden = 12)]
public partial class TrainerTestClassifier { }
