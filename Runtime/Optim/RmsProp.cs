using System;
using System.Collections.Generic;

namespace LayerCompiler.Runtime.Optim;

/// <summary>
/// RMSprop following torch.optim.RMSprop (centered = False, momentum = 0):
/// <code>
/// d = grad + weight_decay * param                       # when weight_decay != 0 (and the parameter decays)
/// square_avg = alpha * square_avg + (1 - alpha) * d * d
/// param = param - lr * d / (sqrt(square_avg) + eps)
/// </code>
/// State buffer: <c>square_avg</c>. See <see cref="Optimizer"/> for weight decay and the state dict.
/// </summary>
public sealed class RmsProp : Optimizer
{
    public double Alpha { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    private readonly Tensor[] _squareAvg;

    public RmsProp(IEnumerable<Parameter> parameters, float lr = 1e-2f, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr)
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "RmsProp: alpha must be in [0, 1].");
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "RmsProp: eps must be >= 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "RmsProp: weight decay must be >= 0.");
        Alpha = alpha; Epsilon = eps; WeightDecay = weightDecay;
        _squareAvg = AddState("square_avg");
    }

    protected override void Update(int index, Parameter parameter, int step)
    {
        float[] p = parameter.Data, g = parameter.Grad.Data, s = _squareAvg[index].Data;
        float negLr = -LearningRate, wd = Decays(parameter) ? (float)WeightDecay : 0f;
        float a = (float)Alpha, c = (float)(1 - Alpha), eps = (float)Epsilon;
        ForElements(p.Length, (start, end) =>
        {
            for (int j = start; j < end; j++)
            {
                float d = g[j];
                if (wd != 0f) d += wd * p[j];
                float v = a * s[j] + c * d * d;
                s[j] = v;
                p[j] += negLr * d / (MathF.Sqrt(v) + eps);
            }
        });
    }
}
