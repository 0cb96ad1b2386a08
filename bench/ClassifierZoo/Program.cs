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
//   build --dir D [--arch cnn|mlp3|mlp5] [--quick|--full] [--seed S] [--runs N]
//        builds (or resumes) a classifier zoo; Ctrl-C stops after the current step, keeping finished shards.
//   generalization --zoo D [--models hnp,np,statnn,mlp] [--seeds 3] [--epochs 50]
//        trains each model on the zoo's train split (selection on validation τ) and prints the test τ / R² table.
//   throughput [--arch cnn] [--networks N] [--epochs E] [--pool P]
//        trains N networks at once for E pool epochs on P Fashion-MNIST images and prints network-epochs/s.
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
if (args.Length == 0 || (args[0] != "build" && args[0] != "throughput"))
{
    Console.Error.WriteLine("usage: build --dir D [--arch cnn|mlp3|mlp5] [--quick|--full] [--seed S] [--runs N] | throughput [--arch cnn] [--networks N] [--epochs E] [--pool P]");
    return 2;
}
var arch = Arch();
if (args[0] == "build")
{
    string dir = Arg("--dir", "");
    if (dir.Length == 0) { Console.Error.WriteLine("build: --dir is required"); return 2; }
    var s = Flag("--full") ? ClassifierZooSettings.Full(arch) : ClassifierZooSettings.Quick(arch);
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
    int n = Int("--networks", 16), epochs = Int("--epochs", 1), pool = Int("--pool", 640);
    var s = new ClassifierZooSettings { Architecture = arch, Runs = n, RunsPerShard = n, TrainPool = pool, TestCount = 100, CheckpointEpochs = new[] { epochs } };
    string dir = Path.Combine(Path.GetTempPath(), "lc-zoo-throughput-" + Guid.NewGuid().ToString("N"));
    try
    {
        var builder = ClassifierZooBuilder.ForFashionMnist(s, dir);
        var sw = Stopwatch.StartNew();
        builder.Build();
        double sec = sw.Elapsed.TotalSeconds;
        // Network-epochs of this benchmark's pool: n networks × epochs × (pool images each).
        Console.WriteLine($"{arch}: {n} networks × {epochs} epoch(s) of {pool} images (batch {s.BatchSize}) in {sec:0.00} s = {n * epochs / sec:0.000} network-epochs/s = {(double)n * epochs * pool / sec:0} images/s (test evaluation of {s.TestCount} images included)");
    }
    finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    return 0;
}

sealed class Progress(Action<ClassifierZooProgress> report) : IProgress<ClassifierZooProgress>
{
    public void Report(ClassifierZooProgress value) => report(value);
}
