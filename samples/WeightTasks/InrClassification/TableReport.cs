using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Tasks.Reports;

namespace WeightTasks.InrClassification;

/// <summary>
/// The <c>table</c> verb's HTML report: test accuracy per model as bars (mean, ± one sample standard deviation, a dot per
/// seed), the summary and per-run tables with the median epoch time, and per model the validation accuracy after every
/// epoch, a line per seed, the best epoch of each run marked in the table.
/// </summary>
internal static class TableReport
{
    public static HtmlReport Build(string zoo, string splitCounts, bool full, IReadOnlyList<ResultsTable.Run> runs, string? command)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0) throw new ArgumentException("No runs to report; train at least one model.", nameof(runs));
        static string P(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture) + " %";
        static string S(double v) => double.IsFinite(v) ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";
        var summaries = ResultsTable.Summarize(runs);
        var report = new HtmlReport($"INR classification table: {zoo}");
        report.AddKeyValues(null, new Dictionary<string, string>
        {
            ["zoo"] = zoo,
            ["INRs"] = splitCounts,
            ["models"] = full ? "full (reference) variants" : "quick variants",
            ["selection"] = "test accuracy at the epoch of best validation accuracy",
            ["command"] = command ?? "",
        });

        report.AddHeading("Test accuracy per model");
        var kinds = summaries.Select(s => s.Model).ToArray();
        report.AddGroupedBarChart(new GroupedBarChart("Test accuracy, % (bar: mean; whisker: ± sd; dots: seeds)", "test accuracy (%)", kinds,
            new[] { new BarSeries("test accuracy", kinds.Select(k => (IReadOnlyList<double>)runs.Where(r => r.Model == k).Select(r => 100 * r.TestAccuracy).ToArray()).ToArray()) })
            { Decimals = 2 });
        report.AddTable(null, new[] { "model", "description", "runs", "test accuracy (mean ± std)", "min", "max", "s / epoch (median)" }, summaries.Select(s =>
            (IReadOnlyList<string>)new[]
            {
                s.Model, ModelKinds.Describe(s.Model, full), s.Runs.ToString(CultureInfo.InvariantCulture),
                P(s.Mean) + " ± " + (100 * s.Std).ToString("F2", CultureInfo.InvariantCulture), P(s.Min), P(s.Max), S(s.MedianEpochSeconds),
            }));
        report.AddTable("Runs", new[] { "model", "seed", "test accuracy", "best validation accuracy", "best epoch / epochs", "training time (s)", "s / epoch (median)", "augmentation" },
            runs.Select(r => (IReadOnlyList<string>)new[]
            {
                r.Model, r.Seed.ToString(CultureInfo.InvariantCulture), P(r.TestAccuracy), P(r.ValidationAccuracy),
                $"{r.BestEpoch} / {r.Epochs}", r.TrainSeconds.ToString("F0", CultureInfo.InvariantCulture), S(r.MedianEpochSeconds), r.Augmentation,
            }));

        report.AddHeading("Validation accuracy per epoch");
        foreach (var k in kinds)
        {
            var chart = new LineChart($"{k}: validation accuracy (%) after every epoch", "epoch", "validation accuracy (%)");
            foreach (var r in runs.Where(r => r.Model == k && r.ValidationAccuracies.Count > 0))
                chart.Add(ChartSeries.PerEpoch($"seed {r.Seed}", r.ValidationAccuracies.Select(a => 100 * a).ToArray()));
            report.AddChart(chart);
        }
        return report;
    }
}
