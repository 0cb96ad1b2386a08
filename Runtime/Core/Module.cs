using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace LayerCompiler.Runtime;

/// <summary>
/// Base of every layer and model (PyTorch: nn.Module). Parameters are named by the path of
/// children, e.g. <c>layers.0.weight</c>, and that name is the key in <see cref="StateDict"/>.
/// </summary>
public abstract class Module
{
    public bool IsTraining { get; private set; } = true;

    /// <summary>Direct children, in a fixed order, with the name each contributes to parameter paths.</summary>
    protected virtual IEnumerable<(string Name, Module Child)> Children() => Array.Empty<(string, Module)>();

    /// <summary>Parameters held directly by this module.</summary>
    protected virtual IEnumerable<(string Name, Parameter Parameter)> OwnParameters() => Array.Empty<(string, Parameter)>();

    public void Train(bool mode = true)
    {
        IsTraining = mode;
        foreach (var (_, child) in Children()) child.Train(mode);
    }

    public void Eval() => Train(false);

    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in OwnParameters()) yield return (prefix + name, p);
        foreach (var (name, child) in Children())
            foreach (var item in child.NamedParameters(prefix + name + "."))
                yield return item;
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(x => x.Parameter);

    public long ParameterCount() => Parameters().Sum(p => (long)p.Length);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>A copy of every parameter, keyed by its path.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in NamedParameters()) d[name] = p.Value.Clone();
        return d;
    }

    /// <summary>
    /// Copies values into the parameters. Nothing is changed unless every name and shape matches;
    /// otherwise the exception lists every missing, unexpected and mis-shaped entry.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        var mine = NamedParameters().ToList();
        var problems = new List<string>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, p) in mine)
        {
            known.Add(name);
            if (!state.TryGetValue(name, out var t)) problems.Add($"missing '{name}' (expected shape [{string.Join(", ", p.Shape)}])");
            else if (!t.Shape.AsSpan().SequenceEqual(p.Shape))
                problems.Add($"shape mismatch for '{name}': file has [{string.Join(", ", t.Shape)}], model expects [{string.Join(", ", p.Shape)}]");
        }
        foreach (var key in state.Keys.OrderBy(k => k, StringComparer.Ordinal))
            if (!known.Contains(key)) problems.Add($"unexpected '{key}' (the model has no such parameter)");
        if (problems.Count > 0)
        {
            var sb = new StringBuilder($"The state dict does not match {GetType().Name} ({problems.Count} problem(s)):");
            foreach (var p in problems) sb.Append("\n  - ").Append(p);
            throw new InvalidOperationException(sb.ToString());
        }
        foreach (var (name, p) in mine) Array.Copy(state[name].Data, p.Data, p.Length);
    }
}
