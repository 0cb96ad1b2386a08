using System;
using Xunit;
using Xunit.Abstractions;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>Opening accelerators: the kind parser, the clear message when CUDA is asked for and absent.</summary>
[Collection(EnvironmentCollection.Name)]
public class DeviceTests(ITestOutputHelper output)
{
    [Fact]
    public void ReportsTheAccelerator()
    {
        var device = TestDevice.Shared;
        output.WriteLine($"ILGPU tests run on {device.Description}");
        Assert.Contains(device.Kind, new[] { IlgpuDeviceKind.Cpu, IlgpuDeviceKind.Cuda });
    }

    [Theory]
    [InlineData("cpu", IlgpuDeviceKind.Cpu)]
    [InlineData("CUDA", IlgpuDeviceKind.Cuda)]
    [InlineData(" auto ", IlgpuDeviceKind.Auto)]
    public void ParsesKinds(string text, IlgpuDeviceKind kind) => Assert.Equal(kind, IlgpuDevice.ParseKind(text));

    [Fact]
    public void AnUnknownKindNamesTheValue()
    {
        var ex = Assert.Throws<ArgumentException>(() => IlgpuDevice.ParseKind("tpu"));
        Assert.Contains("'tpu'", ex.Message);
        Assert.Contains("cpu, cuda or auto", ex.Message);
    }

    [Fact]
    public void CudaWithoutADeviceGivesAClearReason()
    {
        // With CUDA disabled by the variable this holds on every machine (it is read when a context is created).
        string? before = Environment.GetEnvironmentVariable(IlgpuDevice.DisableCudaVariable);
        Environment.SetEnvironmentVariable(IlgpuDevice.DisableCudaVariable, "1");
        try
        {
            Assert.False(IlgpuDevice.TryOpen(IlgpuDeviceKind.Cuda, out var device, out string reason));
            Assert.Null(device);
            Assert.StartsWith("--device cuda: no CUDA device found (ILGPU found: CPU accelerator only", reason);
            var ex = Assert.Throws<IlgpuDeviceNotFoundException>(() => IlgpuDevice.Open(IlgpuDeviceKind.Cuda));
            Assert.Equal(reason, ex.Message);
            Assert.True(IlgpuDevice.TryOpen(IlgpuDeviceKind.Auto, out var cpu, out _));
            using (cpu) Assert.Equal(IlgpuDeviceKind.Cpu, cpu!.Kind);
        }
        finally { Environment.SetEnvironmentVariable(IlgpuDevice.DisableCudaVariable, before); }
    }
}
