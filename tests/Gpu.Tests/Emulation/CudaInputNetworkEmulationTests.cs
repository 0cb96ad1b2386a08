using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tests.Generated;
using Xunit.Abstractions;
using Emu = LayerCompiler.TestSupport.CudaEmulator;

namespace LayerCompiler.Gpu.Tests;

/// <summary>
/// The generated CUDA C of input networks (<c>Arch.NetworkCuda</c>), compiled as C++ and run on the CPU emulator
/// (tests/Shared/CudaEmulation), launched as <see cref="CudaInputNetwork"/> and <see cref="CudaInrFitter"/> launch it:
/// the batched forward and the MSE weight gradient against the generated C# <c>Arch.Network</c>, and the fused fitting
/// kernel against the CPU <see cref="InrFitter"/>. The GPU tests (CudaInputNetworkGpuTests) check the same on a device.
/// </summary>
public class CudaInputNetworkEmulationTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases() => InrCase.All().Select(c => new object[] { c });

    private static string Build(CudaInputNetworkSource src) => Emu.BuildGeneric(src.Source, CudaInputNetworkSource.KernelNames.ToList());

    /// <summary>Buffers: 0 points, 1 parameters, 2 outputs, 3 targets, 4 gradient, 5 loss.</summary>
    private static (float[] Y, float[] Grad, double[] Loss) Run(string exe, CudaInputNetworkSource src, float[] parameters, int batch, float[] points, int pointCount, float[] targets)
    {
        var buffers = new[]
        {
            Emu.Buffer.Of(points), Emu.Buffer.Of(parameters), Emu.Buffer.NaN((long)batch * pointCount * src.OutputWidth),
            Emu.Buffer.Of(targets), Emu.Buffer.NaN((long)batch * src.ParameterCount), Emu.Buffer.NaN(2L * batch),
        };
        Emu.RunGeneric(exe, buffers, new[]
        {
            new Emu.KernelLaunch(CudaInputNetworkSource.ForwardKernel, src.ForwardBlocks(batch, pointCount), src.BlockSize,
                new[] { Emu.Arg.I(batch), Emu.Arg.I(pointCount), Emu.Arg.I(src.ForwardChunks(pointCount)), Emu.Arg.B(0), Emu.Arg.B(1), Emu.Arg.B(2) }),
            new Emu.KernelLaunch(CudaInputNetworkSource.GradientKernel, batch, src.BlockSize,
                new[] { Emu.Arg.I(batch), Emu.Arg.I(pointCount), Emu.Arg.B(0), Emu.Arg.B(1), Emu.Arg.B(3), Emu.Arg.B(4), Emu.Arg.B(5) }),
        });
        return (buffers[2].Floats(), buffers[4].Floats(), buffers[5].Doubles());
    }

    [HostCompilerTheory]
    [MemberData(nameof(Cases))]
    public void EmulatedForwardAndMseGradientMatchTheGeneratedNetwork(InrCase c)
    {
        var src = c.Cuda;
        Assert.True(src.Supported, src.UnsupportedReason);
        Assert.Equal(c.Cpu().Space.Dimension, src.ParameterCount);
        // Enough points for several forward chunks and a partial last tile.
        int pointCount = src.TilePoints * src.ForwardTilesPerBlock * 2 + src.TilePoints / 2 + 3;
        const int batch = 3;
        var x = InrCase.Points(pointCount, src.InputWidth, 1);
        var p = c.Parameters(batch, 2);
        var t = InrCase.Targets(x, pointCount, src.InputWidth, src.OutputWidth, batch, 3);
        var (y, mse, grad) = c.CpuReference(p, batch, x, pointCount, t);

        string exe = Build(src);
        var (yEmu, gradEmu, lossEmu) = Run(exe, src, p, batch, x, pointCount, t);
        Assert.DoesNotContain(yEmu, float.IsNaN);
        Assert.DoesNotContain(gradEmu, float.IsNaN);
        double ey = TestUtil.RelativeError(yEmu, y), eg = TestUtil.RelativeError(gradEmu, grad), el = InrCase.MseError(lossEmu, mse);
        output.WriteLine($"{c}: tile {src.TilePoints}, shared weights {src.SharedWeights}; relative errors: forward {ey:E2}, gradient {eg:E2}, loss {el:E2}");
        Assert.True(ey <= 1e-5, $"forward: relative error {ey}");
        Assert.True(eg <= 1e-5, $"weight gradient: relative error {eg}");
        Assert.True(el <= 1e-5, $"loss: relative error {el}");

        // Deterministic: a second run, with blocks and threads in a shuffled order, gives bitwise the same outputs,
        // gradient and loss.
        float[] y2, g2; double[] l2;
        using (Emu.Schedule(0x5eed)) (y2, g2, l2) = Run(exe, src, p, batch, x, pointCount, t);
        Assert.Equal(yEmu, y2);
        Assert.Equal(gradEmu, g2);
        Assert.Equal(lossEmu, l2);
    }

    /// <summary>Buffers of the fit kernel: 0 points, 1 targets, 2 parameters, 3 m, 4 v, 5 gradient scratch, 6 loss, 7 state, 8 Adam table.</summary>
    private sealed class FitRun
    {
        public readonly Emu.Buffer[] Buffers;
        private readonly CudaInputNetworkSource _src;
        private readonly InrFitSettings _s;
        private readonly int _count, _pointCount;

        public FitRun(CudaInputNetworkSource src, InrFitSettings s, float[] points, int pointCount, float[] targets, float[] parameters, int count)
        {
            _src = src; _s = s; _count = count; _pointCount = pointCount;
            long p = (long)count * src.ParameterCount;
            Buffers = new[]
            {
                Emu.Buffer.Of(points), Emu.Buffer.Of(targets), Emu.Buffer.Of(parameters), Emu.Buffer.Of(new float[p]), Emu.Buffer.Of(new float[p]),
                Emu.Buffer.NaN(src.FitScratchFloats(count)), Emu.Buffer.NaN(2L * count), Emu.Buffer.Of(new int[2 * count]), Emu.Buffer.Of(CudaInrFitter.AdamTable(s)),
            };
        }

        public Emu.KernelLaunch Launch(int iterations) => new(CudaInputNetworkSource.FitKernel, _count, _src.BlockSize, new[]
        {
            Emu.Arg.I(_count), Emu.Arg.I(_pointCount), Emu.Arg.I(iterations), Emu.Arg.I(_s.MaxSteps), Emu.Arg.D(_s.StopMse),
            Emu.Arg.B(8), Emu.Arg.F((float)_s.Beta1), Emu.Arg.F((float)(1 - _s.Beta1)), Emu.Arg.F((float)_s.Beta2), Emu.Arg.F((float)(1 - _s.Beta2)), Emu.Arg.F((float)_s.Epsilon),
            Emu.Arg.B(0), Emu.Arg.B(1), Emu.Arg.B(2), Emu.Arg.B(3), Emu.Arg.B(4), _src.SharedWeights ? Emu.Arg.Null : Emu.Arg.B(5), Emu.Arg.B(6), Emu.Arg.B(7),
        });

        public float[] Parameters => Buffers[2].Floats();

        public CudaInrFitState[] States()
        {
            var st = Buffers[7].Ints();
            var loss = Buffers[6].Doubles();
            return Enumerable.Range(0, _count).Select(i => new CudaInrFitState(st[2 * i], (CudaInrFitStatus)st[2 * i + 1], loss[i])).ToArray();
        }
    }

    private static readonly float[] Grid = InrTask.ImageGrid(28, 28);
    private const int GridPoints = 784;

    private static (float[] Parameters, float[] Targets) SirenInrs(int count, ulong seed, int which = 0)
    {
        var c = InrCase.All().ElementAt(which);
        var p = c.Parameters(count, seed);
        var t = InrCase.Targets(Grid, GridPoints, 2, 1, count, seed + 1);
        return (p, t);
    }

    /// <summary>
    /// k fused fitting steps (one block per INR, 784 points, the Fashion-MNIST protocol's SIREN 2-32-32-1) against the CPU
    /// fitter: the same steps taken, parameters and final MSE within 1e-5 relative. Why that tolerance holds: the loss and
    /// gradient agree to float rounding (~1e-7..1e-6, other summation order and sinf); the Adam update is rounded operation
    /// by operation as on the CPU, and its early steps move each parameter by about lr·sign-like amounts, so relative
    /// gradient errors enter the parameters only as ~lr·1e-6 per step; over 8 steps that is far below 1e-5 of the
    /// parameters' norm. Splitting the iterations over several launches gives bitwise the same result as one launch.
    /// Both weight placements are covered.
    /// </summary>
    [HostCompilerTheory]
    [InlineData(0, 3, 8)]   // SIREN 2-32-32-1: weights and gradient in shared memory
    [InlineData(1, 2, 4)]   // SIREN 2-64-64-1: weights in device memory, gradient in the scratch buffer
    public void EmulatedFitStepsMatchTheCpuFitter(int which, int count, int steps)
    {
        var src = InrCase.All().ElementAt(which).Cuda;
        var settings = new InrFitSettings { MaxSteps = steps, LearningRate = 1e-3f, StopMse = 0 };
        var (p0, targets) = SirenInrs(count, 11, which);

        var cpu = new InrFitter(src.CreateCpuNetwork(), Grid, GridPoints, settings);
        var pCpu = (float[])p0.Clone();
        var rCpu = cpu.FitMany(pCpu, targets, count, maxThreads: 1);

        string exe = Build(src);
        var one = new FitRun(src, settings, Grid, GridPoints, targets, p0, count);
        Emu.RunGeneric(exe, one.Buffers, new[] { one.Launch(settings.MaxSteps + 1) });
        var states = one.States();
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(CudaInrFitStatus.MaxSteps, states[i].Status);
            Assert.Equal(rCpu[i].Steps, states[i].Steps);
            Assert.Equal(rCpu[i].Stopped, states[i].ToResult().Stopped);
            double em = Math.Abs(states[i].Mse - rCpu[i].Mse) / rCpu[i].Mse;
            Assert.True(em <= 1e-5, $"INR {i}: MSE {states[i].Mse} vs CPU {rCpu[i].Mse} (relative {em})");
        }
        double ep = TestUtil.RelativeError(one.Parameters, pCpu);
        output.WriteLine($"after {settings.MaxSteps} steps: parameters {ep:E2} relative to the CPU fitter's, moved {TestUtil.RelativeError(one.Parameters, p0):E2}; " +
            $"MSE {string.Join(", ", Enumerable.Range(0, count).Select(i => $"{Math.Abs(states[i].Mse - rCpu[i].Mse) / rCpu[i].Mse:E2}"))}");
        Assert.True(ep <= 1e-5, $"parameters after {settings.MaxSteps} steps: relative error {ep}");
        Assert.True(TestUtil.RelativeError(one.Parameters, p0) > 100 * ep, "the parameters moved much more than the two fitters differ");

        // The same iterations over three launches (1 + 3 + 5, the last one past the end): bitwise the same.
        var split = new FitRun(src, settings, Grid, GridPoints, targets, p0, count);
        Emu.RunGeneric(exe, split.Buffers, new[] { split.Launch(1), split.Launch(3), split.Launch(5) });
        Assert.Equal(one.Parameters, split.Parameters);
        Assert.Equal(states, split.States());
    }

    /// <summary>
    /// The CPU fitter's stopping rules, per INR, on the device: an INR whose MSE reaches StopMse stops at the same step
    /// (StopMse chosen between two of its CPU MSEs, far from rounding), one that already meets it takes no step and keeps
    /// its parameters bitwise, one with a non-finite loss stops at once without "stopped", the rest run to MaxSteps.
    /// </summary>
    [HostCompilerFact]
    public void EmulatedFitAppliesTheCpuFittersStoppingRulesPerInr()
    {
        var src = Siren2x32x32x1.NetworkCuda.Info;
        const int count = 4;
        var (p0, targets) = SirenInrs(count, 21);
        var baseSettings = new InrFitSettings { MaxSteps = 8, LearningRate = 1e-3f, StopMse = 0 };
        var net = src.CreateCpuNetwork();
        // INR 0's MSE after 0, 1, ... steps on the CPU: stop at the first step k whose MSE is clearly below all earlier ones,
        // with the threshold halfway (geometrically) between, so rounding cannot move the stop.
        double MseAfter(int steps)
        {
            var f = new InrFitter(net, Grid, GridPoints, baseSettings with { MaxSteps = steps });
            return f.Fit(p0.AsSpan(0, net.ParameterCount).ToArray(), targets.AsSpan(0, GridPoints), f.CreateScratch()).Mse;
        }
        var mses = Enumerable.Range(0, baseSettings.MaxSteps + 1).Select(MseAfter).ToArray();
        int k = Enumerable.Range(2, baseSettings.MaxSteps - 1).First(j => mses[j] < 0.99 * mses.Take(j).Min());
        var settings = baseSettings with { StopMse = Math.Sqrt(mses.Take(k).Min() * mses[k]) };
        // INR 1 meets any threshold: targets equal to its own outputs.
        var c = InrCase.All().First();
        var (y1, _, _) = c.CpuReference(p0.AsSpan(net.ParameterCount, net.ParameterCount).ToArray(), 1, Grid, GridPoints, new float[GridPoints]);
        y1.CopyTo(targets, GridPoints);
        // INR 2: a NaN target.
        targets[2 * GridPoints + 5] = float.NaN;

        var pCpu = (float[])p0.Clone();
        var rCpu = new InrFitter(net, Grid, GridPoints, settings).FitMany(pCpu, targets, count, maxThreads: 1);
        Assert.Equal(k, rCpu[0].Steps);
        Assert.True(rCpu[0].Stopped);
        Assert.True(rCpu[1].Stopped && rCpu[1].Steps == 0);
        Assert.True(double.IsNaN(rCpu[2].Mse) && !rCpu[2].Stopped && rCpu[2].Steps == 0);

        string exe = Build(src);
        var run = new FitRun(src, settings, Grid, GridPoints, targets, p0, count);
        Emu.RunGeneric(exe, run.Buffers, new[] { run.Launch(2), run.Launch(10) });
        var st = run.States();
        Assert.Equal(new[] { CudaInrFitStatus.Stopped, CudaInrFitStatus.Stopped, CudaInrFitStatus.NotFinite, rCpu[3].Stopped ? CudaInrFitStatus.Stopped : CudaInrFitStatus.MaxSteps },
            st.Select(s => s.Status).ToArray());
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(rCpu[i].Steps, st[i].Steps);
            Assert.Equal(rCpu[i].Stopped, st[i].ToResult().Stopped);
            if (i == 2) { Assert.True(double.IsNaN(st[i].Mse)); continue; }
            Assert.True(Math.Abs(st[i].Mse - rCpu[i].Mse) <= 1e-5 * rCpu[i].Mse + 1e-12, $"INR {i}: MSE {st[i].Mse} vs CPU {rCpu[i].Mse}");
        }
        var pEmu = run.Parameters;
        int P = src.ParameterCount;
        Assert.Equal(p0.AsSpan(P, P).ToArray(), pEmu.AsSpan(P, P).ToArray());
        Assert.Equal(p0.AsSpan(2 * P, P).ToArray(), pEmu.AsSpan(2 * P, P).ToArray());
        Assert.True(TestUtil.RelativeError(pEmu, pCpu) <= 1e-5);
    }
}
