using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace LayerCompiler.Tools.GpuCheck;

public sealed record CheckRecord(string Name, bool Passed, string Details, double Seconds, Dictionary<string, double> Metrics);

public sealed record BenchmarkRecord(string Name, double Value, string Unit, string Details, double Seconds,
    Dictionary<string, double> Metrics, IReadOnlyList<double> SamplesMs, string? Error);

public sealed class Report
{
    public DateTime StartedUtc { get; init; }
    /// <summary>passed, failed or skipped.</summary>
    public string Status { get; set; } = "running";
    public string? Reason { get; set; }
    public Dictionary<string, string>? Device { get; set; }
    public List<CheckRecord> Checks { get; } = new();
    public List<BenchmarkRecord> Benchmarks { get; } = new();
}

/// <summary>Writes the report with <see cref="Utf8JsonWriter"/> (no reflection, so it survives trimming).</summary>
public static class JsonReport
{
    public const int SchemaVersion = 1;

    public static byte[] Serialize(Report r)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("tool", "gpu-check");
            w.WriteNumber("schema", SchemaVersion);
            w.WriteString("started_utc", r.StartedUtc.ToString("O"));
            w.WriteString("status", r.Status);
            if (r.Reason is not null) w.WriteString("reason", r.Reason);
            if (r.Device is not null)
            {
                w.WriteStartObject("device");
                foreach (var (k, v) in r.Device) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteStartArray("checks");
            foreach (var c in r.Checks)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteBoolean("passed", c.Passed);
                w.WriteString("details", c.Details);
                Number(w, "seconds", c.Seconds);
                Metrics(w, c.Metrics);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("benchmarks");
            foreach (var b in r.Benchmarks)
            {
                w.WriteStartObject();
                w.WriteString("name", b.Name);
                Number(w, "value", b.Value);
                w.WriteString("unit", b.Unit);
                w.WriteString("details", b.Details);
                Number(w, "seconds", b.Seconds);
                if (b.Error is not null) w.WriteString("error", b.Error);
                Metrics(w, b.Metrics);
                w.WriteStartArray("samples_ms");
                foreach (double s in b.SamplesMs) Number(w, null, s);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    private static void Metrics(Utf8JsonWriter w, Dictionary<string, double> metrics)
    {
        w.WriteStartObject("metrics");
        foreach (var (k, v) in metrics) Number(w, k, v);
        w.WriteEndObject();
    }

    /// <summary>JSON has no NaN or infinity: those become null.</summary>
    private static void Number(Utf8JsonWriter w, string? name, double v)
    {
        if (name is not null) w.WritePropertyName(name);
        if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
    }
}
