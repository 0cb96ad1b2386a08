using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Text;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu;

/// <summary>Compute capability of a device; <see cref="Arch"/> is the NVRTC target, e.g. <c>sm_90</c>.</summary>
public readonly record struct ComputeCapability(int Major, int Minor)
{
    public string Arch => $"sm_{Major}{Minor}";
    public override string ToString() => $"{Major}.{Minor}";
}

/// <summary>
/// One CUDA device and its primary context (retained on open, released on dispose). Every operation first makes
/// that context current on the calling thread (<see cref="MakeCurrent"/>), so a device may be used from any
/// thread. Objects created from a device (buffers, streams, events, modules) must be disposed before it.
/// </summary>
public sealed unsafe class CudaDevice : IDisposable
{
    private static readonly object InitGate = new();
    private static int? _initResult;

    private IntPtr _context;
    private bool _disposed;
    private Version? _nvrtcVersion;
    private string? _nvrtcError;

    public int Ordinal { get; }
    /// <summary>The CUdevice handle.</summary>
    public int Handle { get; }
    public string Name { get; }
    public ComputeCapability ComputeCapability { get; }
    public int SmCount { get; }
    /// <summary>Device memory in bytes.</summary>
    public long TotalMemory { get; }
    /// <summary>CUDA version the driver supports, e.g. 12.8 (from cuDriverGetVersion).</summary>
    public Version DriverVersion { get; }
    public int WarpSize { get; }
    public int MaxThreadsPerBlock { get; }
    public int MaxSharedMemoryPerBlock { get; }
    /// <summary>Largest dynamic shared memory a kernel can opt into (0 if the driver does not say).</summary>
    public int MaxSharedMemoryPerBlockOptin { get; }
    public int L2CacheBytes { get; }
    /// <summary>Peak memory clock in kHz, if the driver reports it.</summary>
    public int? MemoryClockKHz { get; }
    /// <summary>Memory bus width in bits, if the driver reports it.</summary>
    public int? MemoryBusWidthBits { get; }

    /// <summary>
    /// Theoretical DRAM bandwidth in GB/s (10^9 bytes/s): 2 (double data rate) × memory clock × bus width / 8,
    /// or null when the driver does not report clock or width.
    /// </summary>
    public double? TheoreticalBandwidthGBs =>
        MemoryClockKHz is int k && MemoryBusWidthBits is int w && k > 0 && w > 0 ? 2.0 * k * 1e3 * (w / 8.0) / 1e9 : null;

    /// <summary>
    /// Where compiled CUBIN images are cached; null disables caching. Defaults to <see cref="CubinCache.CreateDefault"/>.
    /// </summary>
    public CubinCache? Cache { get; set; }

    /// <summary>The file libcuda was loaded from.</summary>
    public string? DriverLibraryPath => CudaLibraries.LoadedPath(LibrarySearch.CudaLogicalName);

    private CudaDevice(int ordinal)
    {
        Ordinal = ordinal;
        int count = 0;
        CuDriver.Check(CuDriver.cuDeviceGetCount(&count), nameof(CuDriver.cuDeviceGetCount));
        if (ordinal < 0 || ordinal >= count)
            throw new ArgumentOutOfRangeException(nameof(ordinal), $"Device {ordinal} requested; {count} CUDA device(s) present.");
        int dev;
        CuDriver.Check(CuDriver.cuDeviceGet(&dev, ordinal), nameof(CuDriver.cuDeviceGet), $"getting device {ordinal}");
        Handle = dev;

        int version;
        CuDriver.Check(CuDriver.cuDriverGetVersion(&version), nameof(CuDriver.cuDriverGetVersion));
        DriverVersion = new Version(version / 1000, version % 1000 / 10);
        CudaLibraries.DriverMajorHint = version / 1000;

        byte* name = stackalloc byte[256];
        CuDriver.Check(CuDriver.cuDeviceGetName(name, 256, dev), nameof(CuDriver.cuDeviceGetName));
        Name = new string((sbyte*)name, 0, StrLen(name, 256), Encoding.UTF8);

        nuint total;
        CuDriver.Check(CuDriver.cuDeviceTotalMem_v2(&total, dev), nameof(CuDriver.cuDeviceTotalMem_v2));
        TotalMemory = (long)total;

        ComputeCapability = new ComputeCapability(Attribute(CuDriver.AttrComputeCapabilityMajor), Attribute(CuDriver.AttrComputeCapabilityMinor));
        SmCount = Attribute(CuDriver.AttrMultiprocessorCount);
        WarpSize = Attribute(CuDriver.AttrWarpSize);
        MaxThreadsPerBlock = Attribute(CuDriver.AttrMaxThreadsPerBlock);
        MaxSharedMemoryPerBlock = Attribute(CuDriver.AttrMaxSharedMemoryPerBlock);
        MaxSharedMemoryPerBlockOptin = TryAttribute(CuDriver.AttrMaxSharedMemoryPerBlockOptin) ?? 0;
        L2CacheBytes = TryAttribute(CuDriver.AttrL2CacheSize) ?? 0;
        MemoryClockKHz = TryAttribute(CuDriver.AttrMemoryClockRate);
        MemoryBusWidthBits = TryAttribute(CuDriver.AttrGlobalMemoryBusWidth);

        IntPtr ctx;
        CuDriver.Check(CuDriver.cuDevicePrimaryCtxRetain(&ctx, dev), nameof(CuDriver.cuDevicePrimaryCtxRetain), $"retaining the primary context of device {ordinal}");
        _context = ctx;
        try
        {
            MakeCurrent();
        }
        catch
        {
            CuDriver.cuDevicePrimaryCtxRelease_v2(dev);
            _context = IntPtr.Zero;
            throw;
        }
        Cache = CubinCache.CreateDefault();
    }

