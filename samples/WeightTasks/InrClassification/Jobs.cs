using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Zoo;

namespace WeightTasks.InrClassification;

/// <summary>Settings of a zoo build (the protocol, or the quick main-job variant).</summary>
internal sealed record ZooPlan(string Name, IReadOnlyDictionary<string, int>? SplitLimits, int? PerSplit, InrFitSettings Fit, int ShardSize = 1000)
{
    /// <summary>The DWSNets protocol: every image, 1000 Adam steps at 5e-4, stop at 40 dB.</summary>
    public static ZooPlan Full => new("full protocol", null, null, InrFitProtocols.FashionMnist);

    /// <summary>
    /// The main job's zoo, sized for 2 CPU cores and a few minutes (about 4.5 of the job's 6): 10,000 train /
    /// 1,000 validation / 2,000 test INRs, 400 Adam steps at the protocol's lr 5e-4 (instead of its 1000), stop at
    /// 40 dB as in the protocol. The fitting rate matters more than the PSNR it reaches: a higher rate (7e-3 × 200
    /// steps) fits the images better (≈ 22.5 dB against 18.3 dB) but gives weights that classify far worse (2,000 training
    /// INRs: 28 % against 42 % at 5e-4 × 300 and 50 % at 5e-4 × 1000; docs/results.md).
    /// </summary>
    public static ZooPlan Quick => new("quick", new Dictionary<string, int> { ["train"] = 10000, ["validation"] = 1000, ["test"] = 2000 }, null,
        InrFitProtocols.FashionMnist with { MaxSteps = 400 });
}

internal static class Jobs
{
    public static readonly MlpInputNetwork Siren = new(Siren2x32x32x1.CreateWeightSpace(LayerCompiler.Symmetry.HiddenNeuron), LayerCompiler.InputActivation.Sine, 30f, 0.5f);

    /// <summary>Exit code when the data set is missing and could not be installed.</summary>
    public const int MissingData = 3;

    /// <summary>
    /// Loads Fashion-MNIST. When it is missing and <paramref name="tryInstall"/> is set: installs it with apt-get
    /// when running as root, otherwise prints the command. Returns null (after printing why) when it cannot.
    /// </summary>
    public static FashionMnist? LoadData(string? directory, bool tryInstall)
    {
        try { return FashionMnist.Load(directory); }
        catch (FileNotFoundException e) when (tryInstall && directory is null)
        {
            Ui.Warn(e.Message);
            if (!Environment.IsPrivilegedProcess)
            {
                Ui.Error($"Fashion-MNIST is not installed. Install it (as root) with:\n  sudo {FashionMnist.InstallCommand}\nthen run this again.");
                return null;
            }
            Ui.Step($"Installing the data set: {FashionMnist.InstallCommand}");
            if (!RunApt("install -y dataset-fashion-mnist") && !(RunApt("update") && RunApt("install -y dataset-fashion-mnist")))
            {
                Ui.Error($"Installing failed. Run `{FashionMnist.InstallCommand}` yourself, or pass --data DIR with the four IDX .gz files.");
                return null;
            }
            return FashionMnist.Load(directory);
        }
        catch (FileNotFoundException e)
        {
            Ui.Error(e.Message);
            return null;
        }
    }

    private static bool RunApt(string arguments)
    {
        try
        {
            var psi = new ProcessStartInfo("apt-get", arguments) { UseShellExecute = false };
            psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
            using var p = Process.Start(psi);
            if (p is null) return false;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no apt-get on this system
        }
    }

    public static ZooBuildResult BuildFashionZoo(FashionMnist data, string directory, ZooPlan plan, ulong seed, int threads, CancellationToken cancellation, ZooFitterFactory? fitter = null)
    {
        var task = ImageInrTask.FashionMnist(data);
        var builder = new ZooBuilder(task, Siren, new ZooBuildOptions
        {
            Directory = directory, Seed = seed, ShardSize = plan.ShardSize, MaxThreads = threads, Fit = plan.Fit,
            PerSplitLimit = plan.PerSplit, SplitLimits = plan.SplitLimits,
            Fitter = fitter,
        });
        int total = task.SplitNames.Sum(builder.PlannedCount);
        Ui.Step(string.Create(CultureInfo.InvariantCulture,
            $"Zoo ({plan.Name}) in {directory}: {string.Join(", ", task.SplitNames.Select(s => $"{builder.PlannedCount(s)} {s}"))} INRs ({total} in all); {plan.Fit}"));
        var result = Ui.BuildZoo(builder, cancellation);
        Ui.ZooSummary(result.Manifest);
        return result;
    }

