using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Training;

/// <summary>
/// The training loop of the runtime: epochs, the learning-rate schedule, validation, model selection, atomic epoch
/// checkpoints, resume, progress and the non-finite-loss stop, around an <see cref="IStepExecutor"/> (the model and
/// its optimizer on the CPU or a GPU), an <see cref="ITrainingObjective"/> (the loss) and an optional
/// <see cref="IMetric"/> (accuracy by default for classification).
/// </summary>
/// <remarks>
/// <para>Per step: fill a batch (shuffled order), augment it (<see cref="TrainerOptions.Augmentation"/>), normalize it,
/// set the executor's learning rate from the schedule (linear warmup, then cosine over the remaining steps of the run,
/// or constant), and let the executor step (a NaN or infinite loss throws <see cref="NonFiniteLossException"/> naming the
/// 1-based step, before any parameter changes).</para>
/// <para>Per epoch: validation loss and metric (eval mode, no augmentation), model selection (the best parameters are
/// kept in <see cref="BestState"/> and loaded at the end when <see cref="TrainerOptions.RestoreBest"/>), an atomic
/// checkpoint, an <see cref="ProgressKind.EpochEnd"/> report with rate and ETA.</para>
/// <para>Determinism: every random draw comes from streams derived from (<see cref="TrainerOptions.Seed"/>, 1-based
/// epoch): stream 1 orders the epoch, stream 2 augments it. The CPU kernels are deterministic for any thread count, so the
/// same model seed, options and data give bitwise identical parameters; and resuming from an epoch checkpoint (model,
/// optimizer state and step, best parameters, normalizer, history) continues exactly as an uninterrupted run would.</para>
/// <para>A trainer runs once: call <see cref="Fit"/> or <see cref="Resume"/>, not both.</para>
/// </remarks>
public sealed class Trainer
{
    private const string BestPrefix = "best.";
    private const string NormalizerPrefix = "normalizer.";
    private const string HistoryKey = "history", TrainCountKey = "train_count";

    /// <summary>A CPU trainer for an invariant-head equivariant network, with the optimizer <paramref name="options"/> describe.</summary>
    public Trainer(EquivariantNetwork model, TrainerOptions options)
        : this(ModuleStepExecutor.For(model, options ?? throw new ArgumentNullException(nameof(options))), options)
    {
        Model = model;
    }

