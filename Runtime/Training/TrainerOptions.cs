using System;
using System.Globalization;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Training;

public enum TrainingTask
{
    /// <summary>Softmax cross-entropy on the model's outputs (class logits); metric: accuracy.</summary>
    Classification,
    /// <summary>Mean squared error between outputs and the dataset's targets; metric: loss.</summary>
    Regression,
}

/// <summary>How inputs are standardized before the model sees them (statistics of the training networks).</summary>
public enum InputNormalization
{
    None,
    PerEntry,
    PerTensor,
}

/// <summary>Which validation number picks the best epoch.</summary>
public enum SelectionMetric
{
    /// <summary>The trainer's metric when it has one (accuracy for classification), else validation loss.</summary>
    Auto,
    /// <summary>The trainer's <see cref="IMetric"/> on the validation set, in the metric's direction.</summary>
    ValidationMetric,
    ValidationLoss,
}

/// <summary>
/// Settings of a <see cref="Trainer"/> run. Defaults: the reference setup's optimizer, batch and epochs (AdamW lr 5e-3,
/// weight decay 5e-4, AMSGrad, batch 512, 100 epochs, selection on validation), with a cosine decay of the rate and
/// without input normalization or augmentation; <see cref="Reference"/> is the reference setup itself.
/// </summary>
public sealed record TrainerOptions
{
    public TrainingTask Task { get; init; } = TrainingTask.Classification;
    public int Epochs { get; init; } = 100;
    public int BatchSize { get; init; } = 512;
    /// <summary>Batch size for validation and for fitting the normalizer.</summary>
    public int EvalBatchSize { get; init; } = 1024;
    /// <summary>Skip the last, smaller batch of each epoch.</summary>
    public bool DropLast { get; init; }

    public float LearningRate { get; init; } = 5e-3f;
    public double WeightDecay { get; init; } = 5e-4;
    public bool AmsGrad { get; init; } = true;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decay every parameter (PyTorch's behaviour) instead of skipping biases and normalization scales.</summary>
    public bool DecayAllParameters { get; init; }

    /// <summary>Linear warmup steps (0 = none); see <see cref="Optim.WarmupCosineSchedule"/>.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Cosine decay to <see cref="MinLearningRate"/> over the whole run after warmup; false keeps the rate constant after warmup.</summary>
    public bool Cosine { get; init; } = true;
    public float MinLearningRate { get; init; }
    /// <summary>Clip the global gradient norm to this value (null = no clipping).</summary>
    public float? ClipGradNorm { get; init; }
    public float LabelSmoothing { get; init; }

    /// <summary>Seeds shuffling and augmentation (the model's initialization is the model's own seed).</summary>
    public ulong Seed { get; init; }
    /// <summary>Applied to every training batch (never to validation), before normalization.</summary>
    public IWeightAugmentation? Augmentation { get; init; }
    public InputNormalization Normalization { get; init; } = InputNormalization.None;
    /// <summary>Use these statistics instead of fitting <see cref="Normalization"/> on the training set.</summary>
    public InputNormalizer? Normalizer { get; init; }

    public SelectionMetric Selection { get; init; } = SelectionMetric.Auto;
    /// <summary>Load the best epoch's parameters into the model when training ends (needs validation data).</summary>
    public bool RestoreBest { get; init; } = true;

    /// <summary>Written (atomically) at the end of every epoch; <see cref="Trainer.Resume"/> continues from it.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>Model-only file rewritten whenever the validation metric improves.</summary>
    public string? BestModelPath { get; init; }
    /// <summary>
    /// What else identifies the run (e.g. the model's name): part of <see cref="Describe"/>, which a resumed run must
    /// match. Empty by default.
    /// </summary>
    public string Tag { get; init; } = "";
    /// <summary>Report progress every this many steps (epoch ends are always reported).</summary>
    public int ProgressInterval { get; init; } = 1;

    /// <summary>DWSNets' released classifier settings: AdamW lr 5e-3 (constant: the protocol names no schedule), weight decay
    /// 5e-4, AMSGrad, batch 512, 100 epochs, per-entry normalization, the protocol's augmentations
    /// (<see cref="WeightAugmentation.Reference"/>), selection on validation accuracy.</summary>
    public static TrainerOptions Reference(ulong seed = 0, bool rotate = true) => new()
    {
        Seed = seed, Cosine = false, Normalization = InputNormalization.PerEntry, Augmentation = WeightAugmentation.Reference(rotate: rotate),
    };

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Train for at least one epoch.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be positive.");
        if (EvalBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(EvalBatchSize), EvalBatchSize, "The evaluation batch size must be positive.");
        if (!(LearningRate >= 0) || float.IsInfinity(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be finite and >= 0.");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "Warmup steps must be >= 0.");
        if (ClipGradNorm is float c && !(c > 0)) throw new ArgumentOutOfRangeException(nameof(ClipGradNorm), c, "The clipping norm must be positive.");
        if (ProgressInterval < 1) throw new ArgumentOutOfRangeException(nameof(ProgressInterval), ProgressInterval, "The progress interval must be at least 1 step.");
        if (!(MinLearningRate >= 0) || MinLearningRate > LearningRate)
            throw new ArgumentOutOfRangeException(nameof(MinLearningRate), MinLearningRate, $"The minimum learning rate must be in [0, {LearningRate}] (the learning rate).");
        if (Tag is null || Tag.Contains('\n')) throw new ArgumentException("The tag must be one line.", nameof(Tag));
    }

    /// <summary>The optimizer these settings describe, over <paramref name="module"/>'s parameters: AdamW (AMSGrad when set).</summary>
    public Optim.AdamW CreateOptimizer(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return new Optim.AdamW(module.Parameters(), LearningRate, Beta1, Beta2, Epsilon, WeightDecay, AmsGrad) { DecayAllParameters = DecayAllParameters };
    }

    /// <summary>A one-line description of the settings that determine the run (stored in checkpoints).</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"task={Task} epochs={Epochs} batch={BatchSize} drop_last={DropLast} lr={LearningRate:R} wd={WeightDecay:R} amsgrad={AmsGrad} " +
        $"betas=({Beta1:R},{Beta2:R}) eps={Epsilon:R} decay_all={DecayAllParameters} warmup={WarmupSteps} cosine={Cosine} min_lr={MinLearningRate:R} " +
        $"clip={(ClipGradNorm is float c ? c.ToString("R", CultureInfo.InvariantCulture) : "none")} smoothing={LabelSmoothing:R} seed={Seed} " +
        $"augmentation={(Augmentation == null ? "none" : Augmentation.ToString())} normalization={(Normalizer != null ? "given" : Normalization.ToString())} selection={Selection}{(Tag.Length > 0 ? " " + Tag : "")}");
}
