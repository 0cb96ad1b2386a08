using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace LayerCompiler.Tasks.ClassifierZoo;

/// <summary>Every checkpoint of a classifier zoo: weights, test accuracy, run, epoch, split and hyperparameters.</summary>
public sealed class ClassifierZooData
{
    public required string Directory { get; init; }
    public required ZooArchitecture Architecture { get; init; }
    public required WeightSpaceBatch Weights { get; init; }
    public required float[] TestAccuracy { get; init; }
    public required float[] TrainLoss { get; init; }
    public required int[] Run { get; init; }
    public required int[] Epoch { get; init; }
    public required string[] Split { get; init; }
    public required RunHyperparameters[] Hyperparameters { get; init; }
    public int Count => TestAccuracy.Length;

    /// <summary>Positions of the checkpoints in <paramref name="split"/>.</summary>
    public int[] Indices(string split) => Enumerable.Range(0, Count).Where(i => Split[i] == split).ToArray();

    /// <summary>Refuses a zoo of another architecture, naming the directory and both weight spaces.</summary>
    public void RequireSpace(WeightSpace expected, string consumer)
    {
        string Describe(WeightSpace s) => string.Join(", ", s.Tensors.Select(t => t.Name + "[" + string.Join("×", t.Shape) + "]"));
        if (expected.Dimension != Weights.Space.Dimension || expected.Tensors.Count != Weights.Space.Tensors.Count
            || expected.Tensors.Zip(Weights.Space.Tensors).Any(p => !p.First.Shape.SequenceEqual(p.Second.Shape)))
            throw new InvalidDataException($"{Directory}: the zoo holds {Architecture} networks ({Describe(Weights.Space)}), but {consumer} expects {Describe(expected)}.");
    }

    /// <summary>The checkpoints at <paramref name="indices"/> as a batch.</summary>
    public WeightSpaceBatch Select(IReadOnlyList<int> indices)
    {
        var b = new WeightSpaceBatch(Weights.Space, indices.Count, 1);
        for (int t = 0; t < b.Tensors.Length; t++)
        {
            int s = Weights.Space.Tensors[t].Size;
            for (int i = 0; i < indices.Count; i++) Array.Copy(Weights.Tensors[t].Data, (long)indices[i] * s, b.Tensors[t].Data, (long)i * s, s);
        }
        return b;
    }
}

/// <summary>Reads and validates classifier zoos: every problem is an error naming the file and what is wrong.</summary>
public static class ClassifierZooReader
{
    /// <summary>
    /// Reads a complete zoo. With <paramref name="expected"/> the zoo must have been built with exactly those settings.
    /// </summary>
    public static ClassifierZooData Read(string directory, ClassifierZooSettings? expected = null)
    {
        string manifestPath = Path.Combine(directory, ClassifierZooFormat.ManifestFile);
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"'{directory}' holds no classifier zoo ({ClassifierZooFormat.ManifestFile} is missing); build one first.", manifestPath);
        var m = ClassifierZooManifest.Load(manifestPath);
        if (expected != null)
        {
            var diffs = ClassifierZooManifest.Differences(expected.Identity(), m.Identity);
            if (diffs.Count > 0) throw new InvalidDataException($"{manifestPath}: the zoo was built with other settings than expected:\n  - {string.Join("\n  - ", diffs)}");
        }
        if (!Enum.TryParse<ZooArchitecture>(m.Identity.GetValueOrDefault("architecture"), out var arch))
            throw new InvalidDataException($"{manifestPath}: unknown architecture '{m.Identity.GetValueOrDefault("architecture")}'.");
        var space = ClassifierPass.SpaceOf(arch);
        int runs = int.Parse(m.Identity["runs"], CultureInfo.InvariantCulture);
        ulong seed = ulong.Parse(m.Identity["seed"], CultureInfo.InvariantCulture);
        var splitOfRun = ClassifierZooSplits.Assign(runs, seed);
        var incomplete = m.Shards.Where(s => !s.Complete).ToList();
        if (incomplete.Count > 0)
            throw new InvalidDataException($"{manifestPath}: the zoo is incomplete ({incomplete.Count} of {m.Shards.Length} shards not built, e.g. {incomplete[0].File}); resume the build.");

