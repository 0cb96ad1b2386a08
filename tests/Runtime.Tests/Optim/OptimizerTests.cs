using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.Tests.Optim;

/// <summary>
/// Three optimizer steps on p0 = [0.5, −1.5, 2, 0] with grad = a ⊙ p + b (a = [1, 2, 0.5, 3], b = [0.1, −0.2, 0.3, 0.05]),
/// i.e. the loss Σ ½ a p² + b p. Expected parameters after each step were produced once with torch 1.13
/// (Debian python3-torch) by:
/// <code>
/// p = torch.nn.Parameter(torch.tensor(p0)); opt = torch.optim.X([p], ...)
/// for _ in range(3):
///     opt.zero_grad(); p.grad = a * p.detach() + b; opt.step(); print(p)
/// </code>
/// They are also checked against the float64 formulas below, written as in the PyTorch docs.
/// </summary>
public class OptimizerTests
{
    private static readonly float[] P0 = { 0.5f, -1.5f, 2f, 0f };
    private static readonly float[] A = { 1f, 2f, 0.5f, 3f };
    private static readonly float[] B = { 0.1f, -0.2f, 0.3f, 0.05f };

    private static float[][] Run(Func<Parameter[], Optimizer> make, int steps = 3)
    {
        var p = new Parameter(4);
        P0.CopyTo(p.Data, 0);
        var opt = make(new[] { p });
        var result = new float[steps][];
        for (int s = 0; s < steps; s++)
        {
            opt.ZeroGrad();
            for (int i = 0; i < 4; i++) p.Grad.Data[i] = A[i] * p.Data[i] + B[i];
            opt.Step();
            result[s] = (float[])p.Data.Clone();
        }
        Assert.Equal(steps, opt.StepCount);
        return result;
    }

    // ---- float64 reference formulas (torch.optim docs) ----

