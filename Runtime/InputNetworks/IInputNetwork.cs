
namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>
/// Runs a batch of input networks (all of one declared architecture) at shared input points, and
/// back-propagates into their own weights. Used to fit INRs, to render them and to train zoos.
/// Weights are a 1-channel <see cref="WeightSpaceBatch"/> over the architecture's weight space
/// (PyTorch orientation: W (out, in), b (out)). Hidden layers apply <see cref="Activation"/>
/// (SIREN: sin(ω0·(W h + b))); the last layer is linear and adds <see cref="OutputOffset"/>.
/// </summary>
public interface IInputNetwork
{
    global::LayerCompiler.Algebra.WeightSpace Space { get; }
    InputActivation Activation { get; }
    float Omega0 { get; }
    float OutputOffset { get; }
    int InputWidth { get; }
    int OutputWidth { get; }

    /// <summary>
    /// output[n, p, o] (row-major [batch, pointCount, OutputWidth]) for every network n of
    /// <paramref name="weights"/> at every point p of <paramref name="points"/> ([pointCount, InputWidth]).
    /// </summary>
    void Forward(WeightSpaceBatch weights, float[] points, int pointCount, float[] output);

    /// <summary>
    /// Given d loss / d output ([batch, pointCount, OutputWidth]), overwrites <paramref name="gradWeights"/>
    /// with d loss / d weights. Re-runs the forward internally (no state is kept between calls).
    /// </summary>
    void Backward(WeightSpaceBatch weights, float[] points, int pointCount, float[] gradOutput, WeightSpaceBatch gradWeights);
}
