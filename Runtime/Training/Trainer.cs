using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Training;

/// <summary>
/// Trains an <see cref="EquivariantNetwork"/> with an invariant head on an <see cref="IWeightDataset"/>
/// (classification with softmax cross-entropy, or regression with mean squared error).
/// </summary>
/// <remarks>
/// <para>Per step: fill a batch (shuffled order), augment it (<see cref="TrainerOptions.Augmentation"/>), normalize it,
/// forward, loss, <see cref="LossGuard"/> (a NaN or infinite loss throws <see cref="NonFiniteLossException"/> naming
/// the 1-based step, before any parameter changes), backward, optional gradient clipping, learning rate from the
/// schedule (linear warmup, then cosine over the remaining steps of the run), AdamW step.</para>
/// <para>Per epoch: validation metrics (eval mode, no augmentation), model selection (the best parameters are kept
/// in <see cref="BestState"/> and loaded into the model at the end when <see cref="TrainerOptions.RestoreBest"/>),
/// an atomic checkpoint, an <see cref="ProgressKind.EpochEnd"/> report.</para>
/// <para>Determinism: every random draw comes from streams derived from (<see cref="TrainerOptions.Seed"/>, epoch):
/// one for the shuffling order, one for augmentation. All kernels are deterministic for any thread count, so
/// the same model seed, options and data give bitwise identical parameters; and resuming from an epoch
/// checkpoint (model, optimizer state and step, best parameters, normalizer, history) continues exactly as an
/// uninterrupted run would.</para>
/// <para>A trainer runs once: call <see cref="Fit"/> or <see cref="Resume"/>, not both.</para>
/// </remarks>
public sealed class Trainer
{
    private const string BestPrefix = "best.";
    private const string NormalizerPrefix = "normalizer.";

    public EquivariantNetwork Model { get; }
    public TrainerOptions Options { get; }
    public AdamW Optimizer { get; }
    public InputNormalizer? Normalizer { get; private set; }
    /// <summary>Parameters of the best epoch so far (null before the first validation).</summary>
    public IReadOnlyDictionary<string, Tensor>? BestState => _best;
    public TrainingHistory History { get; private set; } = new();

    private Dictionary<string, Tensor>? _best;
    private bool _used;

