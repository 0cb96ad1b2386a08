using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LayerCompiler.Tasks.ClassifierZoo;

/// <summary>One shard: its runs, how many checkpoints it holds, how many runs diverged, whether it is written.</summary>
public sealed record ClassifierZooShardInfo(int Shard, string File, int FirstRun, int RunCount, int Checkpoints, int DivergedRuns, bool Complete);

/// <summary>Counts of checkpoints per test-accuracy bin of width 0.1 ([0, 0.1), …, [0.9, 1.0]).</summary>
public sealed record AccuracyHistogram(int[] Counts, double Min, double Median, double Max)
{
    public static AccuracyHistogram Of(IReadOnlyList<float> accuracy)
    {
        var counts = new int[10];
        foreach (var a in accuracy) counts[Math.Clamp((int)(a * 10), 0, 9)]++;
        var sorted = accuracy.OrderBy(a => a).ToArray();
        return sorted.Length == 0 ? new AccuracyHistogram(counts, double.NaN, double.NaN, double.NaN)
            : new AccuracyHistogram(counts, sorted[0], sorted[sorted.Length / 2], sorted[^1]);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        int max = Math.Max(1, Counts.Max());
        for (int b = 0; b < 10; b++)
            sb.AppendLine($"  [{b / 10.0:0.0}, {(b + 1) / 10.0:0.0}{(b == 9 ? "]" : ")")} {Counts[b],6} {new string('#', (int)Math.Round(40.0 * Counts[b] / max))}");
        sb.Append($"  min {Min:0.000}, median {Median:0.000}, max {Max:0.000}");
        return sb.ToString();
    }
}

/// <summary>zoo.json: the zoo's identity (every setting), its shards, and once complete the accuracy histogram.</summary>
public sealed record ClassifierZooManifest(SortedDictionary<string, string> Identity, ClassifierZooShardInfo[] Shards, AccuracyHistogram? Histogram)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public bool Complete => Shards.All(s => s.Complete);

    public void Save(string path) => AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, Json));

    public static ClassifierZooManifest Load(string path)
    {
        ClassifierZooManifest? m;
        try { m = JsonSerializer.Deserialize<ClassifierZooManifest>(File.ReadAllBytes(path), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a classifier zoo manifest ({e.Message}).", e); }
        if (m?.Identity is null || m.Shards is null) throw new InvalidDataException($"{path}: not a classifier zoo manifest (identity or shards missing).");
        if (!m.Identity.TryGetValue("format", out var f) || f != ClassifierZooFormat.FormatName)
            throw new InvalidDataException($"{path}: format '{f}' is not {ClassifierZooFormat.FormatName}.");
        return m;
    }

    /// <summary>"key: expected X, found Y" for every setting that differs (missing keys included).</summary>
    public static List<string> Differences(IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> found)
    {
        var d = new List<string>();
        foreach (var (k, v) in expected)
            if (!found.TryGetValue(k, out var w)) d.Add($"{k}: expected '{v}', missing");
            else if (w != v) d.Add($"{k}: expected '{v}', found '{w}'");
        return d;
    }
}
