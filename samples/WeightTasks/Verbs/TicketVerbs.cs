using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using System.Threading;
using LayerCompiler.Tasks.ClassifierZoo;
using LayerCompiler.Tasks.Tickets;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary><c>tickets run</c>: winning-ticket masks predicted from initial weights (NFN §5.3) on Fashion-MNIST.</summary>
internal static class TicketVerbs
{
    public static Command Create()
    {
        var quickOption = new Option<bool>("--quick") { Description = "Quick size (the only size so far): 64 training + 16 held-out initializations, 200 Adam steps of 32 on 6,000 images." };
        var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated experiment seeds (initializations, data order, predictor); mean ± std over them.", DefaultValueFactory = _ => "1,2,3" };
        var pairsOption = new Option<int?>("--pairs") { Description = "Training pairs (initialization, IMP mask) for the predictor (quick: 64)." };
        var heldOption = new Option<int?>("--held-out") { Description = "Held-out initializations every mask is tested on (quick: 16)." };
        var stepsOption = new Option<int?>("--steps") { Description = "Adam steps of the classifier recipe, dense and masked (quick: 200)." };
        var epochsOption = new Option<int?>("--model-epochs") { Description = "Epochs of the mask predictor (quick: 10)." };
        var outOption = new Option<string>("--out") { Description = "Directory for report.html (accuracy bars per mask kind with seed spread, recall, predictor loss).", DefaultValueFactory = _ => "runs/tickets" };
        var run = new Command("run", "Train dense MLPs 784-128-128-10 from many initializations, prune 95 % of each weight tensor by trained magnitude (one-shot IMP), " +
            "fit the equivariant mask predictor on (initialization, mask) pairs and compare held-out test accuracy of IMP, predicted, random and magnitude-at-initialization masks.")
        {
            quickOption, seedsOption, pairsOption, heldOption, stepsOption, epochsOption, outOption, Cli.Data, Cli.Device,
        };
        run.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "tickets run");
            var seeds = ParseSeeds(r.GetValue(seedsOption)!);
            foreach (var (name, value) in new[] { ("--pairs", r.GetValue(pairsOption)), ("--held-out", r.GetValue(heldOption)), ("--steps", r.GetValue(stepsOption)), ("--model-epochs", r.GetValue(epochsOption)) })
                if (value is <= 0) throw new ArgumentException($"{name} must be positive, got {value}.");
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            var results = new List<WinningTicketResult>();
            WinningTicketSettings? last = null;
            foreach (ulong seed in seeds)
            {
                ct.ThrowIfCancellationRequested();
                var s = WinningTicketSettings.Quick(seed);
                if (r.GetValue(pairsOption) is int p) s = s with { TrainPairs = p };
                if (r.GetValue(heldOption) is int h) s = s with { HeldOutPairs = h };
                if (r.GetValue(stepsOption) is int st) s = s with { Steps = st };
                if (r.GetValue(epochsOption) is int e) s = s with { ModelEpochs = e };
                s.Validate();
                last = s;
                if (results.Count == 0)
                    Ui.Step($"Winning tickets (quick): {s.TrainPairs} + {s.HeldOutPairs} initializations, {s.Steps} steps of {s.BatchSize} on {s.TrainImages} images, tested on {s.TestImages}; sparsity {s.Sparsity:P0} per weight tensor");
                var exp = new WinningTicketExperiment(s, ClassifierImages.From(data.Train, s.TrainImages), ClassifierImages.From(data.Test, s.TestImages));
                var res = exp.Run(Ui.Info);
                results.Add(res);
                Ui.Good(string.Create(CultureInfo.InvariantCulture,
                    $"seed {seed}: dense {res.Dense:P2}  IMP {res.Imp:P2}  predicted {res.Predicted:P2}  random {res.Random:P2}  magnitude@init {res.MagnitudeAtInit:P2}  " +
                    $"(recall of IMP's kept weights: predicted {res.PredictedRecall:P1}, random {res.RandomRecall:P1}, magnitude@init {res.MagnitudeAtInitRecall:P1})"));
            }
            Ui.Step($"Test accuracy over {results.Count} seed(s), mean ± std (each seed: mean over its held-out initializations)");
            void Row(string name, Func<WinningTicketResult, double> f) => Ui.Info($"  {name,-26} {MeanStd(results.Select(f).ToArray())}");
            Row("dense", x => x.Dense);
            Row("IMP mask (95 %)", x => x.Imp);
            Row("predicted mask", x => x.Predicted);
            Row("random mask", x => x.Random);
            Row("magnitude at init", x => x.MagnitudeAtInit);
            Row("recall: predicted", x => x.PredictedRecall);
            Row("recall: magnitude at init", x => x.MagnitudeAtInitRecall);
            Row("recall: random", x => x.RandomRecall);
            string dir = r.GetValue(outOption)!;
            System.IO.Directory.CreateDirectory(dir);
            string report = System.IO.Path.Combine(dir, "report.html");
            TicketReport.Build(results, last!, "tickets " + string.Join(" ", Environment.GetCommandLineArgs().SkipWhile(a => a != "tickets").Skip(1))).Write(report);
            Ui.Good($"report: {report}");
            return 0;
        })));
        return new Command("tickets", "Winning-ticket masks predicted from initial weights (NFN §5.3).") { run };
    }

    private static ulong[] ParseSeeds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException($"--seeds needs at least one seed, e.g. 1,2,3; got '{text}'.");
        return parts.Select(p => ulong.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new ArgumentException($"--seeds: '{p}' is not a non-negative integer (e.g. --seeds 1,2,3).")).ToArray();
    }

    private static string MeanStd(double[] v)
    {
        double m = v.Average();
        double sd = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)) : 0;
        return string.Create(CultureInfo.InvariantCulture, $"{100 * m:F2} ± {100 * sd:F2} %");
    }
}
