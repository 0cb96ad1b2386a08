using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Gpu;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tools.GpuCheck.Models;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// The generated input-network CUDA (<c>Arch.NetworkCuda</c>): batched forward and MSE weight gradient against the
/// generated C# network, the fused INR fitter (<see cref="CudaInrFitter"/>) against the CPU <see cref="InrFitter"/>, and
/// the INR-fitting throughput (SIREN 2→32→32→1 on the 28×28 grid, 1000 Adam steps per INR).
/// </summary>
public static class InrChecks
{
    public const int GridPoints = 784;
    private static readonly float[] Grid = InrTask.ImageGrid(28, 28);

    public static void Register(CheckRegistry r)
    {
        r.AddCheck("inr-network-siren32", "SIREN 2→32→32→1 input network, 64 networks × 784 points: CUDA vs generated C# forward, MSE and weight gradient (≤ 1e-5), deterministic",
            c => NetworkCheck(c, Siren32.NetworkCuda.Info, () => new Siren32.Network()));
        r.AddCheck("inr-network-siren64", "SIREN 2→64→64→1 (weights in device memory), 64 networks × 784 points: CUDA vs generated C# forward, MSE and weight gradient (≤ 1e-5), deterministic",
            c => NetworkCheck(c, Siren64.NetworkCuda.Info, () => new Siren64.Network()));
        r.AddCheck("inr-fit-siren32", $"CudaInrFitter vs CPU InrFitter: 64 INRs of SIREN 2→32→32→1, {FitSteps} Adam steps (lr 5e-4): same steps, parameters and MSE within {FitTolerance:0e+00}",
            FitCheck);
        r.AddCheck("inr-fit-early-stop", "CudaInrFitter vs CPU InrFitter with early stopping: 256 INRs, ≤ 300 steps, StopMse = the CPU's median MSE after 300 steps: the same INRs stop at the same steps (≤ 2% may differ by rounding)",
            EarlyStopCheck);
        r.AddBenchmark("inr-fit-throughput", "INR fitting on the device: SIREN 2→32→32→1, 784 points, 1000 Adam steps per INR (no early stop), 4096 and 16384 INRs: INR-steps/s and INRs/s; also --use_fast_math and the CPU fitter",
            Throughput);
    }

    /// <summary>SIREN-initialized flat parameters [count, P] (seeded per INR).</summary>
    internal static float[] SirenParameters(CudaInputNetworkSource src, int count, ulong seed)
    {
        var net = src.CreateCpuNetwork();
        var flat = new float[(long)count * net.ParameterCount];
        for (int i = 0; i < count; i++)
            SirenInit.Initialize(net, flat.AsSpan(i * net.ParameterCount, net.ParameterCount), new Rng(seed + (ulong)i));
        return flat;
    }

    /// <summary>Smooth images in [0, 1] on the grid, one per INR: 0.5 + 0.4·sin(a·x + φ)·cos(b·y).</summary>
    internal static float[] Targets(int count, ulong seed)
    {
        var rng = new Rng(seed);
        var t = new float[(long)count * GridPoints];
        for (int n = 0; n < count; n++)
        {
            double a = 1 + 3 * rng.NextDouble(), b = 1 + 3 * rng.NextDouble(), phi = 6.28 * rng.NextDouble();
            for (int p = 0; p < GridPoints; p++)
                t[(long)n * GridPoints + p] = (float)(0.5 + 0.4 * Math.Sin(a * Grid[2 * p] + phi) * Math.Cos(b * Grid[2 * p + 1]));
        }
        return t;
    }

    private static double MaxRelative(double[] a, double[] b) =>
        a.Zip(b, (x, y) => double.IsNaN(x) || double.IsNaN(y) ? double.PositiveInfinity : Math.Abs(x - y) / Math.Max(Math.Abs(y), 1e-30)).Max();

