using System;
using System.Collections.Generic;

namespace LayerCompiler.Runtime.Optim;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay,
/// following torch.optim.SGD:
/// <code>
/// d = grad + weight_decay * param                       # when weight_decay != 0 (and the parameter decays)
/// if momentum != 0:
///     buf = d                     on the first step
///     buf = momentum * buf + (1 - dampening) * d       afterwards
///     d = d + momentum * buf if nesterov else buf
/// param = param - lr * d
/// </code>
/// State buffer: <c>momentum_buffer</c> (only when momentum != 0). See <see cref="Optimizer"/> for weight decay and the state dict.
/// </summary>
public sealed class Sgd : Optimizer
{
    public double Momentum { get; }
    public double Dampening { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }
    private readonly Tensor[]? _momentumBuffers;

    public Sgd(IEnumerable<Parameter> parameters, float lr, double momentum = 0, double weightDecay = 0, bool nesterov = false, double dampening = 0)
        : base(parameters, lr)
    {
        if (!(momentum >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Sgd: momentum must be >= 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Sgd: weight decay must be >= 0.");
        if (double.IsNaN(dampening)) throw new ArgumentOutOfRangeException(nameof(dampening), dampening, "Sgd: dampening is NaN.");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Sgd: Nesterov momentum requires a momentum > 0 and zero dampening (as in PyTorch).", nameof(nesterov));
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        if (momentum != 0) _momentumBuffers = AddState("momentum_buffer");
    }

    protected override void Update(int index, Parameter parameter, int step)
    {
        float[] p = parameter.Data, g = parameter.Grad.Data;
        float[]? buf = _momentumBuffers?[index].Data;
        float negLr = -LearningRate;
        float wd = Decays(parameter) ? (float)WeightDecay : 0f;
        float mom = (float)Momentum, keep = (float)(1 - Dampening);
        bool first = step == 1, nesterov = Nesterov;
        ForElements(p.Length, (start, end) =>
        {
            for (int j = start; j < end; j++)
            {
                float d = g[j];
                if (wd != 0f) d += wd * p[j];
                if (buf is not null)
                {
                    float b = first ? d : buf[j] * mom + keep * d;
                    buf[j] = b;
                    d = nesterov ? d + mom * b : b;
                }
                p[j] += negLr * d;
            }
        });
    }
}
