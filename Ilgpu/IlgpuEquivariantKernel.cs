using System;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// A generated equivariant layer on an ILGPU accelerator (<see cref="IlgpuLayerSource"/>): the kernels loaded once, the
/// total-term table and a scratch buffer held on the device. Two APIs:
/// device views (<see cref="Forward(ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, int, bool)"/>,
/// <see cref="Backward(ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, int, bool, bool)"/>;
/// asynchronous on the accelerator's default stream), and the host API of <see cref="IReluFusingKernel"/> (copy in, run,
/// copy out), through which an <c>EquivariantNetwork</c> runs its layers on the accelerator.
/// Deterministic: every sum has a fixed order that depends only on the sizes, so the same inputs give bitwise the same
/// results (no atomics).
/// </summary>
public sealed class IlgpuEquivariantKernel : IReluFusingKernel, IDisposable
{
    public LayerPlan Plan { get; }
    public IlgpuLayerSource Source { get; }
    public IlgpuDevice Device { get; }

    private readonly Action<AcceleratorStream, Index1D, IlgpuLayerArgs> _xstats, _fterms, _fout, _bstats, _bterms, _bout, _wgrad, _finish;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _table;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scratch;
    private MemoryBuffer1D<float, Stride1D.Dense>? _hostIn, _hostOut, _hostGrad, _hostW, _hostB, _hostGw, _hostGb;

