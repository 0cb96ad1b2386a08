using System;

namespace LayerCompiler
{
    /// <summary>
    /// Marks a partial type as the declaration of an input network's architecture. Its layers are the
    /// <see cref="DenseAttribute"/> and <see cref="Conv2dAttribute"/> attributes on the same type, in
    /// declaration order. LayerCompiler adds the weight-space description and a batched forward pass of
    /// the network itself.
    /// </summary>
    [AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
    public sealed class InputNetworkAttribute : Attribute
    {
        /// <summary>Nonlinearity of the hidden layers (the last layer is linear).</summary>
        public InputActivation Activation { get; set; } = InputActivation.ReLU;
        /// <summary>SIREN frequency ω0 (only with <see cref="InputActivation.Sine"/>): hidden layers compute sin(ω0·(W x + b)).</summary>
        public float Omega0 { get; set; } = 30f;
        /// <summary>Constant added to the network's output (the INR protocol uses +0.5).</summary>
        public float OutputOffset { get; set; }
        /// <summary>
        /// Height of the input image (0: not an image network). With <see cref="InputWidth"/> it makes LayerCompiler emit a
        /// batched classifier pass (<c>Classifier</c>: forward and weight gradient over images picked by index) for a
        /// convolutional network, or for a dense network whose first layer takes the flattened image (C·H·W inputs).
        /// </summary>
        public int InputHeight { get; set; }
        /// <summary>Width of the input image (0: not an image network); see <see cref="InputHeight"/>.</summary>
        public int InputWidth { get; set; }
    }

    /// <summary>A dense layer of the input network: weight (out, in) as PyTorch's Linear, bias (out).</summary>
    [AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
    public sealed class DenseAttribute : Attribute
    {
        public DenseAttribute(int inFeatures, int outFeatures) { InFeatures = inFeatures; OutFeatures = outFeatures; }
        public int InFeatures { get; }
        public int OutFeatures { get; }
        public bool Bias { get; set; } = true;
    }

    /// <summary>
    /// A 2-D convolution of the input network: weight (out, in, kh, kw), bias (out). Convolutions come
    /// before every dense layer; the network pools globally over space before the first dense layer.
    /// </summary>
    [AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
    public sealed class Conv2dAttribute : Attribute
    {
        public Conv2dAttribute(int inChannels, int outChannels, int kernelH, int kernelW)
        {
            InChannels = inChannels; OutChannels = outChannels; KernelH = kernelH; KernelW = kernelW;
        }
        public int InChannels { get; }
        public int OutChannels { get; }
        public int KernelH { get; }
        public int KernelW { get; }
        public bool Bias { get; set; } = true;
        /// <summary>Step between neighbouring output positions (both directions); padding is always 0 ("valid").
        /// The weight space does not depend on it; the generated classifier pass does.</summary>
        public int Stride { get; set; } = 1;
    }

    /// <summary>
    /// Declares a permutation-equivariant network over the weights of <c>architecture</c> (a type
    /// marked <see cref="InputNetworkAttribute"/>). LayerCompiler generates its fused layer kernels,
    /// parameter layout and a ready model class (the partial type then derives from the runtime's
    /// <c>EquivariantNetwork</c>).
    /// </summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class EquivariantModelAttribute : Attribute
    {
        public EquivariantModelAttribute(Type architecture) { Architecture = architecture; }
        public Type Architecture { get; }
        public Symmetry Symmetry { get; set; } = Symmetry.HiddenNeuron;
        /// <summary>Output channels of each equivariant layer, e.g. { 32, 32, 32 } for three layers. Input features have 1 channel.</summary>
        public int[]? Channels { get; set; }
        public Activation Activation { get; set; } = Activation.ReLU;
        public HeadKind Head { get; set; } = HeadKind.Invariant;
        /// <summary>Invariant head: values per network (e.g. classes). Equivariant head: output channels per weight.</summary>
        public int Outputs { get; set; }
        /// <summary>Width of a hidden dense layer in the invariant head; 0 for a single linear layer.</summary>
        public int HeadHidden { get; set; }
        /// <summary>Insert an equivariant per-channel normalization after each hidden equivariant layer.</summary>
        public bool Normalize { get; set; }
        /// <summary>How the invariant head pools each tensor over its permuted axes (mean, max, or both).</summary>
        public HeadPooling Pooling { get; set; } = HeadPooling.Mean;
    }
}
