using LayerCompiler.Runtime.Transforms;
using System;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>
/// SIREN initialization as the INR protocol states it: every sine layer (the first one too) draws its weights
/// from U(−√(6/fan_in)/ω0, +√(6/fan_in)/ω0) and has zero biases; the last, linear layer draws weights and bias
/// from U(±1/√fan_in). Draw order: layer by layer, each weight row-major, then that layer's bias.
/// </summary>
public static class SirenInit
{
    public static void Initialize(MlpInputNetwork network, Span<float> parameters, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(rng);
        if (network.Activation != InputActivation.Sine)
            throw new ArgumentException($"SIREN initialization needs a sine network, got {network.Activation}.", nameof(network));
        if (parameters.Length != network.ParameterCount)
            throw new ArgumentException($"The network has {network.ParameterCount} parameters, got a vector of {parameters.Length}.", nameof(parameters));
        var space = network.Space;
        int depth = network.Depth;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            var dst = parameters.Slice(network.TensorOffset(t), wt.Size);
            int layer = wt.LayerNumber;                 // 1-based
            int fanIn = network.Widths[layer - 1];
            bool last = layer == depth;
            if (!last && wt.IsBias) { dst.Clear(); continue; }
            double bound = last ? 1.0 / Math.Sqrt(fanIn) : Math.Sqrt(6.0 / fanIn) / network.Omega0;
            for (int i = 0; i < dst.Length; i++) dst[i] = (float)((2 * rng.NextDouble() - 1) * bound);
        }
    }
}
