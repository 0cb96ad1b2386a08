using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>How each task's INRs are fitted (the papers' protocols, ../docs/results.md).</summary>
public static class InrFitProtocols
{
    /// <summary>The Fashion-MNIST INR protocol: Adam lr 5e-4, 1000 steps, stop at PSNR ≥ 40 dB (the settings' defaults).</summary>
    public static InrFitSettings FashionMnist { get; } = new();

    /// <summary>The sine-wave protocol: Adam lr 1e-3, up to 1500 steps, stop at MSE ≤ 1e-4.</summary>
    public static InrFitSettings SineWaves { get; } = new() { MaxSteps = 1500, LearningRate = 1e-3f, StopMse = 1e-4 };
}