    public static CheckResult NetworkCheck(CheckContext c, CudaInputNetworkSource src, Func<IInputNetwork> cpuNetwork)
    {
        const int batch = 64;
        var sw = Stopwatch.StartNew();
        using var gpu = new CudaInputNetwork(c.Device, src);
        double compileSeconds = sw.Elapsed.TotalSeconds;
        var p = SirenParameters(src, batch, 100);
        var targets = Targets(batch, 101);

        // C#: the generated network's forward, the MSE and its output gradient, then its weight gradient.
        var net = cpuNetwork();
        var weights = new WeightSpaceBatch(net.Space, batch, 1);
        src.Unflatten(p, weights);
        var y = new float[batch * GridPoints];
        net.Forward(weights, Grid, GridPoints, y);
        var mse = new double[batch];
        var gy = new float[y.Length];
        float scale = 2f / GridPoints;
        for (int n = 0; n < batch; n++)
        {
            double s = 0;
            for (int i = n * GridPoints; i < (n + 1) * GridPoints; i++) { float e = y[i] - targets[i]; s += (double)e * e; gy[i] = scale * e; }
            mse[n] = s / GridPoints;
        }
        var gw = new WeightSpaceBatch(net.Space, batch, 1);
        net.Backward(weights, Grid, GridPoints, gy, gw);
        var grad = src.Flatten(gw);

        var yGpu = gpu.Forward(p, batch, Grid, GridPoints);
        var gGpu = new float[grad.Length];
        var lGpu = gpu.MseGradient(p, batch, Grid, GridPoints, targets, gGpu);
        var gGpu2 = new float[grad.Length];
        var lGpu2 = gpu.MseGradient(p, batch, Grid, GridPoints, targets, gGpu2);
        bool deterministic = gGpu.AsSpan().SequenceEqual(gGpu2) && lGpu.AsSpan().SequenceEqual(lGpu2);

        double ey = CoreChecks.RelativeError(yGpu, y), eg = CoreChecks.RelativeError(gGpu, grad), el = MaxRelative(lGpu, mse);
        bool ok = ey <= CoreChecks.Tolerance && eg <= CoreChecks.Tolerance && el <= CoreChecks.Tolerance && deterministic;
        return new CheckResult(ok,
            $"{src}: forward {ey:0.0e+00}, weight gradient {eg:0.0e+00}, MSE {el:0.0e+00} (limit {CoreChecks.Tolerance:0e+00}), {(deterministic ? "deterministic" : "NOT deterministic")}, " +
            $"module {(gpu.Module.FromCache ? "from cache" : $"compiled in {compileSeconds:F1} s")}")
        {
            Metrics =
            {
                ["batch"] = batch, ["points"] = GridPoints, ["tile_points"] = src.TilePoints, ["shared_weights"] = src.SharedWeights ? 1 : 0,
                ["forward_rel_error"] = ey, ["weight_grad_rel_error"] = eg, ["mse_rel_error"] = el,
                ["deterministic"] = deterministic ? 1 : 0, ["compile_seconds"] = compileSeconds,
            },
        };
    }

    public const int FitSteps = 20;
    /// <summary>
    /// Limit on the parameters' and MSEs' relative difference after <see cref="FitSteps"/> steps. The loss and gradient agree to
    /// float rounding (≤ 1e-6; the CPU emulation of the same CUDA C differs from the CPU fitter by 3e-8 after 8 steps), Adam's
    /// update is rounded as on the CPU, and each step moves a parameter by ~lr; 1e-4 leaves room for FMA contraction and the
    /// device's sinf without hiding a wrong update (that would differ by ≥ lr ≈ 5e-4 per step).
    /// </summary>
    public const double FitTolerance = 1e-4;

