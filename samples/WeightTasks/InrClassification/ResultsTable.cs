using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using Spectre.Console;

namespace WeightTasks.InrClassification;

/// <summary>The <c>table</c> verb's output: per-run results and per-model mean ± standard deviation over seeds.</summary>
internal static class ResultsTable
{
    /// <param name="ValidationAccuracies">Validation accuracy after every epoch (the report's curves).</param>
    /// <param name="EpochSeconds">Wall-clock seconds of every epoch (training and validation).</param>
    public sealed record Run(string Model, ulong Seed, double TestAccuracy, double ValidationAccuracy, int BestEpoch, int Epochs, double TrainSeconds, string Augmentation,
        IReadOnlyList<double> ValidationAccuracies, IReadOnlyList<double> EpochSeconds)
    {
        /// <summary>The median of <see cref="EpochSeconds"/> (robust to the odd epoch slowed by other work on the machine); NaN without epochs.</summary>
        public double MedianEpochSeconds => Median(EpochSeconds);
    }

    /// <param name="MedianEpochSeconds">The median over the model's runs of each run's median epoch time.</param>
    public sealed record Summary(string Model, int Runs, double Mean, double Std, double Min, double Max, double MedianEpochSeconds);

    /// <summary>The median (the zoo statistics' linear-interpolated quantile at 0.5); NaN without values.</summary>
    public static double Median(IEnumerable<double> values) => LayerCompiler.Tasks.Zoo.ZooSplitStats.Quantile(values.Order().ToArray(), 0.5);

    public static List<T> ParseList<T>(string text, string option, Func<string, T> parse)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse).ToList();
        if (items.Count == 0) throw new ArgumentException($"{option} needs at least one value.");
        if (items.Distinct().Count() != items.Count) throw new ArgumentException($"{option} lists a value twice: '{text}'.");
        return items;
    }

    /// <summary>Mean and sample standard deviation (n − 1; 0 for a single run) of test accuracy per model, in first-seen order.</summary>
    public static List<Summary> Summarize(IEnumerable<Run> runs) => runs.GroupBy(r => r.Model).Select(g =>
    {
        var a = g.Select(r => r.TestAccuracy).ToArray();
        double mean = a.Average();
        double std = a.Length > 1 ? Math.Sqrt(a.Sum(v => (v - mean) * (v - mean)) / (a.Length - 1)) : 0;
        return new Summary(g.Key, a.Length, mean, std, a.Min(), a.Max(), Median(g.Select(r => r.MedianEpochSeconds)));
    }).ToList();

    /// <summary>Writes results.md, results.json and report.html (atomically) into <paramref name="directory"/>.</summary>
    public static void Write(string directory, string zoo, bool full, IReadOnlyList<Run> runs, string? command = null)
    {
        LayerCompiler.Runtime.IO.OutputPaths.CreateDirectory(directory, "--out");
        var manifest = ZooReader.Open(zoo).Manifest;
        var trainStats = manifest.Split("train").Stats;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Results on zoo `{zoo}`");
        md.AppendLine();
        string counts = string.Join(" / ", new[] { "train", "validation", "test" }.Select(s => $"{manifest.Split(s).Count} {s}"));
        string psnr = trainStats is null ? "" : string.Create(CultureInfo.InvariantCulture, $", train PSNR mean {trainStats.PsnrMean:F2} dB, 5th percentile {trainStats.PsnrP5:F2} dB");
        md.AppendLine(CultureInfo.InvariantCulture, $"Zoo: {manifest.TaskName}, {counts} INRs{psnr}.");
        md.AppendLine(CultureInfo.InvariantCulture, $"Models: {(full ? "full (reference) variants" : "quick variants")}. Test accuracy at the epoch chosen by validation accuracy.");
        md.AppendLine();
        md.AppendLine("| model | runs | test accuracy (mean ± std) | min | max | s / epoch (median) |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var s in Summarize(runs))
            md.AppendLine(CultureInfo.InvariantCulture, $"| {ModelKinds.Describe(s.Model, full)} | {s.Runs} | {100 * s.Mean:F2} ± {100 * s.Std:F2} % | {100 * s.Min:F2} % | {100 * s.Max:F2} % | {s.MedianEpochSeconds:F1} |");
        md.AppendLine();
        md.AppendLine("| model | seed | test accuracy | validation accuracy | best epoch / epochs | training time | s / epoch (median) | augmentation |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in runs)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Model} | {r.Seed} | {100 * r.TestAccuracy:F2} % | {100 * r.ValidationAccuracy:F2} % | {r.BestEpoch} / {r.Epochs} | {r.TrainSeconds:F0} s | {r.MedianEpochSeconds:F1} | {r.Augmentation} |");
        AtomicFile.WriteAllBytes(Path.Combine(directory, "results.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(directory, "results.json"), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { zoo, full, runs, summary = Summarize(runs) }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals })));
        TableReport.Build(zoo, counts, full, runs, command).Write(Path.Combine(directory, "report.html"));
    }

    public static void Print(IReadOnlyList<Run> runs)
    {
        var t = new Table().AddColumns("model", "runs", "test accuracy (mean ± std)", "min", "max");
        foreach (var s in Summarize(runs))
            t.AddRow(Markup.Escape(s.Model), s.Runs.ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:F2} ± {100 * s.Std:F2} %"),
                string.Create(CultureInfo.InvariantCulture, $"{100 * s.Min:F2} %"), string.Create(CultureInfo.InvariantCulture, $"{100 * s.Max:F2} %"));
        AnsiConsole.Write(t);
    }
}