    /// <summary>
    /// A sine corpus: <paramref name="frequencyFamily"/> false: a·sin(b·x), a, b ~ U(0, 10) (targets (a, b), the SSL corpus);
    /// true: sin(a·x), a ~ U(0.5, 10) (target a, the regression corpus). The protocol fixes no corpus size: --per-split N builds
    /// N INRs per split, --sizes T,V,E T train / V validation / E test, --full 10,000 train / 1,000 validation / 1,000 test.
    /// </summary>
    public static ZooBuildResult BuildSineZoo(string directory, int[]? sizes, ZooPlan plan, ulong seed, int threads, CancellationToken cancellation, ZooFitterFactory? fitter = null,
        bool frequencyFamily = false)
    {
        var s = sizes ?? new[] { 10_000, 1_000, 1_000 };
        InrTask task = frequencyFamily ? new SineFrequencyInrTask(seed, s[0], s[1], s[2]) : new SineWaveInrTask(seed, s[0], s[1], s[2]);
        // Activation, ω0 and output offset (the protocol's +0.5; zoos built before issue 16 recorded 0) as the SIREN declares them.
        var siren = new Siren1x32x32x1.Network();
        var net = new MlpInputNetwork(siren.Space, siren.Activation, siren.Omega0, siren.OutputOffset);
        var builder = new ZooBuilder(task, net, new ZooBuildOptions { Directory = directory, Seed = seed, ShardSize = plan.ShardSize, MaxThreads = threads, Fit = plan.Fit, Fitter = fitter });
        Ui.Step(string.Create(CultureInfo.InvariantCulture,
            $"Sine zoo ({task.Describe()["function"]}, SIREN output offset {siren.OutputOffset:R}) in {directory}: {string.Join(", ", task.SplitNames.Select(sp => $"{builder.PlannedCount(sp)} {sp}"))} INRs; {plan.Fit}"));
        var result = Ui.BuildZoo(builder, cancellation);
        Ui.ZooSummary(result.Manifest);
        return result;
    }

    /// <summary>Parses --sizes TRAIN,VALIDATION,TEST (sine-wave zoos only; exclusive with --per-split and --full).</summary>
    public static int[] ParseSineSizes(string text, bool sine, bool otherSize)
    {
        if (!sine) throw new ArgumentException("--sizes applies to --task sine-waves and sine-frequency only; a Fashion-MNIST zoo takes --per-split N or --full.");
        if (otherSize) throw new ArgumentException("Choose the zoo size with one of --sizes, --per-split or --full.");
        var parts = text.Split(',');
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
                throw new ArgumentException($"--sizes: '{parts[i]}' is not a positive integer; give TRAIN,VALIDATION,TEST, e.g. 3000,500,1000.");
        if (sizes.Length != 3) throw new ArgumentException($"--sizes needs three counts TRAIN,VALIDATION,TEST, got {sizes.Length} ('{text}').");
        return sizes;
    }

