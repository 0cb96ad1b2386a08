using System;
using System.Collections.Generic;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Models;

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

    public WeightSpaceBatch Forward(WeightSpaceBatch input)
    {
        _input = input;
        if (_output == null || _output.Batch != input.Batch) _output = new WeightSpaceBatch(Plan.Space, input.Batch, Plan.OutChannels);
        Kernel.Forward(Weight.Data, Bias.Data, input, _output);
        return _output;
    }

    /// <summary>Accumulates parameter gradients; returns the input gradient (null when not needed).</summary>
    public WeightSpaceBatch? Backward(WeightSpaceBatch gradOutput, bool needInputGradient = true)
    {
        if (_input == null) throw new InvalidOperationException("Backward called before Forward.");
        WeightSpaceBatch? gx = null;
        if (needInputGradient)
        {
            if (_gradInput == null || _gradInput.Batch != _input.Batch) _gradInput = new WeightSpaceBatch(Plan.Space, _input.Batch, Plan.InChannels);
            gx = _gradInput;
        }
        Kernel.Backward(Weight.Data, _input, gradOutput, gx, Weight.Grad.Data, Bias.Grad.Data);
        return gx;
    }

    public override string ToString() => $"EquivariantLayer({Plan.InChannels} → {Plan.OutChannels}, {Plan.Terms.Count} terms, {Kernel.GetType().Name})";
}
