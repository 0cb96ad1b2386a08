using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// Every generated ILGPU layer kernel against the generated C# CPU kernel of the same plan: forward (with and without the
/// fused ReLU), input gradient (with and without the ReLU mask), weight and bias gradients (added to what the buffers
/// held), relative error ≤ 1e-5; and bitwise-repeatable results. Small batches, so the CPU accelerator stays fast.
/// </summary>
public class LayerKernelTests
{
    public sealed record Case(string Name, Func<WS> Space, Func<LayerPlan, IEquivariantKernel> Cpu, Func<IlgpuDevice, LayerPlan, IlgpuEquivariantKernel> Ilgpu, int Cin, int Cout)
    {
        public override string ToString() => $"{Name} {Cin}→{Cout}";
    }

    public static IEnumerable<object[]> Cases() => new List<Case>
    {
        new("Mlp2332 hidden", Mlp2332Hidden11.CreateWeightSpace, Mlp2332Hidden11.CreateKernel, Mlp2332Hidden11.CreateIlgpuKernel, 1, 1),
        new("Mlp2332 all", Mlp2332All11.CreateWeightSpace, Mlp2332All11.CreateKernel, Mlp2332All11.CreateIlgpuKernel, 1, 1),
        new("Narrow hidden", NarrowHidden11.CreateWeightSpace, NarrowHidden11.CreateKernel, NarrowHidden11.CreateIlgpuKernel, 1, 1),
        new("Narrow all", NarrowAll11.CreateWeightSpace, NarrowAll11.CreateKernel, NarrowAll11.CreateIlgpuKernel, 1, 1),
        new("Cnn hidden", SmallCnnHidden11.CreateWeightSpace, SmallCnnHidden11.CreateKernel, SmallCnnHidden11.CreateIlgpuKernel, 1, 1),
        new("Cnn all", SmallCnnAll11.CreateWeightSpace, SmallCnnAll11.CreateKernel, SmallCnnAll11.CreateIlgpuKernel, 1, 1),
        new("Depth2", Depth2Classifier.CreateWeightSpace, Depth2Classifier.CreateKernel, Depth2Classifier.CreateIlgpuKernel, 3, 2),
        new("Depth5 hidden", Depth5Editor.CreateWeightSpace, Depth5Editor.CreateKernel, Depth5Editor.CreateIlgpuKernel, 2, 3),
        new("Depth5 all", Depth5AllClassifier.CreateWeightSpace, Depth5AllClassifier.CreateKernel, Depth5AllClassifier.CreateIlgpuKernel, 1, 2),
        new("Cnn hidden multi", CnnClassifier.CreateWeightSpace, CnnClassifier.CreateKernel, CnnClassifier.CreateIlgpuKernel, 2, 3),
        new("Siren hidden", SirenClassifier.CreateWeightSpace, SirenClassifier.CreateKernel, SirenClassifier.CreateIlgpuKernel, 4, 3),
    }.Select(c => new object[] { c });

    private const double Tolerance = 1e-5;
    private const int Batch = 9;   // two gradient chunks of 8, the second partial

    private static (IEquivariantKernel Cpu, IlgpuEquivariantKernel Gpu, float[] W, float[] B) Make(Case c, ulong seed)
    {
        var plan = new LayerPlan(c.Space(), c.Cin, c.Cout);
        return (c.Cpu(plan), c.Ilgpu(TestDevice.Shared, plan), TestUtil.RandomVector(plan.WeightCount, seed), TestUtil.RandomVector(plan.BiasCount, seed + 1));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardEqualsCpu(Case c)
    {
        var (cpu, gpu, w, b) = Make(c, 11);
        using var _ = gpu;
        var space = cpu.Plan.Space;
        var x = TestUtil.Random(space, Batch, c.Cin, 5);
        foreach (bool relu in new[] { false, true })
        {
            var expected = new WeightSpaceBatch(space, Batch, c.Cout);
            var actual = new WeightSpaceBatch(space, Batch, c.Cout);
            ((IReluFusingKernel)cpu).Forward(w, b, x, expected, relu);
            gpu.Forward(w, b, x, actual, relu);
            double err = TestUtil.RelativeError(actual, expected);
            Assert.True(err <= Tolerance, $"{c} relu={relu}: forward relative error {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardEqualsCpu(Case c)
    {
        var (cpu, gpu, w, _) = Make(c, 13);
        using var __ = gpu;
        var space = cpu.Plan.Space;
        var x = TestUtil.Random(space, Batch, c.Cin, 7);
        var gy = TestUtil.Random(space, Batch, c.Cout, 8);
        foreach (bool mask in new[] { false, true })
        {
            var gxCpu = new WeightSpaceBatch(space, Batch, c.Cin);
            var gxGpu = new WeightSpaceBatch(space, Batch, c.Cin);
            // Gradients are added to what the buffers hold.
            var gwCpu = TestUtil.RandomVector(w.Length, 21); var gbCpu = TestUtil.RandomVector(cpu.Plan.BiasCount, 22);
            var gwGpu = (float[])gwCpu.Clone(); var gbGpu = (float[])gbCpu.Clone();
            ((IReluFusingKernel)cpu).Backward(w, x, gy, gxCpu, gwCpu, gbCpu, mask);
            gpu.Backward(w, x, gy, gxGpu, gwGpu, gbGpu, mask);
            Assert.True(TestUtil.RelativeError(gxGpu, gxCpu) <= Tolerance, $"{c} mask={mask}: input gradient error {TestUtil.RelativeError(gxGpu, gxCpu):E2}");
            Assert.True(TestUtil.RelativeError(gwGpu, gwCpu) <= Tolerance, $"{c}: weight gradient error {TestUtil.RelativeError(gwGpu, gwCpu):E2}");
            Assert.True(TestUtil.RelativeError(gbGpu, gbCpu) <= Tolerance, $"{c}: bias gradient error {TestUtil.RelativeError(gbGpu, gbCpu):E2}");
        }
        // Parameter gradients alone (no input gradient) are the same.
        var gw1 = new float[w.Length]; var gb1 = new float[cpu.Plan.BiasCount];
        var gw2 = new float[w.Length]; var gb2 = new float[cpu.Plan.BiasCount];
        cpu.Backward(w, x, gy, null, gw1, gb1);
        gpu.Backward(w, x, gy, null, gw2, gb2);
        Assert.True(TestUtil.RelativeError(gw2, gw1) <= Tolerance, $"{c}: weight gradient without input gradient");
        Assert.True(TestUtil.RelativeError(gb2, gb1) <= Tolerance, $"{c}: bias gradient without input gradient");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RepeatedRunsAreBitwiseEqual(Case c)
    {
        var (cpu, gpu, w, b) = Make(c, 17);
        using var _ = gpu;
        var space = cpu.Plan.Space;
        var x = TestUtil.Random(space, Batch, c.Cin, 3);
        var gy = TestUtil.Random(space, Batch, c.Cout, 4);
        float[] Run()
        {
            var y = new WeightSpaceBatch(space, Batch, c.Cout);
            var gx = new WeightSpaceBatch(space, Batch, c.Cin);
            var gw = new float[w.Length]; var gb = new float[b.Length];
            gpu.Forward(w, b, x, y, relu: true);
            gpu.Backward(w, x, gy, gx, gw, gb, reluMaskInput: true);
            return y.Flatten().Concat(gx.Flatten()).Concat(gw).Concat(gb).ToArray();
        }
        var first = Run();
        var second = Run();
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), second.Select(BitConverter.SingleToInt32Bits));
    }
}
