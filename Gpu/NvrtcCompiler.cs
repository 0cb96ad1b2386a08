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
using System.Text;
using LayerCompiler.Gpu.Native;

namespace LayerCompiler.Gpu;

/// <summary>NVRTC compilation to CUBIN, with the on-disk cache.</summary>
internal static unsafe class NvrtcCompiler
{
    private static Version? _version;

    /// <summary>Loads NVRTC (throwing <see cref="CudaException"/> with what was searched if it is missing) and returns its version.</summary>
    internal static Version Version()
    {
        if (_version is not null) return _version;
        if (!CudaLibraries.TryLoad(LibrarySearch.NvrtcLogicalName, out _, out string why))
            throw CudaException.LibraryMissing(LibrarySearch.NvrtcLogicalName, why);
        int major, minor;
        Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), nameof(Nvrtc.nvrtcVersion));
        return _version = new Version(major, minor);
    }

    /// <summary>The SM architectures this NVRTC can target (e.g. 75, 80, 90), or null if it cannot say.</summary>
    internal static int[]? SupportedArchs()
    {
        try
        {
            int n;
            if (Nvrtc.nvrtcGetNumSupportedArchs(&n) != 0 || n <= 0) return null;
            var archs = new int[n];
            fixed (int* p = archs)
                if (Nvrtc.nvrtcGetSupportedArchs(p) != 0) return null;
            return archs;
        }
        catch (EntryPointNotFoundException) { return null; }
    }

    internal static string[] BuildOptions(string arch, IReadOnlyList<string> extra)
    {
        var o = new List<string>(extra.Count + 2) { "--gpu-architecture=" + arch, "-std=c++17" };
        o.AddRange(extra);
        return o.ToArray();
    }

    internal static CudaModule CompileAndLoad(CudaDevice device, string source, string[] kernelNames, string[] extraOptions)
    {
        string kernels = CudaException.KernelList(kernelNames);
        Version nvrtc = Version();
        string arch = device.ComputeCapability.Arch;
        int archNumber = device.ComputeCapability.Major * 10 + device.ComputeCapability.Minor;
        if (SupportedArchs() is int[] supported && Array.IndexOf(supported, archNumber) < 0)
            throw new CudaException(CudaApi.Nvrtc, 5, "NVRTC_ERROR_INVALID_OPTION", nameof(Nvrtc.nvrtcCompileProgram),
                $"NVRTC {nvrtc} cannot target {arch} (it supports sm_{string.Join(", sm_", supported)}); " +
                $"use an NVRTC that matches this GPU (LAYERCOMPILER_NVRTC=/path/to/libnvrtc.so.N)",
                kernelName: kernels);

        string[] options = BuildOptions(arch, extraOptions);
        CubinCache? cache = device.Cache;
        string key = CubinCache.ComputeKey(source, options, arch, nvrtc.ToString());

        if (cache is not null && cache.TryRead(key, out byte[] cached))
        {
            IntPtr module = TryLoadImage(device, cached, out int loadResult);
            if (module != IntPtr.Zero)
                return CudaModule.Create(device, module, kernelNames, fromCache: true, compileLog: "", arch, key);
            // A cached image the driver rejects (damaged, or from an incompatible toolchain): drop it and recompile.
            cache.Remove(key);
        }

        byte[] image = Compile(source, kernelNames, options, arch, out string log);
        IntPtr loaded = TryLoadImage(device, image, out int result);
        if (loaded == IntPtr.Zero)
            throw CudaException.FromDriver(result, nameof(CuDriver.cuModuleLoadData), $"loading the {arch} CUBIN compiled by NVRTC {nvrtc}", kernels);
        try
        {
            var m = CudaModule.Create(device, loaded, kernelNames, fromCache: false, log, arch, key);
            cache?.Write(key, image);
            return m;
        }
        catch
        {
            CuDriver.cuModuleUnload(loaded);
            throw;
        }
    }

    private static IntPtr TryLoadImage(CudaDevice device, byte[] image, out int result)
    {
        device.MakeCurrent();
        IntPtr module;
        fixed (byte* p = image) result = CuDriver.cuModuleLoadData(&module, p);
        return result == 0 ? module : IntPtr.Zero;
    }

    /// <summary>Compiles to CUBIN; on failure throws with the full log and the kernel names.</summary>
    internal static byte[] Compile(string source, IReadOnlyList<string> kernelNames, IReadOnlyList<string> options, string arch, out string log)
    {
        string kernels = CudaException.KernelList(kernelNames);
        string programName = (kernelNames.Count > 0 ? kernelNames[0] : "program") + ".cu";
        IntPtr[] optionPtrs = new IntPtr[options.Count];
        IntPtr prog = IntPtr.Zero;
        try
        {
            for (int i = 0; i < options.Count; i++) optionPtrs[i] = Marshal.StringToCoTaskMemUTF8(options[i]);
            byte[] src = NullTerminatedUtf8(source);
            byte[] name = NullTerminatedUtf8(programName);
            fixed (byte* pSrc = src)
            fixed (byte* pName = name)
                Nvrtc.Check(Nvrtc.nvrtcCreateProgram(&prog, pSrc, pName, 0, null, null), nameof(Nvrtc.nvrtcCreateProgram), null);

            int rc;
            fixed (IntPtr* pOpts = optionPtrs)
                rc = Nvrtc.nvrtcCompileProgram(prog, options.Count, (byte**)pOpts);
            log = ReadLog(prog);
            if (rc != 0)
                throw CudaException.FromNvrtc(rc, nameof(Nvrtc.nvrtcCompileProgram),
                    $"compiling {programName} for {arch} with options [{string.Join(" ", options)}]", log, kernels);

            nuint size;
            Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(prog, &size), nameof(Nvrtc.nvrtcGetCUBINSize));
            if (size == 0)
                throw new CudaException(CudaApi.Nvrtc, 3, "NVRTC_ERROR_INVALID_INPUT", nameof(Nvrtc.nvrtcGetCUBINSize),
                    $"NVRTC produced no CUBIN for {arch} (was a virtual compute_XY architecture requested?)", kernelName: kernels);
            var cubin = new byte[(int)size];
            fixed (byte* p = cubin) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(prog, p), nameof(Nvrtc.nvrtcGetCUBIN));
            return cubin;
        }
        finally
        {
            if (prog != IntPtr.Zero) Nvrtc.nvrtcDestroyProgram(&prog);
            foreach (IntPtr p in optionPtrs) if (p != IntPtr.Zero) Marshal.FreeCoTaskMem(p);
        }
    }

    private static string ReadLog(IntPtr prog)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(prog, &size) != 0 || size <= 1) return "";
        var buf = new byte[(int)size];
        fixed (byte* p = buf)
            if (Nvrtc.nvrtcGetProgramLog(prog, p) != 0) return "";
        int len = Array.IndexOf(buf, (byte)0);
        return Encoding.UTF8.GetString(buf, 0, len < 0 ? buf.Length : len);
    }

    private static byte[] NullTerminatedUtf8(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
        return bytes;
    }
}
