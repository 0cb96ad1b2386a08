using System;
using System.Collections.Generic;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// An equivariant linear layer as a module: a kernel (generated or interpreted) plus its parameters
/// <c>weight</c> (all basis terms, layout of <see cref="LayerPlan"/>) and <c>bias</c>.
/// </summary>
public sealed class EquivariantLayer : Module
{
    public IEquivariantKernel Kernel { get; }
    public LayerPlan Plan => Kernel.Plan;
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    private WeightSpaceBatch? _input, _output, _gradInput;

    public EquivariantLayer(IEquivariantKernel kernel, Rng rng)
    {
        Kernel = kernel;
        Weight = new Parameter(kernel.Plan.WeightCount);
        Bias = new Parameter(kernel.Plan.BiasCount) { Decay = false };
        // Each term's weights ~ N(0, 1/fan-in of its output tensor): unit-scale outputs at initialization.
        foreach (var t in kernel.Plan.Terms)
        {
            double std = kernel.Plan.InitStd(t.Term.Output);
            for (int i = 0; i < t.Rows * t.Cols; i++) Weight.Data[t.Offset + i] = (float)(std * rng.Normal());
        }
    }

    protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", Weight), ("bias", Bias) };

    /// <summary>Whether this layer's kernel can fuse a ReLU into its passes (<see cref="IReluFusingKernel"/>).</summary>
    public bool CanFuseRelu => Kernel is IReluFusingKernel;

    public WeightSpaceBatch Forward(WeightSpaceBatch input) => Forward(input, relu: false);

    /// <summary>The layer, followed by ReLU when <paramref name="relu"/> (fused into the kernel's store; see <see cref="CanFuseRelu"/>).</summary>
    public WeightSpaceBatch Forward(WeightSpaceBatch input, bool relu)
    {
        _input = input;
        if (_output == null || _output.Batch != input.Batch) _output = new WeightSpaceBatch(Plan.Space, input.Batch, Plan.OutChannels);
        if (relu) FusingKernel.Forward(Weight.Data, Bias.Data, input, _output, relu: true);
        else Kernel.Forward(Weight.Data, Bias.Data, input, _output);
        return _output;
    }

    private IReluFusingKernel FusingKernel => Kernel as IReluFusingKernel
        ?? throw new InvalidOperationException($"{Kernel.GetType().Name} cannot fuse a ReLU; apply the activation separately.");

    /// <summary>Accumulates parameter gradients; returns the input gradient (null when not needed).</summary>
    public WeightSpaceBatch? Backward(WeightSpaceBatch gradOutput, bool needInputGradient = true) => Backward(gradOutput, needInputGradient, reluMaskInput: false);

    /// <summary>
    /// As <see cref="Backward(WeightSpaceBatch, bool)"/>; with <paramref name="reluMaskInput"/> the input gradient goes on
    /// through the ReLU which produced this layer's input (zero where the input is ≤ 0), so that activation's own
    /// backward pass is not needed.
    /// </summary>
    public WeightSpaceBatch? Backward(WeightSpaceBatch gradOutput, bool needInputGradient, bool reluMaskInput)
    {
        if (_input == null) throw new InvalidOperationException("Backward called before Forward.");
        WeightSpaceBatch? gx = null;
        if (needInputGradient)
        {
            if (_gradInput == null || _gradInput.Batch != _input.Batch) _gradInput = new WeightSpaceBatch(Plan.Space, _input.Batch, Plan.InChannels);
            gx = _gradInput;
        }
        if (reluMaskInput && gx != null) FusingKernel.Backward(Weight.Data, _input, gradOutput, gx, Weight.Grad.Data, Bias.Grad.Data, reluMaskInput: true);
        else Kernel.Backward(Weight.Data, _input, gradOutput, gx, Weight.Grad.Data, Bias.Grad.Data);
        return gx;
    }

    public override string ToString() => $"EquivariantLayer({Plan.InChannels} → {Plan.OutChannels}, {Plan.Terms.Count} terms, {Kernel.GetType().Name})";
}
