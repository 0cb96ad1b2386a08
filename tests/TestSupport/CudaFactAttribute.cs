using LayerCompiler.Gpu;

namespace LayerCompiler.TestSupport;

/// <summary>
/// A [Fact] that runs only where CUDA works. Elsewhere the test is reported as skipped with the reason
/// TryGetDefault gave, e.g. "No CUDA driver: libcuda.so.1 not found: no NVIDIA driver on this machine".
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaAvailability.IsAvailable) Skip = "No CUDA driver: " + CudaAvailability.Reason;
    }
}

/// <summary>A [Fact] about the behaviour without a usable CUDA device; skipped where CUDA works (the GPU tests cover that case).</summary>
public sealed class NoCudaFactAttribute : FactAttribute
{
    public NoCudaFactAttribute()
    {
        if (CudaAvailability.IsAvailable) Skip = "CUDA works on this machine: this test is about machines without it.";
    }
}

/// <summary>Probes once per test process; keeps the probed device open so later Opens reuse a live primary context.</summary>
public static class CudaAvailability
{
    private static readonly Lazy<(bool Ok, string Reason, CudaDevice? Device)> Probe = new(() =>
    {
        bool ok = CudaDevice.TryGetDefault(out var device, out string reason);
        return (ok, reason, device);
    });

    public static bool IsAvailable => Probe.Value.Ok;
    public static string Reason => Probe.Value.Reason;
}