    public static CheckResult FitCheck(CheckContext c)
    {
        var src = Siren32.NetworkCuda.Info;
        const int count = 64;
        var settings = InrFitProtocols.FashionMnist with { MaxSteps = FitSteps, StopMse = 0 };
        var p0 = SirenParameters(src, count, 200);
        var targets = Targets(count, 201);
        var pCpu = (float[])p0.Clone();
        var rCpu = new InrFitter(src.CreateCpuNetwork(), Grid, GridPoints, settings).FitMany(pCpu, targets, count);
        using var fitter = new CudaInrFitter(c.Device, src, Grid, GridPoints, settings) { StepsPerLaunch = 7 };
        var pGpu = (float[])p0.Clone();
        var rGpu = fitter.FitMany(pGpu, targets, count);
        bool sameSteps = Enumerable.Range(0, count).All(i => rGpu[i].Steps == rCpu[i].Steps && !rGpu[i].Stopped);
        double ep = CoreChecks.RelativeError(pGpu, pCpu);
        double em = MaxRelative(rGpu.Select(r => r.Mse).ToArray(), rCpu.Select(r => r.Mse).ToArray());
        double moved = CoreChecks.RelativeError(pGpu, p0);
        bool ok = sameSteps && ep <= FitTolerance && em <= FitTolerance;
        return new CheckResult(ok,
            $"{count} INRs × {FitSteps} steps: parameters {ep:0.0e+00}, MSE {em:0.0e+00} (limit {FitTolerance:0e+00}), steps {(sameSteps ? "equal" : "DIFFER")}; " +
            $"parameters moved {moved:0.0e+00}, mean MSE {rCpu.Average(r => r.Mse):0.000e+00}")
        {
            Metrics = { ["inrs"] = count, ["steps"] = FitSteps, ["param_rel_error"] = ep, ["mse_rel_error"] = em, ["same_steps"] = sameSteps ? 1 : 0, ["param_moved"] = moved },
        };
    }

    public static CheckResult EarlyStopCheck(CheckContext c)
    {
        var src = Siren32.NetworkCuda.Info;
        const int count = 256, steps = 300;
        var p0 = SirenParameters(src, count, 300);
        var targets = Targets(count, 301);
        var net = src.CreateCpuNetwork();
        var free = new InrFitter(net, Grid, GridPoints, InrFitProtocols.FashionMnist with { MaxSteps = steps, StopMse = 0 }).FitMany((float[])p0.Clone(), targets, count);
        var sorted = free.Select(r => r.Mse).Order().ToArray();
        var settings = InrFitProtocols.FashionMnist with { MaxSteps = steps, StopMse = sorted[count / 2] };
        var rCpu = new InrFitter(net, Grid, GridPoints, settings).FitMany((float[])p0.Clone(), targets, count);
        using var fitter = new CudaInrFitter(c.Device, src, Grid, GridPoints, settings);
        var rGpu = fitter.FitMany((float[])p0.Clone(), targets, count);
        int differ = Enumerable.Range(0, count).Count(i => rGpu[i].Steps != rCpu[i].Steps || rGpu[i].Stopped != rCpu[i].Stopped);
        int maxDiff = Enumerable.Range(0, count).Max(i => Math.Abs(rGpu[i].Steps - rCpu[i].Steps));
        int stopped = rCpu.Count(r => r.Stopped);
        bool ok = differ <= count / 50 && stopped > 0 && stopped < count;
        return new CheckResult(ok,
            $"{count} INRs, ≤ {steps} steps, stop at MSE ≤ {settings.StopMse:0.000e+00}: {stopped} stopped on the CPU, {rGpu.Count(r => r.Stopped)} on the device; " +
            $"{differ} differ (limit {count / 50}), largest step difference {maxDiff}")
        {
            Metrics = { ["inrs"] = count, ["stopped_cpu"] = stopped, ["stopped_gpu"] = rGpu.Count(r => r.Stopped), ["differ"] = differ, ["max_step_difference"] = maxDiff },
        };
    }

