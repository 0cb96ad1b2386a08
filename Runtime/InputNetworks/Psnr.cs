using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using System;

namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>Peak signal-to-noise ratio for signals in [0, 1]: PSNR = 10·log10(1 / MSE) dB.</summary>
public static class Psnr
{
    /// <summary>PSNR in dB of a mean squared error (peak 1). MSE 0 gives +∞.</summary>
    public static double FromMse(double mse)
    {
        if (!(mse >= 0)) throw new ArgumentOutOfRangeException(nameof(mse), mse, "A mean squared error must be non-negative.");
        return mse == 0 ? double.PositiveInfinity : 10.0 * Math.Log10(1.0 / mse);
    }

    /// <summary>The MSE at which the PSNR equals <paramref name="psnr"/> dB.</summary>
    public static double ToMse(double psnr) => Math.Pow(10.0, -psnr / 10.0);

    /// <summary>PSNR of <paramref name="reconstruction"/> against <paramref name="target"/> (same length, values in [0, 1]).</summary>
    public static double Of(ReadOnlySpan<float> reconstruction, ReadOnlySpan<float> target)
    {
        if (reconstruction.Length != target.Length || target.Length == 0)
            throw new ArgumentException($"Need two non-empty signals of one length, got {reconstruction.Length} and {target.Length}.");
        double s = 0;
        for (int i = 0; i < target.Length; i++) { double e = reconstruction[i] - target[i]; s += e * e; }
        return FromMse(s / target.Length);
    }
}
