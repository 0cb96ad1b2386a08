using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LayerCompiler.Ilgpu;

/// <summary>Which accelerator to open: a CUDA GPU, ILGPU's CPU accelerator (an emulator, for tests), or CUDA when present.</summary>
public enum IlgpuDeviceKind
{
    /// <summary>A CUDA GPU if ILGPU finds one, else the CPU accelerator.</summary>
    Auto,
    /// <summary>ILGPU's CPU accelerator: every thread of a group on its own thread (barriers, shuffles, shared memory behave
    /// as on a GPU). Much slower than the C# kernels: an emulator for tests, not a CPU backend.</summary>
    Cpu,
    /// <summary>A CUDA GPU (needs only the NVIDIA driver).</summary>
    Cuda,
}

/// <summary>No accelerator of the requested kind: the message says what was asked for and what ILGPU found.</summary>
public sealed class IlgpuDeviceNotFoundException : Exception
{
    public IlgpuDeviceNotFoundException(string message) : base(message) { }
}

/// <summary>
/// An ILGPU context and one accelerator. The CPU accelerator is created as <see cref="CPUDeviceKind.Nvidia"/> (warps of
/// 32, groups up to 1,024 threads), so kernels see the same group shapes as on an NVIDIA GPU. Dispose it after every
/// kernel and buffer created on it.
/// </summary>
public sealed class IlgpuDevice : IDisposable
{
    /// <summary>Set to 1 to make <see cref="IlgpuDeviceKind.Auto"/> and <see cref="IlgpuDeviceKind.Cuda"/> ignore CUDA devices.</summary>
    public const string DisableCudaVariable = "LAYERCOMPILER_DISABLE_CUDA";

    public Context Context { get; }
    public Accelerator Accelerator { get; }

    /// <summary>The kind actually opened (<see cref="IlgpuDeviceKind.Cpu"/> or <see cref="IlgpuDeviceKind.Cuda"/>).</summary>
    public IlgpuDeviceKind Kind { get; }

    /// <summary>One line: the accelerator type and name, e.g. <c>Cuda: NVIDIA H100 80GB HBM3</c>.</summary>
    public string Description => $"{Accelerator.AcceleratorType}: {Accelerator.Name}";

    private IlgpuDevice(Context context, Accelerator accelerator, IlgpuDeviceKind kind)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>auto</c> (any case); anything else throws naming the value.</summary>
    public static IlgpuDeviceKind ParseKind(string value) => value.Trim().ToLowerInvariant() switch
    {
        "auto" => IlgpuDeviceKind.Auto,
        "cpu" => IlgpuDeviceKind.Cpu,
        "cuda" => IlgpuDeviceKind.Cuda,
        _ => throw new ArgumentException($"Unknown device '{value}': use cpu, cuda or auto.", nameof(value)),
    };

    /// <summary>Opens an accelerator of <paramref name="kind"/>; throws <see cref="IlgpuDeviceNotFoundException"/> when there is none.</summary>
    public static IlgpuDevice Open(IlgpuDeviceKind kind)
    {
        if (!TryOpen(kind, out var device, out string reason)) throw new IlgpuDeviceNotFoundException(reason);
        return device!;
    }

    /// <summary>
    /// Opens an accelerator of <paramref name="kind"/>, or returns false with a one-line reason such as
    /// <c>--device cuda: no CUDA device found (ILGPU found: CPU accelerator only)</c>. Never throws.
    /// </summary>
    public static bool TryOpen(IlgpuDeviceKind kind, out IlgpuDevice? device, out string reason)
    {
        device = null;
        Context? context = null;
        try
        {
            bool cudaAllowed = Environment.GetEnvironmentVariable(DisableCudaVariable) != "1";
            context = Context.Create(b =>
            {
                b.Optimize(OptimizationLevel.O2);
                b.CPU(CPUDeviceKind.Nvidia);
                if (cudaAllowed && kind != IlgpuDeviceKind.Cpu) b.Cuda();
            });
            var cuda = context.GetCudaDevices();
            var cpu = context.GetCPUDevices();
            if (kind != IlgpuDeviceKind.Cpu && cuda.Count > 0)
            {
                device = new IlgpuDevice(context, cuda[0].CreateAccelerator(context), IlgpuDeviceKind.Cuda);
                reason = "";
                return true;
            }
            if (kind == IlgpuDeviceKind.Cuda)
            {
                string found = cpu.Count > 0 ? "CPU accelerator only" : "no accelerator";
                string why = cudaAllowed ? "" : $"; {DisableCudaVariable}=1";
                reason = $"--device cuda: no CUDA device found (ILGPU found: {found}{why})";
                context.Dispose();
                return false;
            }
            if (cpu.Count == 0)
            {
                reason = $"--device {kind.ToString().ToLowerInvariant()}: ILGPU found no accelerator at all";
                context.Dispose();
                return false;
            }
            device = new IlgpuDevice(context, cpu[0].CreateAccelerator(context), IlgpuDeviceKind.Cpu);
            reason = "";
            return true;
        }
        catch (Exception ex)
        {
            context?.Dispose();
            reason = $"--device {kind.ToString().ToLowerInvariant()}: ILGPU failed to open an accelerator: {ex.GetType().Name}: {ex.Message}";
            return false;
        }
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
