using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Algebra;
using LayerCompiler.Ilgpu;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Tools.GpuCheck.Models;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// The ILGPU backend beside the NVRTC one: the generated ILGPU layers and input network against the generated C# kernels
/// (checks), and the same layer timings as <see cref="LayerBenchmarks"/> (batch 512 on 2→32→32→1, the width sweep) with
/// the ILGPU kernels, INR-network gradient throughput and a training epoch. The accelerator: CUDA
/// (<c>LAYERCOMPILER_ILGPU_DEVICE</c> = cuda, cpu or auto overrides; <c>--ilgpu-cpu</c> runs the checks on ILGPU's CPU
/// accelerator without a GPU). Timings: Stopwatch around the launches and an accelerator synchronize, median of the runs.
/// </summary>
public static class IlgpuChecks
{
    public const string DeviceVariable = "LAYERCOMPILER_ILGPU_DEVICE";
    private static IlgpuDevice? _device;

    /// <summary>Set by --ilgpu-cpu before any check runs.</summary>
    public static IlgpuDeviceKind Kind { get; set; } = IlgpuDeviceKind.Cuda;

    public static IlgpuDevice Device
    {
        get
        {
            if (_device == null)
            {
                var kind = Environment.GetEnvironmentVariable(DeviceVariable) is { Length: > 0 } v ? IlgpuDevice.ParseKind(v) : Kind;
                _device = IlgpuDevice.Open(kind);
            }
            // The NVRTC checks make their own (primary) context current on this thread; ILGPU's must be current for its calls.
            _device.Accelerator.Bind();
            return _device;
        }
    }

    public static void DisposeDevice() { _device?.Dispose(); _device = null; }

    private sealed record Case(string Name, Func<WS> Space, Func<LayerPlan, IEquivariantKernel> Cpu, Func<IlgpuDevice, LayerPlan, IlgpuEquivariantKernel> Ilgpu, int Cin, int Cout)
    {
        public LayerPlan Plan() => new(Space(), Cin, Cout);
    }

    private static Case Siren(int width, int cin, int cout) => width switch
    {
        32 => new($"siren32 {cin}x{cout}", Siren32Model.CreateWeightSpace, Siren32Model.CreateKernel, Siren32Model.CreateIlgpuKernel, cin, cout),
        64 => new($"siren64 {cin}x{cout}", Siren64Model.CreateWeightSpace, Siren64Model.CreateKernel, Siren64Model.CreateIlgpuKernel, cin, cout),
        128 => new($"siren128 {cin}x{cout}", Siren128Model.CreateWeightSpace, Siren128Model.CreateKernel, Siren128Model.CreateIlgpuKernel, cin, cout),
        256 => new($"siren256 {cin}x{cout}", Siren256Model.CreateWeightSpace, Siren256Model.CreateKernel, Siren256Model.CreateIlgpuKernel, cin, cout),
        512 => new($"siren512 {cin}x{cout}", Siren512Model.CreateWeightSpace, Siren512Model.CreateKernel, Siren512Model.CreateIlgpuKernel, cin, cout),
        _ => throw new ArgumentException($"No SIREN model of width {width}."),
    };

