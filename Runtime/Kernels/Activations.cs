using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>
/// Elementwise activations on raw spans, for any layer type (dense or weight-space).
/// Backward functions take the forward INPUT <c>x</c> and write <c>gradInput = gradOutput · f'(x)</c>;
/// <c>gradInput</c> may be the same span as <c>gradOutput</c>, and <c>y</c> may be the same span as <c>x</c>.
/// </summary>
public static class Activations
{
    private const double TwoOverSqrtPi = 1.1283791670955126;   // 2/√π
    private const double InvSqrtPi = 0.5641895835477563;       // 1/√π
    private const double InvSqrt2 = 0.7071067811865476;        // 1/√2
    private const double InvSqrt2Pi = 0.3989422804014327;      // 1/√(2π)

    /// <summary><c>y = max(x, 0)</c>; NaN stays NaN (as torch.relu).</summary>
    public static void ReluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckLengths(x.Length, y.Length, nameof(ReluForward));
        int i = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                Vector256.ConditionalSelect(Vector256.LessThanOrEqual(v, Vector256<float>.Zero), Vector256<float>.Zero, v).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++) { float v = x[i]; y[i] = v <= 0f ? 0f : v; }
    }

    /// <summary><c>gradInput = x &gt; 0 ? gradOutput : 0</c> (the derivative at 0 is taken as 0, as PyTorch does).</summary>
    public static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gradOutput, Span<float> gradInput)
    {
        CheckLengths(x.Length, gradOutput.Length, nameof(ReluBackward));
        CheckLengths(x.Length, gradInput.Length, nameof(ReluBackward));
        int i = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float gr = ref MemoryMarshal.GetReference(gradOutput);
            ref float dr = ref MemoryMarshal.GetReference(gradInput);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                Vector256.ConditionalSelect(Vector256.LessThanOrEqual(v, Vector256<float>.Zero), Vector256<float>.Zero, g).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        for (; i < n; i++) gradInput[i] = x[i] <= 0f ? 0f : gradOutput[i];
    }

    /// <summary>Exact GELU, <c>y = x · Φ(x) = ½ x (1 + erf(x/√2))</c> (PyTorch's default, approximate='none'), computed in float64.</summary>
    public static void GeluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckLengths(x.Length, y.Length, nameof(GeluForward));
        for (int i = 0; i < x.Length; i++) y[i] = (float)Gelu(x[i]);
    }

    /// <summary><c>gradInput = gradOutput · (Φ(x) + x φ(x))</c>, computed in float64.</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gradOutput, Span<float> gradInput)
    {
        CheckLengths(x.Length, gradOutput.Length, nameof(GeluBackward));
        CheckLengths(x.Length, gradInput.Length, nameof(GeluBackward));
        for (int i = 0; i < x.Length; i++) gradInput[i] = (float)(gradOutput[i] * GeluDerivative(x[i]));
    }

    /// <summary>Exact GELU in float64.</summary>
    public static double Gelu(double x) => 0.5 * x * (1.0 + Erf(x * InvSqrt2));

    /// <summary>d/dx of exact GELU: <c>Φ(x) + x · exp(−x²/2)/√(2π)</c>.</summary>
    public static double GeluDerivative(double x) => 0.5 * (1.0 + Erf(x * InvSqrt2)) + x * InvSqrt2Pi * Math.Exp(-0.5 * x * x);

    /// <summary>
    /// The error function, accurate to about 2e-15 (relative) in float64, odd, ±1 beyond |x| = 6.
    /// </summary>
    /// <remarks>
    /// |x| &lt; 1/8: Maclaurin series erf(x) = (2/√π) Σₙ (−1)ⁿ x^(2n+1) / (n!(2n+1)) to n = 8 (truncation &lt; 1e-18).
    /// 1/8 ≤ |x| &lt; 6: per interval of width 1/8, a degree-11 Chebyshev interpolant evaluated by Clenshaw's
    /// recurrence (interpolation error far below 1e-17). Its coefficients are computed once, at first use, from
    /// <see cref="ErfReference"/>.
    /// </remarks>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x == 0) return x;   // keeps the sign of zero
        double ax = Math.Abs(x), r;
        if (ax < ErfTable.Step)
        {
            double x2 = ax * ax, s = ErfTable.Taylor[^1];
            for (int n = ErfTable.Taylor.Length - 2; n >= 0; n--) s = s * x2 + ErfTable.Taylor[n];
            r = ax * s;
        }
        else if (ax < ErfTable.Limit)
        {
            int k = (int)(ax * ErfTable.Intervals / ErfTable.Limit);
            double lo = k * ErfTable.Step;
            double t = (ax - lo) * (2 / ErfTable.Step) - 1;   // [lo, lo + step) → [−1, 1)
            double[] c = ErfTable.Coefficients;
            int o = k * ErfTable.Terms;
            double b1 = 0, b2 = 0, t2 = 2 * t;
            for (int j = ErfTable.Terms - 1; j >= 1; j--)
            {
                double b0 = c[o + j] + t2 * b1 - b2;
                b2 = b1;
                b1 = b0;
            }
            r = c[o] + t * b1 - b2;
        }
        else r = 1.0;
        return x < 0 ? -r : r;
    }

    /// <summary>
    /// Slower float64 erf used to build the tables of <see cref="Erf"/> (about 1e-15 relative against libm): for |x| &lt; 2.5 the
    /// everywhere-positive series erf(x) = (2/√π) e^(−x²) Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)) (no cancellation); for
    /// larger |x| the continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), evaluated
    /// backwards from depth 40.
    /// </summary>
    public static double ErfReference(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x == 0) return x;
        double ax = Math.Abs(x), r;
        if (ax < 2.5)
        {
            double twoX2 = 2 * ax * ax, term = ax, sum = ax;
            for (int n = 1; n < 200; n++)
            {
                term *= twoX2 / (2 * n + 1);
                sum += term;
                if (term <= sum * 1e-17) break;
            }
            r = TwoOverSqrtPi * Math.Exp(-ax * ax) * sum;
        }
        else if (ax < 27)
        {
            double t = ax;
            for (int k = 40; k >= 1; k--) t = ax + 0.5 * k / t;
            r = 1.0 - InvSqrtPi * Math.Exp(-ax * ax) / t;
        }
        else r = 1.0;
        return x < 0 ? -r : r;
    }

    private static class ErfTable
    {
        public const double Limit = 6.0;
        public const int Intervals = 48;
        public const double Step = Limit / Intervals;   // 1/8, exact
        public const int Terms = 12;                    // Chebyshev T₀ … T₁₁
        public static readonly double[] Taylor = BuildTaylor();
        public static readonly double[] Coefficients = BuildCoefficients();

        private static double[] BuildTaylor()
        {
            // (2/√π) (−1)ⁿ / (n! (2n+1)), n = 0 … 8
            var a = new double[9];
            double factorial = 1;
            for (int n = 0; n < a.Length; n++)
            {
                if (n > 0) factorial *= n;
                a[n] = (n % 2 == 0 ? 1 : -1) * TwoOverSqrtPi / (factorial * (2 * n + 1));
            }
            return a;
        }

        private static double[] BuildCoefficients()
        {
            // Chebyshev interpolation at the Terms Chebyshev nodes of each interval; interval 0 is unused
            // (the Taylor branch covers it) but filled for simplicity.
            var c = new double[Intervals * Terms];
            var f = new double[Terms];
            for (int k = 0; k < Intervals; k++)
            {
                double mid = (k + 0.5) * Step, half = Step / 2;
                for (int j = 0; j < Terms; j++) f[j] = ErfReference(mid + half * Math.Cos(Math.PI * (j + 0.5) / Terms));
                for (int m = 0; m < Terms; m++)
                {
                    double s = 0;
                    for (int j = 0; j < Terms; j++) s += f[j] * Math.Cos(Math.PI * m * (j + 0.5) / Terms);
                    c[k * Terms + m] = s * (m == 0 ? 1.0 : 2.0) / Terms;
                }
            }
            return c;
        }
    }

    private static void CheckLengths(int a, int b, string fn)
    {
        if (a != b) throw new ArgumentException($"Activations.{fn}: span lengths differ ({a} vs {b}).");
    }
}