    /// <summary>Fits <paramref name="count"/> INRs of the first training images for exactly <paramref name="steps"/> steps, several times.</summary>
    public static void BenchFit(FashionMnist data, int count, int steps, int repeats, int threads)
    {
        if (count <= 0 || steps <= 0 || repeats <= 0) throw new ArgumentException("--count, --steps and --repeats must be positive.");
        var fit = new InrFitter(Siren, InrTask.ImageGrid(28, 28), 784, InrFitProtocols.FashionMnist with { MaxSteps = steps, StopMse = 0 });
        int p = Siren.ParameterCount;
        var init = new float[count * p];
        var targets = new float[count * 784];
        for (int i = 0; i < count; i++)
        {
            SirenInit.Initialize(Siren, init.AsSpan(i * p, p), new LayerCompiler.Runtime.Rng(ZooSeeds.ForItem(0, "bench", i)));
            data.Train.ImageAsFloats(i, targets.AsSpan(i * 784, 784));
        }
        Ui.Step(string.Create(CultureInfo.InvariantCulture,
            $"Fitting {count} INRs × {steps} steps, {(threads > 0 ? threads : Environment.ProcessorCount)} thread(s), {repeats} timed runs after a warm-up ({Environment.ProcessorCount} logical CPUs)"));
        var rates = new List<double>();
        InrFitResult[] fitted = [];
        for (int run = 0; run <= repeats; run++)
        {
            var parameters = (float[])init.Clone();
            var sw = Stopwatch.StartNew();
            fitted = fit.FitMany(parameters, targets, count, threads);
            double rate = (double)count * steps / sw.Elapsed.TotalSeconds;
            if (run > 0) rates.Add(rate);
            Ui.Info(string.Create(CultureInfo.InvariantCulture, $"  {(run == 0 ? "warm-up" : $"run {run}")}: {sw.Elapsed.TotalSeconds:F2} s, {rate:F0} INR-steps/s"));
        }
        rates.Sort();
        Ui.Good(string.Create(CultureInfo.InvariantCulture,
            $"INR-steps/s: min {rates[0]:F0} / median {rates[rates.Count / 2]:F0} / max {rates[^1]:F0}  (one step = forward + backward over 784 points + Adam, SIREN 2-32-32-1)"));
        // The fit itself, so other implementations of the same problem (bench/torch_reference/inr_fit.py) can be
        // checked against it: every run starts from the same initialization, so this is each run's result.
        var psnr = fitted.Select(f => f.Psnr).Order().ToArray();
        Ui.Info(string.Create(CultureInfo.InvariantCulture,
            $"PSNR of the {count} fitted INRs after {steps} steps: mean {psnr.Average():F2} dB, 5th percentile {psnr[(int)(0.05 * (psnr.Length - 1))]:F2} dB"));
    }

    public static void Render(string zoo, string split, int count, int size, int columns, string output)
    {
        var reader = ZooReader.Open(zoo);
        var info = reader.Manifest.Split(split);
        if (count <= 0) throw new ArgumentException($"--count must be positive, got {count}.");
        if (size <= 0 || size > 4096) throw new ArgumentException($"--size must be between 1 and 4096 pixels, got {size}.");
        var data = reader.Load(split, limit: count);
        var net = reader.CreateNetwork();
        if (net.InputWidth != 2 || net.OutputWidth != 1) throw new ArgumentException($"Only image zoos can be rendered; this zoo's INRs map {net.InputWidth} → {net.OutputWidth}.");
        LayerCompiler.Runtime.IO.OutputPaths.CreateParentOf(output, "--out");
        InrRenderer.WriteGrid(output, net, data.Weights, Enumerable.Range(0, data.Count).ToArray(), size, columns);
        Ui.Good(string.Create(CultureInfo.InvariantCulture,
            $"Wrote {output}: {data.Count} of {info.Count} {split} INRs at {size}×{size}, mean PSNR of those {data.Psnr.Average(p => (double)p):F2} dB"));
    }

