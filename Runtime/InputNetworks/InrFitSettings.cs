using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using System;
using System.Collections.Generic;
using System.Globalization;

namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>
/// How each INR is fitted: full-batch MSE, its own Adam, at most <see cref="MaxSteps"/> steps, frozen as soon
/// as its MSE is ≤ <see cref="StopMse"/> (for images in [0, 1], PSNR ≥ 10·log10(1/StopMse)).
/// </summary>
public sealed record InrFitSettings
{
    // The defaults are the image-INR protocol (Tasks/Zoo/InrFitProtocols names each task's settings).
    public int MaxSteps { get; init; } = 1000;
    public float LearningRate { get; init; } = 5e-4f;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Early-stop threshold on the MSE; 0 never stops early.</summary>
    public double StopMse { get; init; } = Psnr.ToMse(40);

    public void Validate()
    {
        if (MaxSteps < 0) throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "MaxSteps must be >= 0.");
        if (!(LearningRate > 0 && float.IsFinite(LearningRate))) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be positive and finite.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "beta1 must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "beta2 must be in [0, 1).");
        if (!(Epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "eps must be >= 0.");
        if (!(StopMse >= 0)) throw new ArgumentOutOfRangeException(nameof(StopMse), StopMse, "StopMse must be >= 0.");
    }

    /// <summary>The settings as metadata strings (round-trip formatting), for zoo files.</summary>
    public IReadOnlyDictionary<string, string> ToMetadata() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["fit.optimizer"] = "adam",
        ["fit.max_steps"] = MaxSteps.ToString(CultureInfo.InvariantCulture),
        ["fit.lr"] = LearningRate.ToString("R", CultureInfo.InvariantCulture),
        ["fit.beta1"] = Beta1.ToString("R", CultureInfo.InvariantCulture),
        ["fit.beta2"] = Beta2.ToString("R", CultureInfo.InvariantCulture),
        ["fit.eps"] = Epsilon.ToString("R", CultureInfo.InvariantCulture),
        ["fit.stop_mse"] = StopMse.ToString("R", CultureInfo.InvariantCulture),
        ["fit.loss"] = "mse, full batch",
    };

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"Adam lr {LearningRate} (β {Beta1}/{Beta2}), ≤ {MaxSteps} steps, stop at MSE ≤ {StopMse:G4} (PSNR ≥ {Psnr.FromMse(StopMse):F1} dB)");
}
