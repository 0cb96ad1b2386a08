using System.Runtime.InteropServices;
using Emu = LayerCompiler.TestSupport.CudaEmulator;

namespace LayerCompiler.Gpu.Tests;

/// <summary>
/// The CPU emulator of CUDA C (tests/Shared/CudaEmulation) behind <see cref="CudaTrainer"/>'s device interface: every module is
/// compiled as C++ (<see cref="Emu.BuildGeneric"/>), buffers live in this process (starting as NaN, so a value the trainer
/// reads before anyone wrote it shows up), and launches are queued and run in order by the module's emulator executable
/// whenever the module changes or the host reads or writes a buffer. So the trainer's whole schedule (launch order, grids,
/// arguments, offsets into the flat parameter vector) runs as on a device.
/// </summary>
internal sealed class EmulatedTrainingDevice : ITrainingDevice
{
    private readonly List<Emu.Buffer> _buffers = new();
    private readonly List<string> _modules = new();
    private readonly List<(int Module, string Name)> _kernels = new();
    private readonly List<Emu.KernelLaunch> _pending = new();
    private int _pendingModule = -1;

    /// <summary>Kernel launches so far.</summary>
    public int Launches { get; private set; }
    /// <summary>Runs of an emulator executable so far.</summary>
    public int Runs { get; private set; }
    /// <summary>Words (floats) uploaded and downloaded so far.</summary>
    public long UploadedWords { get; private set; }
    public long DownloadedWords { get; private set; }

    public int Allocate(long words)
    {
        _buffers.Add(Emu.Buffer.NaN(Math.Max(1, words)));
        return _buffers.Count - 1;
    }

    private Span<float> Words(int buffer) => MemoryMarshal.Cast<byte, float>(_buffers[buffer].Bytes.AsSpan());

    public void Upload(int buffer, ReadOnlySpan<float> data, long offset = 0)
    {
        Flush();
        data.CopyTo(Words(buffer).Slice(checked((int)offset)));
        UploadedWords += data.Length;
    }

    public void Download(int buffer, Span<float> data, long offset = 0)
    {
        Flush();
        Words(buffer).Slice(checked((int)offset), data.Length).CopyTo(data);
        DownloadedWords += data.Length;
    }

    public int LoadModule(string source, IReadOnlyList<string> kernelNames, IReadOnlyList<string>? options)
    {
        _modules.Add(Emu.BuildGeneric(source, kernelNames.ToList()));
        return _modules.Count - 1;
    }

    public int Kernel(int module, string name)
    {
        _kernels.Add((module, name));
        return _kernels.Count - 1;
    }

    public void Launch(int kernel, long blocks, int threads, ReadOnlySpan<TrainingArg> args)
    {
        var (module, name) = _kernels[kernel];
        if (module != _pendingModule) Flush();
        _pendingModule = module;
        var a = new Emu.Arg[args.Length];
        for (int i = 0; i < a.Length; i++)
        {
            var x = args[i];
            a[i] = x.Kind switch
            {
                TrainingArgKind.Int => Emu.Arg.I((int)x.Int),
                TrainingArgKind.Float => Emu.Arg.F((float)x.Real),
                TrainingArgKind.Double => Emu.Arg.D(x.Real),
                _ => x.Buffer < 0 ? Emu.Arg.Null : Emu.Arg.B(x.Buffer, x.Offset),
            };
        }
        _pending.Add(new Emu.KernelLaunch(name, blocks, threads, a));
        Launches++;
    }

    public void Synchronize() => Flush();

    private void Flush()
    {
        if (_pending.Count == 0) return;
        Emu.RunGeneric(_modules[_pendingModule], _buffers, _pending.ToList());
        _pending.Clear();
        Runs++;
    }

    public void Dispose() => _pending.Clear();
}
