using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Reports;
using LayerCompiler.Tasks.Zoo;

namespace WeightTasks.InrClassification;

/// <summary>The HTML report of a training run.</summary>
internal static class RunReport
{
    public static void Write(string path, Classifier model, ZooReader zoo, TrainOptions options, TrainOutcome outcome,
        Evaluation train, Evaluation val, Evaluation test, int? trainLimit)
    {
        static string P(double v) => v.ToString("P2", CultureInfo.InvariantCulture);
        static string F(double v, int d = 4) => v.ToString("F" + d, CultureInfo.InvariantCulture);
        var m = zoo.Manifest;
        var report = new HtmlReport($"INR classification on {m.TaskName}: {model.Description}");
        report.AddParagraph(string.Create(CultureInfo.InvariantCulture,
            $"Test accuracy {P(test.Accuracy)} on {test.Count} test INRs, with the weights of epoch {outcome.BestEpoch} of {options.Epochs} (chosen by validation accuracy, {P(val.Accuracy)}). Training took {outcome.Seconds:F0} s on {Environment.ProcessorCount} logical CPU(s)."));

        report.AddHeading("Results");
        report.AddTable(null, new[] { "split", "INRs", "loss", "accuracy" }, new[]
        {
            new[] { "train", train.Count.ToString(CultureInfo.InvariantCulture), F(train.Loss), P(train.Accuracy) },
            new[] { "validation", val.Count.ToString(CultureInfo.InvariantCulture), F(val.Loss), P(val.Accuracy) },
            new[] { "test", test.Count.ToString(CultureInfo.InvariantCulture), F(test.Loss), P(test.Accuracy) },
        }, highlightRow: 2);

        report.AddHeading("Learning curves");
        report.AddLearningCurves(
            new Dictionary<string, IReadOnlyList<double>> { ["train"] = outcome.History.Select(h => h.TrainLoss).ToArray(), ["validation"] = outcome.History.Select(h => h.ValLoss).ToArray() },
            new Dictionary<string, IReadOnlyList<double>> { ["train"] = outcome.History.Select(h => h.TrainAccuracy).ToArray(), ["validation"] = outcome.History.Select(h => h.ValAccuracy).ToArray() });
        report.AddTable("Per epoch", new[] { "epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds" },
            outcome.History.Select(h => (IReadOnlyList<string>)new[]
            {
                h.Epoch.ToString(CultureInfo.InvariantCulture), F(h.TrainLoss), P(h.TrainAccuracy), F(h.ValLoss), P(h.ValAccuracy),
                h.LearningRate.ToString("G3", CultureInfo.InvariantCulture), F(h.Seconds, 1),
            }), highlightRow: outcome.BestEpoch - 1);

        report.AddHeading("Test confusion matrix");
        report.AddConfusionMatrix(null, test.Confusion, FashionMnist.ClassNames);

        report.AddHeading("Model and training");
        report.AddKeyValues(null, new Dictionary<string, string>
        {
            ["model"] = model.Description,
            ["class"] = model.Module.GetType().Name,
            ["parameters"] = model.Module.ParameterCount().ToString("N0", CultureInfo.InvariantCulture),
            ["input normalization"] = model.Model is LayerCompiler.Tasks.Models.EquivariantWeightModel ? "per entry, mean/std over training INRs" : "per feature, mean/std over training INRs",
            ["optimizer"] = $"AdamW lr {options.LearningRate.ToString("G3", CultureInfo.InvariantCulture)}, weight decay {options.WeightDecay.ToString("G3", CultureInfo.InvariantCulture)}{(options.AmsGrad ? ", amsgrad" : "")}",
            ["schedule"] = options.Cosine ? $"warmup {options.WarmupEpochs} epoch(s), cosine to 1% of lr" : "constant",
            ["batch / epochs / seed"] = $"{options.BatchSize} / {options.Epochs} / {options.Seed}",
            ["model selection"] = "best validation accuracy",
            ["augmentation"] = options.Augmentation is null ? options.AugmentationName : $"{options.AugmentationName}: {options.Augmentation}",
        });

        report.AddHeading("Zoo");
        var zooInfo = new Dictionary<string, string>
        {
            ["zoo"] = Path.GetFileName(Path.GetFullPath(zoo.Directory).TrimEnd(Path.DirectorySeparatorChar)),
            ["task"] = m.TaskName,
            ["architecture"] = m.Architecture.Describe(),
            ["seed"] = m.Seed.ToString(CultureInfo.InvariantCulture),
            ["training INRs used"] = trainLimit is int l ? $"first {l}" : "all",
        };
        foreach (var key in new[] { "fit.max_steps", "fit.lr", "fit.stop_mse", "task.validation_count", "task.split_seed" })
            if (m.Identity.TryGetValue(key, out var v)) zooInfo[key] = v;
        report.AddKeyValues(null, zooInfo);
        report.AddTable("Fit quality (PSNR of the INRs, dB)", new[] { "split", "INRs", "mean", "5th pct", "median", "min", "max", "reached target" },
            m.Splits.Select(s => (IReadOnlyList<string>)new[]
            {
                s.Name, s.Count.ToString(CultureInfo.InvariantCulture),
                s.Stats is { } st ? F(st.PsnrMean, 2) : "-", s.Stats is { } a ? F(a.PsnrP5, 2) : "-", s.Stats is { } b ? F(b.PsnrMedian, 2) : "-",
                s.Stats is { } c ? F(c.PsnrMin, 2) : "-", s.Stats is { } d ? F(d.PsnrMax, 2) : "-", s.Stats is { } e ? e.Stopped.ToString(CultureInfo.InvariantCulture) : "-",
            }));
        try
        {
            var sample = zoo.Load("test", limit: 32);
            var images = InrRenderer.Render(zoo.CreateNetwork(), sample.Weights, Enumerable.Range(0, sample.Count).ToArray(), 28);
            var grid = Png.GrayGrid(images, 28, 28, 8, 2, 64);
            report.AddImage($"The first {sample.Count} test INRs rendered at 28×28", Png.EncodeGray(grid.Pixels, grid.Width, grid.Height), grid.Width * 2);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            report.AddParagraph($"(Could not render test INRs: {e.Message})");
        }

        report.AddHeading("Published numbers (other teams' corpora, for context)");
        report.AddTable(null, new[] { "model", "test accuracy" }, new[]
        {
            new[] { "MLP on flattened weights", "19.91%" },
            new[] { "DWSNets (hidden-neuron equivariant)", "67.06 ± 0.29%" },
            new[] { "NFN all-neuron (re-run on DWSNets' corpus)", "68.19%" },
            new[] { "NFN hidden-neuron (re-run)", "68.94%" },
        });
        report.Write(path);
    }
}