    public Trainer(EquivariantNetwork model, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.Head == null) throw new ArgumentException("The trainer needs a model with an invariant head (Forward/Backward); this one has an equivariant head.", nameof(model));
        Model = model;
        Options = options;
        Optimizer = new AdamW(model.Parameters(), options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, options.AmsGrad)
        {
            DecayAllParameters = options.DecayAllParameters,
        };
        Normalizer = options.Normalizer;
    }

    /// <summary>Trains from the model's current parameters for <see cref="TrainerOptions.Epochs"/> epochs.</summary>
    public TrainingHistory Fit(IWeightDataset train, IWeightDataset? validation = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Start(train, validation);
        History = new TrainingHistory { SelectionMetric = Options.EffectiveSelection.ToString() };
        Normalizer = Options.Normalizer ?? (Options.Normalization == InputNormalization.None ? null : FitNormalizer(train));
        return Run(train, validation, 0, progress, cancellationToken);
    }

    /// <summary>
    /// Continues a run from a checkpoint written by this trainer (same seed, batch size and training set size;
    /// otherwise <see cref="InvalidDataException"/> lists the differences). The model and optimizer are restored,
    /// with the best parameters, the normalizer and the history; training goes on to <see cref="TrainerOptions.Epochs"/>.
    /// </summary>
    public TrainingHistory Resume(string checkpointPath, IWeightDataset train, IWeightDataset? validation = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointPath);
        Start(train, validation);
        var read = Checkpoint.Read(checkpointPath);
        var problems = new List<string>();
        void Expect(string what, string? saved, string now)
        {
            if (saved != null && saved != now) problems.Add($"{what}: checkpoint has {saved}, this run has {now}");
        }
        Expect("seed", read.Info.Seed?.ToString(CultureInfo.InvariantCulture), Options.Seed.ToString(CultureInfo.InvariantCulture));
        Expect("batch size", Custom(read, "batch_size"), Options.BatchSize.ToString(CultureInfo.InvariantCulture));
        Expect("training networks", Custom(read, "train_count"), train.Count.ToString(CultureInfo.InvariantCulture));
        Expect("task", Custom(read, "task"), Options.Task.ToString());
        if (problems.Count > 0)
            throw new InvalidDataException($"Checkpoint '{checkpointPath}' is from a different run ({problems.Count} problem(s)):\n  - " + string.Join("\n  - ", problems));

        var contents = Checkpoint.Load(checkpointPath, Model, Optimizer);
        var best = contents.ExtraWithPrefix(BestPrefix);
        _best = best.Count > 0 ? best : null;
        var norm = contents.ExtraWithPrefix(NormalizerPrefix);
        Normalizer = norm.Count > 0 ? InputNormalizer.FromTensors(Model.Space, norm) : null;
        History = Custom(contents, "history") is string json ? TrainingHistory.FromJson(json) : new TrainingHistory { SelectionMetric = Options.EffectiveSelection.ToString() };
        return Run(train, validation, contents.Info.Epoch, progress, cancellationToken);
    }

    private static string? Custom(CheckpointContents c, string key) => c.Info.Custom.TryGetValue(key, out var v) ? v : null;

    private void Start(IWeightDataset train, IWeightDataset? validation)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (_used) throw new InvalidOperationException("This trainer has already run; create a new one (with Resume to continue from a checkpoint).");
        CheckDataset(train, "training");
        if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));
        if (validation != null) CheckDataset(validation, "validation");
        Options.Augmentation?.Validate(Model.Space);
        _used = true;
    }

    private void CheckDataset(IWeightDataset data, string what)
    {
        if (data.Space.Tensors.Count != Model.Space.Tensors.Count || data.Space.Dimension != Model.Space.Dimension)
            throw new ArgumentException($"The {what} networks ({Checkpoint.DescribeSpace(data.Space)}) do not match the model's weight space ({Checkpoint.DescribeSpace(Model.Space)}).");
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

    private TrainingHistory Run(IWeightDataset train, IWeightDataset? validation, int startEpoch, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        var o = Options;
        int stepsPerEpoch = StepsPerEpoch(train.Count);
        long totalSteps = (long)stepsPerEpoch * o.Epochs;
        var schedule = new WarmupCosineSchedule(o.LearningRate, (int)Math.Min(o.WarmupSteps, totalSteps),
            o.Cosine ? (int)Math.Min(int.MaxValue, totalSteps) : Math.Max(1, o.WarmupSteps), o.Cosine ? o.MinLearningRate : o.LearningRate);
        bool classify = o.Task == TrainingTask.Classification;
        var ce = new SoftmaxCrossEntropy(o.LabelSmoothing);
        var mse = new MeanSquaredError();
        var parameters = Model.Parameters().ToList();
        var batches = new Dictionary<int, (WeightSpaceBatch X, int[] Labels, Tensor? Targets)>();
        var clock = Stopwatch.StartNew();
        long stepsThisRun = 0;

        for (int epoch = startEpoch; epoch < o.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            Model.Train();
            var order = EpochRng(o.Seed, epoch, 1).Permutation(train.Count);
            var augmentRng = EpochRng(o.Seed, epoch, 2);
            double lossSum = 0; long seen = 0, correct = 0;
            float lr = Optimizer.LearningRate;
            for (int s = 0; s < stepsPerEpoch; s++)
            {
                ct.ThrowIfCancellationRequested();
                int start = s * o.BatchSize, n = Math.Min(o.BatchSize, train.Count - start);
                var indices = order.AsSpan(start, n).ToArray();
                if (!batches.TryGetValue(n, out var buf))
                    batches[n] = buf = (new WeightSpaceBatch(train.Space, n, 1), new int[n], classify ? null : new Tensor(n, train.TargetWidth));
                train.Fill(indices, buf.X);
                if (classify) for (int j = 0; j < n; j++) buf.Labels[j] = train.Label(indices[j]);
                else for (int j = 0; j < n; j++) train.GetTargets(indices[j], buf.Targets!.Data.AsSpan(j * train.TargetWidth, train.TargetWidth));
                o.Augmentation?.Apply(buf.X, augmentRng);
                Normalizer?.Apply(buf.X);

                Model.ZeroGrad();
                var output = Model.Forward(buf.X);
                var (loss, grad) = classify ? ce.Compute(output, buf.Labels) : mse.Compute(output, buf.Targets!);
                int stepNumber = Optimizer.StepCount + 1;
                LossGuard.Check(loss, stepNumber);
                if (classify)
                {
                    var pred = Metrics.ArgMax(output);
                    for (int j = 0; j < n; j++) if (pred[j] == buf.Labels[j]) correct++;
                }
                lossSum += (double)loss * n; seen += n;
                Model.BackwardParameters(grad);
                if (o.ClipGradNorm is float clip) GradientClipping.ClipGradNorm(parameters, clip);
                lr = schedule.Apply(Optimizer, Optimizer.StepCount);
                Optimizer.Step();
                stepsThisRun++;

                if (progress != null && (s + 1) % o.ProgressInterval == 0 && s + 1 < stepsPerEpoch)
                    progress.Report(Report(ProgressKind.Step, epoch, s + 1, stepsPerEpoch, totalSteps, loss, lossSum / seen, lr, stepsThisRun, clock, null));
            }

            var metrics = new EpochMetrics
            {
                Epoch = epoch + 1, Step = Optimizer.StepCount, TrainLoss = lossSum / seen,
                TrainAccuracy = classify ? (double)correct / seen : null, LearningRate = lr,
            };
            if (validation != null && validation.Count > 0)
            {
                var (vl, va) = Evaluate(validation);
                metrics = metrics with { ValidationLoss = vl, ValidationAccuracy = va };
                double? value = o.EffectiveSelection == SelectionMetric.ValidationAccuracy ? va : vl;
                bool higher = o.EffectiveSelection == SelectionMetric.ValidationAccuracy;
                if (value is double v && !double.IsNaN(v) && (History.BestMetric is not double b || (higher ? v > b : v < b)))
                {
                    History.BestMetric = v; History.BestEpoch = epoch + 1;
                    _best = Model.StateDict();
                    metrics = metrics with { IsBest = true };
                    if (o.BestModelPath != null)
                        Checkpoint.SaveModel(o.BestModelPath, Model, new CheckpointInfo { Epoch = epoch + 1, Step = Optimizer.StepCount, BestMetric = v, BestEpoch = epoch + 1, Config = o.Describe(), Seed = o.Seed });
                }
            }
            metrics = metrics with { Seconds = epochClock.Elapsed.TotalSeconds };
            History.Add(metrics);
            if (o.CheckpointPath != null) SaveCheckpoint(o.CheckpointPath, epoch + 1, train.Count);
            progress?.Report(Report(ProgressKind.EpochEnd, epoch, stepsPerEpoch, stepsPerEpoch, totalSteps, metrics.TrainLoss, metrics.TrainLoss, lr, stepsThisRun, clock, metrics));
        }

        if (o.RestoreBest && _best != null) Model.LoadStateDict(_best);
        return History;
    }

    private TrainingProgress Report(ProgressKind kind, int epoch, int stepInEpoch, int stepsPerEpoch, long totalSteps, double loss, double epochLoss,
        double lr, long stepsThisRun, Stopwatch clock, EpochMetrics? metrics)
    {
        double seconds = clock.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? stepsThisRun / seconds : 0;
        long step = Optimizer.StepCount;
        return new TrainingProgress
        {
            Kind = kind, Epoch = epoch + 1, Epochs = Options.Epochs, Step = step, TotalSteps = totalSteps, StepInEpoch = stepInEpoch,
            StepsPerEpoch = stepsPerEpoch, Loss = loss, EpochLoss = epochLoss, LearningRate = lr, StepsPerSecond = rate,
            Eta = rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, totalSteps - step) / rate) : null, Metrics = metrics,
        };
    }

    /// <summary>Mean loss and accuracy (null for regression) of the model on <paramref name="data"/>, in eval mode, normalized, not augmented.</summary>
    public (double Loss, double? Accuracy) Evaluate(IWeightDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckDataset(data, "evaluation");
        if (data.Count == 0) throw new ArgumentException("The dataset is empty.", nameof(data));
        bool classify = Options.Task == TrainingTask.Classification;
        var ce = new SoftmaxCrossEntropy(Options.LabelSmoothing);
        var mse = new MeanSquaredError();
        bool wasTraining = Model.IsTraining;
        Model.Eval();
        double lossSum = 0; long correct = 0;
        try
        {
            foreach (var (indices, batch) in Sequential(data, Options.EvalBatchSize))
            {
                data.Fill(indices, batch);
                Normalizer?.Apply(batch);
                var output = Model.Forward(batch);
                if (classify)
                {
                    var labels = indices.Select(data.Label).ToArray();
                    lossSum += (double)ce.Compute(output, labels).Loss * indices.Length;
                    var pred = Metrics.ArgMax(output);
                    for (int j = 0; j < labels.Length; j++) if (pred[j] == labels[j]) correct++;
                }
                else
                {
                    var targets = new Tensor(indices.Length, data.TargetWidth);
                    for (int j = 0; j < indices.Length; j++) data.GetTargets(indices[j], targets.Data.AsSpan(j * data.TargetWidth, data.TargetWidth));
                    lossSum += (double)mse.Compute(output, targets).Loss * indices.Length;
                }
            }
        }
        finally { Model.Train(wasTraining); }
        return (lossSum / data.Count, classify ? (double)correct / data.Count : (double?)null);
    }

    private void SaveCheckpoint(string path, int epochsDone, int trainCount)
    {
        var extra = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (_best != null) foreach (var (k, v) in _best) extra[BestPrefix + k] = v;
        if (Normalizer != null) foreach (var (k, v) in Normalizer.ToTensors()) extra[NormalizerPrefix + k] = v;
        var info = new CheckpointInfo
        {
            Epoch = epochsDone, Step = Optimizer.StepCount, BestMetric = History.BestMetric, BestEpoch = History.BestEpoch,
            Config = Options.Describe(), Seed = Options.Seed,
            Custom = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["history"] = History.ToJson(),
                ["batch_size"] = Options.BatchSize.ToString(CultureInfo.InvariantCulture),
                ["train_count"] = trainCount.ToString(CultureInfo.InvariantCulture),
                ["task"] = Options.Task.ToString(),
            },
        };
        Checkpoint.Save(path, Model, Optimizer, info, extra);
    }

    /// <summary>An independent random stream for (seed, epoch, purpose), the same on every run and after a resume.</summary>
    internal static Rng EpochRng(ulong seed, int epoch, ulong stream) => Rng.ForEpoch(seed, epoch, stream);
}
