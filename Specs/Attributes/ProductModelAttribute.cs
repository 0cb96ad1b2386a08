using System;

namespace LayerCompiler
{
    /// <summary>
    /// Declares an invariant network of <b>product layers</b> over the weights of a dense <c>architecture</c> (a type marked
    /// <see cref="InputNetworkAttribute"/> with only <see cref="DenseAttribute"/> layers): the weights become features of
    /// the input network's own graph, and each product layer passes messages along its edges in both directions, each the
    /// product of a weight's features and a neuron's features, then updates neurons and edges (docs/model.md, "Product
    /// layers"). LayerCompiler generates fused product kernels printed for the architecture and feature count, the
    /// sign-invariant lift under <see cref="Symmetry.SignedHiddenNeuron"/>, and a ready model class (the partial type then
    /// derives from the runtime's <c>ProductNetwork</c>).
    /// </summary>
    /// <remarks>
    /// <see cref="Symmetry.SignedHiddenNeuron"/> (hidden permutations × sign flips) is valid for odd activations (Sine,
    /// Tanh): the raw weights then go through the sign-invariant lift first. A ReLU architecture has no sign symmetry
    /// (LC0018).
    /// </remarks>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class ProductModelAttribute : Attribute
    {
        public ProductModelAttribute(Type architecture) { Architecture = architecture; }
        public Type Architecture { get; }
        public Symmetry Symmetry { get; set; } = Symmetry.HiddenNeuron;
        /// <summary>Features per neuron and per edge (D).</summary>
        public int Features { get; set; } = 16;
        /// <summary>Number of product layers.</summary>
        public int Layers { get; set; } = 2;
        /// <summary>Values per network (e.g. classes).</summary>
        public int Outputs { get; set; }
        /// <summary>Width of a hidden dense layer in the head; 0 for a single linear layer.</summary>
        public int HeadHidden { get; set; }
        /// <summary>LayerNorm of every node's and edge's features after each product layer.</summary>
        public bool Normalize { get; set; }
        /// <summary>Dropout probability on the features after each product layer, in training; 0 for none.</summary>
        public float Dropout { get; set; }
    }
}
