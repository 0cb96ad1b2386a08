using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>One shard of a split: its file (relative to the zoo directory) and the positions it holds.</summary>
public sealed record ZooShardInfo(string File, int First, int Count);

/// <summary>Fit quality of a split (PSNR in dB of the stored weights).</summary>
public sealed record ZooSplitStats(double PsnrMean, double PsnrP5, double PsnrMedian, double PsnrMin, double PsnrMax, int Stopped, double MeanSteps, long TotalSteps, double FitSeconds,
    string? Device = null)
{
    /// <summary>Fitting throughput over the shards fitted (Adam steps of all INRs per second of wall time).</summary>
    public double InrStepsPerSecond => FitSeconds > 0 ? TotalSteps / FitSeconds : double.NaN;

    /// <param name="device">Where the split's INRs were fitted (the shards' devices, joined by " + " when several).</param>
    public static ZooSplitStats From(IReadOnlyList<float> psnr, IReadOnlyList<long> steps, double stopMse, double fitSeconds, string? device = null)
    {
        if (psnr.Count == 0) return new ZooSplitStats(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0, 0, 0, fitSeconds, device);
        var sorted = psnr.Select(p => (double)p).OrderBy(p => p).ToArray();
        double stopPsnr = Psnr.FromMse(stopMse);
        return new ZooSplitStats(sorted.Average(), Quantile(sorted, 0.05), Quantile(sorted, 0.5), sorted[0], sorted[^1],
            sorted.Count(p => p >= stopPsnr - 1e-4), steps.Average(), steps.Sum(), fitSeconds, device);
    }

    /// <summary>Linear-interpolated quantile of sorted values (NumPy's default).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"PSNR mean {PsnrMean:F2} dB, 5th pct {PsnrP5:F2}, median {PsnrMedian:F2}, min {PsnrMin:F2}, max {PsnrMax:F2}; {Stopped} reached the target; mean {MeanSteps:F0} steps");
}

/// <summary>A split of a zoo: its planned size, its shards, and (once complete) its statistics.</summary>
public sealed record ZooSplitInfo(string Name, int Count, bool Complete, IReadOnlyList<ZooShardInfo> Shards, ZooSplitStats? Stats);

