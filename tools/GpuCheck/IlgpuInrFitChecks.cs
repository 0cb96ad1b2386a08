using System;
using System.Linq;
using ILGPU.Runtime;
using LayerCompiler.Ilgpu;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tools.GpuCheck.Models;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// INR fitting on ILGPU (<see cref="IlgpuInrFitter"/>): the check <c>ilgpu-inr-fit-siren32</c> against the CPU
/// <see cref="InrFitter"/> (also run by <c>--ilgpu-cpu</c>, with fewer INRs on ILGPU's CPU accelerator), and the benchmark
/// <c>ilgpu-inr-fit-throughput</c> (4096 SIRENs at 784 points, INR-steps/s).
/// </summary>
public static class IlgpuInrFitChecks
{
    /// <summary>Adam steps per INR of the throughput benchmark (no early stop): enough launches to amortize the state reads, short enough for its part of gpu-bench-all.</summary>
    public const int ThroughputSteps = 100;

    public static void Register(CheckRegistry r)
    {
        r.AddCheck("ilgpu-inr-fit-siren32", $"IlgpuInrFitter vs CPU InrFitter: 64 INRs (4 on ILGPU's CPU accelerator) of SIREN 2→32→32→1 at 784 points, {InrChecks.FitSteps} Adam steps: same steps, parameters and MSE within {InrChecks.FitTolerance:0e+00}, a repeat bitwise equal",
            _ => FitCheck());
        r.AddBenchmark("ilgpu-inr-fit-throughput", $"ILGPU: INR fitting of 4096 SIREN 2→32→32→1 at 784 points, {ThroughputSteps} Adam steps each (no early stop): INR-steps/s", _ => Throughput());
    }

    private static MlpInputNetwork CpuNetwork() => new(Siren32.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.Sine, 30f, 0.5f);

    private static float[] SirenParameters(MlpInputNetwork net, int count, ulong seed)
    {
        var flat = new float[(long)count * net.ParameterCount];
        for (int i = 0; i < count; i++) SirenInit.Initialize(net, flat.AsSpan(i * net.ParameterCount, net.ParameterCount), new Rng(seed + (ulong)i));
        return flat;
    }

    private static CheckResult FitCheck()
    {
        var device = IlgpuChecks.Device;
        int count = device.Accelerator.AcceleratorType == AcceleratorType.CPU ? 4 : 64;
        var net = CpuNetwork();
        var settings = InrFitProtocols.FashionMnist with { MaxSteps = InrChecks.FitSteps, StopMse = 0 };
        var p0 = SirenParameters(net, count, 200);
        var targets = InrChecks.Targets(count, 201);
        var grid = InrTask.ImageGrid(28, 28);
        var pCpu = (float[])p0.Clone();
        var rCpu = new InrFitter(net, grid, InrChecks.GridPoints, settings).FitMany(pCpu, targets, count);
        using var fitter = new IlgpuInrFitter(Siren32.IlgpuNetwork.Create(device), grid, InrChecks.GridPoints, settings, ownsNetwork: true) { StepsPerCheck = 7 };
        fitter.CheckMatches(net);
        var pDev = (float[])p0.Clone();
        var rDev = fitter.FitMany(pDev, targets, count);
        var pAgain = (float[])p0.Clone();
        fitter.FitMany(pAgain, targets, count);
        bool bitwise = pAgain.AsSpan().SequenceEqual(pDev);
        bool sameSteps = Enumerable.Range(0, count).All(i => rDev[i].Steps == rCpu[i].Steps && rDev[i].Stopped == rCpu[i].Stopped);
        double ep = CoreChecks.RelativeError(pDev, pCpu);
        double em = rDev.Zip(rCpu, (a, b) => Math.Abs(a.Mse - b.Mse) / Math.Max(Math.Abs(b.Mse), 1e-30)).Max();
        double moved = CoreChecks.RelativeError(pDev, p0);
        bool ok = sameSteps && bitwise && ep <= InrChecks.FitTolerance && em <= InrChecks.FitTolerance;
        return new CheckResult(ok,
            $"{count} INRs × {InrChecks.FitSteps} steps on {device.Description}: parameters {ep:0.0e+00}, MSE {em:0.0e+00} (limit {InrChecks.FitTolerance:0e+00}), " +
            $"steps {(sameSteps ? "equal" : "DIFFER")}, repeat bitwise {bitwise}; parameters moved {moved:0.0e+00}")
        {
            Metrics = { ["inrs"] = count, ["steps"] = InrChecks.FitSteps, ["param_rel_error"] = ep, ["mse_rel_error"] = em, ["same_steps"] = sameSteps ? 1 : 0, ["bitwise_repeat"] = bitwise ? 1 : 0, ["param_moved"] = moved },
        };
    }

    private static BenchmarkResult Throughput()
    {
        const int count = 4096;
        var device = IlgpuChecks.Device;
        var net = CpuNetwork();
        var settings = InrFitProtocols.FashionMnist with { MaxSteps = ThroughputSteps, StopMse = 0 };
        var p0 = SirenParameters(net, count, 300);
        var targets = InrChecks.Targets(count, 301);
        using var fitter = new IlgpuInrFitter(Siren32.IlgpuNetwork.Create(device), InrTask.ImageGrid(28, 28), InrChecks.GridPoints, settings, ownsNetwork: true);
        var t = fitter.MeasureThroughput(p0, targets, count);
        return new BenchmarkResult(t.InrStepsPerSecond, "INR-steps/s",
            $"{count} INRs × {InrChecks.GridPoints} points × {ThroughputSteps} steps in {t.Seconds:F2} s ({t.Launches} launches, {t.InrsPerSecond:F0} INRs/s at this step count)")
        {
            Metrics = new()
            {
                ["inrs"] = count, ["points"] = InrChecks.GridPoints, ["steps"] = ThroughputSteps, ["seconds"] = t.Seconds, ["launches"] = t.Launches,
                ["inr_steps_per_s"] = t.InrStepsPerSecond, ["inrs_per_s"] = t.InrsPerSecond,
            },
        };
    }
}
