using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Gpu.Tests;

/// <summary>
/// The generated input-network CUDA (<c>Arch.NetworkCuda</c>) through NVRTC and the driver: forward and MSE gradient
/// against the generated C# network, <see cref="CudaInrFitter"/> against the CPU <see cref="InrFitter"/>. Reported as
/// skipped (with the reason) where there is no GPU; CudaInputNetworkEmulationTests check the same CUDA C on the CPU.
/// </summary>
public class CudaInputNetworkGpuTests : IDisposable
{
    private readonly string _cacheDir = Path.Combine(Path.GetTempPath(), "lc-cubin-inr-test-" + Guid.NewGuid().ToString("N"));

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
    public void DeviceForwardAndMseGradientMatchTheGeneratedNetwork()
    {
        using var device = OpenDevice();
        var failures = new List<string>();
        foreach (var c in InrCase.All())
        {
            using var gpu = new CudaInputNetwork(device, c.Cuda);
            const int batch = 37, pointCount = 1000;
            var x = InrCase.Points(pointCount, c.Cuda.InputWidth, 51);
            var p = c.Parameters(batch, 52);
            var t = InrCase.Targets(x, pointCount, c.Cuda.InputWidth, c.Cuda.OutputWidth, batch, 53);
            var (y, mse, grad) = c.CpuReference(p, batch, x, pointCount, t);
            var yGpu = gpu.Forward(p, batch, x, pointCount);
            var gGpu = new float[grad.Length];
            var lGpu = gpu.MseGradient(p, batch, x, pointCount, t, gGpu);
            var gGpu2 = new float[grad.Length];
            var lGpu2 = gpu.MseGradient(p, batch, x, pointCount, t, gGpu2);
            foreach (var (what, err) in new[] { ("forward", TestUtil.RelativeError(yGpu, y)), ("gradient", TestUtil.RelativeError(gGpu, grad)), ("loss", InrCase.MseError(lGpu, mse)) })
                if (!(err <= 1e-5)) failures.Add($"{c}: {what} relative error {err}");
            if (!gGpu.AsSpan().SequenceEqual(gGpu2) || !lGpu.AsSpan().SequenceEqual(lGpu2)) failures.Add($"{c}: gradient not deterministic");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [CudaFact]
    public void DeviceFitStepsMatchTheCpuFitter()
    {
        using var device = OpenDevice();
        var grid = InrTask.ImageGrid(28, 28);
        foreach (var c in InrCase.All().Where(c => c.Siren))
        {
            const int count = 64;
            var settings = new InrFitSettings { MaxSteps = 10, LearningRate = 1e-3f, StopMse = 0 };
            var p0 = c.Parameters(count, 61);
            var targets = InrCase.Targets(grid, 784, 2, 1, count, 62);
            var pCpu = (float[])p0.Clone();
            var rCpu = new InrFitter(c.Cuda.CreateCpuNetwork(), grid, 784, settings).FitMany(pCpu, targets, count);
            using var fitter = new CudaInrFitter(device, c.Cuda, grid, 784, settings) { StepsPerLaunch = 3 };
            var pGpu = (float[])p0.Clone();
            var rGpu = fitter.FitMany(pGpu, targets, count);
            for (int i = 0; i < count; i++)
            {
                Assert.Equal(rCpu[i].Steps, rGpu[i].Steps);
                Assert.False(rGpu[i].Stopped);
                Assert.True(Math.Abs(rGpu[i].Mse - rCpu[i].Mse) <= 1e-5 * rCpu[i].Mse, $"{c} INR {i}: MSE {rGpu[i].Mse} vs CPU {rCpu[i].Mse}");
            }
            double ep = TestUtil.RelativeError(pGpu, pCpu);
            Assert.True(ep <= 1e-5, $"{c}: parameters after {settings.MaxSteps} steps: relative error {ep}");
        }
    }

    [CudaFact]
    public void DeviceFitStopsEachInrLikeTheCpuFitterAndIsDeterministic()
    {
        using var device = OpenDevice();
        var grid = InrTask.ImageGrid(28, 28);
        var src = Siren2x32x32x1.NetworkCuda.Info;
        const int count = 200;
        var settings = new InrFitSettings { MaxSteps = 60, LearningRate = 1e-3f, StopMse = 0.02 };
        var c = InrCase.All().First();
        var p0 = c.Parameters(count, 71);
        var targets = InrCase.Targets(grid, 784, 2, 1, count, 72);
        var pCpu = (float[])p0.Clone();
        var rCpu = new InrFitter(src.CreateCpuNetwork(), grid, 784, settings).FitMany(pCpu, targets, count);
        using var fitter = Siren2x32x32x1.NetworkCuda.CreateFitter(device, grid, 784, settings);
        fitter.StepsPerLaunch = 7;
        fitter.MaxInrsPerBatch = 64; // several device batches
        var seen = new List<int>();
        var p1 = (float[])p0.Clone();
        var r1 = fitter.FitMany(p1, targets, count, (i, _) => seen.Add(i));
        Assert.Equal(Enumerable.Range(0, count), seen.Order());
        // An INR whose MSE lands within rounding of the threshold may stop a step apart; all others must agree.
        int differ = Enumerable.Range(0, count).Count(i => r1[i].Steps != rCpu[i].Steps || r1[i].Stopped != rCpu[i].Stopped);
        Assert.True(differ <= 2, $"{differ} of {count} INRs stopped differently from the CPU fitter");
        Assert.Contains(r1, r => r.Stopped);
        var p2 = (float[])p0.Clone();
        var r2 = fitter.FitMany(p2, targets, count);
        Assert.Equal(r1, r2);
        Assert.Equal(p1, p2);
    }

    [CudaFact]
    public void ThroughputIsMeasured()
    {
        using var device = OpenDevice();
        var grid = InrTask.ImageGrid(28, 28);
        var settings = new InrFitSettings { MaxSteps = 20, StopMse = 0 };
        using var fitter = Siren2x32x32x1.NetworkCuda.CreateFitter(device, grid, 784, settings);
        var c = InrCase.All().First();
        const int count = 256;
        var t = fitter.MeasureThroughput(c.Parameters(count, 81), InrCase.Targets(grid, 784, 2, 1, count, 82), count);
        Assert.Equal(count, t.Inrs);
        Assert.Equal(count * 20L, t.AdamSteps);
        Assert.True(t.Seconds > 0 && t.InrStepsPerSecond > 0 && t.DeviceSeconds > 0, t.ToString());
    }
}
