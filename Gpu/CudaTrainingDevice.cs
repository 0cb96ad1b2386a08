using System;
using System.Collections.Generic;

namespace LayerCompiler.Gpu;

/// <summary>The trainer's buffers and kernels on a CUDA device (the legacy default stream).</summary>
internal sealed class CudaTrainingDevice : ITrainingDevice
{
    private readonly List<CudaBuffer> _buffers = new();
    private readonly List<CudaModule> _modules = new();
    private readonly List<CudaKernel> _kernels = new();
    private readonly KernelArgs _args = new(24);
    private bool _disposed;

    public CudaTrainingDevice(CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
    }

    public CudaDevice Device { get; }

    /// <summary>Synchronize after every launch so that an asynchronous failure names its kernel (LAYERCOMPILER_CUDA_SYNC=1).</summary>
    public bool SynchronizeEachLaunch { get; set; } = Environment.GetEnvironmentVariable("LAYERCOMPILER_CUDA_SYNC") == "1";

    /// <summary>Called after each launch with the kernel's name (e.g. to record an event per kernel for a timing breakdown).</summary>
    public Action<string>? LaunchObserver { get; set; }

    public long AllocatedBytes { get; private set; }

    public int Allocate(long words)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _buffers.Add(Device.Allocate(Math.Max(1, words)));
        AllocatedBytes += Math.Max(1, words) * 4;
        return _buffers.Count - 1;
    }

    public CudaBuffer Buffer(int handle) => _buffers[handle];

    public void Upload(int buffer, ReadOnlySpan<float> data, long offset = 0) => _buffers[buffer].CopyFrom(data, offset);

    public void Download(int buffer, Span<float> data, long offset = 0) => _buffers[buffer].CopyTo(data, offset);

    public int LoadModule(string source, IReadOnlyList<string> kernelNames, IReadOnlyList<string>? options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string[] names = new string[kernelNames.Count];
        for (int i = 0; i < names.Length; i++) names[i] = kernelNames[i];
        string[]? opts = null;
        if (options is { Count: > 0 })
        {
            opts = new string[options.Count];
            for (int i = 0; i < opts.Length; i++) opts[i] = options[i];
        }
        _modules.Add(Device.Compile(source, names, opts));
        return _modules.Count - 1;
    }

    public int Kernel(int module, string name)
    {
        _kernels.Add(_modules[module][name]);
        return _kernels.Count - 1;
    }

    public void Launch(int kernel, long blocks, int threads, ReadOnlySpan<TrainingArg> args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (blocks < 1 || blocks > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, $"{_kernels[kernel].Name}: grid of {blocks} blocks.");
        _args.Clear();
        foreach (var a in args)
        {
            switch (a.Kind)
            {
                case TrainingArgKind.Int: _args.Add((int)a.Int); break;
                case TrainingArgKind.Float: _args.Add((float)a.Real); break;
                case TrainingArgKind.Double: _args.Add(a.Real); break;
                default: _args.AddPointer(a.Buffer < 0 ? 0UL : _buffers[a.Buffer].PointerAt(a.Offset)); break;
            }
        }
        var k = _kernels[kernel];
        k.Launch((int)blocks, 1, 1, threads, 1, 1, 0, null, _args);
        LaunchObserver?.Invoke(k.Name);
        if (!SynchronizeEachLaunch) return;
        try { Device.Synchronize(); }
        catch (CudaException e)
        {
            throw new CudaException(e.Api, e.Code, e.ErrorName, e.Function, e.ErrorDescription,
                $"running {k.Name} ({blocks} blocks of {threads})", kernelName: k.Name);
        }
    }

    public void Synchronize() => Device.Synchronize();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in _buffers) b.Dispose();
        foreach (var m in _modules) m.Dispose();
        _args.Dispose();
    }
}
