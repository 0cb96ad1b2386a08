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
using System.Text;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu;

/// <summary>Which native API reported a <see cref="CudaException"/>.</summary>
public enum CudaApi
{
    /// <summary>The CUDA driver API; <see cref="CudaException.Code"/> is a CUresult.</summary>
    Driver,
    /// <summary>NVRTC; <see cref="CudaException.Code"/> is an nvrtcResult.</summary>
    Nvrtc,
    /// <summary>A native library could not be loaded; <see cref="CudaException.Code"/> is -1.</summary>
    Loader,
}

/// <summary>
/// A failed CUDA driver or NVRTC call. Carries the numeric code, its name (e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>,
/// <c>NVRTC_ERROR_COMPILATION</c>), the function that failed and, for compile failures, the complete NVRTC log
/// and the kernel name(s) being compiled.
/// </summary>
public sealed class CudaException : Exception
{
    public CudaApi Api { get; }
    public int Code { get; }
    /// <summary>Enum name of <see cref="Code"/>, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string ErrorName { get; }
    /// <summary>The driver's description of the code (cuGetErrorString), when available.</summary>
    public string? ErrorDescription { get; }
    /// <summary>The native function that failed, e.g. cuMemAlloc_v2.</summary>
    public string Function { get; }
    /// <summary>What the runtime was doing (e.g. "allocating 4096 bytes"), if known.</summary>
    public string? Context { get; }
    /// <summary>The complete NVRTC program log, for compile failures.</summary>
    public string? CompileLog { get; }
    /// <summary>The kernel(s) being compiled or looked up (comma-separated), if any.</summary>
    public string? KernelName { get; }

    public CudaException(CudaApi api, int code, string errorName, string function,
        string? errorDescription = null, string? context = null, string? compileLog = null, string? kernelName = null)
        : base(FormatMessage(api, code, errorName, function, errorDescription, context, compileLog, kernelName))
    {
        Api = api; Code = code; ErrorName = errorName; Function = function;
        ErrorDescription = errorDescription; Context = context; CompileLog = compileLog; KernelName = kernelName;
    }

    /// <summary>
    /// The message layout: <c>function failed: NAME (code): description [kernel 'k'] [while context]</c>, followed
    /// by the full NVRTC log on its own lines when there is one.
    /// </summary>
    public static string FormatMessage(CudaApi api, int code, string errorName, string function,
        string? errorDescription = null, string? context = null, string? compileLog = null, string? kernelName = null)
    {
        var sb = new StringBuilder();
        sb.Append(function).Append(" failed: ").Append(errorName).Append(" (").Append(code).Append(')');
        if (!string.IsNullOrWhiteSpace(errorDescription) && errorDescription != errorName)
            sb.Append(": ").Append(errorDescription);
        if (!string.IsNullOrEmpty(kernelName)) sb.Append(" [kernel '").Append(kernelName).Append("']");
        if (!string.IsNullOrEmpty(context)) sb.Append(" while ").Append(context);
        if (!string.IsNullOrWhiteSpace(compileLog))
        {
            sb.Append('\n').Append("--- NVRTC log ---").Append('\n');
            sb.Append(compileLog.TrimEnd('\0', '\n', '\r', ' '));
            sb.Append('\n').Append("--- end of NVRTC log ---");
        }
        return sb.ToString();
    }

    internal static CudaException FromDriver(int code, string function, string? context = null, string? kernelName = null)
    {
        var (name, description) = CuDriver.Describe(code);
        return new CudaException(CudaApi.Driver, code, name, function, description, context, kernelName: kernelName);
    }

    internal static CudaException FromNvrtc(int code, string function, string? context = null,
        string? compileLog = null, string? kernelName = null) =>
        new(CudaApi.Nvrtc, code, Nvrtc.Describe(code), function, null, context, compileLog, kernelName);

    internal static CudaException LibraryMissing(string logicalName, string reason) =>
        new(CudaApi.Loader, -1, "LIBRARY_NOT_FOUND", "load " + CudaLibraries.DisplayName(logicalName),
            $"{CudaLibraries.DisplayName(logicalName)} not found ({reason})");

    internal static string KernelList(IReadOnlyList<string> names) => string.Join(", ", names);
}
