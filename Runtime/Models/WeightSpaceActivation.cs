using System;
using LayerCompiler.Runtime.Nn;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Models;

/// <summary>An elementwise nonlinearity over every tensor of a weight-space batch (trivially equivariant).</summary>
public sealed class WeightSpaceActivation : Module
{
    public Activation Kind { get; }
    private WeightSpaceBatch? _input, _output, _grad;

    public WeightSpaceActivation(Activation kind) { Kind = kind; }

    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        if (Kind == Activation.None) return x;
        _input = x;
        if (_output == null || _output.Batch != x.Batch || _output.Channels != x.Channels) _output = new WeightSpaceBatch(x.Space, x.Batch, x.Channels);
        for (int t = 0; t < x.Tensors.Length; t++)
        {
            if (Kind == Activation.ReLU) Activations.ReluForward(x.Tensors[t].Data, _output.Tensors[t].Data);
            else Activations.GeluForward(x.Tensors[t].Data, _output.Tensors[t].Data);
        }
        return _output;
    }

    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        if (Kind == Activation.None) return gradOutput;
        if (_input == null) throw new InvalidOperationException("Backward called before Forward.");
        if (_grad == null || _grad.Batch != _input.Batch || _grad.Channels != _input.Channels) _grad = new WeightSpaceBatch(_input.Space, _input.Batch, _input.Channels);
        for (int t = 0; t < _input.Tensors.Length; t++)
        {
            if (Kind == Activation.ReLU) Activations.ReluBackward(_input.Tensors[t].Data, gradOutput.Tensors[t].Data, _grad.Tensors[t].Data);
            else Activations.GeluBackward(_input.Tensors[t].Data, gradOutput.Tensors[t].Data, _grad.Tensors[t].Data);
        }
        return _grad;
    }
}