    public IlgpuEquivariantKernel(IlgpuDevice device, IlgpuLayerSource source, LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.InChannels != source.InChannels || plan.OutChannels != source.OutChannels || plan.WeightCount != source.WeightCount
            || plan.BiasCount != source.BiasCount || plan.Space.Tensors.Count != source.TensorCount)
            throw new ArgumentException($"This ILGPU layer was generated for {source.InChannels} → {source.OutChannels} channels with {source.WeightCount} weights and {source.BiasCount} biases over {source.TensorCount} tensors; the plan has {plan.InChannels} → {plan.OutChannels}, {plan.WeightCount}, {plan.BiasCount}, {plan.Space.Tensors.Count}.", nameof(plan));
        int totals = TotalTerms.Of(plan).Length;
        if (totals != source.TotalTermCount)
            throw new ArgumentException($"The plan has {totals} total terms; the generated ILGPU layer expects {source.TotalTermCount}.", nameof(plan));
        Plan = plan;
        Source = source;
        Device = device;
        var acc = device.Accelerator;
        _xstats = acc.LoadAutoGroupedKernel(source.InputStatistics);
        _fterms = acc.LoadAutoGroupedKernel(source.ForwardTerms);
        _fout = acc.LoadAutoGroupedKernel(source.ForwardOutput);
        _bstats = acc.LoadAutoGroupedKernel(source.BackwardStatistics);
        _bterms = acc.LoadAutoGroupedKernel(source.BackwardTerms);
        _bout = acc.LoadAutoGroupedKernel(source.BackwardOutput);
        _wgrad = acc.LoadAutoGroupedKernel(source.WeightGradient);
        _finish = acc.LoadAutoGroupedKernel(source.GradientFinish);
        var table = IlgpuTotalTables.Build(plan);
        _table = acc.Allocate1D(table);
    }

    /// <summary>Networks one call may hold (32-bit indices).</summary>
    public int MaxBatch => Source.MaxBatch;

    private ArrayView<float> Scratch(int batch)
    {
        long need = Math.Max(1, Source.ScratchFloats(batch));
        if (_scratch == null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = Device.Accelerator.Allocate1D<float>(need);
        }
        return _scratch.View;
    }

    private void CheckBatch(int batch)
    {
        if (batch < 1 || batch > MaxBatch) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"A batch must hold 1..{MaxBatch} networks.");
    }

    private static void CheckLength(ArrayView<float> view, long expected, string name)
    {
        if (view.Length != expected) throw new ArgumentException($"{name} holds {view.Length} floats; expected {expected}.", name);
    }

    /// <summary>y = layer(x) (overwritten), ReLU'd when <paramref name="relu"/>. Asynchronous on the default stream.</summary>
    public void Forward(ArrayView<float> w, ArrayView<float> b, ArrayView<float> x, ArrayView<float> y, int batch, bool relu = false)
    {
        CheckBatch(batch);
        CheckLength(w, Source.WeightCount, nameof(w));
        CheckLength(b, Source.BiasCount, nameof(b));
        CheckLength(x, (long)batch * Source.InputFloats, nameof(x));
        CheckLength(y, (long)batch * Source.OutputFloats, nameof(y));
        var a = new IlgpuLayerArgs { Batch = batch, Relu = relu ? 1 : 0, X = x, W = w, B = b, Y = y, S = Scratch(batch), Table = _table.View };
        var stream = Device.Accelerator.DefaultStream;
        _xstats(stream, batch * Source.ForwardStatFloats, a);
        if (Source.ForwardTermFloats > 0) _fterms(stream, batch * Source.ForwardTermFloats, a);
        _fout(stream, batch * Source.OutputFloats, a);
    }

    /// <summary>
    /// Parameter gradients ADDED into <paramref name="gw"/>/<paramref name="gb"/>; with <paramref name="inputGradient"/>,
    /// <paramref name="gx"/> overwritten with the input gradient (zeroed where x ≤ 0 when <paramref name="reluMaskInput"/>).
    /// Asynchronous on the default stream.
    /// </summary>
    public void Backward(ArrayView<float> w, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, ArrayView<float> gw, ArrayView<float> gb,
        int batch, bool inputGradient, bool reluMaskInput = false)
    {
        CheckBatch(batch);
        CheckLength(w, Source.WeightCount, nameof(w));
        CheckLength(x, (long)batch * Source.InputFloats, nameof(x));
        CheckLength(gy, (long)batch * Source.OutputFloats, nameof(gy));
        if (inputGradient) CheckLength(gx, (long)batch * Source.InputFloats, nameof(gx));
        CheckLength(gw, Source.WeightCount, nameof(gw));
        CheckLength(gb, Source.BiasCount, nameof(gb));
        var a = new IlgpuLayerArgs { Batch = batch, Relu = reluMaskInput ? 1 : 0, X = x, G = gy, W = w, Y = gx, Gw = gw, Gb = gb, S = Scratch(batch), Table = _table.View };
        var stream = Device.Accelerator.DefaultStream;
        _bstats(stream, batch * Source.BackwardStatFloats, a);
        _wgrad(stream, IlgpuLayerSource.Chunks(batch) * Source.ParameterCount, a);
        _finish(stream, Source.ParameterCount, a);
        if (!inputGradient) return;
        if (Source.BackwardTermFloats > 0) _bterms(stream, batch * Source.BackwardTermFloats, a);
        _bout(stream, batch * Source.InputFloats, a);
    }

    // ------------------------------------------------------------------ host API (IReluFusingKernel)

    private ArrayView<float> Staging(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        long need = Math.Max(1, length);
        if (buffer == null || buffer.Length != need)
        {
            buffer?.Dispose();
            buffer = Device.Accelerator.Allocate1D<float>(need);
        }
        return buffer.View.SubView(0, length);
    }

    private void CheckHostBatch(WeightSpaceBatch b, int channels, string name)
    {
        if (b.Space.Tensors.Count != Plan.Space.Tensors.Count)
            throw new ArgumentException($"{name} has {b.Space.Tensors.Count} tensors; this layer's weight space has {Plan.Space.Tensors.Count}.", name);
        if (b.Channels != channels) throw new ArgumentException($"{name} has {b.Channels} channels; this layer expects {channels}.", name);
    }

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output) => Forward(weights, bias, input, output, relu: false);

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output, bool relu)
    {
        if (weights.Length != Plan.WeightCount || bias.Length != Plan.BiasCount)
            throw new ArgumentException($"Expected {Plan.WeightCount} weights and {Plan.BiasCount} biases, got {weights.Length} and {bias.Length}.");
        CheckHostBatch(input, Plan.InChannels, nameof(input));
        CheckHostBatch(output, Plan.OutChannels, nameof(output));
        if (output.Batch != input.Batch) throw new ArgumentException($"Output batch {output.Batch} differs from input batch {input.Batch}.");
        int batch = input.Batch;
        var w = Staging(ref _hostW, weights.Length); w.CopyFromCPU(weights);
        var b = Staging(ref _hostB, bias.Length); b.CopyFromCPU(bias);
        var x = Staging(ref _hostIn, (long)batch * Source.InputFloats); x.CopyFromCPU(input.Flatten());
        var y = Staging(ref _hostOut, (long)batch * Source.OutputFloats);
        Forward(w, b, x, y, batch, relu);
        var result = new float[y.Length];
        y.CopyToCPU(result);
        output.Unflatten(result);
    }

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput, WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias) =>
        Backward(weights, input, gradOutput, gradInput, gradWeights, gradBias, reluMaskInput: false);

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput, WeightSpaceBatch? gradInput,
        float[] gradWeights, float[] gradBias, bool reluMaskInput)
    {
        if (weights.Length != Plan.WeightCount) throw new ArgumentException($"Expected {Plan.WeightCount} weights, got {weights.Length}.");
        if (gradWeights.Length != Plan.WeightCount || gradBias.Length != Plan.BiasCount)
            throw new ArgumentException($"Gradient buffers must hold {Plan.WeightCount} weights and {Plan.BiasCount} biases.");
        CheckHostBatch(input, Plan.InChannels, nameof(input));
        CheckHostBatch(gradOutput, Plan.OutChannels, nameof(gradOutput));
        if (gradInput != null) CheckHostBatch(gradInput, Plan.InChannels, nameof(gradInput));
        if (gradOutput.Batch != input.Batch) throw new ArgumentException($"Output-gradient batch {gradOutput.Batch} differs from input batch {input.Batch}.");
        int batch = input.Batch;
        var w = Staging(ref _hostW, weights.Length); w.CopyFromCPU(weights);
        var x = Staging(ref _hostIn, (long)batch * Source.InputFloats); x.CopyFromCPU(input.Flatten());
        var gy = Staging(ref _hostOut, (long)batch * Source.OutputFloats); gy.CopyFromCPU(gradOutput.Flatten());
        var gx = Staging(ref _hostGrad, (long)batch * Source.InputFloats);
        var gw = Staging(ref _hostGw, gradWeights.Length); gw.CopyFromCPU(gradWeights);
        var gb = Staging(ref _hostGb, gradBias.Length); gb.CopyFromCPU(gradBias);
        Backward(w, x, gy, gx, gw, gb, batch, gradInput != null, reluMaskInput);
        gw.CopyToCPU(gradWeights);
        gb.CopyToCPU(gradBias);
        if (gradInput != null)
        {
            var result = new float[gx.Length];
            gx.CopyToCPU(result);
            gradInput.Unflatten(result);
        }
    }

    public void Dispose()
    {
        _table.Dispose();
        _scratch?.Dispose();
        _hostIn?.Dispose(); _hostOut?.Dispose(); _hostGrad?.Dispose(); _hostW?.Dispose(); _hostB?.Dispose(); _hostGw?.Dispose(); _hostGb?.Dispose();
    }
}