    private static double[][] SgdRef(double lr, double momentum = 0, double wd = 0, bool nesterov = false, double dampening = 0)
    {
        var p = GradCheckless(P0);
        var buf = new double[4];
        var result = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 4; i++)
            {
                double g = A[i] * p[i] + B[i];
                g += wd * p[i];                                          // g ← g + λθ
                if (momentum != 0)
                {
                    buf[i] = t == 1 ? g : momentum * buf[i] + (1 - dampening) * g;   // b ← μb + (1−τ)g (b₁ = g)
                    g = nesterov ? g + momentum * buf[i] : buf[i];
                }
                p[i] -= lr * g;                                          // θ ← θ − γg
            }
            result[t - 1] = (double[])p.Clone();
        }
        return result;
    }

    private static double[][] AdamRef(double lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8, double wd = 0, bool amsgrad = false, bool decoupled = false)
    {
        var p = GradCheckless(P0);
        double[] m = new double[4], v = new double[4], vmax = new double[4];
        var result = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 4; i++)
            {
                double g = A[i] * p[i] + B[i];
                if (decoupled) p[i] *= 1 - lr * wd;                      // AdamW: θ ← θ − γλθ
                else g += wd * p[i];                                     // Adam:  g ← g + λθ
                m[i] = b1 * m[i] + (1 - b1) * g;                         // m ← β₁m + (1−β₁)g
                v[i] = b2 * v[i] + (1 - b2) * g * g;                     // v ← β₂v + (1−β₂)g²
                vmax[i] = Math.Max(vmax[i], v[i]);                       // v̂max ← max(v̂max, v)  (amsgrad)
                double mHat = m[i] / (1 - Math.Pow(b1, t));
                double vHat = (amsgrad ? vmax[i] : v[i]) / (1 - Math.Pow(b2, t));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);             // θ ← θ − γ m̂ / (√v̂ + ε)
            }
            result[t - 1] = (double[])p.Clone();
        }
        return result;
    }

    private static double[][] RmsPropRef(double lr, double alpha = 0.99, double eps = 1e-8, double wd = 0)
    {
        var p = GradCheckless(P0);
        var sq = new double[4];
        var result = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 4; i++)
            {
                double g = A[i] * p[i] + B[i] + wd * p[i];              // g ← g + λθ
                sq[i] = alpha * sq[i] + (1 - alpha) * g * g;             // v ← αv + (1−α)g²
                p[i] -= lr * g / (Math.Sqrt(sq[i]) + eps);               // θ ← θ − γ g / (√v + ε)
            }
            result[t - 1] = (double[])p.Clone();
        }
        return result;
    }

    /// <summary>RMSprop (torch 1.13, alpha 0.99, eps 1e-8, no weight decay).</summary>
    [Fact]
    public void RmsPropDefaults()
    {
        float[][] torch =
        {
            new[] { 0.400000036f, -1.39999998f, 1.89999998f, -0.0999998078f },
            new[] { 0.335791856f, -1.33142316f, 1.83050835f, -0.00192292035f },
            new[] { 0.286769211f, -1.27647209f, 1.77433372f, -0.0191033185f },
        };
        AssertSteps(torch, Run(ps => new RmsProp(ps, 0.01f)), RmsPropRef(0.01f));
    }

    /// <summary>RMSprop (torch 1.13, alpha 0.9, eps 1e-8, weight_decay 0.1: L2 added to the gradient).</summary>
    [Fact]
    public void RmsPropWithWeightDecay()
    {
        float[][] torch =
        {
            new[] { 0.468377233f, -1.46837723f, 1.96837723f, -0.0316227563f },
            new[] { 0.446042508f, -1.44565451f, 1.94557452f, -0.00912283547f },
            new[] { 0.427654058f, -1.42673898f, 1.92655122f, -0.0192793552f },
        };
        AssertSteps(torch, Run(ps => new RmsProp(ps, 0.01f, alpha: 0.9, weightDecay: 0.1)), RmsPropRef(0.01f, alpha: 0.9, wd: 0.1));
    }

    private static double[] GradCheckless(float[] a) => Array.ConvertAll(a, v => (double)v);

    private static void AssertSteps(float[][] torch, float[][] ours, double[][] formula)
    {
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < 4; i++)
            {
                // Ours vs PyTorch: float32 results differing by rounding only (PyTorch 1.13 uses mul/add for
                // Adam's first moment where 2.x uses lerp, and may fuse multiply-adds).
                Assert.True(Math.Abs(ours[s][i] - torch[s][i]) <= 2e-6 + 2e-6 * Math.Abs(torch[s][i]),
                    $"step {s + 1}, element {i}: ours {ours[s][i]:R}, torch {torch[s][i]:R}");
                // PyTorch vs the float64 formulas: the constants are what the formulas say.
                Assert.True(Math.Abs(formula[s][i] - torch[s][i]) <= 1e-5 + 1e-5 * Math.Abs(formula[s][i]),
                    $"step {s + 1}, element {i}: formula {formula[s][i]:R}, torch {torch[s][i]:R}");
            }
    }

    [Fact]
    public void SgdPlain()
    {
        float[][] torch =
        {
            new[] { 0.439999998f, -1.17999995f, 1.87f, -0.00500000035f },
            new[] { 0.386000007f, -0.923999965f, 1.74650002f, -0.00850000046f },
            new[] { 0.337400019f, -0.719199955f, 1.62917507f, -0.01095f },
        };
        AssertSteps(torch, Run(ps => new Sgd(ps, 0.1f)), SgdRef(0.1));
    }

    [Fact]
    public void SgdMomentumWithWeightDecay()
    {
        float[][] torch =
        {
            new[] { 0.439500004f, -1.17849994f, 1.86800003f, -0.00500000035f },
            new[] { 0.330660492f, -0.632271409f, 1.623932f, -0.012995f },
            new[] { 0.189308226f, 0.00642083632f, 1.29145026f, -0.0212790053f },
        };
        AssertSteps(torch, Run(ps => new Sgd(ps, 0.1f, momentum: 0.9, weightDecay: 0.01)), SgdRef(0.1, 0.9, 0.01));
    }

    [Fact]
    public void SgdNesterov()
    {
        float[][] torch =
        {
            new[] { 0.386000007f, -0.89200002f, 1.75300002f, -0.00949999969f },
            new[] { 0.245060012f, -0.255840003f, 1.42416501f, -0.017634999f },
            new[] { 0.0963926017f, 0.273363173f, 1.04180288f, -0.0224695504f },
        };
        AssertSteps(torch, Run(ps => new Sgd(ps, 0.1f, momentum: 0.9, nesterov: true)), SgdRef(0.1, 0.9, nesterov: true));
    }

    [Fact]
    public void SgdDampening()
    {
        float[][] torch =
        {
            new[] { 0.439999998f, -1.17999995f, 1.87f, -0.00500000035f },
            new[] { 0.337399989f, -0.661599994f, 1.64184999f, -0.0126499999f },
            new[] { 0.20569399f, -0.0579520389f, 1.33563173f, -0.0206194986f },
        };
        AssertSteps(torch, Run(ps => new Sgd(ps, 0.1f, momentum: 0.9, dampening: 0.1)), SgdRef(0.1, 0.9, dampening: 0.1));
    }

    [Fact]
    public void SgdRejectsNesterovWithoutMomentum() =>
        Assert.Throws<ArgumentException>(() => new Sgd(new[] { new Parameter(1) }, 0.1f, nesterov: true));

    [Fact]
    public void AdamDefaults()
    {
        float[][] torch =
        {
            new[] { 0.400000006f, -1.39999998f, 1.89999998f, -0.0999999791f },
            new[] { 0.300882697f, -1.30022001f, 1.80012143f, -0.0401645638f },
            new[] { 0.203541607f, -1.20082927f, 1.70045209f, 0.0214465633f },
        };
        AssertSteps(torch, Run(ps => new Adam(ps, 0.1f)), AdamRef(0.1));
    }

    [Fact]
    public void AdamL2WeightDecay()
    {
        float[][] torch =
        {
            new[] { 0.400000006f, -1.39999998f, 1.89999998f, -0.0999999791f },
            new[] { 0.300904423f, -1.30022085f, 1.80012715f, -0.039571736f },
            new[] { 0.203634843f, -1.20083249f, 1.7004739f, 0.0223887153f },
        };
        AssertSteps(torch, Run(ps => new Adam(ps, 0.1f, weightDecay: 0.1)), AdamRef(0.1, wd: 0.1));
    }

    [Fact]
    public void AdamAmsGradKeepsTheMaximumSecondMoment()
    {
        // betas (0.9, 0.5) so that v falls at step 3 for elements 0 and 3; AMSGrad then uses the step-2 value.
        float[][] ams =
        {
            new[] { 0.400000006f, -1.39999998f, 1.89999998f, -0.0999999791f },
            new[] { 0.297766984f, -1.29913235f, 1.79946339f, -0.0476633497f },
            new[] { 0.198479265f, -1.19678867f, 1.69804478f, 0.0059850812f },
        };
        float[][] plain =
        {
            new[] { 0.400000006f, -1.39999998f, 1.89999998f, -0.0999999791f },
            new[] { 0.297766984f, -1.29913235f, 1.79946339f, -0.0476633497f },
            new[] { 0.191193759f, -1.19678867f, 1.69804478f, 0.0196266957f },
        };
        var oursAms = Run(ps => new Adam(ps, 0.1f, beta2: 0.5, amsgrad: true));
        AssertSteps(ams, oursAms, AdamRef(0.1, b2: 0.5, amsgrad: true));
        var oursPlain = Run(ps => new Adam(ps, 0.1f, beta2: 0.5));
        AssertSteps(plain, oursPlain, AdamRef(0.1, b2: 0.5));
        Assert.NotEqual(oursAms[2][0], oursPlain[2][0]);
        Assert.Equal(oursAms[2][1], oursPlain[2][1]);
    }

    [Fact]
    public void AdamWDecoupledDecay()
    {
        float[][] torch =
        {
            new[] { 0.395000011f, -1.38499999f, 1.88f, -0.0999999791f },
            new[] { 0.292004287f, -1.27141356f, 1.76135099f, -0.0391645618f },
            new[] { 0.191956595f, -1.15942943f, 1.64414835f, 0.0222944468f },
        };
        AssertSteps(torch, Run(ps => new AdamW(ps, 0.1f, weightDecay: 0.1)), AdamRef(0.1, wd: 0.1, decoupled: true));
        Assert.Equal(0.01, new AdamW(new[] { new Parameter(1) }).WeightDecay);
    }

    [Fact]
    public void AdamWShrinksWhereAdamAddsL2ToTheGradient()
    {
        // With zero gradients AdamW only shrinks: θ ← θ(1 − γλ). Adam with L2 sees g = λθ and, being
        // scale-free, moves each element by about γ toward 0.
        var pw = new Parameter(2);
        var pa = new Parameter(2);
        float[] start = { 2f, -4f };
        start.CopyTo(pw.Data, 0);
        start.CopyTo(pa.Data, 0);
        var adamw = new AdamW(new[] { pw }, 0.1f, weightDecay: 0.5);
        var adam = new Adam(new[] { pa }, 0.1f, weightDecay: 0.5);
        adamw.Step();
        adam.Step();
        float shrink = (float)(1 - (double)0.1f * 0.5);
        Assert.Equal(2f * shrink, pw.Data[0]);
        Assert.Equal(-4f * shrink, pw.Data[1]);
        Assert.Equal(1.9f, pa.Data[0], 1e-5f);
        Assert.Equal(-3.9f, pa.Data[1], 1e-5f);
    }

    [Fact]
    public void DecayFlagIsHonouredUnlessDecayAllParameters()
    {
        var decayed = new Parameter(1);
        var skipped = new Parameter(1) { Decay = false };
        decayed.Data[0] = skipped.Data[0] = 1f;
        new Sgd(new[] { decayed, skipped }, 0.1f, weightDecay: 0.5).Step();
        Assert.Equal(0.95f, decayed.Data[0], 1e-7f);
        Assert.Equal(1f, skipped.Data[0]);

        var forced = new Parameter(1) { Decay = false };
        forced.Data[0] = 1f;
        new AdamW(new[] { forced }, 0.1f, weightDecay: 0.5) { DecayAllParameters = true }.Step();
        Assert.Equal(0.95f, forced.Data[0], 1e-7f);
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var ps = new[] { new Parameter(1) };
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, 0.1f, beta1: 1.0));
        Assert.Throws<ArgumentException>(() => new Adam(new[] { ps[0], ps[0] }));
        var opt = new Adam(ps);
        Assert.Throws<ArgumentOutOfRangeException>(() => opt.LearningRate = float.NaN);
    }
}