    /// <summary>Trains one model on a zoo, evaluates it on the test split, saves the checkpoint and the HTML report.</summary>
    public static (Evaluation Test, TrainOutcome Outcome) Train(string zoo, string kind, bool full, TrainOptions options, string outDir, int? trainLimit, CancellationToken cancellation,
        LayerCompiler.Ilgpu.IlgpuDevice? device = null)
    {
        options.Validate();
        var reader = ZooReader.Open(zoo);
        if (reader.Manifest.ClassCount != 10)
            throw new ArgumentException($"The zoo in '{zoo}' is a {reader.Manifest.TaskName} zoo without 10 class labels; train needs a Fashion-MNIST zoo.");
        var model = Classifier.Create(kind, full, options.Seed, device);
        Ui.Step($"Model: {model.Description}, {model.Module.ParameterCount():N0} parameters ({model.Module.GetType().Name})");
        var sw = Stopwatch.StartNew();
        var train = reader.Load("train", model.Space, trainLimit);
        var val = reader.Load("validation", model.Space);
        var test = reader.Load("test", model.Space);
        model.FitNormalization(train);
        Ui.Info(string.Create(CultureInfo.InvariantCulture,
            $"  data: {train.Count} train / {val.Count} validation / {test.Count} test INRs, loaded and normalized in {sw.Elapsed.TotalSeconds:F1} s"));
        LayerCompiler.Runtime.IO.OutputPaths.CreateDirectory(outDir, "--out");
        options = options with { CheckpointPath = Path.Combine(outDir, "training-checkpoint.safetensors") };
        Ui.Step(string.Create(CultureInfo.InvariantCulture,
            $"Training {options.Epochs} epochs, batch {options.BatchSize}, AdamW lr {options.LearningRate:G3} wd {options.WeightDecay:G3}{(options.AmsGrad ? " amsgrad" : "")}, {(options.Cosine ? "warmup-cosine" : "constant")} schedule{(options.WarmupSteps is int w ? $" ({w} warmup steps)" : "")}{(options.ClipGradNorm is float c ? $", gradient norm clipped to {c:G3}" : "")}, augmentation: {options.AugmentationName}"));
        if (File.Exists(options.CheckpointPath))
            Ui.Info($"  resuming from {options.CheckpointPath} (delete it to train from scratch)");
        var outcome = ClassifierTraining.Train(model, options, train, val, (r, isBest, p) => Ui.Epoch(r, options.Epochs, isBest, p.Eta), cancellation);
        if (outcome.ResumedFromEpoch >= options.Epochs)
            Ui.Info($"  all {options.Epochs} epochs were already trained: training skipped, evaluating the saved run");
        var testEval = ClassifierTraining.Evaluate(model, test, 256);
        var valEval = ClassifierTraining.Evaluate(model, val, 256);
        var trainEval = ClassifierTraining.Evaluate(model, train, 256);

        string checkpoint = Path.Combine(outDir, "model.safetensors");
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["zoo.task"] = reader.Manifest.TaskName,
            ["zoo.architecture"] = reader.Architecture.Describe(),
            ["zoo.seed"] = reader.Manifest.Seed.ToString(CultureInfo.InvariantCulture),
            ["train.epochs"] = options.Epochs.ToString(CultureInfo.InvariantCulture),
            ["train.best_epoch"] = outcome.BestEpoch.ToString(CultureInfo.InvariantCulture),
            ["train.batch"] = options.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["train.lr"] = options.LearningRate.ToString("R", CultureInfo.InvariantCulture),
            ["train.weight_decay"] = options.WeightDecay.ToString("R", CultureInfo.InvariantCulture),
            ["train.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["train.augmentation"] = options.Augmentation?.ToString() ?? "none",
            ["result.validation_accuracy"] = valEval.Accuracy.ToString("R", CultureInfo.InvariantCulture),
            ["result.test_accuracy"] = testEval.Accuracy.ToString("R", CultureInfo.InvariantCulture),
        };
        if (options.WarmupSteps is int warmup) meta["train.warmup_steps"] = warmup.ToString(CultureInfo.InvariantCulture);
        if (options.ClipGradNorm is float clip) meta["train.clip_grad_norm"] = clip.ToString("R", CultureInfo.InvariantCulture);
        ClassifierFile.Save(checkpoint, model, meta);
        string reportPath = Path.Combine(outDir, "report.html");
        RunReport.Write(reportPath, model, reader, options, outcome, trainEval, valEval, testEval, trainLimit);
        Ui.Confusion(testEval);
        Ui.Good(string.Create(CultureInfo.InvariantCulture,
            $"Test accuracy: {testEval.Accuracy:P2} on {testEval.Count} test INRs ({model.Description}; epoch {outcome.BestEpoch} chosen by validation accuracy {valEval.Accuracy:P2})"));
        Ui.Info($"  model:  {checkpoint}");
        Ui.Info($"  report: {reportPath}");
        return (testEval, outcome);
    }

    public static Evaluation Evaluate(string zoo, string checkpoint, string split, LayerCompiler.Ilgpu.IlgpuDevice? device = null)
    {
        var reader = ZooReader.Open(zoo);
        reader.Manifest.Split(split); // clear error for a wrong split name before the slow part
        var (model, meta) = ClassifierFile.Load(checkpoint, device);
        Ui.Step($"Checkpoint: {model.Description} (trained {meta.GetValueOrDefault("train.epochs", "?")} epochs, best epoch {meta.GetValueOrDefault("train.best_epoch", "?")})");
        var data = reader.Load(split, model.Space);
        var e = ClassifierTraining.Evaluate(model, data, 256);
        Ui.Confusion(e);
        Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{split} accuracy: {e.Accuracy:P2} on {e.Count} INRs (loss {e.Loss:F4})"));
        return e;
    }

