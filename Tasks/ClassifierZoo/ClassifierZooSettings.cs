using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace LayerCompiler.Tasks.ClassifierZoo;

/// <summary>
/// What a classifier zoo is: the architecture, how many runs, how each is trained and checkpointed, and the data it sees.
/// Every field is part of the zoo's identity (manifest and every shard): a build with other settings is refused on the
/// same directory, and a reader expecting other settings gets the differences listed.
/// </summary>
/// <remarks>
/// Training time is counted in <em>pool epochs</em>: <see cref="StepsPerEpoch"/> = TrainPool / BatchSize steps of
/// <see cref="BatchSize"/> images. Every run takes the same number of steps (the networks of a shard train in lockstep);
/// a run with training fraction f draws its batches from its own subset of ⌈f·TrainPool⌉ images, so it passes over
/// that subset about 1/f times per pool epoch. Checkpoints are taken after the pool epochs listed in <see cref="CheckpointEpochs"/>.
/// </remarks>
public sealed record ClassifierZooSettings
{
    public ZooArchitecture Architecture { get; init; } = ZooArchitecture.Cnn;
    /// <summary>Training runs (each gives one zoo member per checkpoint).</summary>
    public int Runs { get; init; } = 64;
    public int RunsPerShard { get; init; } = 16;
    public int BatchSize { get; init; } = 32;
    /// <summary>Training images available: the first TrainPool of Fashion-MNIST's 60,000 training images.</summary>
    public int TrainPool { get; init; } = 60_000;
    /// <summary>Test images each checkpoint is evaluated on: the first TestCount of the 10,000.</summary>
    public int TestCount { get; init; } = 10_000;
    public int[] CheckpointEpochs { get; init; } = { 1, 2, 4, 8 };
    public ulong Seed { get; init; } = 1;

    public int StepsPerEpoch => TrainPool / BatchSize;
    public int TotalSteps => StepsPerEpoch * CheckpointEpochs.Max();

    /// <summary>A few minutes on 2 cores: 48 CNN runs × 4 checkpoints on a 3,000-image pool, tested on 2,000 images.</summary>
    public static ClassifierZooSettings Quick(ZooArchitecture arch) => new()
    {
        Architecture = arch, Runs = 48, RunsPerShard = 16, TrainPool = 3_000, TestCount = 2_000, CheckpointEpochs = new[] { 1, 2, 4, 8 },
    };

    /// <summary>The full zoo: 2,560 runs × 4 checkpoints = 10,240 networks on all 60,000 training images, tested on all 10,000.</summary>
    public static ClassifierZooSettings Full(ZooArchitecture arch) => new()
    {
        Architecture = arch, Runs = 2_560, RunsPerShard = 64, TrainPool = 60_000, TestCount = 10_000, CheckpointEpochs = new[] { 1, 2, 4, 8 },
    };

    /// <summary>
    /// A full-size zoo at half the training of <see cref="Full"/>: 1,280 runs × a checkpoint after every pool epoch 1…8 =
    /// 10,240 networks on all 60,000 training images, tested on all 10,000 (10,240 network-epochs of training instead of
    /// 20,480). Hyperparameters are drawn per run exactly as in <see cref="Full"/> (runs 0…1,279 are Full's first 1,280);
    /// the splits keep every checkpoint of a run in one split, as the protocol asks.
    /// </summary>
    public static ClassifierZooSettings FullEveryEpoch(ZooArchitecture arch) => new()
    {
        Architecture = arch, Runs = 1_280, RunsPerShard = 64, TrainPool = 60_000, TestCount = 10_000, CheckpointEpochs = new[] { 1, 2, 3, 4, 5, 6, 7, 8 },
    };

    public void Validate()
    {
        void Positive(string name, int v) { if (v <= 0) throw new ArgumentOutOfRangeException(name, v, $"{name} must be positive."); }
        Positive(nameof(Runs), Runs); Positive(nameof(RunsPerShard), RunsPerShard); Positive(nameof(BatchSize), BatchSize);
        if (TrainPool < BatchSize || TrainPool > 60_000) throw new ArgumentOutOfRangeException(nameof(TrainPool), TrainPool, $"TrainPool must be in [BatchSize = {BatchSize}, 60000].");
        if (TestCount <= 0 || TestCount > 10_000) throw new ArgumentOutOfRangeException(nameof(TestCount), TestCount, "TestCount must be in [1, 10000].");
        if (CheckpointEpochs is null || CheckpointEpochs.Length == 0 || CheckpointEpochs.Any(e => e <= 0) || CheckpointEpochs.Distinct().Count() != CheckpointEpochs.Length
            || !CheckpointEpochs.SequenceEqual(CheckpointEpochs.OrderBy(e => e)))
            throw new ArgumentException("CheckpointEpochs must be distinct positive pool epochs in increasing order, e.g. { 1, 2, 4, 8 }.", nameof(CheckpointEpochs));
    }

    /// <summary>The identity written into the manifest and every shard.</summary>
    public SortedDictionary<string, string> Identity()
    {
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var space = ClassifierPass.SpaceOf(Architecture);
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = ClassifierZooFormat.FormatName,
            ["architecture"] = Architecture.ToString(),
            ["weight_space"] = string.Join(";", space.Tensors.Select(t => t.Name + "[" + string.Join(",", t.Shape) + "]")),
            ["runs"] = I(Runs),
            ["runs_per_shard"] = I(RunsPerShard),
            ["batch_size"] = I(BatchSize),
            ["train_pool"] = I(TrainPool),
            ["test_count"] = I(TestCount),
            ["checkpoint_epochs"] = string.Join(",", CheckpointEpochs),
            ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
            ["data"] = "Fashion-MNIST; pixels / 255; training images: the first train_pool of the 60,000; test: the first test_count of the 10,000",
            ["training"] = "softmax cross-entropy (mean over the batch); one pool epoch = train_pool / batch_size steps for every run; a run draws batches without replacement from its own subset, reshuffled when used up",
            ["hyperparameters"] = RunHyperparameters.Description,
        };
    }
}

/// <summary>File names and tensor names of the classifier zoo format.</summary>
public static class ClassifierZooFormat
{
    public const string FormatName = "layercompiler-classifier-zoo-v1";
    public const string ManifestFile = "zoo.json";
    public static string ShardFileName(int shard) => $"shard-{shard:D5}.safetensors";

    public const string RunTensor = "run";
    public const string EpochTensor = "epoch";
    public const string StepTensor = "step";
    public const string TestAccuracyTensor = "test_accuracy";
    public const string TrainLossTensor = "train_loss";
    public const string OptimizerTensor = "hp.optimizer";
    public const string ActivationTensor = "hp.activation";
    public const string InitTensor = "hp.init";
    public const string LearningRateTensor = "hp.lr";
    public const string L2Tensor = "hp.l2";
    public const string InitStdTensor = "hp.init_std";
    public const string DropoutTensor = "hp.dropout";
    public const string TrainFractionTensor = "hp.train_fraction";

    public const string ShardKey = "shard";
    public const string FirstRunKey = "first_run";
    public const string RunCountKey = "run_count";
}