/// <summary>
/// Adam's vectorized update against its scalar loop written out here, bit for bit: lengths around the vector width and
/// the parallel block size, both lerp branches (β1 = 0.9 and 0.3), AMSGrad, L2 and decoupled decay, and entries that are
/// NaN, ±0, tiny and huge (a faster update must not change a trained model's bits).
/// </summary>
public class AdamBitwiseTests
{
    private static float[] Values(int n, ulong seed)
    {
        var rng = new Rng(seed); var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.Normal() * Math.Pow(10, rng.NextDouble() * 6 - 3));
        if (n > 5) { a[1] = 0f; a[2] = -0f; a[3] = float.Epsilon; a[5] = 3e30f; }
        return a;
    }

    private static void ScalarStep(float[] p, float[] g, float[] m, float[] v, float[]? vMax, double lr, double beta1, double beta2, double eps, double wd, bool decoupled, int step)
    {
        bool decays = wd != 0;
        float l2 = decays && !decoupled ? (float)wd : 0f;
        float shrink = decays && decoupled ? (float)(1 - lr * wd) : 1f;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        float negStepSize = (float)-(lr / bc1), bc2Sqrt = (float)Math.Sqrt(bc2);
        float w = (float)(1 - beta1), oneMinusW = (float)beta1;
        bool lowWeight = Math.Abs(w) < 0.5f;
        float b2 = (float)beta2, oneMinusB2 = (float)(1 - beta2), e = (float)eps;
        for (int j = 0; j < p.Length; j++)
        {
            float pj = p[j];
            if (shrink != 1f) pj *= shrink;
            float gj = g[j];
            if (l2 != 0f) gj += l2 * pj;
            float mj = lowWeight ? m[j] + w * (gj - m[j]) : gj - (gj - m[j]) * oneMinusW;
            m[j] = mj;
            float vj = v[j] * b2 + oneMinusB2 * gj * gj;
            v[j] = vj;
            if (vMax is not null) { vj = Math.Max(vMax[j], vj); vMax[j] = vj; }
            float denom = MathF.Sqrt(vj) / bc2Sqrt + e;
            p[j] = pj + negStepSize * mj / denom;
        }
    }

    [Theory]
    [InlineData(1, 0.9, false, 0.0, false)]
    [InlineData(7, 0.9, true, 0.01, false)]
    [InlineData(8, 0.3, false, 0.01, true)]
    [InlineData(37, 0.9, true, 0.0, false)]
    [InlineData(1031, 0.3, true, 0.05, false)]
    [InlineData(20_003, 0.9, false, 0.05, true)]
    [InlineData(20_003, 0.9, true, 0.05, true)]
    public void TheUpdateIsTheScalarLoopBitForBit(int n, double beta1, bool amsgrad, double wd, bool decoupled)
    {
        var p = new Parameter(n);
        Values(n, 1).CopyTo(p.Data, 0);
        p.Data[n / 2] = float.NaN;
        var rp = (float[])p.Data.Clone();
        var rm = new float[n]; var rv = new float[n]; var rvMax = amsgrad ? new float[n] : null;
        Optimizer opt = decoupled ? new AdamW(new[] { p }, 3e-3f, beta1, 0.99, 1e-8, wd, amsgrad) : new Adam(new[] { p }, 3e-3f, beta1, 0.99, 1e-8, wd, amsgrad);
        for (int step = 1; step <= 4; step++)
        {
            var g = Values(n, (ulong)(10 + step));
            if (n > 9) g[9] = float.NaN;
            g.CopyTo(p.Grad.Data, 0);
            opt.Step();
            ScalarStep(rp, g, rm, rv, rvMax, (double)3e-3f, beta1, 0.99, 1e-8, wd, decoupled, step);
            for (int j = 0; j < n; j++)
                Assert.True(BitConverter.SingleToInt32Bits(rp[j]) == BitConverter.SingleToInt32Bits(p.Data[j]) || (float.IsNaN(rp[j]) && float.IsNaN(p.Data[j])),
                    $"step {step}, element {j}: scalar {rp[j]:R}, optimizer {p.Data[j]:R}");
        }
    }
}