    /// <summary>
    /// Evaluates trained classifiers alone and together (the mean of their softmax probabilities) on a zoo split; writes
    /// ensemble.md and ensemble.json into <paramref name="outDir"/> when one is given.
    /// </summary>
    public static double Ensemble(string zoo, IReadOnlyList<string> checkpoints, string split, string? outDir, LayerCompiler.Ilgpu.IlgpuDevice? device = null)
    {
        if (checkpoints.Count < 2) throw new ArgumentException($"--checkpoints: an ensemble needs at least 2 models, got {checkpoints.Count}; evaluate one model with 'inr-classify eval'.");
        var reader = ZooReader.Open(zoo);
        reader.Manifest.Split(split); // clear error for a wrong split name before the slow part
        if (outDir != null) LayerCompiler.Runtime.IO.OutputPaths.CreateDirectory(outDir, "--out");
        var logits = new List<float[]>();
        var members = new List<EnsembleMember>();
        int[]? labels = null;
        foreach (string checkpoint in checkpoints)
        {
            var (model, meta) = ClassifierFile.Load(checkpoint, device);
            Ui.Step($"Member {members.Count + 1}/{checkpoints.Count}: {checkpoint}: {model.Description} (seed {meta.GetValueOrDefault("train.seed", "?")}, best epoch {meta.GetValueOrDefault("train.best_epoch", "?")} of {meta.GetValueOrDefault("train.epochs", "?")})");
            var data = reader.Load(split, model.Space);
            labels ??= data.Labels;
            var memberLogits = ClassifierTraining.Logits(model, data, 256);
            double accuracy = LayerCompiler.Runtime.Losses.Metrics.Accuracy(new LayerCompiler.Runtime.Tensor(memberLogits, labels!.Length, 10), labels);
            Ui.Info(string.Create(CultureInfo.InvariantCulture, $"  {split} accuracy alone: {accuracy:P2}"));
            logits.Add(memberLogits);
            members.Add(new EnsembleMember(checkpoint, model.Kind, meta.GetValueOrDefault("train.seed", "?"), accuracy));
        }
        var mean = LayerCompiler.Tasks.Models.Ensemble.MeanProbabilities(logits, 10);
        double ensemble = LayerCompiler.Tasks.Models.Ensemble.Accuracy(LayerCompiler.Tasks.Models.Ensemble.Predict(mean, 10), labels!);
        double memberMean = members.Average(m => m.Accuracy);
        Ui.Good(string.Create(CultureInfo.InvariantCulture,
            $"Ensemble {split} accuracy: {ensemble:P2} on {labels!.Length} INRs ({members.Count} models, mean of their softmax probabilities; the members alone: {memberMean:P2} on average, best {members.Max(m => m.Accuracy):P2})"));
        if (outDir != null)
        {
            var md = new StringBuilder();
            md.AppendLine(CultureInfo.InvariantCulture, $"# Ensemble on zoo `{zoo}`, {split} split ({labels.Length} INRs)");
            md.AppendLine();
            md.AppendLine("Prediction: the class of the largest mean softmax probability over the members.");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"| model | seed | checkpoint | {split} accuracy |");
            md.AppendLine("|---|---|---|---|");
            foreach (var m in members) md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Model} | {m.Seed} | `{m.Checkpoint}` | {100 * m.Accuracy:F2} % |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| **ensemble of {members.Count}** | | | **{100 * ensemble:F2} %** |");
            string mdPath = Path.Combine(outDir, "ensemble.md");
            LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(mdPath, Encoding.UTF8.GetBytes(md.ToString()));
            LayerCompiler.Runtime.IO.AtomicFile.WriteAllBytes(Path.Combine(outDir, "ensemble.json"), Encoding.UTF8.GetBytes(
                System.Text.Json.JsonSerializer.Serialize(new { zoo, split, count = labels.Length, members, ensemble_accuracy = ensemble, member_mean_accuracy = memberMean },
                    new System.Text.Json.JsonSerializerOptions { WriteIndented = true })));
            Ui.Info($"  results: {mdPath}");
        }
        return ensemble;
    }

    internal sealed record EnsembleMember(string Checkpoint, string Model, string Seed, double Accuracy);
}
