using System;
using LayerCompiler.Ilgpu;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// The accelerator every test of this project runs on: <c>LAYERCOMPILER_ILGPU_DEVICE</c> = auto (default: a CUDA GPU if
/// ILGPU finds one, else ILGPU's CPU accelerator), cpu or cuda (fails when there is none). One per test process, opened
/// on first use; its <see cref="IlgpuDevice.Description"/> is printed by <c>DeviceTests.ReportsTheAccelerator</c>.
/// </summary>
public static class TestDevice
{
    public const string Variable = "LAYERCOMPILER_ILGPU_DEVICE";

    private static readonly Lazy<IlgpuDevice> Device = new(() =>
        IlgpuDevice.Open(IlgpuDevice.ParseKind(Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } v ? v : "auto")));

    public static IlgpuDevice Shared => Device.Value;
}