    public static void Register(CheckRegistry r)
    {
        r.AddCheck("ilgpu-device", "ILGPU opens the accelerator (CUDA unless --ilgpu-cpu)", _ => CheckResult.Pass(Device.Description));
        r.AddCheck("ilgpu-layer-siren32-1x32", "ILGPU layer vs C# kernel: SIREN 2→32→32→1, 1 → 32", _ => Compare(Siren(32, 1, 32), 16));
        r.AddCheck("ilgpu-layer-siren32-32x32", "ILGPU layer vs C# kernel: SIREN 2→32→32→1, 32 → 32", _ => Compare(Siren(32, 32, 32), 16));
        r.AddCheck("ilgpu-layer-cnn-16x16", "ILGPU layer vs C# kernel: small CNN, 16 → 16",
            _ => Compare(new Case("cnn 16x16", SmallCnnModel.CreateWeightSpace, SmallCnnModel.CreateKernel, SmallCnnModel.CreateIlgpuKernel, 16, 16), 16));
        r.AddCheck("ilgpu-inr-network-siren32", "ILGPU input network vs C# network: SIREN 2→32→32→1, 16 networks × 784 points, forward and weight gradient", _ => CompareInr(16, 784));
        r.AddBenchmark("ilgpu-layer-siren32-fwd", $"ILGPU: 32 → 32 layer on SIREN 2→32→32→1, batch {LayerBenchmarks.Batch}: forward", c => Single(c, Siren(32, 32, 32), backward: false));
        r.AddBenchmark("ilgpu-layer-siren32-fwdbwd", $"ILGPU: 32 → 32 layer on SIREN 2→32→32→1, batch {LayerBenchmarks.Batch}: forward + backward", c => Single(c, Siren(32, 32, 32), backward: true));
        r.AddBenchmark("ilgpu-layer-width-sweep", "ILGPU: 32 → 32 layer on SIREN 2→h→h→1, h = 32..512: forward and forward + backward", Sweep);
        r.AddBenchmark("ilgpu-inr-gradient-throughput", "ILGPU: SIREN 2→32→32→1 forward + MSE-style weight gradient of 4096 INRs at 784 points (INR-steps/s)", InrThroughput);
        r.AddCheck("ilgpu-train-step", "ILGPU device trainer vs the CPU trainer: reference classifier, batch 8 (2 on the CPU accelerator), 2 AdamW steps (loss, logits, parameters ≤ 1e-5) and bitwise repeat", _ => TrainStepCheck());
        r.AddBenchmark("ilgpu-train-epoch", "ILGPU device-resident trainer (IlgpuStepExecutor) in the runtime trainer's step: reference classifier, 8 steps of batch 512 (networks/s; everything on the device)", c => TrainEpoch(c, wholeModel: true));
        r.AddBenchmark("ilgpu-train-epoch-layers", "ILGPU layers only in the runtime trainer's step: reference classifier, 8 steps of batch 512 (networks/s; norm, head, loss, AdamW on the host)", c => TrainEpoch(c, wholeModel: false));
    }

