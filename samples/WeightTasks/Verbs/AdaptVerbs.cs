using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Adaptation;
using LayerCompiler.Tasks.Models;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary><c>domain-adapt run</c>: adapt binary Fashion-MNIST CNN classifiers to corrupted images with an equivariant Δv model (DWSNets).</summary>
internal static class AdaptVerbs
{
    public static Command Create()
    {
        var quickOption = new Option<bool>("--quick") { Description = "Quick size (a few minutes on 2 cores): 45 class pairs × 4 classifiers of 100 Adam steps on 6,000 images, 4,000 held-out images, 3 epochs of the Δv model. Without it: 45 × 16 classifiers of 300 steps on 12,000 images, all 10,000 held-out images, 10 epochs (not measured)." };
        var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated seeds of the Δv model and of the fine-tuning data order; mean ± std over them.", DefaultValueFactory = _ => "1,2,3" };
        var outOption = new Option<string>("--out") { Description = "Directory for one sub-directory per seed (resumable), results.md/json and report.html.", DefaultValueFactory = _ => "runs/domain-adapt" };
        var zooOption = new Option<string?>("--zoo") { Description = "Directory of the zoo of binary classifiers (built there, resumable; default OUT/zoo)." };
        var perPairOption = new Option<int?>("--classifiers-per-pair") { Description = "Classifiers per class pair (quick: 4)." };
        var pairsOption = new Option<int?>("--pairs") { Description = "Class pairs, at most 45 (default 45)." };
        var stepsOption = new Option<int?>("--classifier-steps") { Description = "Adam steps of each source classifier (quick: 100)." };
        var epochsOption = new Option<int?>("--epochs") { Description = "Epochs of the Δv model (quick: 3)." };
        var lrOption = new Option<float?>("--lr") { Description = "Adam learning rate of the Δv model (default 3e-5; one warmup epoch, then cosine; the epoch with the best validation target accuracy is kept)." };
        var ftStepsOption = new Option<int?>("--fine-tune-steps") { Description = "SGD steps of the fine-tuning reference (default 10)." };
        var ftLrOption = new Option<float?>("--fine-tune-lr") { Description = "SGD learning rate of the fine-tuning reference (default 0.05)." };
        var run = new Command("run", "Train binary CNN classifiers on clean Fashion-MNIST pairs, then an equivariant model that outputs Δv for each classifier (v' = v + s·Δv) trained " +
            "through the classifier on corrupted images; report target-domain accuracy of unadapted, adapted and fine-tuned held-out classifiers on held-out images, and an HTML report.")
        {
            quickOption, seedsOption, outOption, zooOption, perPairOption, pairsOption, stepsOption, epochsOption, lrOption, ftStepsOption, ftLrOption, Cli.Data,
        };
        run.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            var seeds = SineVerbs.ParseSeeds(r.GetValue(seedsOption)!);
            var s = r.GetValue(quickOption) ? AdaptationSettings.Quick : AdaptationSettings.Standard;
            foreach (var (name, value) in new[] { ("--classifiers-per-pair", r.GetValue(perPairOption)), ("--pairs", r.GetValue(pairsOption)), ("--classifier-steps", r.GetValue(stepsOption)), ("--epochs", r.GetValue(epochsOption)) })
                if (value is <= 0) throw new ArgumentException($"{name} must be positive, got {value}.");
            if (r.GetValue(ftStepsOption) is < 0) throw new ArgumentException($"--fine-tune-steps must be >= 0, got {r.GetValue(ftStepsOption)}.");
            if (r.GetValue(perPairOption) is int m) s = s with { ClassifiersPerPair = m };
            if (r.GetValue(pairsOption) is int p) s = s with { Pairs = p };
            if (r.GetValue(stepsOption) is int st) s = s with { ClassifierSteps = st };
            if (r.GetValue(epochsOption) is int e) s = s with { ModelEpochs = e };
            if (r.GetValue(lrOption) is float lr) s = s with { ModelLearningRate = lr };
            if (r.GetValue(ftStepsOption) is int fs) s = s with { FineTuneSteps = fs };
            if (r.GetValue(ftLrOption) is float fl) s = s with { FineTuneLearningRate = fl };
            s.Validate();
            string outDir = r.GetValue(outOption)!, zooDir = r.GetValue(zooOption) ?? Path.Combine(outDir, "zoo");
            // The zoo directory first: a 10-class zoo or one of other settings is refused before the data set is looked for.
            AdaptationZoo.CheckDirectory(zooDir, s.ZooIdentity());
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            Ui.Step(string.Create(CultureInfo.InvariantCulture,
                $"Domain adaptation ({(r.GetValue(quickOption) ? "quick" : "standard")}): {s.Pairs} pairs × {s.ClassifiersPerPair} binary CNNs; seeds {string.Join(", ", seeds)}; target domain {s.ZooIdentity()["corruption"]}"));
            var zooProgress = new SyncZoo(p =>
            {
                if (p.Message is null) return;
                Ui.Info(string.Create(CultureInfo.InvariantCulture, $"  zoo {p.Done}/{p.Total}: {p.Message}  ({p.StepsPerSecond:F1} classifier steps/s{(p.Eta is TimeSpan eta ? $", ETA {eta:mm\\:ss}" : "")})"));
            });
            var res = DomainAdaptation.Run(data, s, seeds, zooDir, outDir, Ui.Info, zooProgress, _ => EpochLines(s.ModelEpochs), ct);
            Ui.Step($"Accuracy on held-out images, mean over {res.TestClassifiers} held-out classifiers; mean ± std over {res.Seeds.Count} seed(s)");
            foreach (var t in DomainAdaptation.Table(res))
                Ui.Good(string.Create(CultureInfo.InvariantCulture, $"  {t.Method,-40} TARGET {100 * t.Target:F2} ± {100 * t.TargetStd:F2} %   source {100 * t.Source:F2} ± {100 * t.SourceStd:F2} %"));
            Ui.Info($"  results: {Path.Combine(outDir, "results.md")}, report: {Path.Combine(outDir, "report.html")}");
            return 0;
        })));
        return new Command("domain-adapt", "Domain adaptation (DWSNets): an equivariant weight → weight model adapts classifiers to a corrupted target domain.") { run };
    }

    /// <summary>One line per finished epoch: losses, the validation target accuracy (the selection metric), the time left.</summary>
    private static IProgress<TrainingProgress> EpochLines(int epochs) => new WeightModelTraining.SyncProgress(p =>
    {
        if (p.Kind != ProgressKind.EpochEnd || p.Metrics is not { } m) return;
        Ui.Info(string.Create(CultureInfo.InvariantCulture,
            $"    epoch {m.Epoch,3}/{epochs}: train loss {m.TrainLoss:F4}, validation loss {m.ValidationLoss ?? double.NaN:F4}, validation target accuracy {m.ValidationMetric ?? double.NaN:P2}{(m.IsBest ? " *" : "")}{(p.Eta is TimeSpan eta ? $"  (ETA {eta:mm\\:ss})" : "")}"));
    });

    private sealed class SyncZoo(Action<AdaptationZooProgress> report) : IProgress<AdaptationZooProgress>
    {
        public void Report(AdaptationZooProgress value) => report(value);
    }
}
