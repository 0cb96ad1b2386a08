using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Gpu;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tools.GpuCheck.Models;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// Training on the device (<see cref="CudaTrainer"/>): training steps against the CPU model, loss and AdamW, and the
/// training throughput of the reference classifier (5 layers × 32 channels, EquivariantNorm, SIREN 2→32→32→1 space,
/// batch 512).
/// </summary>
public static class TrainChecks
{
    public const int ReferenceBatch = 512;

    public static void Register(CheckRegistry r)
    {
        r.AddCheck("train-step", "CudaTrainer vs the CPU model + AdamW (AMSGrad): reference classifier (5 × 32 channels, norm), batch 64, 10 steps with warmup-cosine lr: " +
            "step 1 gradients and parameters ≤ 1e-5, losses and parameters after 10 steps ≤ 1e-4, same correct counts, bitwise-repeatable",
            c => StepCheck(c, "reference", s => new ReferenceClassifier(s), ReferenceClassifier.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 64 }, 10));
        r.AddCheck("train-step-gelu", "CudaTrainer vs the CPU model: GELU, hidden head layer, clipping 1.0, label smoothing 0.1 (SIREN 2→32→32→1 space, 16 channels), batch 64, 5 steps",
            c => StepCheck(c, "gelu", s => new GeluHeadClassifier(s), GeluHeadClassifier.CudaSources.ForChannels,
                new CudaTrainerOptions { MaxBatch = 64, ClipGradNorm = 1f, LabelSmoothing = 0.1f }, 5));
        r.AddCheck("train-step-maxpool", "CudaTrainer vs the CPU model: max-pooling head (the sample's quick model: 3 × 16 channels), batch 64, 5 steps",
            c => StepCheck(c, "maxpool", s => new MaxPoolClassifier(s), MaxPoolClassifier.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 64 }, 5));
        r.AddCheck("train-step-meanmax", "CudaTrainer vs the CPU model: mean-and-max pooling head with EquivariantNorm (2 × 16 channels), batch 64, 5 steps",
            c => StepCheck(c, "meanmax", s => new MeanMaxPoolClassifier(s), MeanMaxPoolClassifier.CudaSources.ForChannels, new CudaTrainerOptions { MaxBatch = 64 }, 5));
        r.AddBenchmark("train-throughput", $"Training on the device: reference classifier (5 × 32 channels, norm, SIREN 2→32→32→1 space), batch {ReferenceBatch}, AdamW + AMSGrad: " +
            "training steps/s and networks/s (batch upload and loss read included), per-kernel times of one step, and the CPU trainer's steps/s",
            Throughput);
    }

    /// <summary>Gaussian weights and random labels (seeded).</summary>
    internal static (WeightSpaceBatch X, int[] Labels) Batch(EquivariantNetwork m, int batch, int classes, ulong seed)
    {
        var x = new WeightSpaceBatch(m.Space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.Normal();
        return (x, Enumerable.Range(0, batch).Select(_ => rng.NextInt(classes)).ToArray());
    }

    private static float[] Flat(EquivariantNetwork m, Func<Parameter, float[]> f) => m.Parameters().SelectMany(f).ToArray();

    private static double Relative(float[] a, float[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (float.IsNaN(a[i])) return double.PositiveInfinity;
            double d = a[i] - b[i];
            num += d * d;
            den += (double)b[i] * b[i];
        }
        return Math.Sqrt(num / Math.Max(den, 1e-300));
    }

    /// <summary>
    /// Parameter agreement leaving out elements whose true gradient is zero (CPU gradient ≤ 1e-6 of the largest at any step so
    /// far, collected in <paramref name="noise"/>): e.g. the bias and broadcast terms of a layer followed by EquivariantNorm,
    /// which removes their effect. Both sides hold rounding noise there, which Adam scales to steps of up to ±lr, so two float
    /// implementations step differently (the loss does not depend on them). Their largest drift |Δ|/(1 + |p|) is returned.
    /// </summary>
    private static (double Error, int Masked, double Drift) Parameters(float[] device, float[] cpu, float[] cpuGrads, bool[] noise)
    {
        float max = cpuGrads.Max(MathF.Abs);
        for (int i = 0; i < cpuGrads.Length; i++) if (MathF.Abs(cpuGrads[i]) <= 1e-6f * max) noise[i] = true;
        double drift = 0;
        for (int i = 0; i < cpu.Length; i++) if (noise[i]) drift = Math.Max(drift, Math.Abs(device[i] - cpu[i]) / (1 + Math.Abs(cpu[i])));
        return (Relative(device.Where((_, i) => !noise[i]).ToArray(), cpu.Where((_, i) => !noise[i]).ToArray()), noise.Count(b => b), drift);
    }

    public static CheckResult StepCheck(CheckContext c, string name, Func<ulong, EquivariantNetwork> create, Func<int, int, CudaLayerSource> sources,
        CudaTrainerOptions o, int steps)
    {
        const int batch = 64;
        var cpuModel = create(1);
        var opt = new AdamW(cpuModel.Parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, o.AmsGrad);
        var ce = new SoftmaxCrossEntropy(o.LabelSmoothing);
        var probe = create(2);
        var schedule = new WarmupCosineSchedule(o.LearningRate, 2, steps, 1e-4f);
        var sw = Stopwatch.StartNew();
        using var trainer = new CudaTrainer(c.Device, create(1), sources, o);
        double compileSeconds = sw.Elapsed.TotalSeconds;
        var noise = new bool[cpuModel.Parameters().Sum(p => p.Length)];
        var problems = new List<string>();
        var metrics = new Dictionary<string, double> { ["compile_seconds"] = compileSeconds, ["parameters"] = noise.Length };
        double maxLoss = 0, lrSum = 0, drift = 0, ep = 0;
        var losses = new List<float>();
        for (int s = 0; s < steps; s++)
        {
            var (x, labels) = Batch(cpuModel, batch, trainer.Classes, 1000 + (ulong)s);
            float lr = schedule.At(s);
            lrSum += lr;
            cpuModel.ZeroGrad();
            var logits = cpuModel.Forward(x);
            var (loss, grad) = ce.Compute(logits, labels);
            int correct = Metrics.ArgMax(logits).Where((p, i) => p == labels[i]).Count();
            cpuModel.Backward(grad);
            var grads = Flat(cpuModel, p => p.Grad.Data);
            if (o.ClipGradNorm is float clip) GradientClipping.ClipGradNorm(cpuModel.Parameters(), clip);
            opt.LearningRate = lr;
            opt.Step();

            trainer.LearningRate = lr;
            var r = trainer.Step(x, labels);
            losses.Add(r.Loss);
            double el = Math.Abs(r.Loss - loss) / Math.Abs(loss);
            maxLoss = Math.Max(maxLoss, el);
            if (r.Correct != correct) problems.Add($"step {s + 1}: correct {r.Correct} vs CPU {correct}");
            trainer.CopyParametersTo(probe);
            (ep, int masked, double d) = Parameters(Flat(probe, p => p.Data), Flat(cpuModel, p => p.Data), grads, noise);
            drift = Math.Max(drift, d);
            metrics["masked_parameters"] = masked;
            if (s == 0)
            {
                trainer.CopyGradientsTo(probe);
                double eg = Relative(Flat(probe, p => p.Grad.Data), grads);
                metrics["step1_loss_rel"] = el;
                metrics["step1_gradient_rel"] = eg;
                metrics["step1_parameter_rel"] = ep;
                if (!(el <= 1e-5)) problems.Add($"step 1 loss {r.Loss} vs CPU {loss}");
                if (!(eg <= 1e-5)) problems.Add($"step 1 gradient relative error {eg:E2}");
                if (!(ep <= 1e-5)) problems.Add($"step 1 parameter relative error {ep:E2}");
            }
            else if (!(el <= 1e-4)) problems.Add($"step {s + 1} loss {r.Loss} vs CPU {loss}");
            c.Log.WriteLine($"    {name} step {s + 1}: loss {r.Loss:R} (CPU {loss:R}), parameters {ep:E2} ({masked} with zero true gradient, drift {d:E2})");
        }
        metrics[$"step{steps}_parameter_rel"] = ep;
        metrics["max_loss_rel"] = maxLoss;
        metrics["zero_gradient_drift"] = drift;
        if (!(ep <= 1e-4)) problems.Add($"parameters after {steps} steps: relative error {ep:E2}");
        if (!(drift <= 2 * lrSum)) problems.Add($"an element with zero true gradient drifted {drift:E2} (learning rates sum to {lrSum:E2})");

        // Bitwise repeatable: the same steps from the same start.
        var end = trainer.StateDict();
        using (var again = new CudaTrainer(c.Device, create(1), sources, o))
        {
            for (int s = 0; s < steps; s++)
            {
                var (x, labels) = Batch(cpuModel, batch, trainer.Classes, 1000 + (ulong)s);
                again.LearningRate = schedule.At(s);
                if (again.Step(x, labels).Loss != losses[s]) { problems.Add($"not repeatable: step {s + 1} loss differs"); break; }
            }
            var end2 = again.StateDict();
            if (end.Any(kv => !kv.Value.Data.AsSpan().SequenceEqual(end2[kv.Key].Data))) problems.Add("not repeatable: parameters differ bitwise");
        }
        string details = $"{steps} steps of batch {batch}: step-1 gradients {metrics["step1_gradient_rel"]:E2}, parameters {metrics["step1_parameter_rel"]:E2}; " +
            $"after {steps}: parameters {ep:E2}, losses ≤ {maxLoss:E2} ({metrics["masked_parameters"]} of {noise.Length} parameters with zero true gradient left out, drift {drift:E2})";
        return (problems.Count == 0 ? CheckResult.Pass(details) : CheckResult.Fail(string.Join("; ", problems) + " — " + details)) with { Metrics = metrics };
    }

    public static BenchmarkResult Throughput(CheckContext c)
    {
        var o = new CudaTrainerOptions { MaxBatch = ReferenceBatch };
        var model = new ReferenceClassifier(7);
        var batches = Enumerable.Range(0, 4).Select(i => Batch(model, ReferenceBatch, 10, 2000 + (ulong)i)).ToArray();
        var metrics = new Dictionary<string, double>();
        var samples = new List<double>();
        var log = new List<string>();
        var sw = Stopwatch.StartNew();
        using var trainer = new CudaTrainer(c.Device, model, ReferenceClassifier.CudaSources.ForChannels, o);
        metrics["compile_seconds"] = sw.Elapsed.TotalSeconds;
        metrics["device_bytes"] = trainer.DeviceBytes;
        metrics["parameters"] = model.ParameterCount();
        for (int i = 0; i < Math.Max(1, c.Options.Warmup); i++) trainer.Step(batches[i % 4].X, batches[i % 4].Labels);

        // Steps back to back, each timed on the host (upload, kernels, loss read) and on the device (events around the step).
        using var start = c.Device.CreateEvent();
        using var end = c.Device.CreateEvent();
        var deviceMs = new List<double>();
        var total = Stopwatch.StartNew();
        for (int i = 0; i < c.Options.Runs; i++)
        {
            var (x, labels) = batches[i % 4];
            var t = Stopwatch.StartNew();
            start.Record();
            trainer.Step(x, labels);
            end.Record();
            samples.Add(t.Elapsed.TotalMilliseconds);
            end.Synchronize();
            deviceMs.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        double seconds = total.Elapsed.TotalSeconds;
        double median = samples.Order().ElementAt(samples.Count / 2);
        double stepsPerSecond = c.Options.Runs / seconds;
        metrics["steps_per_s"] = stepsPerSecond;
        metrics["networks_per_s"] = stepsPerSecond * ReferenceBatch;
        metrics["median_step_ms"] = median;
        metrics["min_step_ms"] = samples.Min();
        metrics["median_device_step_ms"] = deviceMs.Order().ElementAt(deviceMs.Count / 2);
        log.Add($"{stepsPerSecond:F1} steps/s = {stepsPerSecond * ReferenceBatch:F0} networks/s (median step {median:F2} ms, device {metrics["median_device_step_ms"]:F2} ms)");

        // Per-kernel device time of one step: an event after every launch.
        {
            var events = new List<(string Kernel, CudaEvent Event)>();
            using var s0 = c.Device.CreateEvent();
            trainer.LaunchObserver = k => { var e = c.Device.CreateEvent(); e.Record(); events.Add((k, e)); };
            s0.Record();
            trainer.Step(batches[0].X, batches[0].Labels);
            trainer.LaunchObserver = null;
            c.Device.Synchronize();
            var prev = s0;
            var perKernel = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (k, e) in events)
            {
                perKernel[k] = perKernel.GetValueOrDefault(k) + CudaEvent.ElapsedMilliseconds(prev, e);
                prev = e;
            }
            foreach (var (k, ms) in perKernel) metrics[$"kernel_ms.{k}"] = ms;
            metrics["launches_per_step"] = events.Count;
            var top = perKernel.OrderByDescending(kv => kv.Value).Take(5).Select(kv => $"{kv.Key} {kv.Value:F2} ms");
            log.Add($"{events.Count} launches per step; slowest: {string.Join(", ", top)}");
            foreach (var (_, e) in events) e.Dispose();
        }

        // The CPU trainer on this machine's cores (same model, batch, loss and AdamW), for comparison.
        {
            var cpu = new ReferenceClassifier(7);
            var opt = new AdamW(cpu.Parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, o.AmsGrad);
            var ce = new SoftmaxCrossEntropy();
            void CpuStep(int i)
            {
                cpu.ZeroGrad();
                var (loss, grad) = ce.Compute(cpu.Forward(batches[i].X), batches[i].Labels);
                cpu.Backward(grad);
                opt.Step();
            }
            CpuStep(0);
            const int cpuSteps = 2;
            var t = Stopwatch.StartNew();
            for (int i = 1; i <= cpuSteps; i++) CpuStep(i);
            double cpuRate = cpuSteps / t.Elapsed.TotalSeconds;
            metrics["cpu_threads"] = Environment.ProcessorCount;
            metrics["cpu_steps_per_s"] = cpuRate;
            metrics["gpu_vs_cpu_steps"] = stepsPerSecond / cpuRate;
            log.Add($"CPU trainer ({Environment.ProcessorCount} threads): {cpuRate:F2} steps/s; device/CPU {stepsPerSecond / cpuRate:F0}×");
        }
        return new BenchmarkResult(stepsPerSecond, "steps/s", string.Join("; ", log)) { Metrics = metrics, SamplesMs = samples };
    }
}