    public static BenchmarkResult Throughput(CheckContext c)
    {
        var src = Siren32.NetworkCuda.Info;
        const int steps = 1000;
        var settings = InrFitProtocols.FashionMnist with { MaxSteps = steps, StopMse = 0 };
        var metrics = new Dictionary<string, double>();
        var samples = new List<double>();
        var log = new List<string>();
        double value = 0;
        using (var fitter = new CudaInrFitter(c.Device, src, Grid, GridPoints, settings))
        {
            // Warm-up: module load, first launches.
            var wp = SirenParameters(src, 256, 1);
            var wt = Targets(256, 2);
            using (var warm = fitter.Upload(wp, wt, 256)) { fitter.Run(warm, 5); c.Device.Synchronize(); }

            foreach (int count in new[] { 4096, 16384 })
            {
                var p = SirenParameters(src, count, 400);
                var t = Targets(count, 401);
                var p0First = p.AsSpan(0, 2 * src.ParameterCount).ToArray();
                var th = fitter.MeasureThroughput(p, t, count);
                samples.Add(th.Seconds * 1000);
                metrics[$"inrs{count}_seconds"] = th.Seconds;
                metrics[$"inrs{count}_device_seconds"] = th.DeviceSeconds;
                metrics[$"inrs{count}_inr_steps_per_s"] = th.InrStepsPerSecond;
                metrics[$"inrs{count}_inrs_per_s"] = th.InrsPerSecond;
                metrics[$"inrs{count}_launches"] = th.Launches;
                log.Add($"{count} INRs: {th.InrStepsPerSecond:0.000e+00} INR-steps/s, {th.InrsPerSecond:F0} INRs/s ({th.Seconds:F2} s)");
                value = th.InrsPerSecond;
                if (count == 4096)
                {
                    // Spot check of the result: the first two INRs refitted on the CPU (trajectories of 1000 steps may drift by rounding).
                    var cpu = (float[])p0First.Clone();
                    var rCpu = new InrFitter(src.CreateCpuNetwork(), Grid, GridPoints, settings).FitMany(cpu, t, 2);
                    using var gpuNet = new CudaInputNetwork(c.Device, src);
                    var mseGpu = gpuNet.MseGradient(p, 2, Grid, GridPoints, t, new float[2 * src.ParameterCount]);
                    metrics["spot_cpu_mse_mean"] = rCpu.Average(r => r.Mse);
                    metrics["spot_gpu_mse_mean"] = mseGpu.Average();
                    metrics["spot_mse_rel_diff"] = MaxRelative(mseGpu, rCpu.Select(r => r.Mse).ToArray());
                }
            }
        }

        // --use_fast_math (sinf → __sinf): how much faster, and how far the final MSEs move.
        {
            const int count = 4096;
            using var fast = new CudaInrFitter(c.Device, src, Grid, GridPoints, settings, new[] { "--use_fast_math" });
            var p = SirenParameters(src, count, 400);
            var t = Targets(count, 401);
            var th = fast.MeasureThroughput(p, t, count);
            metrics["fastmath_inrs4096_inr_steps_per_s"] = th.InrStepsPerSecond;
            metrics["fastmath_inrs4096_inrs_per_s"] = th.InrsPerSecond;
            log.Add($"fast math, {count} INRs: {th.InrsPerSecond:F0} INRs/s");
        }

        // The CPU fitter on this machine's cores, for comparison (256 INRs × 100 steps).
        {
            const int count = 256, cpuSteps = 100;
            var p = SirenParameters(src, count, 500);
            var t = Targets(count, 501);
            var f = new InrFitter(src.CreateCpuNetwork(), Grid, GridPoints, settings with { MaxSteps = cpuSteps });
            var sw = Stopwatch.StartNew();
            f.FitMany(p, t, count);
            double s = sw.Elapsed.TotalSeconds;
            metrics["cpu_threads"] = Environment.ProcessorCount;
            metrics["cpu_inr_steps_per_s"] = count * (double)cpuSteps / s;
            metrics["gpu_vs_cpu_inr_steps"] = metrics["inrs16384_inr_steps_per_s"] / metrics["cpu_inr_steps_per_s"];
            log.Add($"CPU fitter ({Environment.ProcessorCount} threads): {metrics["cpu_inr_steps_per_s"]:0.000e+00} INR-steps/s; device/CPU {metrics["gpu_vs_cpu_inr_steps"]:F1}×");
        }
        return new BenchmarkResult(value, "INRs/s", string.Join("; ", log)) { Metrics = metrics, SamplesMs = samples };
    }
}
