using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// A permutation-equivariant network over a weight space: equivariant layers (each followed by the
/// activation and, optionally, <see cref="EquivariantNorm"/>), then either an invariant head
/// (pooling → dense → Outputs values per network) or an equivariant head (a last equivariant layer to
/// Outputs channels). Generated model classes derive from it and supply fused kernels; the same
/// network with interpreted kernels comes from <see cref="CreateInterpreted"/>.
/// Parameters: <c>layers.i.weight/bias</c>, <c>norms.i.weight/bias</c>, <c>head.*</c>.
/// </summary>
public class EquivariantNetwork : Module
{
    public ModelConfig Config { get; }
    public global::LayerCompiler.Algebra.WeightSpace Space { get; }
    public IReadOnlyList<EquivariantLayer> Layers { get; }
    public IReadOnlyList<EquivariantNorm> Norms { get; }
    public Sequential? Head { get; }
    public InvariantPooling? Pooling { get; }
    private readonly WeightSpaceActivation[] _activations;

    protected EquivariantNetwork(ModelConfig config, global::LayerCompiler.Algebra.WeightSpace space, Func<LayerPlan, IEquivariantKernel> kernelFactory, ulong seed)
    {
        config.Validate();
        Config = config; Space = space;
        var rng = new Rng(seed);
        var layers = new List<EquivariantLayer>();
        var norms = new List<EquivariantNorm>();
        int c = 1;
        foreach (int next in config.Channels)
        {
            layers.Add(new EquivariantLayer(kernelFactory(new LayerPlan(space, c, next)), rng.Fork()));
            if (config.Normalize) norms.Add(new EquivariantNorm(space.Tensors.Count, next));
            c = next;
        }
        _activations = config.Channels.Select(_ => new WeightSpaceActivation(config.Activation)).ToArray();
        if (config.Head == HeadKind.Equivariant)
            layers.Add(new EquivariantLayer(kernelFactory(new LayerPlan(space, c, config.Outputs)), rng.Fork()));
        else
        {
            Pooling = new InvariantPooling(space, c, config.Pooling);
            var headRng = rng.Fork();
            Head = config.HeadHidden > 0
                ? new Sequential(new Linear(Pooling.FeatureCount, config.HeadHidden, headRng), new ReLU(), new Linear(config.HeadHidden, config.Outputs, headRng))
                : new Sequential(new Linear(Pooling.FeatureCount, config.Outputs, headRng));
        }
        Layers = layers; Norms = norms;
    }

    /// <summary>The same network evaluated term by term (no generated code): for architectures known only at run time, and as a test oracle.</summary>
    public static EquivariantNetwork CreateInterpreted(ModelConfig config, global::LayerCompiler.Algebra.WeightSpace space, ulong seed = 0) =>
        new(config, space, plan => new InterpretedKernel(plan), seed);

    protected override IEnumerable<(string, Module)> Children()
    {
        for (int i = 0; i < Layers.Count; i++) yield return ($"layers.{i}", Layers[i]);
        for (int i = 0; i < Norms.Count; i++) yield return ($"norms.{i}", Norms[i]);
        if (Head != null) yield return ("head", Head);
    }

    /// <summary>
    /// Whether ReLUs are fused into the passes before them where possible (default): the activation right after
    /// a generated layer (no normalization between) runs in the layer's store, and its backward in the next
    /// layer's input-gradient store; the activation after an <see cref="EquivariantNorm"/> runs inside the
    /// normalization's pass, forward and backward. Bitwise the same results as the separate activation; off,
    /// every activation is its own pass over the batch (kept for comparison and tests).
    /// </summary>
    public bool FuseActivations { get; set; } = true;

    /// <summary>How many of the activations currently run inside another pass (0 when the activation is not ReLU, or with layer kernels that cannot fuse and no normalization).</summary>
    public int FusedActivationCount => Enumerable.Range(0, Config.Channels.Length).Count(i => Fused(i) || FusedIntoNorm(i));

    /// <summary>Whether activation i runs inside layer i's forward (and the next layer's backward, when there is one).</summary>
    private bool Fused(int i) => FuseActivations && Config.Activation == Activation.ReLU && !Config.Normalize
        && Layers[i].CanFuseRelu && (i + 1 >= Layers.Count || Layers[i + 1].CanFuseRelu);

    /// <summary>Whether activation i runs inside normalization i (forward and backward).</summary>
    private bool FusedIntoNorm(int i) => FuseActivations && Config.Activation == Activation.ReLU && Config.Normalize;

    private WeightSpaceBatch Trunk(WeightSpaceBatch x)
    {
        CheckInput(x);
        for (int i = 0; i < Config.Channels.Length; i++)
        {
            bool fused = Fused(i), inNorm = FusedIntoNorm(i);
            x = Layers[i].Forward(x, relu: fused);
            if (Config.Normalize) x = Norms[i].Forward(x, relu: inNorm);
            if (fused) _activations[i].RecordFusedRelu(x);
            else if (!inNorm) x = _activations[i].Forward(x);
        }
        return x;
    }

