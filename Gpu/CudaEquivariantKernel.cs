using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Gpu;

/// <summary>
/// A generated fused equivariant layer on a CUDA device. The source (from the model's generated
/// <c>CudaSources</c>) is compiled once by NVRTC when the kernel is created (and cached on disk by the device's
/// <see cref="CubinCache"/>); scratch memory is held and grown as batches need.
/// <para>Device API: <see cref="Forward(CudaBuffer, CudaBuffer, CudaBuffer, CudaBuffer, int, CudaStream?)"/> and
/// <see cref="Backward(CudaBuffer, CudaBuffer, CudaBuffer, CudaBuffer?, CudaBuffer, CudaBuffer, int, CudaStream?)"/> on
/// device buffers, batch resident on the device; a batch buffer holds the tensors back to back in tensor order, each
/// [batch, axes..., channels] (<see cref="WeightSpaceBatch.Flatten"/> order). Launches are asynchronous.</para>
/// <para>Host API (<see cref="IEquivariantKernel"/>): copies in, runs, copies out; for tests and small jobs.</para>
/// Not thread-safe: one kernel object serves one stream of calls.
/// </summary>
public sealed class CudaEquivariantKernel : IEquivariantKernel, IDisposable
{
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);
    private readonly KernelArgs _args = new(9);
    private CudaBuffer? _scratch;
    private CudaBuffer? _hw, _hb, _hx, _hy, _hg, _hgx, _hgw, _hgb;
    private bool _disposed;

    public LayerPlan Plan { get; }
    public CudaLayerSource Layer { get; }
    public CudaDevice Device { get; }
    public CudaModule Module { get; }

    /// <summary>
    /// Synchronize after every launch so that an asynchronous failure is reported with the kernel that caused it
    /// (slow; for debugging). Defaults to true when the environment sets LAYERCOMPILER_CUDA_SYNC=1.
    /// </summary>
    public bool SynchronizeEachLaunch { get; set; } = Environment.GetEnvironmentVariable("LAYERCOMPILER_CUDA_SYNC") == "1";

    /// <summary>
    /// Called after each kernel launch with the step and its block count (e.g. to record a CUDA event per kernel for a
    /// timing breakdown). Runs on the calling thread, between asynchronous launches.
    /// </summary>
    public Action<CudaLaunchStep, long>? LaunchObserver { get; set; }

    public CudaEquivariantKernel(CudaDevice device, CudaLayerSource layer, LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(plan);
        CheckCompatible(layer, plan);
        Device = device; Layer = layer; Plan = plan;
        Module = device.Compile(layer.Source, layer.KernelNames);
        foreach (string name in layer.KernelNames) _kernels[name] = Module[name];
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="layer"/> was generated for <paramref name="plan"/>'s channels, parameters and weight space.</summary>
    internal static void CheckCompatible(CudaLayerSource layer, LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.InChannels != layer.InChannels || plan.OutChannels != layer.OutChannels || plan.WeightCount != layer.WeightCount || plan.BiasCount != layer.BiasCount)
            throw new ArgumentException($"The CUDA layer was generated for {layer.InChannels} → {layer.OutChannels} channels with {layer.WeightCount} weights and {layer.BiasCount} biases; " +
                $"the plan has {plan.InChannels} → {plan.OutChannels}, {plan.WeightCount} and {plan.BiasCount}. Use the CudaSources of the model the plan belongs to.", nameof(plan));
        if (plan.Space.Tensors.Count != layer.TensorSizes.Count)
            throw new ArgumentException($"The CUDA layer has {layer.TensorSizes.Count} tensors; the plan's weight space has {plan.Space.Tensors.Count}.", nameof(plan));
        for (int t = 0; t < layer.TensorSizes.Count; t++)
            if (plan.Space.Tensors[t].Size != layer.TensorSizes[t])
                throw new ArgumentException($"Tensor {plan.Space.Tensors[t].Name} has {plan.Space.Tensors[t].Size} entries in the plan but {layer.TensorSizes[t]} in the CUDA layer.", nameof(plan));
    }

    /// <summary>Floats of an input batch buffer (Cin channels).</summary>
    public long InputLength(int batch) => Layer.InputLength(batch);

    /// <summary>Floats of an output batch buffer (Cout channels).</summary>
    public long OutputLength(int batch) => Layer.OutputLength(batch);

    /// <summary>Overwrites <paramref name="output"/> with the layer applied to <paramref name="input"/> (asynchronous).</summary>
    public void Forward(CudaBuffer weights, CudaBuffer bias, CudaBuffer input, CudaBuffer output, int batch, CudaStream? stream = null)
    {
        Layer.CheckBatch(batch);
        CheckLength(weights, Layer.WeightCount, nameof(weights));
        CheckLength(bias, Layer.BiasCount, nameof(bias));
        CheckLength(input, InputLength(batch), nameof(input), batch);
        CheckLength(output, OutputLength(batch), nameof(output), batch);
        Run(CudaLayerPass.Forward, batch, input, null, weights, bias, output, null, null, stream);
    }

    /// <summary>
    /// Overwrites <paramref name="gradInput"/> (when not null) with the input gradient and ADDS the parameter gradients
    /// into <paramref name="gradWeights"/> and <paramref name="gradBias"/> (asynchronous). Deterministic: the same inputs
    /// give bitwise the same gradients.
    /// </summary>
    public void Backward(CudaBuffer weights, CudaBuffer input, CudaBuffer gradOutput, CudaBuffer? gradInput,
        CudaBuffer gradWeights, CudaBuffer gradBias, int batch, CudaStream? stream = null)
    {
        Layer.CheckBatch(batch);
        CheckLength(weights, Layer.WeightCount, nameof(weights));
        CheckLength(input, InputLength(batch), nameof(input), batch);
        CheckLength(gradOutput, OutputLength(batch), nameof(gradOutput), batch);
        if (gradInput is not null) CheckLength(gradInput, InputLength(batch), nameof(gradInput), batch);
        CheckLength(gradWeights, Layer.WeightCount, nameof(gradWeights));
        CheckLength(gradBias, Layer.BiasCount, nameof(gradBias));
        Run(CudaLayerPass.ParameterGradient, batch, input, gradOutput, weights, null, null, gradWeights, gradBias, stream);
        if (gradInput is not null)
            Run(CudaLayerPass.InputGradient, batch, input, gradOutput, weights, null, gradInput, null, null, stream);
    }

    private void Run(CudaLayerPass pass, int batch, CudaBuffer x, CudaBuffer? g, CudaBuffer w, CudaBuffer? b, CudaBuffer? y,
        CudaBuffer? gw, CudaBuffer? gb, CudaStream? stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var scratch = EnsureScratch(batch);
        foreach (var (step, blocks) in Layer.Launches(pass, batch))
        {
            _args.Clear();
            _args.Add(batch).AddPointer(x.Pointer).AddPointer(g?.Pointer ?? 0).AddPointer(w.Pointer).AddPointer(b?.Pointer ?? 0)
                .AddPointer(y?.Pointer ?? 0).AddPointer(gw?.Pointer ?? 0).AddPointer(gb?.Pointer ?? 0).AddPointer(scratch?.Pointer ?? 0);
            _kernels[step.Kernel].Launch((int)blocks, 1, 1, Layer.BlockSize, 1, 1, 0, stream, _args);
            LaunchObserver?.Invoke(step, blocks);
            if (!SynchronizeEachLaunch) continue;
            try
            {
                if (stream is null) Device.Synchronize(); else stream.Synchronize();
            }
            catch (CudaException e)
            {
                throw new CudaException(e.Api, e.Code, e.ErrorName, e.Function, e.ErrorDescription,
                    $"running {step.Kernel} ({pass}, batch {batch}, {blocks} blocks of {Layer.BlockSize})", kernelName: step.Kernel);
            }
        }
    }

    private CudaBuffer? EnsureScratch(int batch)
    {
        long need = Layer.ScratchFloats(batch);
        if (need == 0) return _scratch;
        if (_scratch is null || _scratch.Length < need)
        {
            // Everything queued on the old buffer must finish before it is freed.
            if (_scratch is not null) { Device.Synchronize(); _scratch.Dispose(); }
            _scratch = null;
            _scratch = Device.Allocate(need);
        }
        return _scratch;
    }

    private static void CheckLength(CudaBuffer buffer, long expected, string name, int batch = -1)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer.Length != expected)
            throw new ArgumentException($"{name} holds {buffer.Length} floats; expected {expected}{(batch > 0 ? $" for a batch of {batch}" : "")}.", name);
    }

    // ---------------------------------------------------------------- host API

    public void Forward(float[] weights, float[] bias, WeightSpaceBatch input, WeightSpaceBatch output)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(bias);
        if (weights.Length != Plan.WeightCount || bias.Length != Plan.BiasCount)
            throw new ArgumentException($"Expected {Plan.WeightCount} weights and {Plan.BiasCount} biases, got {weights.Length} and {bias.Length}.");
        CheckBatch(input, Plan.InChannels, nameof(input));
        CheckBatch(output, Plan.OutChannels, nameof(output));
        if (output.Batch != input.Batch) throw new ArgumentException($"Output batch {output.Batch} differs from input batch {input.Batch}.", nameof(output));
        int n = input.Batch;
        Layer.CheckBatch(n);
        var w = Upload(ref _hw, weights);
        var b = Upload(ref _hb, bias);
        var x = Upload(ref _hx, input);
        var y = Sized(ref _hy, OutputLength(n));
        Forward(w, b, x, y, n);
        Download(y, output);
    }

    public void Backward(float[] weights, WeightSpaceBatch input, WeightSpaceBatch gradOutput,
        WeightSpaceBatch? gradInput, float[] gradWeights, float[] gradBias)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(gradWeights);
        ArgumentNullException.ThrowIfNull(gradBias);
        if (weights.Length != Plan.WeightCount) throw new ArgumentException($"Expected {Plan.WeightCount} weights, got {weights.Length}.", nameof(weights));
        if (gradWeights.Length != Plan.WeightCount || gradBias.Length != Plan.BiasCount)
            throw new ArgumentException($"Gradient buffers must hold {Plan.WeightCount} weights and {Plan.BiasCount} biases.");
        CheckBatch(input, Plan.InChannels, nameof(input));
        CheckBatch(gradOutput, Plan.OutChannels, nameof(gradOutput));
        if (gradOutput.Batch != input.Batch) throw new ArgumentException($"gradOutput batch {gradOutput.Batch} differs from input batch {input.Batch}.", nameof(gradOutput));
        if (gradInput is not null)
        {
            CheckBatch(gradInput, Plan.InChannels, nameof(gradInput));
            if (gradInput.Batch != input.Batch) throw new ArgumentException($"gradInput batch {gradInput.Batch} differs from input batch {input.Batch}.", nameof(gradInput));
        }
        int n = input.Batch;
        Layer.CheckBatch(n);
        var w = Upload(ref _hw, weights);
        var x = Upload(ref _hx, input);
        var g = Upload(ref _hg, gradOutput);
        // The kernels add into the gradients: start from the caller's values.
        var gw = Upload(ref _hgw, gradWeights);
        var gb = Upload(ref _hgb, gradBias);
        var gx = gradInput is null ? null : Sized(ref _hgx, InputLength(n));
        Backward(w, x, g, gx, gw, gb, n);
        gw.CopyTo(gradWeights);
        gb.CopyTo(gradBias);
        if (gx is not null) Download(gx, gradInput!);
    }

    private void CheckBatch(WeightSpaceBatch b, int channels, string name)
    {
        ArgumentNullException.ThrowIfNull(b, name);
        if (b.Space.Tensors.Count != Plan.Space.Tensors.Count)
            throw new ArgumentException($"{name} has {b.Space.Tensors.Count} tensors; this layer's weight space has {Plan.Space.Tensors.Count}.", name);
        if (b.Channels != channels) throw new ArgumentException($"{name} has {b.Channels} channels; this layer expects {channels}.", name);
        for (int t = 0; t < b.Tensors.Length; t++)
            if (b.Tensors[t].Length != (long)b.Batch * Plan.Space.Tensors[t].Size * channels)
                throw new ArgumentException($"{name}: tensor {Plan.Space.Tensors[t].Name} holds {b.Tensors[t].Length} values, expected {(long)b.Batch * Plan.Space.Tensors[t].Size * channels}.", name);
    }

    private CudaBuffer Sized(ref CudaBuffer? buffer, long length)
    {
        if (buffer is null || buffer.Length != length)
        {
            buffer?.Dispose();
            buffer = null;
            buffer = Device.Allocate(length);
        }
        return buffer;
    }

    private CudaBuffer Upload(ref CudaBuffer? buffer, float[] data)
    {
        var b = Sized(ref buffer, data.Length);
        b.CopyFrom(data);
        return b;
    }

    private CudaBuffer Upload(ref CudaBuffer? buffer, WeightSpaceBatch batch)
    {
        var b = Sized(ref buffer, batch.Length);
        long offset = 0;
        foreach (var t in batch.Tensors)
        {
            b.CopyFrom(t.Data, offset);
            offset += t.Length;
        }
        return b;
    }

    private static void Download(CudaBuffer buffer, WeightSpaceBatch batch)
    {
        long offset = 0;
        foreach (var t in batch.Tensors)
        {
            buffer.CopyTo(t.Data, offset);
            offset += t.Length;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in new[] { _scratch, _hw, _hb, _hx, _hy, _hg, _hgx, _hgw, _hgb }) b?.Dispose();
        Module.Dispose();
        _args.Dispose();
    }
}
