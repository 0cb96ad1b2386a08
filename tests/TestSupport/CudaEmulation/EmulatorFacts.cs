
namespace LayerCompiler.TestSupport;

/// <summary>A fact that needs the host C++ compiler (the CUDA emulator); skipped with the reason where there is none.</summary>
public sealed class HostCompilerFactAttribute : FactAttribute
{
    public HostCompilerFactAttribute()
    {
        if (CudaEmulator.HostCompiler == null) Skip = CudaEmulator.MissingReason;
    }
}

/// <summary>A theory that needs the host C++ compiler (the CUDA emulator); skipped with the reason where there is none.</summary>
public sealed class HostCompilerTheoryAttribute : TheoryAttribute
{
    public HostCompilerTheoryAttribute()
    {
        if (CudaEmulator.HostCompiler == null) Skip = CudaEmulator.MissingReason;
    }
}

/// <summary>A fact that needs clang (a CUDA front end, to compile generated CUDA C to PTX); skipped with the reason where there is none.</summary>
public sealed class DeviceCompilerFactAttribute : FactAttribute
{
    public DeviceCompilerFactAttribute()
    {
        if (CudaEmulator.DeviceCompiler == null) Skip = CudaEmulator.MissingClangReason;
    }
}
