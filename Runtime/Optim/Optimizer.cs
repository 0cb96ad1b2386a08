using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Optim;

/// <summary>
/// Base of the optimizers (PyTorch: torch.optim.Optimizer, one parameter group).
/// </summary>
/// <remarks>
/// <para>Weight decay: applied to every parameter whose <see cref="Parameter.Decay"/> is true — the
/// default for a new <see cref="Parameter"/>, so a plain parameter list behaves exactly like PyTorch.
/// Parameters created with <c>Decay = false</c> (e.g. <see cref="Linear.Bias"/>) are skipped, which is the
/// usual "no decay on biases" practice but differs from PyTorch's default; set
/// <see cref="DecayAllParameters"/> to ignore the flag and reproduce PyTorch exactly.</para>
/// <para>All state (moment buffers) is allocated at construction, zeroed. Updates are elementwise,
/// in float32, split across threads for large tensors (deterministic: each element is touched by one thread).</para>
/// <para>State dict keys: <c>state.{i}.{buffer}</c> for parameter i (in the order given to the
/// constructor) and each buffer the optimizer keeps (e.g. <c>state.3.exp_avg</c>); <c>step</c>, shape [2],
/// holding the step count as [count mod 2²⁴, count div 2²⁴] so it is exact in float32; and <c>lr</c>,
/// shape [1], the current learning rate, restored on load as PyTorch restores its param_groups.</para>
/// </remarks>
public abstract class Optimizer
{
    private readonly Parameter[] _parameters;
    private readonly List<(string Name, Tensor[] Buffers)> _state = new();
    private float _learningRate;