        var files = new List<SafetensorsFile>();
        foreach (var sh in m.Shards)
        {
            string path = Path.Combine(directory, sh.File);
            string? problem = ValidateShard(path, m.Identity, sh.Shard, sh.FirstRun, sh.RunCount, out _);
            if (problem != null) throw new InvalidDataException($"{path}: {problem}");
            files.Add(SafetensorsFile.Read(path));
        }
        int total = files.Sum(f => f.GetInt64(ClassifierZooFormat.RunTensor).Length);
        var weights = new WeightSpaceBatch(space, total, 1);
        var acc = new List<float>(); var loss = new List<float>(); var run = new List<int>(); var epoch = new List<int>(); var hps = new List<RunHyperparameters>();
        int at = 0;
        foreach (var f in files)
        {
            var r = f.GetInt64(ClassifierZooFormat.RunTensor);
            int n = r.Length;
            for (int t = 0; t < space.Tensors.Count; t++)
                f.GetFloat32(space.Tensors[t].Name).Data.CopyTo(weights.Tensors[t].Data, (long)at * space.Tensors[t].Size);
            acc.AddRange(f.GetFloat32(ClassifierZooFormat.TestAccuracyTensor).Data);
            loss.AddRange(f.GetFloat32(ClassifierZooFormat.TrainLossTensor).Data);
            run.AddRange(r.Select(v => (int)v));
            epoch.AddRange(f.GetInt64(ClassifierZooFormat.EpochTensor).Select(v => (int)v));
            var opt = f.GetInt64(ClassifierZooFormat.OptimizerTensor); var act = f.GetInt64(ClassifierZooFormat.ActivationTensor); var init = f.GetInt64(ClassifierZooFormat.InitTensor);
            var lr = f.GetFloat32(ClassifierZooFormat.LearningRateTensor).Data; var l2 = f.GetFloat32(ClassifierZooFormat.L2Tensor).Data;
            var std = f.GetFloat32(ClassifierZooFormat.InitStdTensor).Data; var drop = f.GetFloat32(ClassifierZooFormat.DropoutTensor).Data; var frac = f.GetFloat32(ClassifierZooFormat.TrainFractionTensor).Data;
            for (int i = 0; i < n; i++)
                hps.Add(new RunHyperparameters((ZooOptimizer)opt[i], lr[i], l2[i], (ZooInit)init[i], std[i], drop[i], frac[i], (InputActivation)act[i]));
            at += n;
        }
        return new ClassifierZooData
        {
            Directory = directory, Architecture = arch, Weights = weights, TestAccuracy = acc.ToArray(), TrainLoss = loss.ToArray(),
            Run = run.ToArray(), Epoch = epoch.ToArray(), Split = run.Select(r => splitOfRun[r]).ToArray(), Hyperparameters = hps.ToArray(),
        };
    }

    /// <summary>Null when the shard at <paramref name="path"/> is a complete, valid shard of this zoo; otherwise what is wrong with it.</summary>
    public static string? ValidateShard(string path, IReadOnlyDictionary<string, string> identity, int shard, int firstRun, int runCount, out int checkpoints)
    {
        checkpoints = 0;
        SafetensorsFile f;
        try { f = SafetensorsFile.Read(path); }
        catch (Exception e) when (e is IOException or InvalidDataException or SafetensorsFormatException or UnauthorizedAccessException)
        { return $"unreadable ({e.Message}); the file is truncated or not a safetensors shard"; }
        var diffs = ClassifierZooManifest.Differences(identity, f.Metadata);
        if (diffs.Count > 0) return "built with other settings: " + string.Join("; ", diffs);
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        foreach (var (k, v) in new[] { (ClassifierZooFormat.ShardKey, I(shard)), (ClassifierZooFormat.FirstRunKey, I(firstRun)), (ClassifierZooFormat.RunCountKey, I(runCount)) })
            if (f.Metadata.GetValueOrDefault(k) != v) return $"metadata {k} is '{f.Metadata.GetValueOrDefault(k)}', expected '{v}'";
        if (!Enum.TryParse<ZooArchitecture>(identity.GetValueOrDefault("architecture"), out var arch)) return "unknown architecture";
        var space = ClassifierPass.SpaceOf(arch);
        try
        {
            var run = f.GetInt64(ClassifierZooFormat.RunTensor);
            int n = run.Length;
            foreach (var r in run) if (r < firstRun || r >= firstRun + runCount) return $"holds run {r}, outside this shard's runs {firstRun}..{firstRun + runCount - 1}";
            foreach (var t in space.Tensors)
            {
                if (!f.Contains(t.Name)) return $"tensor '{t.Name}' is missing";
                var x = f.GetFloat32(t.Name);
                var want = new[] { n }.Concat(t.Shape).ToArray();
                if (!x.Shape.SequenceEqual(want)) return $"tensor '{t.Name}' has shape [{string.Join(", ", x.Shape)}], expected [{string.Join(", ", want)}] ({arch})";
                for (int i = 0; i < x.Data.Length; i++)
                    if (!float.IsFinite(x.Data[i])) return $"network {i / t.Size} (run {run[i / t.Size]}) has a non-finite weight in '{t.Name}'";
            }
            foreach (var name in new[] { ClassifierZooFormat.TestAccuracyTensor, ClassifierZooFormat.TrainLossTensor, ClassifierZooFormat.LearningRateTensor, ClassifierZooFormat.L2Tensor,
                ClassifierZooFormat.InitStdTensor, ClassifierZooFormat.DropoutTensor, ClassifierZooFormat.TrainFractionTensor })
                if (f.GetFloat32(name).Length != n) return $"tensor '{name}' does not hold {n} values";
            foreach (var name in new[] { ClassifierZooFormat.EpochTensor, ClassifierZooFormat.StepTensor, ClassifierZooFormat.OptimizerTensor, ClassifierZooFormat.ActivationTensor, ClassifierZooFormat.InitTensor })
                if (f.GetInt64(name).Length != n) return $"tensor '{name}' does not hold {n} values";
            foreach (var a in f.GetFloat32(ClassifierZooFormat.TestAccuracyTensor).Data)
                if (!(a >= 0 && a <= 1)) return $"a test accuracy is {a}, outside [0, 1]";
            checkpoints = n;
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or SafetensorsFormatException or KeyNotFoundException or ArgumentException)
        { return e.Message; }
    }
}
