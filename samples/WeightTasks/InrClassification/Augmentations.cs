using System;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace WeightTasks.InrClassification;

/// <summary>The training augmentations the sample offers (``--augment``), built on the runtime's <see cref="WeightAugmentation"/>.</summary>
internal static class Augmentations
{
    public const string Protocol = "protocol", NoRotation = "no-rotation", None = "none";
    public static readonly string[] Names = { Protocol, NoRotation, None };

    /// <summary>The quick main job's default.</summary>
    public const string QuickDefault = None;

    /// <summary>
    /// protocol: hidden-neuron permutation, weight dropout 0.01, Gaussian noise 0.1 × each tensor's standard deviation
    /// (per network), first-layer scale U(0.8, 1.2), input rotation U(−45°, 45°); no-rotation: the same without the rotation.
    /// </summary>
    public static WeightAugmentation? Create(string name) => name switch
    {
        Protocol => WeightAugmentation.Reference(noiseStd: 0.1f, rotate: true, relativeNoise: true),
        NoRotation => WeightAugmentation.Reference(noiseStd: 0.1f, rotate: false, relativeNoise: true),
        None => null,
        _ => throw new ArgumentException($"Unknown augmentation '{name}'; choose one of {string.Join(", ", Names)}."),
    };
}
