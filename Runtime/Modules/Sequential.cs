using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Collections.Generic;
using System.Globalization;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// Layers applied in order (PyTorch: nn.Sequential). Children are named "0", "1", …, so parameters are
/// <c>0.weight</c>, <c>2.bias</c>, … exactly as in a PyTorch state_dict.
/// </summary>
public sealed class Sequential : Layer
{
    private readonly Layer[] _layers;

    public Sequential(params Layer[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        for (int i = 0; i < layers.Length; i++)
            if (layers[i] is null) throw new ArgumentNullException(nameof(layers), $"Sequential: layer {i} is null.");
        _layers = (Layer[])layers.Clone();
    }

    public int Count => _layers.Length;
    public Layer this[int index] => _layers[index];
    public IReadOnlyList<Layer> Layers => _layers;

    protected override IEnumerable<(string Name, Module Child)> Children()
    {
        for (int i = 0; i < _layers.Length; i++) yield return (i.ToString(CultureInfo.InvariantCulture), _layers[i]);
    }

    public override Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }

    public override Tensor Backward(Tensor gradOutput)
    {
        for (int i = _layers.Length - 1; i >= 0; i--) gradOutput = _layers[i].Backward(gradOutput);
        return gradOutput;
    }

    public override string ToString() => $"Sequential({string.Join(", ", Array.ConvertAll(_layers, l => l.ToString()))})";
}
