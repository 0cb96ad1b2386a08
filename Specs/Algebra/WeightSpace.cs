using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Algebra
{
    /// <summary>A layer of neurons of the input network: index 0 is the input, the last is the output.</summary>
    public sealed class NeuronLayer
    {
        public int Index { get; }
        public int Width { get; }
        /// <summary>Whether the symmetry group permutes this layer's neurons.</summary>
        public bool Permuted { get; }
        /// <summary>Whether the group also flips the signs of this layer's neurons (each neuron independently).</summary>
        public bool Signed { get; }

        public NeuronLayer(int index, int width, bool permuted, bool signed = false)
        {
            if (signed && !permuted) throw new ArgumentException($"Layer {index}: a sign-flipped layer must also be permuted.");
            Index = index; Width = width; Permuted = permuted; Signed = signed;
        }
        public override string ToString() => $"layer {Index} (width {Width}{(Permuted ? (Signed ? ", permuted, signed" : ", permuted") : ", fixed")})";
    }

    /// <summary>
    /// One axis of a weight tensor: either a neuron axis (belongs to a neuron layer, permuted or fixed)
    /// or a kernel axis (conv kernel position, never permuted).
    /// </summary>
    public readonly struct Axis : IEquatable<Axis>
    {
        /// <summary>Neuron layer index, or -1 for a kernel axis.</summary>
        public int Layer { get; }
        public int Size { get; }
        public bool Permuted { get; }
        public bool IsKernel => Layer < 0;

        public Axis(int layer, int size, bool permuted) { Layer = layer; Size = size; Permuted = permuted; }
        public static Axis Kernel(int size) => new Axis(-1, size, false);

        public bool Equals(Axis o) => Layer == o.Layer && Size == o.Size && Permuted == o.Permuted;
        public override bool Equals(object? obj) => obj is Axis a && Equals(a);
        public override int GetHashCode() => (Layer * 397 ^ Size) * 2 + (Permuted ? 1 : 0);
        public override string ToString() => IsKernel ? $"k{Size}" : $"L{Layer}{(Permuted ? "" : "!")}({Size})";
    }

    /// <summary>
    /// A tensor of the weight space, as its axes in memory order (PyTorch orientation: a dense weight is
    /// (out, in), a conv weight (out, in, kh, kw), a bias (out)). In a batch the layout is
    /// [batch, axes..., channels].
    /// </summary>
    public sealed class WeightTensor
    {
        public int Index { get; }
        /// <summary>Short mathematical name: W1, b1, W2, ...</summary>
        public string Name { get; }
        /// <summary>1-based index of the input-network layer this tensor belongs to.</summary>
        public int LayerNumber { get; }
        public bool IsBias { get; }
        public Axis[] Axes { get; }
        public int[] Shape { get; }
        public int Size { get; }
        /// <summary>Positions (in <see cref="Axes"/>) of the permuted axes.</summary>
        public int[] PermutedAxes { get; }
        /// <summary>Positions of the fixed axes (fixed neuron layers and kernel positions).</summary>
        public int[] FixedAxes { get; }
        /// <summary>Product of fixed axis sizes: fixed indices act as extra channels ("wide" channels).</summary>
        public int FixedSize { get; }

        public WeightTensor(int index, string name, int layerNumber, bool isBias, Axis[] axes)
        {
            Index = index; Name = name; LayerNumber = layerNumber; IsBias = isBias; Axes = axes;
            Shape = axes.Select(a => a.Size).ToArray();
            long size = 1;
            foreach (var a in axes) size *= a.Size;
            Size = size > int.MaxValue ? -1 : (int)size;
            PermutedAxes = Enumerable.Range(0, axes.Length).Where(i => axes[i].Permuted).ToArray();
            FixedAxes = Enumerable.Range(0, axes.Length).Where(i => !axes[i].Permuted).ToArray();
            long f = 1;
            foreach (int i in FixedAxes) f *= axes[i].Size;
            FixedSize = f > int.MaxValue ? -1 : (int)f;
        }

        /// <summary>Neuron layers of the permuted axes, in axis order.</summary>
        public IEnumerable<int> PermutedLayers => PermutedAxes.Select(i => Axes[i].Layer);

        public override string ToString() => $"{Name}[{string.Join(",", Axes)}]";
    }

    /// <summary>
    /// The weight space of an input network under a chosen symmetry: its neuron layers and its tensors
    /// (W1, b1, W2, b2, ... in PyTorch state-dict order).
    /// </summary>
    public sealed class WeightSpace
    {
        public Symmetry Symmetry { get; }
        public IReadOnlyList<NeuronLayer> Layers { get; }
        public IReadOnlyList<WeightTensor> Tensors { get; }
        public IReadOnlyList<LayerDeclaration> Declarations { get; }

        public WeightSpace(Symmetry symmetry, IReadOnlyList<NeuronLayer> layers, IReadOnlyList<WeightTensor> tensors, IReadOnlyList<LayerDeclaration> declarations)
        {
            Symmetry = symmetry; Layers = layers; Tensors = tensors; Declarations = declarations;
        }

        /// <summary>Total number of scalars in one network's weights.</summary>
        public long Dimension => Tensors.Sum(t => (long)t.Size);

        /// <summary>Number of input-network layers M (so there are M+1 neuron layers).</summary>
        public int Depth => Declarations.Count;

        /// <summary>Whether any neuron layer's signs are flipped by the group.</summary>
        public bool HasSigns => Layers.Any(l => l.Signed);

        /// <summary>
        /// Whether an entry of the tensor is unchanged by every sign flip (each sign-flipped layer appears an even number
        /// of times among its axes). Only such tensors can take a constant bias or a pooled invariant feature; the
        /// others change sign with some neuron, so any constant or mean over them breaks the symmetry.
        /// </summary>
        public bool IsSignInvariant(int tensor) =>
            Tensors[tensor].Axes.Where(a => !a.IsKernel && Layers[a.Layer].Signed).GroupBy(a => a.Layer).All(g => g.Count() % 2 == 0);

        /// <summary>Whether no tensor carries the same permuted layer twice (true for MLPs and CNNs): the fused scheme applies.</summary>
        public bool IsFusable => Tensors.All(t => t.PermutedLayers.Distinct().Count() == t.PermutedAxes.Length && t.PermutedAxes.Length <= 2);

        /// <summary>
        /// Builds the weight space of a declared stack of layers. Throws <see cref="ArgumentException"/>
        /// naming the problem when the declaration is malformed (the generator validates first and
        /// reports diagnostics instead).
        /// </summary>
        public static WeightSpace FromLayers(IReadOnlyList<LayerDeclaration> decls, Symmetry symmetry)
        {
            var problem = Validate(decls);
            if (problem != null) throw new ArgumentException(problem);
            int m = decls.Count;
            var layers = new NeuronLayer[m + 1];
            for (int l = 0; l <= m; l++)
            {
                int width = l == 0 ? decls[0].In : decls[l - 1].Out;
                bool hidden = l > 0 && l < m;
                bool permuted = symmetry == Symmetry.AllNeuron || hidden;
                layers[l] = new NeuronLayer(l, width, permuted, signed: symmetry == Symmetry.SignedHiddenNeuron && hidden);
            }
            Axis N(int l) => new Axis(l, layers[l].Width, layers[l].Permuted);
            var tensors = new List<WeightTensor>();
            for (int i = 0; i < m; i++)
            {
                var d = decls[i];
                int number = i + 1;
                var axes = d.Kind == LayerKind.Dense
                    ? new[] { N(number), N(number - 1) }
                    : new[] { N(number), N(number - 1), Axis.Kernel(d.KernelH), Axis.Kernel(d.KernelW) };
                tensors.Add(new WeightTensor(tensors.Count, "W" + number, number, false, axes));
                if (d.Bias) tensors.Add(new WeightTensor(tensors.Count, "b" + number, number, true, new[] { N(number) }));
            }
            return new WeightSpace(symmetry, layers, tensors, decls.ToArray());
        }

        /// <summary>A weight space given directly by its tensors (e.g. a recurrent h×h weight), for the general algebra.</summary>
        public static WeightSpace FromTensors(IReadOnlyList<NeuronLayer> layers, IReadOnlyList<(string Name, int[] LayerOfAxis)> tensors)
        {
            var list = new List<WeightTensor>();
            foreach (var (name, axisLayers) in tensors)
            {
                var axes = axisLayers.Select(l => l < 0 ? Axis.Kernel(-l) : new Axis(l, layers[l].Width, layers[l].Permuted)).ToArray();
                list.Add(new WeightTensor(list.Count, name, 0, axes.Length == 1, axes));
            }
            return new WeightSpace(Symmetry.HiddenNeuron, layers, list, Array.Empty<LayerDeclaration>());
        }

        /// <summary>Returns null when the declaration is well-formed, else a message saying what to change.</summary>
        public static string? Validate(IReadOnlyList<LayerDeclaration> decls)
        {
            if (decls.Count == 0) return "The input network declares no layers; add [Dense(in, out)] or [Conv2d(in, out, kh, kw)] attributes.";
            bool seenDense = false;
            for (int i = 0; i < decls.Count; i++)
            {
                var d = decls[i];
                if (d.In <= 0 || d.Out <= 0 || d.KernelH <= 0 || d.KernelW <= 0)
                    return $"Layer {i + 1} ({d}) has a non-positive size; every size must be at least 1.";
                if (d.Kind == LayerKind.Dense) seenDense = true;
                else if (seenDense) return $"Layer {i + 1} is a Conv2d after a Dense layer; convolutions must come first (global spatial pooling sits between the last conv and the first dense layer).";
                if (i > 0 && decls[i - 1].Out != d.In)
                    return $"Layer {i + 1} takes {d.In} inputs but layer {i} produces {decls[i - 1].Out}; make them equal.";
            }
            return null;
        }
    }
}
