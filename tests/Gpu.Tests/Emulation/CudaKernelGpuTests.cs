using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Gpu.Tests;

/// <summary>Generated CUDA kernels on a GPU against the generated C# kernels; reported as skipped (with the reason) elsewhere.</summary>
public class CudaKernelGpuTests : IDisposable
{
    private readonly string _cacheDir = Path.Combine(Path.GetTempPath(), "lc-cubin-layer-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cacheDir)) Directory.Delete(_cacheDir, recursive: true);
    }

    private CudaDevice OpenDevice()
    {
        var d = CudaDevice.Open();
        d.Cache = new CubinCache(_cacheDir);
        return d;
    }

    [CudaFact]
    public void GeneratedCudaKernelsMatchTheCpuKernels()
    {
        using var device = OpenDevice();
        var failures = new List<string>();
        foreach (var c in CudaEmulationTests.Cases().Select(o => (CudaEmulationTests.Case)o[0]))
        {
            var space = c.Space();
            var plan = new LayerPlan(space, c.Cin, c.Cout);
            var cpu = c.Cpu(plan);
            using var gpu = new CudaEquivariantKernel(device, c.Cuda(c.Cin, c.Cout), plan);
            const int batch = 19;
            var w = TestUtil.RandomVector(plan.WeightCount, 41, plan.InitStd(0));
            var b = TestUtil.RandomVector(plan.BiasCount, 42);
            var x = TestUtil.Random(space, batch, c.Cin, 43);
            var gy = TestUtil.Random(space, batch, c.Cout, 44);
            var y1 = new WeightSpaceBatch(space, batch, c.Cout); var y2 = new WeightSpaceBatch(space, batch, c.Cout);
            cpu.Forward(w, b, x, y1);
            gpu.Forward(w, b, x, y2);
            var gx1 = new WeightSpaceBatch(space, batch, c.Cin); var gx2 = new WeightSpaceBatch(space, batch, c.Cin);
            var gw1 = new float[plan.WeightCount]; var gw2 = new float[plan.WeightCount];
            var gb1 = new float[plan.BiasCount]; var gb2 = new float[plan.BiasCount];
            cpu.Backward(w, x, gy, gx1, gw1, gb1);
            gpu.Backward(w, x, gy, gx2, gw2, gb2);
            foreach (var (what, err) in new[]
            {
                ("forward", TestUtil.RelativeError(y2, y1)), ("input gradient", TestUtil.RelativeError(gx2, gx1)),
                ("weight gradient", TestUtil.RelativeError(gw2, gw1)), ("bias gradient", TestUtil.RelativeError(gb2, gb1)),
            })
                if (!(err < 1e-5)) failures.Add($"{c}: {what} relative error {err}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [CudaFact]
    public void DeviceApiAddsParameterGradientsDeterministically()
    {
        using var device = OpenDevice();
        var space = SirenClassifier.CreateWeightSpace();
        var plan = new LayerPlan(space, 4, 3);
        using var k = SirenClassifier.CreateCudaKernel(device, plan);
        const int batch = 33;
        using var w = device.Upload(TestUtil.RandomVector(plan.WeightCount, 51));
        using var x = device.Upload(TestUtil.Random(space, batch, 4, 52).Flatten());
        using var gy = device.Upload(TestUtil.Random(space, batch, 3, 53).Flatten());
        using var gx = device.Allocate(k.InputLength(batch));
        using var gw = device.Allocate(plan.WeightCount);
        using var gb = device.Allocate(plan.BiasCount);
        gw.Zero(); gb.Zero();
        k.Backward(w, x, gy, gx, gw, gb, batch);
        var once = gw.ToArray();
        var onceB = gb.ToArray();
        var gxOnce = gx.ToArray();
        k.Backward(w, x, gy, gx, gw, gb, batch);
        var twice = gw.ToArray();
        // Bitwise: the second pass computes the same sum in the same order and adds it.
        Assert.Equal(once.Select(v => v + v), twice);
        Assert.Equal(onceB.Select(v => v + v), gb.ToArray());
        Assert.Equal(gxOnce, gx.ToArray());
    }

    [CudaFact]
    public void BadArgumentsAreRejectedWithTheirNames()
    {
        using var device = OpenDevice();
        var space = SirenClassifier.CreateWeightSpace();
        var plan = new LayerPlan(space, 4, 3);
        using var k = SirenClassifier.CreateCudaKernel(device, plan);
        using var w = device.Allocate(plan.WeightCount);
        using var b = device.Allocate(plan.BiasCount);
        using var x = device.Allocate(k.InputLength(2));
        using var y = device.Allocate(k.OutputLength(3));
        var e = Assert.Throws<ArgumentException>(() => k.Forward(w, b, x, y, 2));
        Assert.Equal("output", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => k.Forward(w, b, x, y, 0));
        // A plan with other channels: the CUDA layer says what it was generated for.
        var other = Assert.Throws<ArgumentException>(() => new CudaEquivariantKernel(device, SirenClassifier.CudaSources.ForChannels(4, 3), new LayerPlan(space, 1, 4)));
        Assert.Contains("4 → 3", other.Message);
        Assert.Throws<ArgumentException>(() => SirenClassifier.CudaSources.ForChannels(5, 5));
    }

    [CudaFact]
    public void TheSecondKernelLoadsItsModuleFromTheCubinCache()
    {
        using var device = OpenDevice();
        var plan = new LayerPlan(Mlp2332Editor.CreateWeightSpace(), 3, 2);
        using (var first = Mlp2332Editor.CreateCudaKernel(device, plan)) Assert.False(first.Module.FromCache);
        using var second = Mlp2332Editor.CreateCudaKernel(device, plan);
        Assert.True(second.Module.FromCache);
    }
}
