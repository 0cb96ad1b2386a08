using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LayerCompiler.Runtime.Kernels;

/// <summary>Vectorized elementary functions for generated input-network passes (errors of a few float ulps).</summary>
public static class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<float> Sin, Vector256<float> Cos) SinCos(Vector256<float> x) => PointKernels.SinCos(x);

    /// <summary>tanh via exp, accurate to float rounding for |x| ≤ 9 and saturated beyond.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(-9f)), Vector256.Create(9f));
        var e = Vector256.Exp(c * 2f);
        return (e - Vector256<float>.One) / (e + Vector256<float>.One);
    }
}
