using LayerCompiler.Tasks.Reports;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace LayerCompiler.Tasks.Tickets;

/// <summary>
/// The HTML report of a winning-ticket run: test accuracy per mask kind (bars: mean over seeds, whisker ± sd, a dot per
/// seed), recall of IMP's mask, the predictor's training loss per epoch, and the per-seed table.
/// </summary>
public static class TicketReport
{
    /// <summary>The mask kinds in the order the report draws them.</summary>
    public static readonly string[] MaskKinds = { "dense (no mask)", "IMP", "predicted", "random", "magnitude at init" };

    public static HtmlReport Build(IReadOnlyList<WinningTicketResult> results, WinningTicketSettings settings, string? command = null)
    {
        ArgumentNullException.ThrowIfNull(results); ArgumentNullException.ThrowIfNull(settings);
        if (results.Count == 0) throw new ArgumentException("No results to report; run at least one seed.", nameof(results));
        var report = new HtmlReport("Winning-ticket masks (NFN §5.3)");
        report.AddKeyValues("Run", new Dictionary<string, string>
        {
            ["seeds"] = string.Join(", ", results.Select(r => r.Seed.ToString(CultureInfo.InvariantCulture))),
            ["input network"] = "MLP 784-128-128-10, ReLU, Fashion-MNIST",
            ["pairs"] = string.Create(CultureInfo.InvariantCulture, $"{settings.TrainPairs} training + {settings.HeldOutPairs} held-out initializations per seed"),
            ["classifier recipe"] = string.Create(CultureInfo.InvariantCulture, $"{settings.Steps} Adam steps of {settings.BatchSize} at lr {settings.LearningRate:G3} on {settings.TrainImages} images, tested on {settings.TestImages}; {WinningTicketSettings.Recipe}"),
            ["sparsity"] = string.Create(CultureInfo.InvariantCulture, $"{settings.Sparsity:P0} of every weight tensor (biases kept)"),
            ["mask predictor"] = string.Create(CultureInfo.InvariantCulture, $"all-neuron equivariant weight → weight network, class-balanced BCE, Adam {settings.ModelLearningRate:G3}, batch {settings.ModelBatchSize}, {settings.ModelEpochs} epochs, through the runtime's Trainer"),
            ["command"] = command ?? "",
        });

        Func<WinningTicketResult, double>[] accuracy = { r => r.Dense, r => r.Imp, r => r.Predicted, r => r.Random, r => r.MagnitudeAtInit };
        report.AddGroupedBarChart(new GroupedBarChart("Test accuracy per mask (bar: mean over seeds; whisker: ± sd; dots: seeds)", "test accuracy (%)", MaskKinds,
            new[] { new BarSeries("test accuracy", accuracy.Select(f => (IReadOnlyList<double>)results.Select(r => 100 * f(r)).ToArray()).ToArray()) }) { Width = 620 });

        string[] recallKinds = { "predicted", "random", "magnitude at init" };
        Func<WinningTicketResult, double>[] recall = { r => r.PredictedRecall, r => r.RandomRecall, r => r.MagnitudeAtInitRecall };
        report.AddGroupedBarChart(new GroupedBarChart("Recall of IMP's kept weights", "recall (%)", recallKinds,
            new[] { new BarSeries("recall", recall.Select(f => (IReadOnlyList<double>)results.Select(r => 100 * f(r)).ToArray()).ToArray(), "#2ca02c") }));

        var loss = new LineChart("Mask predictor: training loss per epoch (class-balanced BCE)", "epoch", "loss");
        foreach (var r in results) loss.Add(ChartSeries.PerEpoch($"seed {r.Seed}", r.ModelLoss));
        report.AddChart(loss);

        static string P(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture);
        report.AddTable("Per seed (test accuracy %, mean over the held-out initializations)", new[] { "seed", "dense", "IMP", "predicted", "random", "magnitude at init", "recall: predicted", "recall: random", "recall: magnitude at init" },
            results.Select(r => (IReadOnlyList<string>)new[]
            {
                r.Seed.ToString(CultureInfo.InvariantCulture), P(r.Dense), P(r.Imp), P(r.Predicted), P(r.Random), P(r.MagnitudeAtInit),
                P(r.PredictedRecall), P(r.RandomRecall), P(r.MagnitudeAtInitRecall),
            }));
        return report;
    }
}