    /// <summary>Opens device <paramref name="ordinal"/>. Throws <see cref="CudaException"/> when there is no usable driver or device.</summary>
    public static CudaDevice Open(int ordinal = 0)
    {
        if (!CudaLibraries.TryLoad(LibrarySearch.CudaLogicalName, out _, out string why))
            throw CudaException.LibraryMissing(LibrarySearch.CudaLogicalName, why);
        Initialize();
        return new CudaDevice(ordinal);
    }

    /// <summary>
    /// Opens device 0 if this machine can run CUDA; otherwise returns false with a one-line reason such as
    /// "libcuda.so.1 not found: no NVIDIA driver on this machine" or "cuInit failed: CUDA_ERROR_NO_DEVICE".
    /// Setting LAYERCOMPILER_DISABLE_CUDA=1 makes it return false as well.
    /// </summary>
    public static bool TryGetDefault(out CudaDevice? device, out string reason)
    {
        device = null;
        string? disable = Environment.GetEnvironmentVariable("LAYERCOMPILER_DISABLE_CUDA");
        if (!string.IsNullOrEmpty(disable) && disable != "0")
        {
            reason = "CUDA disabled by LAYERCOMPILER_DISABLE_CUDA";
            return false;
        }
        if (!CudaLibraries.TryLoad(LibrarySearch.CudaLogicalName, out _, out string why))
        {
            reason = $"libcuda.so.1 not found: no NVIDIA driver on this machine ({why}; LAYERCOMPILER_LIBCUDA=path overrides)";
            return false;
        }
        try
        {
            int init = InitResult();
            if (init != 0)
            {
                reason = $"cuInit failed: {CuDriver.Describe(init).Name}";
                return false;
            }
            int count = 0;
            int r = CuDriver.cuDeviceGetCount(&count);
            if (r != 0) { reason = $"cuDeviceGetCount failed: {CuDriver.Describe(r).Name}"; return false; }
            if (count == 0) { reason = "no CUDA device (cuDeviceGetCount returned 0)"; return false; }
            device = new CudaDevice(0);
            reason = "";
            return true;
        }
        catch (CudaException e)
        {
            reason = $"opening CUDA device 0 failed: {e.Function}: {e.ErrorName}";
            return false;
        }
        catch (EntryPointNotFoundException e)
        {
            reason = $"the CUDA driver is too old (missing entry point: {e.Message})";
            return false;
        }
    }

    private static int InitResult()
    {
        lock (InitGate)
        {
            _initResult ??= CuDriver.cuInit(0);
            return _initResult.Value;
        }
    }

    private static void Initialize() => CuDriver.Check(InitResult(), nameof(CuDriver.cuInit));

