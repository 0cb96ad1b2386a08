using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu;

/// <summary>A loaded CUBIN (cuModuleLoadData) and the kernels looked up in it. Dispose unloads it.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    private IntPtr _handle;
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    public CudaDevice Device { get; }
    /// <summary>True when the image came from the CUBIN cache rather than a fresh NVRTC compile.</summary>
    public bool FromCache { get; }
    /// <summary>NVRTC's log (warnings) for a fresh compile; empty for a cached image.</summary>
    public string CompileLog { get; }
    /// <summary>The target, e.g. sm_90.</summary>
    public string Arch { get; }
    /// <summary>The cache key (hex SHA-256).</summary>
    public string CacheKey { get; }
    public IReadOnlyDictionary<string, CudaKernel> Kernels => _kernels;

    private CudaModule(CudaDevice device, IntPtr handle, bool fromCache, string compileLog, string arch, string cacheKey)
    {
        Device = device; _handle = handle; FromCache = fromCache; CompileLog = compileLog; Arch = arch; CacheKey = cacheKey;
    }

    internal static CudaModule Create(CudaDevice device, IntPtr handle, IReadOnlyList<string> kernelNames, bool fromCache,
        string compileLog, string arch, string cacheKey)
    {
        var m = new CudaModule(device, handle, fromCache, compileLog, arch, cacheKey);
        try
        {
            foreach (string name in kernelNames) m.GetKernel(name);
        }
        catch
        {
            m.Dispose();
            throw;
        }
        return m;
    }

    public CudaKernel this[string name] => GetKernel(name);

    /// <summary>Looks up (once) the <c>extern "C" __global__</c> function <paramref name="name"/>.</summary>
    public CudaKernel GetKernel(string name)
    {
        ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
        if (_kernels.TryGetValue(name, out var k)) return k;
        Device.MakeCurrent();
        IntPtr f;
        int r = CuDriver.cuModuleGetFunction(&f, _handle, name);
        if (r != 0)
            throw CudaException.FromDriver(r, nameof(CuDriver.cuModuleGetFunction),
                "looking up the kernel (is it declared extern \"C\" __global__?)", name);
        k = new CudaKernel(this, name, f);
        _kernels[name] = k;
        return k;
    }

    internal bool IsDisposed => _handle == IntPtr.Zero;

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        IntPtr h = _handle;
        _handle = IntPtr.Zero;
        if (Device.TryMakeCurrent()) CuDriver.cuModuleUnload(h);
    }
}

/// <summary>A kernel in a <see cref="CudaModule"/>; launches are asynchronous (errors surface on synchronize).</summary>
public sealed unsafe class CudaKernel
{
    private readonly IntPtr _function;

    public CudaModule Module { get; }
    public string Name { get; }

    internal CudaKernel(CudaModule module, string name, IntPtr function)
    {
        Module = module; Name = name; _function = function;
    }

    /// <summary>Blocks needed to cover <paramref name="n"/> items with <paramref name="blockSize"/> threads each.</summary>
    public static int GridFor(long n, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        long g = (n + blockSize - 1) / blockSize;
        return (int)Math.Clamp(g, 1, int.MaxValue);
    }

    /// <summary>Launches with prepared arguments (no managed allocation).</summary>
    public void Launch(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
        CudaStream? stream, KernelArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        ObjectDisposedException.ThrowIf(Module.IsDisposed, Module);
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || blockX <= 0 || blockY <= 0 || blockZ <= 0)
            throw new ArgumentOutOfRangeException(nameof(gridX), $"Grid ({gridX},{gridY},{gridZ}) and block ({blockX},{blockY},{blockZ}) must be positive.");
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        Module.Device.MakeCurrent();
        int r = CuDriver.cuLaunchKernel(_function, (uint)gridX, (uint)gridY, (uint)gridZ, (uint)blockX, (uint)blockY, (uint)blockZ,
            (uint)sharedBytes, stream?.Handle ?? IntPtr.Zero, args.Pointers, null);
        if (r != 0)
            throw CudaException.FromDriver(r, nameof(CuDriver.cuLaunchKernel),
                $"launching grid ({gridX},{gridY},{gridZ}) x block ({blockX},{blockY},{blockZ}), {sharedBytes} B shared, {args.Count} args", Name);
    }

    /// <summary>Launches with boxed arguments (see <see cref="KernelArgs.From"/> for the types accepted).</summary>
    public void Launch(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
        CudaStream? stream, params object[] args)
    {
        using var packed = KernelArgs.From(args);
        Launch(gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, stream, packed);
    }

    /// <summary>1-D launch: <paramref name="grid"/> blocks of <paramref name="block"/> threads.</summary>
    public void Launch(int grid, int block, KernelArgs args, CudaStream? stream = null, int sharedBytes = 0) =>
        Launch(grid, 1, 1, block, 1, 1, sharedBytes, stream, args);

    public override string ToString() => $"CudaKernel {Name} ({Module.Arch})";
}
