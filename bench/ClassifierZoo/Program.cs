using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.ClassifierZoo.Generalization;
using System;
using System.Diagnostics;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;

// Usage:
//   build --dir D [--arch cnn|mlp3|mlp5] [--quick|--full|--full-every-epoch] [--seed S] [--runs N]
//        builds (or resumes) a classifier zoo; Ctrl-C stops after the current step, keeping finished shards.
//   generalization --zoo D [--models hnp,np,statnn,mlp] [--seeds 3] [--epochs 50]
//        trains each model on the zoo's train split (selection on validation τ) and prints the test τ / R² table.
//   kernel [--arch cnn] [--networks N] [--batch B] [--repeats R]
//        times the generated pass alone (Forward, Backward; ReLU and tanh): wall and CPU µs per image.
//   throughput [--arch cnn] [--networks N] [--epochs E] [--pool P] [--repeats R]
//        trains N networks at once for E pool epochs on P Fashion-MNIST images (R timed builds after a warm-up) and prints
//        network-epochs/s (min / median / max), the peak working set, and for the CNN achieved GFLOP/s against the FMA peak.
string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
bool Flag(string name) => args.Contains(name);
ZooArchitecture Arch() => Arg("--arch", "cnn") switch
{
    "cnn" => ZooArchitecture.Cnn, "mlp3" => ZooArchitecture.Mlp3, "mlp5" => ZooArchitecture.Mlp5,
    var a => throw new ArgumentException($"--arch {a}: use cnn, mlp3 or mlp5."),
};
int Int(string name, int fallback) => int.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

