using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Linq;

namespace LayerCompiler.Runtime.Modules;

/// <summary>The declared options of an equivariant model (the <c>[EquivariantModel]</c> attribute's values).</summary>
public sealed record ModelConfig(Symmetry Symmetry, int[] Channels, Activation Activation, HeadKind Head, int Outputs, int HeadHidden = 0, bool Normalize = false, HeadPooling Pooling = HeadPooling.Mean)
{
    public void Validate()
    {
        if (Channels.Length == 0 || Channels.Any(c => c <= 0))
            throw new ArgumentException($"Channels must be one positive width per equivariant layer, got [{string.Join(", ", Channels)}].");
        if (Outputs <= 0) throw new ArgumentException($"Outputs must be at least 1, got {Outputs}.");
        if (HeadHidden < 0) throw new ArgumentException($"HeadHidden must be 0 (linear head) or positive, got {HeadHidden}.");
        if (!Enum.IsDefined(Pooling)) throw new ArgumentException($"Unknown pooling {Pooling}.");
        if (Head == HeadKind.Equivariant && Pooling != HeadPooling.Mean) throw new ArgumentException("Pooling applies only to an invariant head.");
    }

    public bool Equals(ModelConfig? other) => other != null && Symmetry == other.Symmetry && Channels.SequenceEqual(other.Channels) &&
        Activation == other.Activation && Head == other.Head && Outputs == other.Outputs && HeadHidden == other.HeadHidden && Normalize == other.Normalize && Pooling == other.Pooling;

    public override int GetHashCode() => HashCode.Combine(Symmetry, Channels.Length, Activation, Head, Outputs, HeadHidden, Normalize, Pooling);

    public override string ToString() =>
        $"{Symmetry}, channels [{string.Join(", ", Channels)}], {Activation}, {Head} head → {Outputs}{(HeadHidden > 0 ? $" (hidden {HeadHidden})" : "")}{(Normalize ? ", normalized" : "")}{(Pooling != HeadPooling.Mean ? $", {Pooling} pooling" : "")}";
}
