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
/// Source-generated bindings to NVRTC (logical name <c>"nvrtc"</c>: libnvrtc.so.13, .12, or a fallback found by
/// <see cref="LibrarySearch"/>). Functions return an <c>nvrtcResult</c> (0 = success); a program is an <see cref="IntPtr"/>.
/// </summary>
internal static unsafe partial class Nvrtc
{
    internal const string Lib = LibrarySearch.NvrtcLogicalName;

    internal const int ErrorCompilation = 6;

    static Nvrtc() => CudaLibraries.EnsureResolver();

    [LibraryImport(Lib)] internal static partial byte* nvrtcGetErrorString(int result);
    [LibraryImport(Lib)] internal static partial int nvrtcVersion(int* major, int* minor);
    [LibraryImport(Lib)] internal static partial int nvrtcGetNumSupportedArchs(int* numArchs);
    [LibraryImport(Lib)] internal static partial int nvrtcGetSupportedArchs(int* supportedArchs);

    [LibraryImport(Lib)]
    internal static partial int nvrtcCreateProgram(IntPtr* prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] internal static partial int nvrtcDestroyProgram(IntPtr* prog);
    [LibraryImport(Lib)] internal static partial int nvrtcCompileProgram(IntPtr prog, int numOptions, byte** options);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLogSize(IntPtr prog, nuint* logSizeRet);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLog(IntPtr prog, byte* log);
    [LibraryImport(Lib)] internal static partial int nvrtcGetCUBINSize(IntPtr prog, nuint* cubinSizeRet);
    [LibraryImport(Lib)] internal static partial int nvrtcGetCUBIN(IntPtr prog, byte* cubin);

    internal static void Check(int result, string function, string? context = null)
    {
        if (result != 0) throw CudaException.FromNvrtc(result, function, context);
    }

    /// <summary>The enum name of an nvrtcResult (NVRTC's own strings are these names).</summary>
    internal static string Describe(int result)
    {
        try
        {
            byte* p = nvrtcGetErrorString(result);
            string? s = p == null ? null : Marshal.PtrToStringUTF8((IntPtr)p);
            if (!string.IsNullOrEmpty(s) && s.StartsWith("NVRTC_", StringComparison.Ordinal)) return s;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return KnownName(result);
    }

    internal static string KnownName(int result) =>
        KnownNames.TryGetValue(result, out string? n) ? n : $"NVRTC_ERROR_UNRECOGNIZED_{result}";

    private static readonly Dictionary<int, string> KnownNames = new()
    {
        [0] = "NVRTC_SUCCESS",
        [1] = "NVRTC_ERROR_OUT_OF_MEMORY",
        [2] = "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
        [3] = "NVRTC_ERROR_INVALID_INPUT",
        [4] = "NVRTC_ERROR_INVALID_PROGRAM",
        [5] = "NVRTC_ERROR_INVALID_OPTION",
        [6] = "NVRTC_ERROR_COMPILATION",
        [7] = "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
        [8] = "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION",
        [9] = "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
        [10] = "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID",
        [11] = "NVRTC_ERROR_INTERNAL_ERROR",
        [12] = "NVRTC_ERROR_TIME_FILE_WRITE_FAILED",
    };
}
