using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Optim;

/// <summary>
/// Adam (torch.optim.Adam) with L2 weight decay added to the gradient, bias correction and optional AMSGrad:
/// <code>
/// g = grad + weight_decay * param                       # when weight_decay != 0 (and the parameter decays)
/// m = lerp(m, g, 1 - beta1)                             # = beta1*m + (1-beta1)*g
/// v = beta2 * v + (1 - beta2) * g * g
/// v_max = max(v_max, v)                                 # amsgrad only; v_max is used below instead of v
/// denom = sqrt(v) / sqrt(1 - beta2^t) + eps
/// param = param - (lr / (1 - beta1^t)) * m / denom
/// </code>
/// Scalars (bias corrections, step size) are computed in float64 and applied in float32, as PyTorch does.
/// State buffers: <c>exp_avg</c>, <c>exp_avg_sq</c>, and <c>max_exp_avg_sq</c> with AMSGrad.
/// See <see cref="Optimizer"/> for which parameters decay and for the state dict.
/// </summary>
public class Adam : Optimizer
{
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public bool AmsGrad { get; }
    /// <summary>True for <see cref="AdamW"/>: decay is applied to the parameter (param *= 1 − lr·wd) instead of the gradient.</summary>
    public bool DecoupledWeightDecay { get; }

    private readonly Tensor[] _expAvg, _expAvgSq;
    private readonly Tensor[]? _maxExpAvgSq;

    public Adam(IEnumerable<Parameter> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 0, bool amsgrad = false)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled: false) { }

    private protected Adam(IEnumerable<Parameter> parameters, float lr, double beta1, double beta2, double eps, double weightDecay, bool amsgrad, bool decoupled)
        : base(parameters, lr)
    {
        string name = decoupled ? "AdamW" : "Adam";
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, $"{name}: beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, $"{name}: beta2 must be in [0, 1).");
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, $"{name}: eps must be >= 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, $"{name}: weight decay must be >= 0.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = eps;
        WeightDecay = weightDecay;
        AmsGrad = amsgrad;
        DecoupledWeightDecay = decoupled;
        _expAvg = AddState("exp_avg");
        _expAvgSq = AddState("exp_avg_sq");
        if (amsgrad) _maxExpAvgSq = AddState("max_exp_avg_sq");
    }

    protected override void Update(int index, Parameter parameter, int step)
    {
        float[] p = parameter.Data, g = parameter.Grad.Data, m = _expAvg[index].Data, v = _expAvgSq[index].Data;
        float[]? vMax = _maxExpAvgSq?[index].Data;
        double lr = LearningRate;
        bool decays = WeightDecay != 0 && Decays(parameter);
        float l2 = decays && !DecoupledWeightDecay ? (float)WeightDecay : 0f;
        float shrink = decays && DecoupledWeightDecay ? (float)(1 - lr * WeightDecay) : 1f;

        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        float negStepSize = (float)-(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        float w = (float)(1 - Beta1), oneMinusW = (float)Beta1;  // lerp weight and 1 − weight
        bool lowWeight = Math.Abs(w) < 0.5f;
        float b2 = (float)Beta2, oneMinusB2 = (float)(1 - Beta2), eps = (float)Epsilon;

        ForElements(p.Length, (start, end) =>
        {
            int j = start;
            if (Vector256.IsHardwareAccelerated)
            {
                // 8 elements at a time, every lane the scalar loop's operations in its order (no fused multiply-adds;
                // sqrt and division are exact in both): the same bits, several times fewer instructions.
                var vShrink = Vector256.Create(shrink); var vL2 = Vector256.Create(l2); var vW = Vector256.Create(w); var vOneMinusW = Vector256.Create(oneMinusW);
                var vB2 = Vector256.Create(b2); var vOneMinusB2 = Vector256.Create(oneMinusB2); var vEps = Vector256.Create(eps);
                var vBc2Sqrt = Vector256.Create(bc2Sqrt); var vNegStep = Vector256.Create(negStepSize);
                ref float p0 = ref MemoryMarshal.GetArrayDataReference(p); ref float g0 = ref MemoryMarshal.GetArrayDataReference(g);
                ref float m0 = ref MemoryMarshal.GetArrayDataReference(m); ref float v0 = ref MemoryMarshal.GetArrayDataReference(v);
                for (; j + 8 <= end; j += 8)
                {
                    nuint o = (nuint)j;
                    var pj = Vector256.LoadUnsafe(ref p0, o);
                    if (shrink != 1f) pj *= vShrink;
                    var gj = Vector256.LoadUnsafe(ref g0, o);
                    if (l2 != 0f) gj += vL2 * pj;
                    var mOld = Vector256.LoadUnsafe(ref m0, o);
                    var mj = lowWeight ? mOld + vW * (gj - mOld) : gj - (gj - mOld) * vOneMinusW;
                    mj.StoreUnsafe(ref m0, o);
                    var vj = Vector256.LoadUnsafe(ref v0, o) * vB2 + vOneMinusB2 * gj * gj;
                    vj.StoreUnsafe(ref v0, o);
                    if (vMax is not null)
                    {
                        ref float x0 = ref MemoryMarshal.GetArrayDataReference(vMax);
                        vj = Vector256.Max(Vector256.LoadUnsafe(ref x0, o), vj);
                        vj.StoreUnsafe(ref x0, o);
                    }
                    var denom = Vector256.Sqrt(vj) / vBc2Sqrt + vEps;
                    (pj + vNegStep * mj / denom).StoreUnsafe(ref p0, o);
                }
            }
            for (; j < end; j++)
            {
                float pj = p[j];
                if (shrink != 1f) pj *= shrink;
                float gj = g[j];
                if (l2 != 0f) gj += l2 * pj;
                // torch.lerp: self + w·(end − self) when |w| < 0.5, else end − (end − self)·(1 − w)
                float mj = lowWeight ? m[j] + w * (gj - m[j]) : gj - (gj - m[j]) * oneMinusW;
                m[j] = mj;
                float vj = v[j] * b2 + oneMinusB2 * gj * gj;
                v[j] = vj;
                if (vMax is not null)
                {
                    vj = Math.Max(vMax[j], vj);
                    vMax[j] = vj;
                }
                float denom = MathF.Sqrt(vj) / bc2Sqrt + eps;
                p[j] = pj + negStepSize * mj / denom;
            }
        });
    }
}

/// <summary>
/// AdamW (torch.optim.AdamW): Adam without L2 in the gradient, with decoupled weight decay
/// <c>param *= 1 − lr · weight_decay</c> applied before the Adam update. Default weight decay 1e-2, as in PyTorch.
/// </summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Parameter> parameters, float lr = 1e-3f, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 1e-2, bool amsgrad = false)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled: true) { }
}
