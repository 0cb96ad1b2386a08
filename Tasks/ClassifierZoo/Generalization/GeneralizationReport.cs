using LayerCompiler.Tasks.Reports;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace LayerCompiler.Tasks.ClassifierZoo.Generalization;

/// <summary>
/// The HTML report of a predicting-generalization run: the zoo's test-accuracy histogram per split, test τ per model with
/// seed spread, the τ / R² table, and per model the predicted-vs-true scatter on the test split and validation τ per epoch.
/// </summary>
public static class GeneralizationReport
{
    /// <summary>Histogram bins of test accuracy: [0, 0.1), …, [0.9, 1.0].</summary>
    public const int Bins = 10;

    public static HtmlReport Build(ClassifierZooData zoo, IReadOnlyList<GeneralizationResult> results, GeneralizationSettings settings, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(zoo); ArgumentNullException.ThrowIfNull(results); ArgumentNullException.ThrowIfNull(settings);
        if (results.Count == 0) throw new ArgumentException("No results to report; train at least one model.", nameof(results));
        var report = new HtmlReport($"Predicting generalization: {zoo.Directory}");
        var splits = new[] { ClassifierZooSplits.Train, ClassifierZooSplits.Validation, ClassifierZooSplits.Test };
        report.AddKeyValues("Run", new Dictionary<string, string>
        {
            ["zoo"] = zoo.Directory,
            ["architecture"] = zoo.Architecture.ToString(),
            ["checkpoints (train / validation / test)"] = string.Join(" / ", splits.Select(s => zoo.Indices(s).Length.ToString(CultureInfo.InvariantCulture))),
            ["training"] = string.Create(CultureInfo.InvariantCulture, $"BCE on sigmoid(output) vs test accuracy, Adam lr {settings.LearningRate:G3}, batch {settings.BatchSize}, {settings.Epochs} epochs, best epoch by validation Kendall τ"),
            ["command"] = command ?? "",
        });

        report.AddHeading("The zoo: test accuracy of its checkpoints");
        var labels = Enumerable.Range(0, Bins).Select(b => string.Create(CultureInfo.InvariantCulture, $"{b / (double)Bins:0.0}")).ToArray();
        var series = splits.Select(split =>
        {
            var counts = new double[Bins];
            foreach (int i in zoo.Indices(split)) counts[Bin(zoo.TestAccuracy[i])]++;
            return new BarSeries(split, counts.Select(c => (IReadOnlyList<double>)new[] { c }).ToArray());
        }).ToArray();
        report.AddGroupedBarChart(new GroupedBarChart("Checkpoints per test-accuracy bin (bin start)", "checkpoints", labels, series) { Decimals = 0, Width = 640 });

        report.AddHeading("Test Kendall τ per model");
        var kinds = results.Select(r => r.Kind).Distinct().ToArray();
        // A constant prediction has no τ (NaN): such seeds are left out of the bars and said so.
        var drawn = kinds.Where(k => results.Any(r => r.Kind == k && double.IsFinite(r.TestTau))).ToArray();
        var undefined = results.Where(r => !double.IsFinite(r.TestTau)).Select(r => $"{r.Kind} seed {r.Seed}").ToArray();
        if (drawn.Length > 0)
            report.AddGroupedBarChart(new GroupedBarChart("Test Kendall τ (bar: mean; whisker: ± sd; dots: seeds)", "Kendall τ", drawn,
                new[] { new BarSeries("test τ", drawn.Select(k => (IReadOnlyList<double>)results.Where(r => r.Kind == k && double.IsFinite(r.TestTau)).Select(r => r.TestTau).ToArray()).ToArray()) })
                { Decimals = 3 });
        if (undefined.Length > 0) report.AddParagraph($"No test τ (constant predictions), left out of the bars: {string.Join(", ", undefined)}.");
        report.AddTable(null, new[] { "model", "seeds", "test Kendall τ", "test R²", "per seed τ (best epoch)" }, kinds.Select(k =>
        {
            var rs = results.Where(r => r.Kind == k).ToArray();
            return (IReadOnlyList<string>)new[]
            {
                k, rs.Length.ToString(CultureInfo.InvariantCulture), MeanStd(rs.Select(r => r.TestTau)), MeanStd(rs.Select(r => r.TestR2)),
                string.Join(", ", rs.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Seed}: {r.TestTau:0.000} ({r.BestEpoch})"))),
            };
        }));

        foreach (var k in kinds)
        {
            var rs = results.Where(r => r.Kind == k).ToArray();
            report.AddHeading($"{k}", 3);
            var x = new List<double>(); var y = new List<double>(); var c = new List<double>();
            foreach (var r in rs)
                for (int i = 0; i < r.TestActual.Length; i++) { x.Add(r.TestActual[i]); y.Add(r.TestPredicted[i]); c.Add(r.Seed); }
            report.AddScatters(new ScatterChart($"{k}: predicted vs true (test split)", "true test accuracy", "predicted accuracy", "seed", x, y, c)
            {
                Range = (0, 1), Diagonal = true,
            });
            var chart = new LineChart($"{k}: validation Kendall τ per epoch", "epoch", "validation τ");
            foreach (var r in rs) chart.Add(ChartSeries.PerEpoch($"seed {r.Seed}", r.ValidationTauPerEpoch));
            report.AddChart(chart);
        }
        return report;
    }

    private static int Bin(float accuracy) => Math.Clamp((int)Math.Floor(accuracy * Bins), 0, Bins - 1);

    private static string MeanStd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        var (m, sd) = GroupedBarChart.MeanStd(v);
        return string.Create(CultureInfo.InvariantCulture, $"{m:0.000} ± {sd:0.000}");
    }
}

/// <summary>
/// Results of a generalization run as JSON (<c>results.json</c>), so runs of single models (e.g. in parallel
/// processes) can be drawn into one report.
/// </summary>
public static class GeneralizationResultsFile
{
    private static readonly System.Text.Json.JsonSerializerOptions Options = new()
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes <paramref name="results"/> atomically.</summary>
    public static void Write(string path, IReadOnlyList<GeneralizationResult> results)
    {
        ArgumentException.ThrowIfNullOrEmpty(path); ArgumentNullException.ThrowIfNull(results);
        LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(path, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(results.ToArray(), Options));
    }

    /// <exception cref="System.IO.InvalidDataException">The file is not a results file; the message names it.</exception>
    public static GeneralizationResult[] Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!System.IO.File.Exists(path)) throw new System.IO.FileNotFoundException($"{path}: no such results file (classifier-zoo generalization writes results.json in its --out directory).", path);
        GeneralizationResult[]? r;
        try { r = System.Text.Json.JsonSerializer.Deserialize<GeneralizationResult[]>(System.IO.File.ReadAllBytes(path), Options); }
        catch (System.Text.Json.JsonException e) { throw new System.IO.InvalidDataException($"{path}: not a generalization results file ({e.Message}).", e); }
        if (r is null || r.Length == 0 || r.Any(x => x is null || string.IsNullOrEmpty(x.Kind)))
            throw new System.IO.InvalidDataException($"{path}: holds no generalization results (expected a JSON array of results with a model kind each).");
        foreach (var x in r)
            if (x.TestPredicted.Length != x.TestActual.Length)
                throw new System.IO.InvalidDataException($"{path}: the '{x.Kind}' seed {x.Seed} result has {x.TestPredicted.Length} predictions for {x.TestActual.Length} test accuracies.");
        return r;
    }
}
