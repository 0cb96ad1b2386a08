using System;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// The generated ILGPU input networks (<c>Arch.IlgpuNetwork</c>) against the generated C# networks (<c>Arch.Network</c>):
/// batched forward and the weight gradient of an output gradient (INR fitting's inner step), relative error ≤ 1e-5,
/// bitwise repeatable. SIREN 2→32→32→1 (+0.5 offset), a depth-5 ReLU network with a bias-free layer, a depth-2 network.
/// </summary>
public class InputNetworkTests
{
    public sealed record Case(string Name, Func<IInputNetwork> Cpu, Func<IlgpuDevice, IlgpuInputNetwork> Ilgpu, double WeightScale)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<Case> Cases() => new()
    {
        new("Siren 2→32→32→1", () => new Siren2x32x32x1.Network(), Siren2x32x32x1.IlgpuNetwork.Create, 0.05),
        new("Mlp5", () => new Mlp5.Network(), Mlp5.IlgpuNetwork.Create, 1),
        new("Mlp3x4x2", () => new Mlp3x4x2.Network(), Mlp3x4x2.IlgpuNetwork.Create, 1),
    };

    private const int Batch = 3, Points = 13;

    private static (IInputNetwork Cpu, IlgpuInputNetwork Gpu, WeightSpaceBatch W, float[] Points) Make(Case c)
    {
        var cpu = c.Cpu();
        var gpu = c.Ilgpu(TestDevice.Shared);
        var w = TestUtil.Random(cpu.Space, Batch, 1, 31);
        foreach (var t in w.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] *= (float)c.WeightScale;
        var points = TestUtil.RandomVector(Points * cpu.InputWidth, 32);
        return (cpu, gpu, w, points);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardEqualsCpu(Case c)
    {
        var (cpu, gpu, w, points) = Make(c);
        using var _ = gpu;
        var expected = new float[Batch * Points * cpu.OutputWidth];
        cpu.Forward(w, points, Points, expected);
        var actual = gpu.Forward(w, points, Points);
        Assert.True(TestUtil.RelativeError(actual, expected) <= 1e-5, $"{c}: forward error {TestUtil.RelativeError(actual, expected):E2}");
        Assert.Equal(actual.Select(BitConverter.SingleToInt32Bits), gpu.Forward(w, points, Points).Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void WeightGradientEqualsCpu(Case c)
    {
        var (cpu, gpu, w, points) = Make(c);
        using var _ = gpu;
        var gy = TestUtil.RandomVector(Batch * Points * cpu.OutputWidth, 33);
        var expected = new WeightSpaceBatch(cpu.Space, Batch, 1);
        var actual = new WeightSpaceBatch(cpu.Space, Batch, 1);
        // Overwritten, not added to.
        foreach (var t in actual.Tensors) Array.Fill(t.Data, 7f);
        cpu.Backward(w, points, Points, gy, expected);
        gpu.Backward(w, points, Points, gy, actual);
        Assert.True(TestUtil.RelativeError(actual, expected) <= 1e-5, $"{c}: weight gradient error {TestUtil.RelativeError(actual, expected):E2}");
        var again = new WeightSpaceBatch(cpu.Space, Batch, 1);
        gpu.Backward(w, points, Points, gy, again);
        Assert.Equal(actual.Flatten().Select(BitConverter.SingleToInt32Bits), again.Flatten().Select(BitConverter.SingleToInt32Bits));
    }
}