/// <summary>
/// The zoo's <c>zoo.json</c>: the identity every shard repeats (format, task, architecture, fitting settings,
/// seed, shard size), the splits with their shards, and fit statistics.
/// </summary>
public sealed class ZooManifest
{
    public ZooManifest(IReadOnlyDictionary<string, string> identity, IReadOnlyList<ZooSplitInfo> splits)
    {
        Identity = new SortedDictionary<string, string>(identity.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
        Splits = splits;
        Architecture = ZooArchitecture.FromMetadata(Identity, ZooFormat.ManifestFile);
        // The numbers of the identity, parsed once here so that a damaged zoo.json fails on opening, naming the key.
        ClassCount = Number(ZooFormat.ClassesKey, "0", 0, int.MaxValue);
        TargetWidth = Number(ZooFormat.TargetWidthKey, "0", 0, int.MaxValue);
        ShardSize = Identity.ContainsKey(ZooFormat.ShardSizeKey) ? Number(ZooFormat.ShardSizeKey, "0", 1, int.MaxValue) : 0;
        if (Identity.TryGetValue(ZooFormat.SeedKey, out var seed) && !ulong.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new InvalidDataException($"{ZooFormat.ManifestFile}: '{ZooFormat.SeedKey}' is '{seed}', not a non-negative integer.");
    }

    private int Number(string key, string fallback, int min, int max)
    {
        string text = Identity.GetValueOrDefault(key, fallback);
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new InvalidDataException($"{ZooFormat.ManifestFile}: '{key}' is '{text}', not an integer in [{min}, {max}].");
        return v;
    }

    public IReadOnlyDictionary<string, string> Identity { get; }
    public IReadOnlyList<ZooSplitInfo> Splits { get; }
    public ZooArchitecture Architecture { get; }

    public bool Complete => Splits.All(s => s.Complete);
    public string TaskName => Identity.TryGetValue("task.name", out var n) ? n : "?";
    public int ClassCount { get; }
    public int TargetWidth { get; }
    public string IndexTensorName => Identity.GetValueOrDefault(ZooFormat.IndexTensorKey, ZooFormat.ImageIndexTensor);
    public ulong Seed => ulong.Parse(Identity[ZooFormat.SeedKey], CultureInfo.InvariantCulture);
    public int ShardSize { get; }

    public ZooSplitInfo Split(string name)
    {
        foreach (var s in Splits) if (s.Name == name) return s;
        throw new ArgumentException($"The zoo has no split '{name}'; it has {string.Join(", ", Splits.Select(s => s.Name))}.", nameof(name));
    }

    /// <summary>Writes zoo.json atomically; a file that already says the same (read and written again, it gives these
    /// bytes) is left alone, so re-running a finished build rewrites nothing and works on read-only media.</summary>
    public void Save(string path)
    {
        var bytes = ToJson();
        if (File.Exists(path))
        {
            byte[]? current = null;
            try { current = Load(path).ToJson(); }
            catch (IOException) { }               // unreadable: overwrite it
            catch (InvalidDataException) { }      // damaged: overwrite it
            if (current != null && current.AsSpan().SequenceEqual(bytes)) return;
        }
        AtomicFile.WriteAllBytes(path, bytes);
    }

    public byte[] ToJson()
    {
        using var ms = new MemoryStream();
        // Relaxed escaping keeps '+' and non-ASCII readable; the manifest is never embedded in HTML.
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("format", ZooFormat.FormatName);
            w.WriteString("status", Complete ? "complete" : "incomplete");
            w.WriteStartObject("identity");
            foreach (var (k, v) in Identity) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteStartArray("splits");
            foreach (var s in Splits)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                w.WriteNumber("count", s.Count);
                w.WriteBoolean("complete", s.Complete);
                w.WriteStartArray("shards");
                foreach (var sh in s.Shards)
                {
                    w.WriteStartObject();
                    w.WriteString("file", sh.File);
                    w.WriteNumber("first", sh.First);
                    w.WriteNumber("count", sh.Count);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (s.Stats is { } st)
                {
                    w.WriteStartObject("stats");
                    WriteNumber(w, "psnr_mean", st.PsnrMean);
                    WriteNumber(w, "psnr_p5", st.PsnrP5);
                    WriteNumber(w, "psnr_median", st.PsnrMedian);
                    WriteNumber(w, "psnr_min", st.PsnrMin);
                    WriteNumber(w, "psnr_max", st.PsnrMax);
                    w.WriteNumber("stopped", st.Stopped);
                    WriteNumber(w, "mean_steps", st.MeanSteps);
                    w.WriteNumber("total_steps", st.TotalSteps);
                    WriteNumber(w, "fit_seconds", st.FitSeconds);
                    WriteNumber(w, "inr_steps_per_second", st.InrStepsPerSecond);
                    if (st.Device is { } device) w.WriteString("fit_device", device);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    // JSON has no NaN: write null instead.
    private static void WriteNumber(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, Math.Round(v, 6)); else w.WriteNull(name);
    }

    public static ZooManifest Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No zoo manifest at '{path}'.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "the top level is not an object");
            string format = GetString(root, "format", path);
            if (format != ZooFormat.FormatName) throw Bad(path, $"format is '{format}', this reader understands '{ZooFormat.FormatName}'");
            var identity = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!root.TryGetProperty("identity", out var id) || id.ValueKind != JsonValueKind.Object) throw Bad(path, "missing 'identity' object");
            foreach (var p in id.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw Bad(path, $"identity value '{p.Name}' is not a string");
                identity[p.Name] = p.Value.GetString()!;
            }
            foreach (var key in new[] { ZooFormat.SeedKey, ZooFormat.ShardSizeKey, "task.name" })
                if (!identity.ContainsKey(key)) throw Bad(path, $"identity has no '{key}'");
            if (!root.TryGetProperty("splits", out var splitsEl) || splitsEl.ValueKind != JsonValueKind.Array) throw Bad(path, "missing 'splits' array");
            var splits = new List<ZooSplitInfo>();
            foreach (var s in splitsEl.EnumerateArray())
            {
                string name = GetString(s, "name", path);
                int count = GetInt(s, "count", path);
                bool complete = s.TryGetProperty("complete", out var c) && c.ValueKind == JsonValueKind.True;
                var shards = new List<ZooShardInfo>();
                if (!s.TryGetProperty("shards", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad(path, $"split '{name}' has no 'shards' array");
                foreach (var e in sh.EnumerateArray()) shards.Add(new ZooShardInfo(GetString(e, "file", path), GetInt(e, "first", path), GetInt(e, "count", path)));
                ZooSplitStats? stats = null;
                if (s.TryGetProperty("stats", out var st) && st.ValueKind == JsonValueKind.Object)
                    stats = new ZooSplitStats(GetDouble(st, "psnr_mean"), GetDouble(st, "psnr_p5"), GetDouble(st, "psnr_median"), GetDouble(st, "psnr_min"),
                        GetDouble(st, "psnr_max"), (int)GetDouble(st, "stopped"), GetDouble(st, "mean_steps"), (long)GetDouble(st, "total_steps"), GetDouble(st, "fit_seconds"),
                        st.TryGetProperty("fit_device", out var fd) && fd.ValueKind == JsonValueKind.String ? fd.GetString() : null);
                splits.Add(new ZooSplitInfo(name, count, complete, shards, stats));
            }
            return new ZooManifest(identity, splits);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private static InvalidDataException Bad(string path, string what) => new($"{path}: {what}.");

    private static string GetString(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(path, $"missing string '{name}'");

    private static int GetInt(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i >= 0 ? i : throw Bad(path, $"missing non-negative integer '{name}'");

    private static double GetDouble(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

    /// <summary>Lines describing how <paramref name="other"/>'s identity differs from this one (empty when equal).</summary>
    public static List<string> Differences(IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> actual)
    {
        var diffs = new List<string>();
        foreach (var (k, v) in expected.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!actual.TryGetValue(k, out var a)) diffs.Add($"'{k}' is missing (expected '{v}')");
            else if (a != v) diffs.Add($"'{k}' is '{a}', expected '{v}'");
        }
        return diffs;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{TaskName} zoo of {Architecture.Describe()} INRs, seed {Seed}");
        foreach (var s in Splits) sb.Append(CultureInfo.InvariantCulture, $"; {s.Name}: {s.Count}{(s.Complete ? "" : " (incomplete)")}");
        return sb.ToString();
    }
}
