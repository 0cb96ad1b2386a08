namespace LayerCompiler
{
    /// <summary>Which neuron layers of the input network are treated as permutable.</summary>
    public enum Symmetry
    {
        /// <summary>Only hidden layers are permuted (the exact symmetry; DWSNets, NFN "HNP"). Input and output neurons are fixed indices.</summary>
        HiddenNeuron = 0,
        /// <summary>Every neuron layer is treated as permuted (NFN "NP"): fewer parameters, independent of input/output widths.</summary>
        AllNeuron = 1,
        /// <summary>
        /// Hidden neurons are permuted and their signs flipped (hidden permutations × sign flips): the exact symmetry of
        /// networks with an odd activation (sine, tanh), where negating a hidden neuron's incoming row, its bias and its
        /// outgoing column preserves the function. Only the basis terms whose every block holds an even number of axes
        /// of each sign-flipped layer survive (docs/model.md, "Sign flips").
        /// </summary>
        SignedHiddenNeuron = 2,
    }

    /// <summary>Nonlinearity applied after each hidden equivariant layer.</summary>
    public enum Activation
    {
        ReLU = 0,
        GELU = 1,
        None = 2,
    }

    /// <summary>What the model produces from its last equivariant features.</summary>
    public enum HeadKind
    {
        /// <summary>Invariant pooling, then a dense classifier/regressor with <c>Outputs</c> values per input network.</summary>
        Invariant = 0,
        /// <summary>A final equivariant layer to <c>Outputs</c> channels: one value per input weight per output channel.</summary>
        Equivariant = 1,
    }

    /// <summary>How the invariant head pools each tensor over its permuted axes.</summary>
    public enum HeadPooling
    {
        /// <summary>Mean over the permuted axes (linear; C·(2M − 3 + d0 + 2dM) features for hidden-neuron symmetry).</summary>
        Mean = 0,
        /// <summary>Maximum over the permuted axes (DWSNets' default reduction): the same number of features.</summary>
        Max = 1,
        /// <summary>Mean and maximum side by side: twice the features.</summary>
        MeanAndMax = 2,
    }

    /// <summary>Nonlinearity of the input network's hidden layers (used to run the input network itself).</summary>
    public enum InputActivation
    {
        ReLU = 0,
        /// <summary>SIREN: sin(ω0·(W x + b)), with the bias inside the sine.</summary>
        Sine = 1,
        Tanh = 2,
    }

    public enum LayerKind
    {
        Dense = 0,
        Conv2d = 1,
    }
}
