using LayerCompiler.Runtime;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Editing;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>
/// The Δv model of domain adaptation: a hidden-neuron equivariant weight → weight network over the binary CNN's weights
/// (<see cref="ZooCnnBinaryRelu"/>: the 16 channels of each hidden conv layer are permuted; the image channel, the kernel
/// positions and the 2 logits are not), 2 equivariant layers of 16 channels, an equivariant head of one channel: one Δ per
/// weight. Sized for 2 CPU cores.
/// </summary>
[EquivariantModel(typeof(ZooCnnBinaryRelu), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class CnnAdapter { }

/// <summary>The adaptation model: v' = v + s·Δv(v̂), v̂ the per-entry normalized weights, s learned from 0.01 (the editing task's <see cref="WeightEditor"/>: the same map).</summary>
public static class AdaptationModel
{
    public const string Kind = "hidden";

    public static WeightEditor Create(ulong seed) => WeightEditor.Equivariant(Kind, new CnnAdapter(seed));
}
