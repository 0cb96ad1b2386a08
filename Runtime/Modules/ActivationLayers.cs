using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.InputNetworks;
using System;

namespace LayerCompiler.Runtime.Modules;

/// <summary>Rectified linear unit (PyTorch: nn.ReLU). No parameters.</summary>
public sealed class ReLU : Layer
{
    private Tensor? _input, _output, _gradInput;

    public override Tensor Forward(Tensor x)
    {
        Check2D(x, -1, "input", nameof(ReLU));
        var y = Reuse(ref _output, x.Shape[0], x.Shape[1]);
        Activations.ReluForward(x.Data, y.Data);
        _input = x;
        return y;
    }

    public override Tensor Backward(Tensor gradOutput)
    {
        var x = _input ?? throw BackwardBeforeForward(nameof(ReLU));
        CheckGradShape(gradOutput, x.Shape[0], x.Shape[1], nameof(ReLU));
        var dx = Reuse(ref _gradInput, x.Shape[0], x.Shape[1]);
        Activations.ReluBackward(x.Data, gradOutput.Data, dx.Data);
        return dx;
    }

    public override string ToString() => "ReLU()";
}

/// <summary>Exact (erf) GELU (PyTorch: nn.GELU() with approximate='none'). No parameters.</summary>
public sealed class GELU : Layer
{
    private Tensor? _input, _output, _gradInput;

    // About this many flops per element, to decide when to split rows across threads.
    private const int CostPerElement = 64;

    public override Tensor Forward(Tensor x)
    {
        Check2D(x, -1, "input", nameof(GELU));
        int rows = x.Shape[0], cols = x.Shape[1];
        var y = Reuse(ref _output, rows, cols);
        float[] xd = x.Data, yd = y.Data;
        DenseKernels.ForBlocks(rows, (long)cols * CostPerElement,
            (r0, r1) => Activations.GeluForward(xd.AsSpan(r0 * cols, (r1 - r0) * cols), yd.AsSpan(r0 * cols, (r1 - r0) * cols)));
        _input = x;
        return y;
    }

    public override Tensor Backward(Tensor gradOutput)
    {
        var x = _input ?? throw BackwardBeforeForward(nameof(GELU));
        int rows = x.Shape[0], cols = x.Shape[1];
        CheckGradShape(gradOutput, rows, cols, nameof(GELU));
        var dx = Reuse(ref _gradInput, rows, cols);
        float[] xd = x.Data, gd = gradOutput.Data, dd = dx.Data;
        DenseKernels.ForBlocks(rows, (long)cols * CostPerElement, (r0, r1) =>
        {
            int a = r0 * cols, n = (r1 - r0) * cols;
            Activations.GeluBackward(xd.AsSpan(a, n), gd.AsSpan(a, n), dd.AsSpan(a, n));
        });
        return dx;
    }

    public override string ToString() => "GELU(approximate='none')";
}
