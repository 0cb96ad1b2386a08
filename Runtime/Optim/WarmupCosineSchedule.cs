using System;

namespace LayerCompiler.Runtime.Optim;

/// <summary>
/// Linear warmup from 0 to <see cref="BaseLr"/> over <see cref="WarmupSteps"/> steps, then a half cosine
/// down to <see cref="MinLr"/> at <see cref="TotalSteps"/>, and <see cref="MinLr"/> after that.
/// </summary>
/// <remarks>
/// <c>step</c> is the 0-based index of the optimizer step about to be taken (call <see cref="Apply"/> before
/// <see cref="Optimizer.Step"/>, with <see cref="Optimizer.StepCount"/>):
/// <list type="bullet">
/// <item>step &lt; warmup: lr = base · step / warmup (so step 0 has lr 0);</item>
/// <item>warmup ≤ step &lt; total: lr = min + (base − min) · ½(1 + cos(π · (step − warmup)/(total − warmup)));</item>
/// <item>step ≥ total: lr = min.</item>
/// </list>
/// Computed in float64, returned as float32.
/// </remarks>
public sealed class WarmupCosineSchedule
{
    public float BaseLr { get; }
    public int WarmupSteps { get; }
    public int TotalSteps { get; }
    public float MinLr { get; }

    public WarmupCosineSchedule(float baseLr, int warmupSteps, int totalSteps, float minLr = 0f)
    {
        if (!(baseLr >= 0) || float.IsInfinity(baseLr)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "WarmupCosineSchedule: base learning rate must be finite and >= 0.");
        if (!(minLr >= 0) || minLr > baseLr) throw new ArgumentOutOfRangeException(nameof(minLr), minLr, "WarmupCosineSchedule: minLr must be in [0, baseLr].");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "WarmupCosineSchedule: warmup steps must be >= 0.");
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "WarmupCosineSchedule: total steps must be >= 1.");
        if (totalSteps < warmupSteps) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"WarmupCosineSchedule: total steps ({totalSteps}) must be >= warmup steps ({warmupSteps}).");
        BaseLr = baseLr;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        MinLr = minLr;
    }

    public float At(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "WarmupCosineSchedule: step must be >= 0.");
        if (step < WarmupSteps) return (float)((double)BaseLr * step / WarmupSteps);
        if (step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return (float)(MinLr + ((double)BaseLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    /// <summary>Sets the optimizer's learning rate to <see cref="At"/>(<paramref name="step"/>) and returns it.</summary>
    public float Apply(Optimizer optimizer, int step)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        float lr = At(step);
        optimizer.LearningRate = lr;
        return lr;
    }
}