    /// <summary>
    /// Backward through the trunk. <paramref name="throughLastActivation"/>: <paramref name="g"/> already went
    /// through the last activation (the equivariant head layer applied its ReLU mask).
    /// </summary>
    private WeightSpaceBatch? TrunkBackward(WeightSpaceBatch g, bool needInputGradient, bool throughLastActivation = false)
    {
        bool through = throughLastActivation;
        for (int i = Config.Channels.Length - 1; i >= 0; i--)
        {
            // A ReLU the normalization applied in its forward is differentiated by the normalization's backward
            // (asked of the norm, not of FuseActivations, which may have changed since the forward).
            if (!through && !(Config.Normalize && Norms[i].AppliedRelu)) g = _activations[i].Backward(g);
            if (Config.Normalize) g = Norms[i].Backward(g);
            // The previous activation's backward runs in this layer's input-gradient store when it was fused.
            bool maskInput = i > 0 && Fused(i - 1);
            var gi = Layers[i].Backward(g, needInputGradient || i > 0, maskInput);
            if (i == 0) return gi;
            g = gi!;
            through = maskInput;
        }
        return g;
    }

    /// <summary>Invariant features (pooled last hidden features), [batch, FeatureCount].</summary>
    public Tensor Features(WeightSpaceBatch input)
    {
        if (Pooling == null) throw new InvalidOperationException("This model has an equivariant head; it has no invariant features.");
        return Pooling.Forward(Trunk(input));
    }

    /// <summary>Invariant head: [batch, Outputs] (e.g. class logits).</summary>
    public Tensor Forward(WeightSpaceBatch input)
    {
        if (Head == null) throw new InvalidOperationException("This model has an equivariant head; call ForwardEquivariant.");
        return Head.Forward(Features(input));
    }

    /// <summary>Back-propagates d loss / d output of <see cref="Forward"/>; accumulates parameter gradients; returns the input gradient.</summary>
    public WeightSpaceBatch Backward(Tensor gradOutput)
    {
        if (Head == null || Pooling == null) throw new InvalidOperationException("This model has an equivariant head; call BackwardEquivariant.");
        var g = Pooling.Backward(Head.Backward(gradOutput));
        return TrunkBackward(g, true)!;
    }

    /// <summary>
    /// Like <see cref="Backward"/> but without the input gradient, which training does not need: the first
    /// layer then skips its transposed map (same parameter gradients, bit for bit).
    /// </summary>
    public void BackwardParameters(Tensor gradOutput)
    {
        if (Head == null || Pooling == null) throw new InvalidOperationException("This model has an equivariant head; call BackwardEquivariant.");
        TrunkBackward(Pooling.Backward(Head.Backward(gradOutput)), false);
    }

    /// <summary>Equivariant head: one value per input weight per output channel.</summary>
    public WeightSpaceBatch ForwardEquivariant(WeightSpaceBatch input)
    {
        if (Head != null) throw new InvalidOperationException("This model has an invariant head; call Forward.");
        return Layers[^1].Forward(Trunk(input));
    }

    public WeightSpaceBatch BackwardEquivariant(WeightSpaceBatch gradOutput)
    {
        if (Head != null) throw new InvalidOperationException("This model has an invariant head; call Backward.");
        bool mask = Config.Channels.Length > 0 && Fused(Config.Channels.Length - 1);
        var g = Layers[^1].Backward(gradOutput, true, reluMaskInput: mask)!;
        return TrunkBackward(g, true, throughLastActivation: mask)!;
    }

    /// <summary>
    /// Like <see cref="BackwardEquivariant"/> but without the input gradient, which training does not need: the first
    /// layer then skips its transposed map (same parameter gradients, bit for bit).
    /// </summary>
    public void BackwardEquivariantParameters(WeightSpaceBatch gradOutput)
    {
        if (Head != null) throw new InvalidOperationException("This model has an invariant head; call BackwardParameters.");
        bool mask = Config.Channels.Length > 0 && Fused(Config.Channels.Length - 1);
        var g = Layers[^1].Backward(gradOutput, true, reluMaskInput: mask)!;
        TrunkBackward(g, false, throughLastActivation: mask);
    }

    private void CheckInput(WeightSpaceBatch x)
    {
        if (x.Channels != 1) throw new ArgumentException($"Model input must have 1 channel (raw weights), got {x.Channels}.");
        if (x.Space.Tensors.Count != Space.Tensors.Count || x.Space.Dimension != Space.Dimension)
            throw new ArgumentException($"Input is over a weight space of {x.Space.Dimension} weights in {x.Space.Tensors.Count} tensors; the model expects {Space.Dimension} in {Space.Tensors.Count}.");
    }

    public override string ToString() => $"{GetType().Name}({Config}; {ParameterCount()} parameters)";
}