    private static float[] RandomVector(int n, Random rng, double scale = 1)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(scale * (rng.NextDouble() * 2 - 1));
        return v;
    }

    private static double RelErr(float[] a, float[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; num = Math.Max(num, Math.Abs(d)); den = Math.Max(den, Math.Abs(b[i])); }
        return num / Math.Max(den, 1e-30);
    }

    private static CheckResult Compare(Case c, int batch)
    {
        var plan = c.Plan();
        var cpu = (IReluFusingKernel)c.Cpu(plan);
        using var gpu = c.Ilgpu(Device, plan);
        var rng = new Random(37);
        var w = RandomVector(plan.WeightCount, rng, 0.1); var b = RandomVector(plan.BiasCount, rng, 0.1);
        var x = LayerChecks.RandomBatch(plan.Space, batch, c.Cin, rng);
        var gy = LayerChecks.RandomBatch(plan.Space, batch, c.Cout, rng);
        var y1 = new WeightSpaceBatch(plan.Space, batch, c.Cout); var y2 = new WeightSpaceBatch(plan.Space, batch, c.Cout);
        cpu.Forward(w, b, x, y1, true); gpu.Forward(w, b, x, y2, true);
        var gx1 = new WeightSpaceBatch(plan.Space, batch, c.Cin); var gx2 = new WeightSpaceBatch(plan.Space, batch, c.Cin);
        var gw1 = new float[w.Length]; var gb1 = new float[b.Length]; var gw2 = new float[w.Length]; var gb2 = new float[b.Length];
        cpu.Backward(w, x, gy, gx1, gw1, gb1, true); gpu.Backward(w, x, gy, gx2, gw2, gb2, true);
        double ef = RelErr(y2.Flatten(), y1.Flatten()), eg = RelErr(gx2.Flatten(), gx1.Flatten()), ew = RelErr(gw2, gw1), eb = RelErr(gb2, gb1);
        var gw3 = new float[w.Length]; var gb3 = new float[b.Length];
        gpu.Backward(w, x, gy, null, gw3, gb3);
        bool bitwise = gw3.AsSpan().SequenceEqual(gw2) && gb3.AsSpan().SequenceEqual(gb2);
        bool ok = ef <= 1e-5 && eg <= 1e-5 && ew <= 1e-5 && eb <= 1e-5 && bitwise;
        string details = $"{c.Name} batch {batch}: forward {ef:E1}, gx {eg:E1}, gw {ew:E1}, gb {eb:E1} (max-norm relative), repeat bitwise {bitwise}";
        return (ok ? CheckResult.Pass(details) : CheckResult.Fail(details)) with
        {
            Metrics = new() { ["forward_rel_err"] = ef, ["gx_rel_err"] = eg, ["gw_rel_err"] = ew, ["gb_rel_err"] = eb },
        };
    }

    private static CheckResult CompareInr(int batch, int points)
    {
        var cpu = new Siren32.Network();
        using var gpu = Siren32.IlgpuNetwork.Create(Device);
        var rng = new Random(41);
        var w = LayerChecks.RandomBatch(cpu.Space, batch, 1, rng);
        foreach (var t in w.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] *= 0.05f;
        var xy = RandomVector(points * 2, rng);
        var y1 = new float[batch * points]; cpu.Forward(w, xy, points, y1);
        var y2 = gpu.Forward(w, xy, points);
        var gy = RandomVector(batch * points, rng);
        var g1 = new WeightSpaceBatch(cpu.Space, batch, 1); var g2 = new WeightSpaceBatch(cpu.Space, batch, 1);
        cpu.Backward(w, xy, points, gy, g1); gpu.Backward(w, xy, points, gy, g2);
        double ef = RelErr(y2, y1), eg = RelErr(g2.Flatten(), g1.Flatten());
        string details = $"forward {ef:E1}, weight gradient {eg:E1}";
        return (ef <= 1e-5 && eg <= 1e-5 ? CheckResult.Pass(details) : CheckResult.Fail(details)) with { Metrics = new() { ["forward_rel_err"] = ef, ["grad_rel_err"] = eg } };
    }

    private static List<double> Time(int warmup, int runs, Action op)
    {
        var acc = Device.Accelerator;
        for (int i = 0; i < warmup; i++) op();
        acc.Synchronize();
        var samples = new List<double>(runs);
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            op();
            acc.Synchronize();
            samples.Add(sw.Elapsed.TotalMilliseconds);
        }
        return samples;
    }

    private static double Median(List<double> s) { var o = s.OrderBy(v => v).ToList(); return o.Count % 2 == 1 ? o[o.Count / 2] : 0.5 * (o[o.Count / 2 - 1] + o[o.Count / 2]); }

    private sealed record Timing(int Batch, double MedianMs, double Bytes, double GBs, double Fraction, List<double> Samples);

    private static Timing Measure(CheckContext c, Case lc, bool backward, int batch)
    {
        var plan = lc.Plan();
        using var k = lc.Ilgpu(Device, plan);
        var acc = Device.Accelerator;
        var rng = new Random(5);
        long inF = (long)batch * k.Source.InputFloats, outF = (long)batch * k.Source.OutputFloats;
        using var w = acc.Allocate1D(RandomVector(plan.WeightCount, rng, 0.05));
        using var b = acc.Allocate1D(RandomVector(plan.BiasCount, rng, 0.05));
        using var x = acc.Allocate1D(RandomVector((int)inF, rng));
        using var y = acc.Allocate1D<float>(outF);
        using var gy = acc.Allocate1D(RandomVector((int)outF, rng));
        using var gx = acc.Allocate1D<float>(inF);
        using var gw = acc.Allocate1D<float>(plan.WeightCount);
        using var gb = acc.Allocate1D<float>(plan.BiasCount);
        void Op()
        {
            k.Forward(w.View, b.View, x.View, y.View, batch);
            if (backward) k.Backward(w.View, x.View, gy.View, gx.View, gw.View, gb.View, batch, inputGradient: true);
        }
        var samples = Time(c.Options.Warmup, c.Options.Runs, Op);
        double median = Median(samples);
        double p = plan.WeightCount + plan.BiasCount;
        double bytes = (backward ? (inF + outF + p) + (2.0 * inF + outF + 2.0 * p) : inF + outF + p) * sizeof(float);
        double gbs = bytes / (median * 1e-3) / 1e9;
        return new Timing(batch, median, bytes, gbs, gbs / LayerBenchmarks.MeasuredBandwidthGBs(c), samples);
    }

    private static int FitBatch(Case lc)
    {
        var plan = lc.Plan();
        long perNet = (long)plan.Space.Dimension * (lc.Cin * 3 + lc.Cout * 2) * sizeof(float) * 2;   // batches + scratch, roughly
        long free = Device.Accelerator.MemorySize;
        return (int)Math.Max(1, Math.Min(LayerBenchmarks.Batch, free * 6 / 10 / Math.Max(1, perNet)));
    }

    private static BenchmarkResult Single(CheckContext c, Case lc, bool backward)
    {
        var t = Measure(c, lc, backward, LayerBenchmarks.Batch);
        double d2d = LayerBenchmarks.MeasuredBandwidthGBs(c);
        var metrics = new Dictionary<string, double>
        {
            ["batch"] = t.Batch, ["median_ms"] = t.MedianMs, ["ideal_bytes"] = t.Bytes, ["gbps"] = t.GBs,
            ["fraction_of_d2d"] = t.Fraction, ["d2d_gbps"] = d2d,
        };
        if (c.Device.TheoreticalBandwidthGBs is double peak) metrics["fraction_of_hbm_peak"] = t.GBs / peak;
        return new BenchmarkResult(t.MedianMs, "ms", $"{t.Bytes / 1e6:F1} MB must move → {t.GBs:F0} GB/s = {100 * t.Fraction:F0}% of the measured {d2d:F0} GB/s d2d copy")
        { Metrics = metrics, SamplesMs = t.Samples };
    }

    private static BenchmarkResult Sweep(CheckContext c)
    {
        var metrics = new Dictionary<string, double>();
        var lines = new List<string>();
        var fractions = new List<double>();
        foreach (int h in new[] { 32, 64, 128, 256, 512 })
        {
            var lc = Siren(h, 32, 32);
            int batch = FitBatch(lc);
            var f = Measure(c, lc, false, batch);
            var fb = Measure(c, lc, true, batch);
            string p = $"h{h}_";
            metrics[p + "batch"] = batch;
            metrics[p + "fwd_ms"] = f.MedianMs; metrics[p + "fwd_fraction_of_d2d"] = f.Fraction;
            metrics[p + "fwdbwd_ms"] = fb.MedianMs; metrics[p + "fwdbwd_fraction_of_d2d"] = fb.Fraction;
            fractions.Add(f.Fraction);
            lines.Add($"h={h} batch {batch}: fwd {f.MedianMs:F2} ms ({100 * f.Fraction:F0}%), fwd+bwd {fb.MedianMs:F2} ms ({100 * fb.Fraction:F0}%)");
            Console.WriteLine("  " + lines[^1]);
        }
        return new BenchmarkResult(100 * fractions.Average(), "% of d2d (fwd, mean over widths)", string.Join("; ", lines)) { Metrics = metrics };
    }

    private static BenchmarkResult InrThroughput(CheckContext c)
    {
        const int count = 4096, points = 784;
        using var net = Siren32.IlgpuNetwork.Create(Device);
        var acc = Device.Accelerator;
        var rng = new Random(3);
        using var p = acc.Allocate1D(RandomVector(count * Siren32.IlgpuNetwork.ParameterCount, rng, 0.05));
        using var xy = acc.Allocate1D(RandomVector(points * 2, rng));
        using var y = acc.Allocate1D<float>((long)count * points);
        using var gy = acc.Allocate1D(RandomVector(count * points, rng));
        using var g = acc.Allocate1D<float>((long)count * Siren32.IlgpuNetwork.ParameterCount);
        var samples = Time(1, Math.Max(3, c.Options.Runs / 5), () =>
        {
            net.Forward(p.View, xy.View, y.View, count, points);
            net.Backward(p.View, xy.View, gy.View, g.View, count, points);
        });
        double median = Median(samples);
        double stepsPerS = count / (median * 1e-3);
        return new BenchmarkResult(stepsPerS, "INR-steps/s", $"{count} INRs × {points} points: forward + weight gradient in {median:F2} ms")
        { Metrics = new() { ["inrs"] = count, ["points"] = points, ["median_ms"] = median, ["inr_steps_per_s"] = stepsPerS }, SamplesMs = samples };
    }

    private static BenchmarkResult TrainEpoch(CheckContext c, bool wholeModel)
    {
        const int batch = 512, steps = 8;
        var model = new ReferenceClassifier(Device, seed: 1);
        var options = LayerCompiler.Runtime.Training.TrainerOptions.Reference();
        using var deviceExecutor = wholeModel ? new IlgpuStepExecutor(Device, model, options) : null;
        LayerCompiler.Runtime.Training.IStepExecutor executor = deviceExecutor ?? (LayerCompiler.Runtime.Training.IStepExecutor)LayerCompiler.Runtime.Training.ModuleStepExecutor.For(model, options);
        executor.SetTraining(true);
        var rng = new Random(9);
        var x = LayerChecks.RandomBatch(model.Space, batch, 1, rng);
        var labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        var objective = new LayerCompiler.Runtime.Training.ClassificationObjective();
        executor.Step(x.Clone(), new(labels, null), objective);   // warm-up: loads and compiles the kernels
        var samples = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            var input = x.Clone();
            var sw = Stopwatch.StartNew();
            executor.Step(input, new(labels, null), objective);   // returns after the loss and logits are on the host
            samples.Add(sw.Elapsed.TotalMilliseconds);
        }
        double median = Median(samples);
        string where = wholeModel ? "the whole model on the accelerator: batch up, loss and logits down" : "equivariant layers on the accelerator, the rest on the host";
        return new BenchmarkResult(batch / (median * 1e-3), "networks/s", $"{steps} steps of batch {batch}, median step {median:F1} ms ({where})")
        { Metrics = new() { ["median_step_ms"] = median, ["steps"] = steps, ["batch"] = batch, ["whole_model_on_device"] = wholeModel ? 1 : 0 }, SamplesMs = samples };
    }

    /// <summary>
    /// The device trainer against the CPU trainer on the reference classifier (batch 8, two AdamW steps): losses and logits ≤ 1e-5;
    /// parameters ≤ 1e-5 except the elements whose true gradient is zero (the layers' biases and constant terms before a
    /// normalization: their float gradients are rounding noise that Adam turns into steps of up to ±lr), which must stay
    /// within 2·Σlr; a second device run bitwise equal.
    /// </summary>
    private static CheckResult TrainStepCheck()
    {
        // Batch 8 on a GPU; 2 on ILGPU's CPU accelerator (--ilgpu-cpu), where the 32-channel layers are slow.
        int batch = Device.Kind == IlgpuDeviceKind.Cpu ? 2 : 8;
        const int steps = 2;
        var options = LayerCompiler.Runtime.Training.TrainerOptions.Reference();
        var objective = new LayerCompiler.Runtime.Training.ClassificationObjective();
        var cpuModel = new ReferenceClassifier(seed: 1);
        var cpu = LayerCompiler.Runtime.Training.ModuleStepExecutor.For(cpuModel, options);
        var named = cpuModel.NamedParameters().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Parameter).ToArray();
        var noise = new bool[named.Sum(p => p.Length)];
        (float[] Losses, float[] Logits, float[] Parameters) Run(LayerCompiler.Runtime.Training.IStepExecutor e, bool markNoise)
        {
            var losses = new List<float>(); var logits = new List<float>();
            e.SetTraining(true);
            for (int s = 0; s < steps; s++)
            {
                var x = LayerChecks.RandomBatch(cpuModel.Space, batch, 1, new Random(100 + s));
                var labels = Enumerable.Range(0, batch).Select(i => (i + s) % 10).ToArray();
                var r = e.Step(x, new(labels, null), objective);
                losses.Add(r.Loss); logits.AddRange(r.Outputs.Data);
                if (markNoise)
                {
                    var g = named.SelectMany(p => p.Grad.Data).ToArray();
                    float max = g.Max(Math.Abs);
                    for (int i = 0; i < g.Length; i++) if (Math.Abs(g[i]) <= 1e-5f * max) noise[i] = true;
                }
            }
            var parameters = e.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.Data).ToArray();
            return (losses.ToArray(), logits.ToArray(), parameters);
        }
        var reference = Run(cpu, markNoise: true);
        (float[] Losses, float[] Logits, float[] Parameters) OnDevice()
        {
            using var e = new IlgpuStepExecutor(Device, new ReferenceClassifier(Device, seed: 1), options);
            return Run(e, markNoise: false);
        }
        var d = OnDevice();
        var again = OnDevice();
        float[] Real(float[] v) => v.Where((_, i) => !noise[i]).ToArray();
        double el = RelErr(d.Losses, reference.Losses), eo = RelErr(d.Logits, reference.Logits), ep = RelErr(Real(d.Parameters), Real(reference.Parameters));
        double drift = d.Parameters.Select((v, i) => noise[i] ? Math.Abs(v - reference.Parameters[i]) : 0).DefaultIfEmpty(0).Max();
        double bound = 2 * steps * options.LearningRate;
        bool bitwise = d.Parameters.Select(BitConverter.SingleToInt32Bits).SequenceEqual(again.Parameters.Select(BitConverter.SingleToInt32Bits))
            && d.Losses.Select(BitConverter.SingleToInt32Bits).SequenceEqual(again.Losses.Select(BitConverter.SingleToInt32Bits));
        bool ok = el <= 1e-5 && eo <= 1e-5 && ep <= 1e-5 && drift <= bound && bitwise;
        string details = string.Create(CultureInfo.InvariantCulture,
            $"losses {string.Join(", ", d.Losses)} vs {string.Join(", ", reference.Losses)}: rel {el:E2}; logits rel {eo:E2}; parameters rel {ep:E2} " +
            $"({noise.Count(n => n)} zero-gradient elements, drift {drift:E2} ≤ {bound:E2}); bitwise repeat {(bitwise ? "yes" : "NO")}");
        return (ok ? CheckResult.Pass(details) : CheckResult.Fail(details)) with
        { Metrics = new() { ["loss_rel_err"] = el, ["logits_rel_err"] = eo, ["param_rel_err"] = ep, ["zero_grad_drift"] = drift, ["bitwise_repeat"] = bitwise ? 1 : 0 } };
    }
}
