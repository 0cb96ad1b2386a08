using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using System;

namespace LayerCompiler.Tasks.ClassifierZoo;

// The classifier zoos' input networks, declared the way users declare them: the generator emits each one's weight
// space and its batched Classifier pass (forward and weight gradient), specialized to these sizes and this activation.
// ReLU and tanh variants share a weight space; they are two declarations because the pass is specialized per activation.

/// <summary>The Small CNN Zoo's shape on 28×28 inputs: three 3×3 stride-2 valid convs (13×13, 6×6, 2×2 maps), global average pooling, Dense 16→10. 4,970 parameters.</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 28, InputWidth = 28)]
[Conv2d(1, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Dense(16, 10)]
public partial class ZooCnnRelu { }

/// <summary><see cref="ZooCnnRelu"/> with tanh activations.</summary>
[InputNetwork(Activation = InputActivation.Tanh, InputHeight = 28, InputWidth = 28)]
[Conv2d(1, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Dense(16, 10)]
public partial class ZooCnnTanh { }

/// <summary>NFN's 3-layer MLP zoo shape: 784 → 128 → 128 → 10.</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 28, InputWidth = 28)]
[Dense(784, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp3Relu { }

/// <summary><see cref="ZooMlp3Relu"/> with tanh activations.</summary>
[InputNetwork(Activation = InputActivation.Tanh, InputHeight = 28, InputWidth = 28)]
[Dense(784, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp3Tanh { }

/// <summary>The 5-layer MLP: 784 → 128 → 128 → 128 → 128 → 10.</summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 28, InputWidth = 28)]
[Dense(784, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp5Relu { }

/// <summary><see cref="ZooMlp5Relu"/> with tanh activations.</summary>
[InputNetwork(Activation = InputActivation.Tanh, InputHeight = 28, InputWidth = 28)]
[Dense(784, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 128)]
[Dense(128, 10)]
public partial class ZooMlp5Tanh { }

/// <summary>
/// <see cref="ZooCnnRelu"/> with two outputs: the binary classifiers of the domain-adaptation task (Tasks/Adaptation; DWSNets'
/// classifiers of two randomly drawn classes). 4,834 parameters.
/// </summary>
[InputNetwork(Activation = InputActivation.ReLU, InputHeight = 28, InputWidth = 28)]
[Conv2d(1, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Conv2d(16, 16, 3, 3, Stride = 2)]
[Dense(16, 2)]
public partial class ZooCnnBinaryRelu { }

/// <summary>The architectures a classifier zoo can be built of.</summary>
public enum ZooArchitecture { Cnn, Mlp3, Mlp5 }

/// <summary>A generated classifier pass behind one interface (the generated classes are specialized, not polymorphic).</summary>
public sealed class ClassifierPass
{
    public delegate void ForwardFn(WeightSpaceBatch weights, float[] inputs, int[] indices, int perNetwork, float[] logits, float[]? featureMask);
    public delegate void BackwardFn(WeightSpaceBatch weights, float[] inputs, int[] indices, int perNetwork, float[] gradLogits, WeightSpaceBatch gradWeights, float[]? featureMask);
    public delegate void ForwardSaveFn(WeightSpaceBatch weights, float[] inputs, int[] indices, int perNetwork, float[] logits, float[] saved, float[]? featureMask);
    public delegate void BackwardSavedFn(WeightSpaceBatch weights, float[] inputs, int[] indices, int perNetwork, float[] gradLogits, WeightSpaceBatch gradWeights, float[] saved, float[]? featureMask);

    public ZooArchitecture Architecture { get; }
    public InputActivation Activation { get; }
    public WeightSpace Space { get; }
    public int InputLength { get; }
    public int Outputs { get; }
    public int FeatureLength { get; }
    public ForwardFn Forward { get; }
    /// <summary>Backward recomputes the forward pass; <see cref="ForwardSave"/> then <see cref="BackwardSaved"/> keep its activations instead (same bits).</summary>
    public BackwardFn Backward { get; }
    /// <summary>Forward, keeping each image's activations (<see cref="SavedPerImage"/> floats) for <see cref="BackwardSaved"/>.</summary>
    public ForwardSaveFn ForwardSave { get; }
    /// <summary>Backward from the activations <see cref="ForwardSave"/> kept (same weights, images, indices and mask).</summary>
    public BackwardSavedFn BackwardSaved { get; }
    public int SavedPerImage { get; }

    private ClassifierPass(ZooArchitecture arch, InputActivation act, WeightSpace space, int inputLength, int outputs, int features, ForwardFn f, BackwardFn b,
        ForwardSaveFn fs, BackwardSavedFn bs, int savedPerImage)
    {
        Architecture = arch; Activation = act; Space = space; InputLength = inputLength; Outputs = outputs; FeatureLength = features; Forward = f; Backward = b;
        ForwardSave = fs; BackwardSaved = bs; SavedPerImage = savedPerImage;
    }

    /// <summary>The generated pass of <paramref name="arch"/> with <paramref name="activation"/> (ReLU or Tanh).</summary>
    public static ClassifierPass For(ZooArchitecture arch, InputActivation activation)
    {
        switch (arch, activation)
        {
            case (ZooArchitecture.Cnn, InputActivation.ReLU): { var c = new ZooCnnRelu.Classifier(); return new(arch, activation, c.Space, ZooCnnRelu.Classifier.InputLength, ZooCnnRelu.Classifier.Outputs, ZooCnnRelu.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooCnnRelu.Classifier.SavedPerImage); }
            case (ZooArchitecture.Cnn, InputActivation.Tanh): { var c = new ZooCnnTanh.Classifier(); return new(arch, activation, c.Space, ZooCnnTanh.Classifier.InputLength, ZooCnnTanh.Classifier.Outputs, ZooCnnTanh.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooCnnTanh.Classifier.SavedPerImage); }
            case (ZooArchitecture.Mlp3, InputActivation.ReLU): { var c = new ZooMlp3Relu.Classifier(); return new(arch, activation, c.Space, ZooMlp3Relu.Classifier.InputLength, ZooMlp3Relu.Classifier.Outputs, ZooMlp3Relu.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooMlp3Relu.Classifier.SavedPerImage); }
            case (ZooArchitecture.Mlp3, InputActivation.Tanh): { var c = new ZooMlp3Tanh.Classifier(); return new(arch, activation, c.Space, ZooMlp3Tanh.Classifier.InputLength, ZooMlp3Tanh.Classifier.Outputs, ZooMlp3Tanh.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooMlp3Tanh.Classifier.SavedPerImage); }
            case (ZooArchitecture.Mlp5, InputActivation.ReLU): { var c = new ZooMlp5Relu.Classifier(); return new(arch, activation, c.Space, ZooMlp5Relu.Classifier.InputLength, ZooMlp5Relu.Classifier.Outputs, ZooMlp5Relu.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooMlp5Relu.Classifier.SavedPerImage); }
            case (ZooArchitecture.Mlp5, InputActivation.Tanh): { var c = new ZooMlp5Tanh.Classifier(); return new(arch, activation, c.Space, ZooMlp5Tanh.Classifier.InputLength, ZooMlp5Tanh.Classifier.Outputs, ZooMlp5Tanh.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooMlp5Tanh.Classifier.SavedPerImage); }
            default: throw new ArgumentException($"No classifier pass for {arch} with {activation}; the zoos use ReLU or Tanh.", nameof(activation));
        }
    }

    /// <summary>The generated pass of <see cref="ZooCnnBinaryRelu"/> (the CNN shape with 2 outputs, ReLU; not a zoo architecture of its own: <see cref="Architecture"/> says Cnn, <see cref="Outputs"/> 2).</summary>
    public static ClassifierPass ForBinaryCnn()
    {
        var c = new ZooCnnBinaryRelu.Classifier();
        return new(ZooArchitecture.Cnn, InputActivation.ReLU, c.Space, ZooCnnBinaryRelu.Classifier.InputLength, ZooCnnBinaryRelu.Classifier.Outputs, ZooCnnBinaryRelu.Classifier.FeatureLength, c.Forward, c.Backward, c.ForwardSave, c.BackwardSaved, ZooCnnBinaryRelu.Classifier.SavedPerImage);
    }

    /// <summary>The weight space of <paramref name="arch"/> (hidden-neuron symmetry; the same for both activations).</summary>
    public static WeightSpace SpaceOf(ZooArchitecture arch, Symmetry symmetry = Symmetry.HiddenNeuron) => arch switch
    {
        ZooArchitecture.Cnn => ZooCnnRelu.CreateWeightSpace(symmetry),
        ZooArchitecture.Mlp3 => ZooMlp3Relu.CreateWeightSpace(symmetry),
        ZooArchitecture.Mlp5 => ZooMlp5Relu.CreateWeightSpace(symmetry),
        _ => throw new ArgumentOutOfRangeException(nameof(arch), arch, "Unknown zoo architecture."),
    };
}
