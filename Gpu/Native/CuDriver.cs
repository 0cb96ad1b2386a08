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
using System.Runtime.InteropServices;

namespace LayerCompiler.Gpu.Native;

/// <summary>
/// Source-generated bindings to the CUDA driver API (<c>libcuda.so.1</c>, logical name <c>"cuda"</c>).
/// Every function returns a <c>CUresult</c> (0 = success). Handles are <see cref="IntPtr"/>; device pointers
/// (<c>CUdeviceptr</c>) are <see cref="ulong"/>; <c>size_t</c> is <see cref="nuint"/>. The <c>_v2</c> entry points
/// are used where the driver exports them (the un-suffixed names are the legacy 32-bit-size ABI).
/// C# names equal the exported symbol names so that <c>nameof</c> gives the function in error messages.
/// </summary>
internal static unsafe partial class CuDriver
{
    internal const string Lib = LibrarySearch.CudaLogicalName;

    static CuDriver() => CudaLibraries.EnsureResolver();

    // CUdevice_attribute values used here (cuda.h).
    internal const int AttrMaxThreadsPerBlock = 1;
    internal const int AttrMaxSharedMemoryPerBlock = 8;
    internal const int AttrWarpSize = 10;
    internal const int AttrClockRate = 13;
    internal const int AttrMultiprocessorCount = 16;
    internal const int AttrMemoryClockRate = 36;
    internal const int AttrGlobalMemoryBusWidth = 37;
    internal const int AttrL2CacheSize = 38;
    internal const int AttrMaxThreadsPerMultiprocessor = 39;
    internal const int AttrComputeCapabilityMajor = 75;
    internal const int AttrComputeCapabilityMinor = 76;
    internal const int AttrMaxSharedMemoryPerBlockOptin = 97;

    internal const uint StreamDefault = 0, StreamNonBlocking = 1;
    internal const uint EventDefault = 0, EventBlockingSync = 1, EventDisableTiming = 2;

    [LibraryImport(Lib)] internal static partial int cuInit(uint flags);
    [LibraryImport(Lib)] internal static partial int cuDriverGetVersion(int* driverVersion);
    [LibraryImport(Lib)] internal static partial int cuGetErrorName(int error, byte** pStr);
    [LibraryImport(Lib)] internal static partial int cuGetErrorString(int error, byte** pStr);