    /// <param name="executor">Runs the steps (holds the model and the optimizer).</param>
    /// <param name="options">Loop settings (the optimizer's own settings belong to the executor).</param>
    /// <param name="objective">The loss; default: cross-entropy (with <see cref="TrainerOptions.LabelSmoothing"/>) for classification, MSE for regression.</param>
    /// <param name="metric">Reported per epoch and selected on; default: accuracy for classification, none for regression.</param>
    public Trainer(IStepExecutor executor, TrainerOptions options, ITrainingObjective? objective = null, IMetric? metric = null)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        bool classify = options.Task == TrainingTask.Classification;
        Metric = metric ?? (classify ? AccuracyMetric.Instance : null);
        if (options.Selection == SelectionMetric.ValidationMetric && Metric == null)
            throw new ArgumentException("Selection on the validation metric needs a metric; this trainer has none (regression). Select on validation loss.", nameof(options));
        Executor = executor;
        Options = options;
        Objective = objective ?? (classify ? new ClassificationObjective(options.LabelSmoothing) : new RegressionObjective());
        Normalizer = options.Normalizer;
    }

    public IStepExecutor Executor { get; }
    public TrainerOptions Options { get; }
    public ITrainingObjective Objective { get; }
    public IMetric? Metric { get; }
    /// <summary>The CPU model, when the trainer was built from one.</summary>
    public EquivariantNetwork? Model { get; }
    /// <summary>The CPU optimizer, when the executor is a <see cref="ModuleStepExecutor"/>.</summary>
    public Optimizer? Optimizer => (Executor as ModuleStepExecutor)?.Optimizer;
    public InputNormalizer? Normalizer { get; private set; }
    /// <summary>Parameters of the best epoch so far (null before the first validation).</summary>
    public IReadOnlyDictionary<string, Tensor>? BestState => _best;
    public TrainingHistory History { get; private set; } = new();

    private bool SelectsOnMetric => Options.Selection switch
    {
        SelectionMetric.ValidationMetric => true,
        SelectionMetric.ValidationLoss => false,
        _ => Metric != null,
    };

    private Dictionary<string, Tensor>? _best;
    private bool _used;

    /// <summary>Trains from the executor's current parameters for <see cref="TrainerOptions.Epochs"/> epochs.</summary>
    public TrainingHistory Fit(IWeightDataset train, IWeightDataset? validation = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Start(train, validation);
        History = NewHistory();
        Normalizer = Options.Normalizer ?? (Options.Normalization == InputNormalization.None ? null : FitNormalizer(train));
        return Run(train, validation, 0, progress, cancellationToken);
    }

    /// <summary>
    /// Continues a run from a checkpoint written by this trainer with the same settings (<see cref="TrainerOptions.Describe"/>)
    /// and training set size; otherwise <see cref="InvalidDataException"/> shows both. The model and optimizer are
    /// restored, with the best parameters, the normalizer and the history; training goes on to <see cref="TrainerOptions.Epochs"/>
    /// (none when the checkpoint is already there: the best parameters are loaded and the history returned).
    /// A damaged checkpoint throws <see cref="InvalidDataException"/> saying so.
    /// </summary>
    public TrainingHistory Resume(string checkpointPath, IWeightDataset train, IWeightDataset? validation = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointPath);
        Start(train, validation);
        var saved = Resumable(checkpointPath, () => Checkpoint.Read(checkpointPath));
        string now = Fingerprint(train.Count), before = saved.Info.Config ?? "(no settings recorded)";
        if (before != now)
            throw new CheckpointMismatchException($"'{checkpointPath}' is the checkpoint of a different run:\n  saved: {before}\n  now:   {now}");
        var history = Resumable(checkpointPath, () => ReadHistory(saved));
        Resumable(checkpointPath, () =>
        {
            Executor.LoadStateDict(saved.Model);
            Executor.LoadOptimizerStateDict(saved.Optimizer);
            return 0;
        });
        var best = saved.ExtraWithPrefix(BestPrefix);
        _best = best.Count > 0 ? best : null;
        var norm = saved.ExtraWithPrefix(NormalizerPrefix);
        Normalizer = norm.Count > 0 ? Resumable(checkpointPath, () => InputNormalizer.FromTensors(train.Space, norm)) : null;
        History = history;
        return Run(train, validation, saved.Info.Epoch, progress, cancellationToken);
    }

    private string Fingerprint(int trainCount) =>
        string.Create(CultureInfo.InvariantCulture, $"{Options.Describe()} objective={Objective.Name} metric={Metric?.Name ?? "none"} train={trainCount}");

    private TrainingHistory NewHistory() => new() { SelectionMetric = SelectsOnMetric ? "validation_" + Metric!.Name : "validation_loss", MetricName = Metric?.Name };

    private static TrainingHistory ReadHistory(CheckpointContents saved)
    {
        if (!saved.Info.Custom.TryGetValue(HistoryKey, out var json))
            throw new InvalidDataException($"it has no training history (metadata 'user.{HistoryKey}')");
        var history = TrainingHistory.FromJson(json);
        if (history.Epochs.Count != saved.Info.Epoch)
            throw new InvalidDataException($"its training history has {history.Epochs.Count} epochs but the checkpoint is at epoch {saved.Info.Epoch}");
        return history;
    }

    /// <summary>Reads from a training checkpoint; a damaged one (e.g. cut short by a full disk) fails saying what to do.</summary>
    private static T Resumable<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is SafetensorsFormatException or InvalidDataException or InvalidOperationException or System.Text.Json.JsonException or FormatException)
        {
            throw new InvalidDataException($"Cannot resume from '{path}': {e.Message.TrimEnd('.')}. Delete it to start this run from scratch.", e);
        }
    }

    private void Start(IWeightDataset train, IWeightDataset? validation)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (_used) throw new InvalidOperationException("This trainer has already run; create a new one (with Resume to continue from a checkpoint).");
        CheckDataset(train, "training", train.Space);
        if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));
        if (validation != null) CheckDataset(validation, "validation", train.Space);
        Options.Augmentation?.Validate(train.Space);
        _used = true;
    }

    private void CheckDataset(IWeightDataset data, string what, global::LayerCompiler.Algebra.WeightSpace space)
    {
        if (Model != null) space = Model.Space;
        if (data.Space.Tensors.Count != space.Tensors.Count || data.Space.Dimension != space.Dimension)
            throw new ArgumentException($"The {what} networks ({Checkpoint.DescribeSpace(data.Space)}) do not match the model's weight space ({Checkpoint.DescribeSpace(space)}).");
        if (Model == null) return;
        int outputs = Model.Config.Outputs;
        if (Options.Task == TrainingTask.Classification)
        {
            for (int i = 0; i < data.Count; i++)
            {
                int y = data.Label(i);
                if ((uint)y >= (uint)outputs) throw new ArgumentException($"The {what} set has label {y} at network {i}; the model has {outputs} classes.");
            }
        }
        else if (data.TargetWidth != outputs)
            throw new ArgumentException($"The {what} set has {data.TargetWidth} regression targets per network; the model has {outputs} outputs.");
    }

    private InputNormalizer FitNormalizer(IWeightDataset train)
    {
        var granularity = Options.Normalization == InputNormalization.PerTensor ? NormalizationGranularity.PerTensor : NormalizationGranularity.PerEntry;
        var acc = new InputNormalizer.Accumulator(train.Space, 1, granularity);
        foreach (var (indices, batch) in Sequential(train, Options.EvalBatchSize)) { train.Fill(indices, batch); acc.Add(batch); }
        return acc.Build();
    }

    private static IEnumerable<(int[] Indices, WeightSpaceBatch Batch)> Sequential(IWeightDataset data, int batchSize)
    {
        WeightSpaceBatch? full = null;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, data.Count - start);
            var batch = n == batchSize ? full ??= new WeightSpaceBatch(data.Space, n, 1) : new WeightSpaceBatch(data.Space, n, 1);
            yield return (Enumerable.Range(start, n).ToArray(), batch);
        }
    }

    private int StepsPerEpoch(int count) => Options.DropLast ? Math.Max(1, count / Options.BatchSize) : (count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The batch's targets: labels for classification, [n, width] values for regression (buffers reused per size).</summary>
    private TrainingTargets Targets(IWeightDataset data, int[] indices, Dictionary<int, TrainingTargets> buffers)
    {
        int n = indices.Length;
        if (!buffers.TryGetValue(n, out var t))
            buffers[n] = t = Options.Task == TrainingTask.Classification ? new TrainingTargets(new int[n], null) : new TrainingTargets(null, new Tensor(n, data.TargetWidth));
        if (t.Labels is int[] labels) for (int j = 0; j < n; j++) labels[j] = data.Label(indices[j]);
        else for (int j = 0; j < n; j++) data.GetTargets(indices[j], t.Values!.Data.AsSpan(j * data.TargetWidth, data.TargetWidth));
        return t;
    }

    private TrainingHistory Run(IWeightDataset train, IWeightDataset? validation, int startEpoch, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        var o = Options;
        int stepsPerEpoch = StepsPerEpoch(train.Count);
        long totalSteps = (long)stepsPerEpoch * o.Epochs;
        var schedule = new WarmupCosineSchedule(o.LearningRate, (int)Math.Min(o.WarmupSteps, totalSteps),
            o.Cosine ? (int)Math.Min(int.MaxValue, totalSteps) : Math.Max(1, o.WarmupSteps), o.Cosine ? o.MinLearningRate : o.LearningRate);
        var batches = new Dictionary<int, WeightSpaceBatch>();
        var targets = new Dictionary<int, TrainingTargets>();
        var clock = Stopwatch.StartNew();
        long stepsThisRun = 0;

        for (int epoch = startEpoch; epoch < o.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            Executor.SetTraining(true);
            var order = Rng.ForEpoch(o.Seed, epoch + 1, 1).Permutation(train.Count);
            var augmentRng = Rng.ForEpoch(o.Seed, epoch + 1, 2);
            var metric = Metric?.Start();
            double lossSum = 0; long seen = 0;
            float lr = Executor.LearningRate;
            for (int s = 0; s < stepsPerEpoch; s++)
            {
                ct.ThrowIfCancellationRequested();
                int start = s * o.BatchSize, n = Math.Min(o.BatchSize, train.Count - start);
                var indices = order.AsSpan(start, n).ToArray();
                if (!batches.TryGetValue(n, out var x)) batches[n] = x = new WeightSpaceBatch(train.Space, n, 1);
                train.Fill(indices, x);
                var y = Targets(train, indices, targets);
                o.Augmentation?.Apply(x, augmentRng);
                Normalizer?.Apply(x);

                lr = schedule.At(Executor.StepCount);
                Executor.LearningRate = lr;
                var (loss, outputs) = Executor.Step(x, y, Objective);
                metric?.Add(outputs, y);
                // float product, then a double sum: the arithmetic of the loops this one replaced (same reported losses).
                lossSum += loss * n; seen += n;
                stepsThisRun++;

                if (progress != null && (s + 1) % o.ProgressInterval == 0 && s + 1 < stepsPerEpoch)
                    progress.Report(Report(ProgressKind.Step, epoch, s + 1, stepsPerEpoch, totalSteps, loss, lossSum / seen, lr, stepsThisRun, clock, null));
            }

            var metrics = new EpochMetrics
            {
                Epoch = epoch + 1, Step = Executor.StepCount, TrainLoss = lossSum / seen, TrainMetric = metric?.Result, LearningRate = lr,
            };
            if (validation != null && validation.Count > 0)
            {
                var (vl, vm) = Evaluate(validation);
                metrics = metrics with { ValidationLoss = vl, ValidationMetric = vm };
                bool onMetric = SelectsOnMetric;
                double? value = onMetric ? vm : vl;
                bool higher = onMetric && Metric!.HigherIsBetter;
                if (value is double v && !double.IsNaN(v) && (History.BestMetric is not double b || (higher ? v > b : v < b)))
                {
                    History.BestMetric = v; History.BestEpoch = epoch + 1;
                    _best = Executor.StateDict();
                    metrics = metrics with { IsBest = true };
                    if (o.BestModelPath != null)
                        Checkpoint.SaveModel(o.BestModelPath, _best, ModelType, new CheckpointInfo { Epoch = epoch + 1, Step = Executor.StepCount, BestMetric = v, BestEpoch = epoch + 1, Config = Fingerprint(train.Count), Seed = o.Seed }, Model);
                }
            }
            metrics = metrics with { Seconds = epochClock.Elapsed.TotalSeconds };
            History.Add(metrics);
            if (o.CheckpointPath != null) SaveCheckpoint(o.CheckpointPath, epoch + 1, train.Count);
            progress?.Report(Report(ProgressKind.EpochEnd, epoch, stepsPerEpoch, stepsPerEpoch, totalSteps, metrics.TrainLoss, metrics.TrainLoss, lr, stepsThisRun, clock, metrics));
        }

        if (o.RestoreBest && _best != null) Executor.LoadStateDict(_best);
        return History;
    }

    private string ModelType => Model?.GetType().FullName ?? (Executor as ModuleStepExecutor)?.Module.GetType().FullName ?? Executor.GetType().Name;

    private TrainingProgress Report(ProgressKind kind, int epoch, int stepInEpoch, int stepsPerEpoch, long totalSteps, double loss, double epochLoss,
        double lr, long stepsThisRun, Stopwatch clock, EpochMetrics? metrics)
    {
        double seconds = clock.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? stepsThisRun / seconds : 0;
        long step = Executor.StepCount;
        return new TrainingProgress
        {
            Kind = kind, Epoch = epoch + 1, Epochs = Options.Epochs, Step = step, TotalSteps = totalSteps, StepInEpoch = stepInEpoch,
            StepsPerEpoch = stepsPerEpoch, Loss = loss, EpochLoss = epochLoss, LearningRate = lr, StepsPerSecond = rate,
            Eta = rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, totalSteps - step) / rate) : null, Metrics = metrics,
        };
    }

    /// <summary>
    /// Mean loss and metric (null without one) of the model on <paramref name="data"/>, in eval mode, normalized, not
    /// augmented, in batches of <see cref="TrainerOptions.EvalBatchSize"/>.
    /// </summary>
    public (double Loss, double? Metric) Evaluate(IWeightDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDataset(data, "evaluation", data.Space);
        if (data.Count == 0) throw new ArgumentException("The dataset is empty.", nameof(data));
        var metric = Metric?.Start();
        var targets = new Dictionary<int, TrainingTargets>();
        double lossSum = 0;
        Executor.SetTraining(false);
        try
        {
            foreach (var (indices, batch) in Sequential(data, Options.EvalBatchSize))
            {
                data.Fill(indices, batch);
                Normalizer?.Apply(batch);
                var outputs = Executor.Forward(batch);
                var y = Targets(data, indices, targets);
                lossSum += Objective.Compute(outputs, y).Loss * indices.Length;
                metric?.Add(outputs, y);
            }
        }
        finally { Executor.SetTraining(true); }
        return (lossSum / data.Count, metric?.Result);
    }

    private void SaveCheckpoint(string path, int epochsDone, int trainCount)
    {
        var extra = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (_best != null) foreach (var (k, v) in _best) extra[BestPrefix + k] = v;
        if (Normalizer != null) foreach (var (k, v) in Normalizer.ToTensors()) extra[NormalizerPrefix + k] = v;
        var info = new CheckpointInfo
        {
            Epoch = epochsDone, Step = Executor.StepCount, BestMetric = History.BestMetric, BestEpoch = History.BestEpoch,
            Config = Fingerprint(trainCount), Seed = Options.Seed,
            Custom = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [HistoryKey] = History.ToJson(),
                [TrainCountKey] = trainCount.ToString(CultureInfo.InvariantCulture),
            },
        };
        Checkpoint.Save(path, Executor.StateDict(), ModelType, Executor.OptimizerStateDict(), Optimizer?.GetType().Name ?? "AdamW", info, extra, Model);
    }
}

/// <summary>A checkpoint given to <see cref="Trainer.Resume"/> is from a run with other settings; the message shows both.</summary>
public sealed class CheckpointMismatchException(string message) : IOException(message);
