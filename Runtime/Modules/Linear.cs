using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.InputNetworks;
using System;
using System.Collections.Generic;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// Fully connected layer, <c>y = x · Wᵀ + b</c> (PyTorch: nn.Linear). <c>weight</c> is
/// <c>[outFeatures, inFeatures]</c>, <c>bias</c> is <c>[outFeatures]</c> and has <see cref="Parameter.Decay"/> = false.
/// </summary>
/// <remarks>
/// Initialization follows PyTorch's default (<c>kaiming_uniform_(a=√5)</c>), which amounts to
/// U(−1/√in, 1/√in) for the weight and the bias; the weight is drawn first, row by row, then the bias.
/// Matrix products run in <see cref="DenseKernels"/> (parallel over row blocks, deterministic).
/// </remarks>
public sealed class Linear : Layer
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    private Tensor? _input, _output, _gradInput;

    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        if (inFeatures < 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "Linear: inFeatures must not be negative.");
        if (outFeatures < 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "Linear: outFeatures must not be negative.");
        ArgumentNullException.ThrowIfNull(rng);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = new Parameter(outFeatures, inFeatures);
        Bias = bias ? new Parameter(outFeatures) { Decay = false } : null;
        float bound = inFeatures > 0 ? (float)(1.0 / Math.Sqrt(inFeatures)) : 0f;
        var w = Weight.Data;
        for (int i = 0; i < w.Length; i++) w[i] = rng.Uniform(-bound, bound);
        if (Bias is not null)
        {
            var b = Bias.Data;
            for (int i = 0; i < b.Length; i++) b[i] = rng.Uniform(-bound, bound);
        }
    }

    /// <summary>Same as <see cref="Linear(int, int, Rng, bool)"/>, with PyTorch's argument order.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias, Rng rng) : this(inFeatures, outFeatures, rng, bias) { }

    protected override IEnumerable<(string Name, Parameter Parameter)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias is not null) yield return ("bias", Bias);
    }

    public override Tensor Forward(Tensor x)
    {
        Check2D(x, InFeatures, "input", nameof(Linear));
        int rows = x.Shape[0];
        var y = Reuse(ref _output, rows, OutFeatures);
        DenseKernels.LinearForward(x.Data, Weight.Data, Bias?.Data, y.Data, rows, InFeatures, OutFeatures);
        _input = x;
        return y;
    }

    public override Tensor Backward(Tensor gradOutput)
    {
        var x = _input ?? throw BackwardBeforeForward(nameof(Linear));
        int rows = x.Shape[0];
        CheckGradShape(gradOutput, rows, OutFeatures, nameof(Linear));
        var dx = Reuse(ref _gradInput, rows, InFeatures);
        DenseKernels.LinearBackwardInput(gradOutput.Data, Weight.Data, dx.Data, rows, InFeatures, OutFeatures);
        DenseKernels.LinearBackwardWeight(gradOutput.Data, x.Data, Weight.Grad.Data, rows, InFeatures, OutFeatures);
        if (Bias is not null) DenseKernels.BiasBackward(gradOutput.Data, Bias.Grad.Data, rows, OutFeatures);
        return dx;
    }

    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")})";
}