    [LibraryImport(Lib)] internal static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Lib)] internal static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetAttribute(int* pi, int attrib, int dev);
    [LibraryImport(Lib)] internal static partial int cuDeviceTotalMem_v2(nuint* bytes, int dev);

    [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRetain(IntPtr* pctx, int dev);
    [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRelease_v2(int dev);
    [LibraryImport(Lib)] internal static partial int cuCtxSetCurrent(IntPtr ctx);
    [LibraryImport(Lib)] internal static partial int cuCtxSynchronize();

    [LibraryImport(Lib)] internal static partial int cuMemGetInfo_v2(nuint* free, nuint* total);
    [LibraryImport(Lib)] internal static partial int cuMemAlloc_v2(ulong* dptr, nuint bytesize);
    [LibraryImport(Lib)] internal static partial int cuMemFree_v2(ulong dptr);
    [LibraryImport(Lib)] internal static partial int cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);
    [LibraryImport(Lib)] internal static partial int cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib)] internal static partial int cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib)] internal static partial int cuMemcpyDtoDAsync_v2(ulong dstDevice, ulong srcDevice, nuint byteCount, IntPtr hStream);
    [LibraryImport(Lib)] internal static partial int cuMemsetD32_v2(ulong dstDevice, uint ui, nuint n);

    [LibraryImport(Lib)] internal static partial int cuModuleLoadData(IntPtr* module, void* image);
    [LibraryImport(Lib)] internal static partial int cuModuleUnload(IntPtr hmod);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int cuModuleGetFunction(IntPtr* hfunc, IntPtr hmod, string name);

    [LibraryImport(Lib)]
    internal static partial int cuLaunchKernel(IntPtr f,
        uint gridDimX, uint gridDimY, uint gridDimZ,
        uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, IntPtr hStream, void** kernelParams, void** extra);

    [LibraryImport(Lib)] internal static partial int cuStreamCreate(IntPtr* phStream, uint flags);
    [LibraryImport(Lib)] internal static partial int cuStreamDestroy_v2(IntPtr hStream);
    [LibraryImport(Lib)] internal static partial int cuStreamSynchronize(IntPtr hStream);

    [LibraryImport(Lib)] internal static partial int cuEventCreate(IntPtr* phEvent, uint flags);
    [LibraryImport(Lib)] internal static partial int cuEventRecord(IntPtr hEvent, IntPtr hStream);
    [LibraryImport(Lib)] internal static partial int cuEventSynchronize(IntPtr hEvent);
    // The un-suffixed symbol: cuEventElapsedTime_v2 exists only in drivers from CUDA 12.8 on.
    [LibraryImport(Lib)] internal static partial int cuEventElapsedTime(float* pMilliseconds, IntPtr hStart, IntPtr hEnd);
    [LibraryImport(Lib)] internal static partial int cuEventDestroy_v2(IntPtr hEvent);

    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    internal static void Check(int result, string function, string? context = null)
    {
        if (result != 0) throw CudaException.FromDriver(result, function, context);
    }

    /// <summary>Name and description of a CUresult from the driver, or from the built-in table when the driver cannot say.</summary>
    internal static (string Name, string? Description) Describe(int result)
    {
        string? name = null, description = null;
        try
        {
            byte* p = null;
            if (cuGetErrorName(result, &p) == 0 && p != null) name = Marshal.PtrToStringUTF8((IntPtr)p);
            p = null;
            if (cuGetErrorString(result, &p) == 0 && p != null) description = Marshal.PtrToStringUTF8((IntPtr)p);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return (name ?? KnownName(result), description);
    }

    /// <summary>Built-in CUresult names, used when the driver is not there to ask (and in tests).</summary>
    internal static string KnownName(int result) =>
        KnownNames.TryGetValue(result, out string? n) ? n : $"CUDA_ERROR_UNRECOGNIZED_{result}";

    private static readonly Dictionary<int, string> KnownNames = new()
    {
        [0] = "CUDA_SUCCESS",
        [1] = "CUDA_ERROR_INVALID_VALUE",
        [2] = "CUDA_ERROR_OUT_OF_MEMORY",
        [3] = "CUDA_ERROR_NOT_INITIALIZED",
        [4] = "CUDA_ERROR_DEINITIALIZED",
        [34] = "CUDA_ERROR_STUB_LIBRARY",
        [46] = "CUDA_ERROR_DEVICE_UNAVAILABLE",
        [100] = "CUDA_ERROR_NO_DEVICE",
        [101] = "CUDA_ERROR_INVALID_DEVICE",
        [200] = "CUDA_ERROR_INVALID_IMAGE",
        [201] = "CUDA_ERROR_INVALID_CONTEXT",
        [209] = "CUDA_ERROR_NO_BINARY_FOR_GPU",
        [218] = "CUDA_ERROR_INVALID_PTX",
        [222] = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        [300] = "CUDA_ERROR_INVALID_SOURCE",
        [301] = "CUDA_ERROR_FILE_NOT_FOUND",
        [400] = "CUDA_ERROR_INVALID_HANDLE",
        [500] = "CUDA_ERROR_NOT_FOUND",
        [600] = "CUDA_ERROR_NOT_READY",
        [700] = "CUDA_ERROR_ILLEGAL_ADDRESS",
        [701] = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        [702] = "CUDA_ERROR_LAUNCH_TIMEOUT",
        [709] = "CUDA_ERROR_CONTEXT_IS_DESTROYED",
        [710] = "CUDA_ERROR_ASSERT",
        [714] = "CUDA_ERROR_HARDWARE_STACK_ERROR",
        [715] = "CUDA_ERROR_ILLEGAL_INSTRUCTION",
        [716] = "CUDA_ERROR_MISALIGNED_ADDRESS",
        [719] = "CUDA_ERROR_LAUNCH_FAILED",
        [800] = "CUDA_ERROR_NOT_PERMITTED",
        [801] = "CUDA_ERROR_NOT_SUPPORTED",
        [802] = "CUDA_ERROR_SYSTEM_NOT_READY",
        [803] = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        [804] = "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
        [999] = "CUDA_ERROR_UNKNOWN",
    };
}