    protected Optimizer(IEnumerable<Parameter> parameters, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToArray();
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _parameters.Length; i++)
        {
            if (_parameters[i] is null) throw new ArgumentException($"{GetType().Name}: parameter {i} is null.", nameof(parameters));
            if (!seen.Add(_parameters[i])) throw new ArgumentException($"{GetType().Name}: parameter {i} appears more than once in the list.", nameof(parameters));
        }
        LearningRate = learningRate;
    }

    public IReadOnlyList<Parameter> Parameters => _parameters;

    public float LearningRate
    {
        get => _learningRate;
        set
        {
            if (!(value >= 0f) || float.IsInfinity(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, $"{GetType().Name}: invalid learning rate {value.ToString(CultureInfo.InvariantCulture)} (must be finite and >= 0).");
            _learningRate = value;
        }
    }

    /// <summary>Number of <see cref="Step"/> calls so far (PyTorch's state['step']).</summary>
    public int StepCount { get; private set; }

    /// <summary>When true, weight decay ignores <see cref="Parameter.Decay"/> and applies to every parameter (PyTorch's behaviour).</summary>
    public bool DecayAllParameters { get; init; }

    /// <summary>Whether weight decay applies to <paramref name="p"/>.</summary>
    protected bool Decays(Parameter p) => DecayAllParameters || p.Decay;

    /// <summary>Registers a per-parameter buffer (zeroed, shaped like each parameter) saved as <c>state.{i}.{name}</c>.</summary>
    protected Tensor[] AddState(string name)
    {
        if (_state.Any(s => s.Name == name)) throw new InvalidOperationException($"State buffer '{name}' is registered twice.");
        var buffers = new Tensor[_parameters.Length];
        for (int i = 0; i < buffers.Length; i++) buffers[i] = new Tensor(_parameters[i].Shape);
        _state.Add((name, buffers));
        return buffers;
    }

    /// <summary>Takes one optimization step with the current gradients.</summary>
    public void Step()
    {
        if (StepCount == int.MaxValue) throw new InvalidOperationException($"{GetType().Name}: the step count would overflow.");
        StepCount++;
        for (int i = 0; i < _parameters.Length; i++) Update(i, _parameters[i], StepCount);
    }

    /// <summary>Updates parameter <paramref name="index"/>; <paramref name="step"/> is 1 on the first step.</summary>
    protected abstract void Update(int index, Parameter parameter, int step);

    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGrad();
    }

    /// <summary>Runs <paramref name="body"/> over element ranges of a tensor of <paramref name="length"/>, in parallel when large.</summary>
    protected static void ForElements(int length, Action<int, int> body) => DenseKernels.ForBlocks(length, 8, body);

    /// <summary>A copy of the optimizer's state (see the class remarks for the keys).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < _parameters.Length; i++)
            foreach (var (name, buffers) in _state)
                d[StateKey(i, name)] = buffers[i].Clone();
        d["step"] = new Tensor(new float[] { StepCount & 0xFFFFFF, StepCount >> 24 }, 2);
        d["lr"] = new Tensor(new float[] { LearningRate }, 1);
        return d;
    }

    /// <summary>
    /// Restores state saved by <see cref="StateDict"/> from an optimizer of the same kind over parameters
    /// of the same shapes. Nothing changes unless everything matches; otherwise the exception lists every
    /// missing, unexpected and mis-shaped entry.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var problems = new List<string>();
        var known = new HashSet<string>(StringComparer.Ordinal) { "step", "lr" };
        for (int i = 0; i < _parameters.Length; i++)
            foreach (var (name, buffers) in _state)
            {
                string key = StateKey(i, name);
                known.Add(key);
                if (!state.TryGetValue(key, out var t)) problems.Add($"missing '{key}' (expected shape {Shape(buffers[i])})");
                else if (t is null || !t.SameShape(buffers[i])) problems.Add($"shape mismatch for '{key}': got {(t is null ? "null" : Shape(t))}, parameter {i} needs {Shape(buffers[i])}");
            }
        int step = 0;
        if (!state.TryGetValue("step", out var st)) problems.Add("missing 'step'");
        else if (st is null || st.Rank != 1 || st.Length != 2) problems.Add($"'step' must have shape [2], got {(st is null ? "null" : Shape(st))}");
        else
        {
            float lo = st.Data[0], hi = st.Data[1];
            if (!(lo >= 0 && lo < (1 << 24) && lo == MathF.Floor(lo) && hi >= 0 && hi < 128 && hi == MathF.Floor(hi)))
                problems.Add($"'step' holds [{lo.ToString(CultureInfo.InvariantCulture)}, {hi.ToString(CultureInfo.InvariantCulture)}], not a step count");
            else step = (int)lo | ((int)hi << 24);
        }
        float lr = 0;
        if (!state.TryGetValue("lr", out var lrT)) problems.Add("missing 'lr'");
        else if (lrT is null || lrT.Length != 1 || !(lrT.Data[0] >= 0) || float.IsInfinity(lrT.Data[0])) problems.Add("'lr' must be one finite, non-negative value");
        else lr = lrT.Data[0];
        foreach (var key in state.Keys.OrderBy(k => k, StringComparer.Ordinal))
            if (!known.Contains(key))
                problems.Add(key.StartsWith("state.", StringComparison.Ordinal)
                    ? $"unexpected '{key}' (this {GetType().Name} over {_parameters.Length} parameter(s) keeps [{string.Join(", ", _state.Select(s => s.Name))}])"
                    : $"unexpected '{key}'");
        if (problems.Count > 0)
        {
            var sb = new StringBuilder($"The optimizer state does not match this {GetType().Name} ({problems.Count} problem(s)):");
            foreach (var p in problems) sb.Append("\n  - ").Append(p);
            throw new InvalidOperationException(sb.ToString());
        }
        for (int i = 0; i < _parameters.Length; i++)
            foreach (var (name, buffers) in _state)
                Array.Copy(state[StateKey(i, name)].Data, buffers[i].Data, buffers[i].Length);
        StepCount = step;
        LearningRate = lr;
    }

    private static string StateKey(int i, string name) => string.Create(CultureInfo.InvariantCulture, $"state.{i}.{name}");
    private static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";
}
