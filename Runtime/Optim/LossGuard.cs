using System;
using System.Globalization;

namespace LayerCompiler.Runtime.Optim;

/// <summary>Thrown by <see cref="LossGuard.Check"/> when the loss is NaN or infinite.</summary>
public sealed class NonFiniteLossException : Exception
{
    public int Step { get; }
    public float Loss { get; }

    public NonFiniteLossException(float loss, int step)
        : base($"loss became {Describe(loss)} at step {step.ToString(CultureInfo.InvariantCulture)}; lower the learning rate or enable gradient clipping")
    {
        Loss = loss;
        Step = step;
    }

    private static string Describe(float loss) =>
        float.IsNaN(loss) ? "NaN" : float.IsPositiveInfinity(loss) ? "+Infinity" : float.IsNegativeInfinity(loss) ? "-Infinity" : loss.ToString("R", CultureInfo.InvariantCulture);
}

public static class LossGuard
{
    /// <summary>
    /// Throws <see cref="NonFiniteLossException"/> ("loss became NaN at step 123; lower the learning rate or
    /// enable gradient clipping") unless <paramref name="loss"/> is finite.
    /// </summary>
    public static void Check(float loss, int step)
    {
        if (!float.IsFinite(loss)) throw new NonFiniteLossException(loss, step);
    }
}
