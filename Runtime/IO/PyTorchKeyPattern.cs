using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Which state-dict key holds each weight tensor of an input network (W1, b1, W2, ... in weight-space order).
/// </summary>
/// <remarks>
/// Built-in patterns, for input-network layer i = 0, 1, ... (W_{i+1} and b_{i+1}):
/// <list type="bullet">
/// <item><see cref="Sequential"/>: an <c>nn.Sequential</c> of layers interleaved with activations,
/// <c>{prefix}.{2i}.weight</c> / <c>{prefix}.{2i}.bias</c> (the default, with prefix <c>seq</c>; an empty prefix gives
/// <c>0.weight</c>, <c>2.weight</c>, ... as saved from a bare <c>nn.Sequential</c>);</item>
/// <item><see cref="Layers"/>: a <c>nn.ModuleList</c>, <c>{prefix}.{i}.weight</c>;</item>
/// <item><see cref="Template"/>: any format with <c>{i}</c> replaced by <c>stride·i + offset</c>;</item>
/// <item><see cref="Explicit"/>: one key per weight-space tensor, in order.</item>
/// </list>
/// </remarks>
public sealed class PyTorchKeyPattern
{
    private readonly Func<WeightTensor, string> _keyOf;
    private readonly string _description;

    private readonly int? _explicitCount;

    private PyTorchKeyPattern(Func<WeightTensor, string> keyOf, string description, int? explicitCount = null)
    {
        _explicitCount = explicitCount;
        _keyOf = keyOf;
        _description = description;
    }

    /// <summary>The key of one weight tensor.</summary>
    public string KeyOf(WeightTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return _keyOf(tensor);
    }

    /// <summary>Keys of every tensor of <paramref name="space"/>, in weight-space order; throws when two coincide.</summary>
    public string[] KeysOf(global::LayerCompiler.Algebra.WeightSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (_explicitCount is int n && n != space.Tensors.Count)
            throw new ArgumentException($"Key pattern {_description} has {n} keys for {space.Tensors.Count} tensors ({string.Join(", ", space.Tensors.Select(t => t.Name))}).");
        var keys = space.Tensors.Select(KeyOf).ToArray();
        var dup = keys.GroupBy(k => k, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"Key pattern {_description} maps several tensors to '{dup.Key}'.");
        return keys;
    }

    /// <summary><c>nn.Sequential</c> with one activation after each layer: <c>{prefix}.{2i}.weight</c>, <c>{prefix}.{2i}.bias</c>.</summary>
    public static PyTorchKeyPattern Sequential(string prefix = "seq", int stride = 2) =>
        Template(Join(prefix, "{i}.weight"), Join(prefix, "{i}.bias"), stride, 0);

    /// <summary><c>nn.ModuleList</c>: <c>{prefix}.{i}.weight</c>, <c>{prefix}.{i}.bias</c>.</summary>
    public static PyTorchKeyPattern Layers(string prefix = "layers") => Template(Join(prefix, "{i}.weight"), Join(prefix, "{i}.bias"), 1, 0);

    /// <summary>
    /// Keys from templates in which <c>{i}</c> stands for <c>stride·i + offset</c>, i the 0-based input-network layer
    /// (W1 and b1 are layer 0).
    /// </summary>
    public static PyTorchKeyPattern Template(string weightTemplate, string biasTemplate, int stride = 1, int offset = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(weightTemplate);
        ArgumentException.ThrowIfNullOrEmpty(biasTemplate);
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "The stride must be at least 1.");
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "The offset must not be negative.");
        if (!weightTemplate.Contains("{i}") || !biasTemplate.Contains("{i}"))
            throw new ArgumentException($"Templates must contain '{{i}}', got '{weightTemplate}' and '{biasTemplate}'.");
        return new PyTorchKeyPattern(t =>
        {
            if (t.LayerNumber < 1)
                throw new ArgumentException($"Tensor {t.Name} has no layer number (a weight space built from tensors); use PyTorchKeyPattern.Explicit.");
            string index = (stride * (t.LayerNumber - 1) + offset).ToString(CultureInfo.InvariantCulture);
            return (t.IsBias ? biasTemplate : weightTemplate).Replace("{i}", index);
        }, $"'{weightTemplate}' / '{biasTemplate}' (stride {stride}, offset {offset})");
    }

    /// <summary>One key per tensor of the weight space, in its order (W1, b1, W2, ...).</summary>
    public static PyTorchKeyPattern Explicit(IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var copy = keys.ToArray();
        foreach (var k in copy) ArgumentException.ThrowIfNullOrEmpty(k, nameof(keys));
        return new PyTorchKeyPattern(t =>
        {
            if (t.Index >= copy.Length)
                throw new ArgumentException($"The explicit key list has {copy.Length} keys; tensor {t.Name} is number {t.Index + 1} of the weight space.");
            return copy[t.Index];
        }, $"[{string.Join(", ", copy)}]", copy.Length);
    }

    private static string Join(string prefix, string rest) => string.IsNullOrEmpty(prefix) ? rest : prefix + "." + rest;

    public override string ToString() => _description;
}