    /// <summary>Makes this device's primary context current on the calling thread.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CuDriver.Check(CuDriver.cuCtxSetCurrent(_context), nameof(CuDriver.cuCtxSetCurrent));
    }

    /// <summary>Best-effort <see cref="MakeCurrent"/> for cleanup paths: false when disposed or when the driver refuses.</summary>
    internal bool TryMakeCurrent() => !_disposed && CuDriver.cuCtxSetCurrent(_context) == 0;

    /// <summary>Waits for all work on the device (cuCtxSynchronize); surfaces errors of earlier asynchronous launches.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CuDriver.Check(CuDriver.cuCtxSynchronize(), nameof(CuDriver.cuCtxSynchronize));
    }

    /// <summary>Free and total device memory in bytes (cuMemGetInfo).</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        nuint free, total;
        CuDriver.Check(CuDriver.cuMemGetInfo_v2(&free, &total), nameof(CuDriver.cuMemGetInfo_v2));
        return ((long)free, (long)total);
    }

    /// <summary>Raw cuDeviceGetAttribute (CUdevice_attribute number from cuda.h).</summary>
    public int Attribute(int attribute)
    {
        int v;
        CuDriver.Check(CuDriver.cuDeviceGetAttribute(&v, attribute, Handle), nameof(CuDriver.cuDeviceGetAttribute), $"reading attribute {attribute}");
        return v;
    }

    private int? TryAttribute(int attribute)
    {
        int v;
        return CuDriver.cuDeviceGetAttribute(&v, attribute, Handle) == 0 ? v : null;
    }

    /// <summary>NVRTC's version, or null when NVRTC cannot be loaded (see <see cref="NvrtcError"/>).</summary>
    public Version? NvrtcVersion
    {
        get { ProbeNvrtc(); return _nvrtcVersion; }
    }

    /// <summary>Why NVRTC is unavailable, or null when it loaded.</summary>
    public string? NvrtcError
    {
        get { ProbeNvrtc(); return _nvrtcError; }
    }

    /// <summary>The file NVRTC was loaded from, once loaded.</summary>
    public string? NvrtcLibraryPath => CudaLibraries.LoadedPath(LibrarySearch.NvrtcLogicalName);

    private void ProbeNvrtc()
    {
        if (_nvrtcVersion is not null || _nvrtcError is not null) return;
        try { _nvrtcVersion = NvrtcCompiler.Version(); }
        catch (CudaException e) { _nvrtcError = e.Message; }
    }

    public CudaBuffer Allocate(long length) => new(this, length);

    /// <summary>Allocates a buffer and copies <paramref name="data"/> into it.</summary>
    public CudaBuffer Upload(ReadOnlySpan<float> data)
    {
        var b = new CudaBuffer(this, data.Length);
        try { b.CopyFrom(data); }
        catch { b.Dispose(); throw; }
        return b;
    }

    public CudaStream CreateStream(bool nonBlocking = false) => new(this, nonBlocking);

    public CudaEvent CreateEvent(bool disableTiming = false) => new(this, disableTiming);

    /// <summary>
    /// Compiles CUDA C++ <paramref name="source"/> with NVRTC to a CUBIN for this device (<c>--gpu-architecture=sm_XY</c>,
    /// <c>-std=c++17</c>, then <paramref name="extraOptions"/>; fast math is off unless asked for), loads it and looks
    /// up <paramref name="kernelNames"/> (<c>extern "C" __global__</c> functions). The image is cached in
    /// <see cref="Cache"/>; a cached image that fails to load is discarded and recompiled.
    /// Compile errors throw <see cref="CudaException"/> with the full NVRTC log.
    /// </summary>
    public CudaModule Compile(string source, string[] kernelNames, string[]? extraOptions = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(kernelNames);
        if (kernelNames.Length == 0) throw new ArgumentException("At least one kernel name is needed.", nameof(kernelNames));
        MakeCurrent();
        return NvrtcCompiler.CompileAndLoad(this, source, kernelNames, extraOptions ?? Array.Empty<string>());
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
    internal bool IsDisposed => _disposed;

    public override string ToString() =>
        $"{Name} (device {Ordinal}, compute {ComputeCapability}, {SmCount} SMs, {TotalMemory / (1024.0 * 1024 * 1024):F1} GiB, driver CUDA {DriverVersion})";

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_context != IntPtr.Zero)
        {
            CuDriver.cuDevicePrimaryCtxRelease_v2(Handle);
            _context = IntPtr.Zero;
        }
    }

    private static int StrLen(byte* p, int max)
    {
        int n = 0;
        while (n < max && p[n] != 0) n++;
        return n;
    }
}