if (args.Length > 0 && args[0] == "generalization")
{
    string zooDir = Arg("--zoo", "");
    if (zooDir.Length == 0) { Console.Error.WriteLine("generalization: --zoo is required"); return 2; }
    var zoo = ClassifierZooReader.Read(zooDir);
    var models = Arg("--models", string.Join(",", GeneralizationModelKinds.All)).Split(',');
    int seeds = Int("--seeds", 3);
    var gs = new GeneralizationSettings { Epochs = Int("--epochs", 50) };
    Console.WriteLine($"{DateTime.Now:HH:mm:ss} zoo {zooDir}: {zoo.Architecture}, {zoo.Count} checkpoints; models {string.Join(",", models)}; seeds 0..{seeds - 1}; {gs.Epochs} epochs, batch {gs.BatchSize}, Adam {gs.LearningRate}");
    var results = new List<GeneralizationResult>();
    foreach (var m in models)
        for (ulong seed = 0; seed < (ulong)seeds; seed++)
        {
            var r = GeneralizationExperiment.Run(zoo, m, seed, gs);
            results.Add(r);
            Console.WriteLine($"{DateTime.Now:HH:mm:ss} {m} seed {seed}: test τ {r.TestTau:0.000}, R² {r.TestR2:0.000} (validation τ {r.ValidationTau:0.000} at epoch {r.BestEpoch}; {r.Train}/{r.Validation}/{r.Test} train/validation/test)");
        }
    Console.WriteLine(GeneralizationExperiment.Table(results));
    return 0;
}
if (args.Length > 0 && args[0] == "kernel")
{
    // The generated pass alone: Forward and Backward of N networks × B random images (random weights, std 0.1), after a
    // warm-up; wall and process CPU time per image (min / median / max over R calls).
    int nk = Int("--networks", 16), bk = Int("--batch", 32), rk = Int("--repeats", 20);
    foreach (var act in new[] { LayerCompiler.InputActivation.ReLU, LayerCompiler.InputActivation.Tanh })
    {
        var pass = ClassifierPass.For(Arch(), act);
        var rng = new Random(1);
        var w = new LayerCompiler.Runtime.WeightSpaceBatch(pass.Space, nk, 1);
        foreach (var t in w.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() - 0.5) * 0.2f;
        var g = new LayerCompiler.Runtime.WeightSpaceBatch(pass.Space, nk, 1);
        var x = new float[256 * pass.InputLength];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var idx = new int[nk * bk];
        for (int i = 0; i < idx.Length; i++) idx[i] = rng.Next(256);
        var logits = new float[nk * bk * pass.Outputs];
        var gl = new float[logits.Length];
        for (int i = 0; i < gl.Length; i++) gl[i] = (float)(rng.NextDouble() - 0.5);
        void Time(string name, Action call)
        {
            for (int k = 0; k < 5; k++) call();
            var wall = new List<double>(); var cpu = new List<double>();
            for (int k = 0; k < rk; k++)
            {
                var c0 = Process.GetCurrentProcess().TotalProcessorTime; var sw = Stopwatch.StartNew();
                call();
                wall.Add(sw.Elapsed.TotalSeconds * 1e6 / (nk * bk)); cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - c0).TotalSeconds * 1e6 / (nk * bk));
            }
            wall.Sort(); cpu.Sort();
            Console.WriteLine($"{pass.Architecture} {act} {name}: wall {wall[0]:0.0} / {wall[rk / 2]:0.0} / {wall[^1]:0.0} µs per image, CPU {cpu[0]:0.0} / {cpu[rk / 2]:0.0} / {cpu[^1]:0.0} µs per image (min / median / max of {rk} calls of {nk} networks × {bk} images)");
        }
        Time("Forward", () => pass.Forward(w, x, idx, bk, logits, null));
        Time("Backward", () => pass.Backward(w, x, idx, bk, gl, g, null));
    }
    return 0;
}
if (args.Length == 0 || (args[0] != "build" && args[0] != "throughput"))
{
    Console.Error.WriteLine("usage: build --dir D [--arch cnn|mlp3|mlp5] [--quick|--full|--full-every-epoch] [--seed S] [--runs N] | throughput [--arch cnn] [--networks N] [--epochs E] [--pool P] [--repeats R]");
    return 2;
}
var arch = Arch();
if (args[0] == "build")
{
    string dir = Arg("--dir", "");
    if (dir.Length == 0) { Console.Error.WriteLine("build: --dir is required"); return 2; }
    var s = Flag("--full") ? ClassifierZooSettings.Full(arch) : Flag("--full-every-epoch") ? ClassifierZooSettings.FullEveryEpoch(arch) : ClassifierZooSettings.Quick(arch);
    s = s with { Seed = ulong.Parse(Arg("--seed", "1"), CultureInfo.InvariantCulture) };
    if (Arg("--runs", "") is { Length: > 0 } runs) s = s with { Runs = int.Parse(runs, CultureInfo.InvariantCulture) };
    using var cts = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); Console.Error.WriteLine("stopping after the current step; finished shards are kept"); };
    Console.WriteLine($"{DateTime.Now:HH:mm:ss} building {s.Architecture} zoo in {dir}: {s.Runs} runs × {s.CheckpointEpochs.Length} checkpoints (epochs {string.Join(",", s.CheckpointEpochs)}), pool {s.TrainPool}, batch {s.BatchSize}, test {s.TestCount}, seed {s.Seed}");
    var last = Stopwatch.StartNew();
    var progress = new Progress(p =>
    {
        if (p.Message == null && last.Elapsed.TotalSeconds < 30) return;
        last.Restart();
        Console.WriteLine($"{DateTime.Now:HH:mm:ss} runs {p.RunsDone}/{p.Runs}  {p.NetworkEpochsPerSecond:0.00} network-epochs/s  ETA {(p.Eta is TimeSpan t ? t.ToString(@"d\.hh\:mm\:ss") : "?")}  {p.Message}");
    });
    try
    {
        var r = ClassifierZooBuilder.ForFashionMnist(s, dir).Build(progress, cts.Token);
        Console.WriteLine($"done: {r.Manifest.Shards.Sum(x => x.Checkpoints)} checkpoints, {r.Manifest.Shards.Sum(x => x.DivergedRuns)} runs diverged; shards trained {r.TrainedShards}, kept {r.KeptShards}, rebuilt {r.RebuiltShards}; {r.Seconds:0} s");
        Console.WriteLine("test accuracy histogram:");
        Console.WriteLine(r.Manifest.Histogram);
        return 0;
    }
    catch (OperationCanceledException) { Console.WriteLine("stopped; run the same command again to resume"); return 1; }
}
else
{
    int n = Int("--networks", 16), epochs = Int("--epochs", 1), pool = Int("--pool", 640), repeats = Int("--repeats", 3);
    const int testImages = 100;
    var s = new ClassifierZooSettings { Architecture = arch, Runs = n, RunsPerShard = n, TrainPool = pool, TestCount = testImages, CheckpointEpochs = new[] { epochs } };
    var cpuPerNetworkEpoch = new List<double>();
    double Once(ClassifierZooSettings settings)
    {
        string dir = Path.Combine(Path.GetTempPath(), "lc-zoo-throughput-" + Guid.NewGuid().ToString("N"));
        try
        {
            var builder = ClassifierZooBuilder.ForFashionMnist(settings, dir);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            builder.Build();
            double wall = sw.Elapsed.TotalSeconds;
            // CPU seconds (both cores together) per network-epoch: on an oversubscribed machine this moves far less than
            // the wall time, which mostly measures the share of the cores this process got.
            cpuPerNetworkEpoch.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / ((double)settings.Runs * settings.CheckpointEpochs.Max()));
            return wall;
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }
    // Warm-up: a small build of the same architecture (both activations), so the timed builds run optimized code.
    double warm = Once(s with { Runs = Math.Min(n, 8), RunsPerShard = Math.Min(n, 8), TrainPool = Math.Min(pool, 320) });
    double peakBefore = FmaPeak.Measure(0.5);
    var rates = new List<double>();
    cpuPerNetworkEpoch.Clear();
    for (int k = 0; k < repeats; k++) rates.Add(n * epochs / Once(s));
    double peakAfter = FmaPeak.Measure(0.5);
    rates.Sort();
    double median = rates[rates.Count / 2];
    // Network-epochs of this benchmark's pool: n networks × epochs × (pool images each); test evaluation of 100 images
    // per network included.
    Console.WriteLine($"{arch}: {n} networks × {epochs} epoch(s) of {pool} images (batch {s.BatchSize}), {repeats} repeats after a {warm:0.0} s warm-up: " +
        $"{rates[0]:0.000} / {median:0.000} / {rates[^1]:0.000} network-epochs/s (min / median / max) = {median * pool:0} training images/s at the median; " +
        $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:0} MiB");
    cpuPerNetworkEpoch.Sort();
    Console.WriteLine($"CPU time per network-epoch of {pool} images: {cpuPerNetworkEpoch[0]:0.000} / {cpuPerNetworkEpoch[cpuPerNetworkEpoch.Count / 2]:0.000} / {cpuPerNetworkEpoch[^1]:0.000} s (min / median / max) = " +
        $"{pool / cpuPerNetworkEpoch[cpuPerNetworkEpoch.Count / 2]:0} training images per CPU-second at the median");
    if (arch == ZooArchitecture.Cnn)
    {
        // FLOPs as executed (2 per multiply-add): a training image runs ForwardSave (116,656 multiply-adds: conv 24,336 +
        // 82,944 + 9,216, dense 160) and BackwardSaved (the weight gradient 116,656, the input gradients of conv 2, conv 3
        // and the dense layer 92,320; the forward pass is not recomputed since 2026-12-07): 325,632; a test image 116,656.
        const double trainFlops = 2 * 325_632.0, testFlops = 2 * 116_656.0;
        double gflops = median * (pool * trainFlops + (double)testImages / epochs * testFlops) / 1e9;
        Console.WriteLine($"achieved {gflops:0.0} GFLOP/s at the median; FMA peak (Vector256, {Environment.ProcessorCount} threads) {peakBefore:0.0} before, {peakAfter:0.0} after: " +
            $"{100 * gflops / Math.Max(peakBefore, peakAfter):0.0}% of the higher");
    }
    return 0;
}

/// <summary>The FMA peak now: Vector256 fused multiply-adds, 8 independent chains per thread, one thread per core; median of 5 bursts (GFLOP/s, 2 flops per lane).</summary>
static class FmaPeak
{
    public static double Measure(double seconds)
    {
        var r = new List<double>();
        for (int k = 0; k < 5; k++) r.Add(Burst(seconds / 5));
        r.Sort();
        return r[2];
    }

    private static double Burst(double seconds)
    {
        int threads = Environment.ProcessorCount;
        long[] iters = new long[threads];
        var sw = Stopwatch.StartNew();
        System.Threading.Tasks.Parallel.For(0, threads, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var a = System.Runtime.Intrinsics.Vector256.Create(1.0000001f); var b = System.Runtime.Intrinsics.Vector256.Create(0.9999999f);
            var c0 = a; var c1 = b; var c2 = a; var c3 = b; var c4 = a; var c5 = b; var c6 = a; var c7 = b;
            long it = 0;
            var local = Stopwatch.StartNew();
            while (local.Elapsed.TotalSeconds < seconds)
            {
                for (int i = 0; i < 1024; i++)
                {
                    c0 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c0, a, b); c1 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c1, a, b);
                    c2 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c2, a, b); c3 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c3, a, b);
                    c4 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c4, a, b); c5 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c5, a, b);
                    c6 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c6, a, b); c7 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(c7, a, b);
                }
                it += 1024;
            }
            iters[t] = it;
            if (System.Runtime.Intrinsics.Vector256.GetElement(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7, 0) == 42f) Console.Write("");   // keep the chains alive
        });
        double sec = sw.Elapsed.TotalSeconds;
        long total = 0; foreach (long v in iters) total += v;
        return total * 8.0 * 8 * 2 / sec / 1e9;
    }
}

sealed class Progress(Action<ClassifierZooProgress> report) : IProgress<ClassifierZooProgress>
{
    public void Report(ClassifierZooProgress value) => report(value);
}
