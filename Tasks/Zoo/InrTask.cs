using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.Globalization;
using LayerCompiler.Tasks.Data;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>
/// What a zoo's INRs are fitted to: named splits of items, each item a signal sampled at points shared by the
/// whole task, an index into the source data, and what a model should predict from the INR's weights
/// (a class label and/or regression values).
/// </summary>
public abstract class InrTask
{
    /// <summary>Short name stored in the zoo, e.g. "fashion-mnist".</summary>
    public abstract string Name { get; }

    /// <summary>Split names in build order.</summary>
    public abstract IReadOnlyList<string> SplitNames { get; }

    /// <summary>Items in a split.</summary>
    public abstract int Count(string split);

    /// <summary>Points [PointCount, InputWidth], shared by every item.</summary>
    public abstract float[] Points { get; }
    public abstract int PointCount { get; }
    public abstract int InputWidth { get; }
    public abstract int OutputWidth { get; }

    /// <summary>The signal of item <paramref name="position"/> of <paramref name="split"/> at every point ([PointCount, OutputWidth]).</summary>
    public abstract void Target(string split, int position, Span<float> target);

    /// <summary>The item's index in the source data (stays the same whatever subset of a split is built).</summary>
    public abstract long ItemIndex(string split, int position);

    /// <summary>Name of the per-INR item index tensor in shards ("image_index").</summary>
    public virtual string IndexTensorName => ZooFormat.ImageIndexTensor;

    /// <summary>Number of classes (0 when the task has no labels).</summary>
    public virtual int ClassCount => 0;
    public virtual long Label(string split, int position) => throw new NotSupportedException($"Task {Name} has no class labels.");

    /// <summary>Regression values per item (0 when none), stored as the <c>targets</c> tensor.</summary>
    public virtual int RegressionWidth => 0;
    public virtual void Regression(string split, int position, Span<float> values) => throw new NotSupportedException($"Task {Name} has no regression targets.");

    /// <summary>Settings that define the task (stored in zoo metadata with a "task." prefix and checked on resume).</summary>
    public abstract IReadOnlyDictionary<string, string> Describe();

    /// <summary>Throws naming the valid splits unless <paramref name="split"/> is one of them.</summary>
    public void CheckSplit(string split)
    {
        foreach (var s in SplitNames) if (s == split) return;
        throw new ArgumentException($"Unknown split '{split}'; task {Name} has {string.Join(", ", SplitNames)}.", nameof(split));
    }

    /// <summary>A 28×28-style coordinate grid: x = column, y = row, each linspace(−1, 1, n), point p = row·width + column.</summary>
    public static float[] ImageGrid(int height, int width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"Grid size must be positive, got {height}×{width}.");
        var pts = new float[height * width * 2];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                pts[(r * width + c) * 2] = Linspace(c, width);
                pts[(r * width + c) * 2 + 1] = Linspace(r, height);
            }
        return pts;
    }

    private static float Linspace(int i, int n) => n == 1 ? -1f : (float)(-1.0 + 2.0 * i / (n - 1));
}

/// <summary>
/// INRs of grayscale images (the DWSNets Fashion-MNIST protocol): one INR per image on the image's coordinate
/// grid, targets pixel/255. The source training images are split into "train" and "validation" by a fixed
/// permutation (<see cref="SplitSeed"/>); the source test images form "test".
/// </summary>
public sealed class ImageInrTask : InrTask
{
    public const string Train = "train", Validation = "validation", Test = "test";

    private readonly byte[] _trainImages, _trainLabels, _testImages, _testLabels;
    private readonly int[] _trainOrder, _validationOrder;
    private readonly float[] _points;

    /// <param name="name">Task name stored in the zoo.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="trainImages">Source training images, flat, each height·width bytes.</param>
    /// <param name="trainLabels">One class per source training image.</param>
    /// <param name="testImages">Source test images.</param>
    /// <param name="testLabels">One class per source test image.</param>
    /// <param name="classCount">Number of classes.</param>
    /// <param name="validationCount">Source training images held out as "validation".</param>
    /// <param name="splitSeed">Seed of the train/validation permutation.</param>
    public ImageInrTask(string name, int height, int width, byte[] trainImages, byte[] trainLabels, byte[] testImages, byte[] testLabels,
        int classCount, int validationCount, ulong splitSeed)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(trainImages); ArgumentNullException.ThrowIfNull(trainLabels);
        ArgumentNullException.ThrowIfNull(testImages); ArgumentNullException.ThrowIfNull(testLabels);
        int pixels = height * width;
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), "Image size must be positive.");
        if (trainImages.Length != trainLabels.Length * pixels)
            throw new ArgumentException($"{trainLabels.Length} training labels need {trainLabels.Length * pixels} pixel bytes, got {trainImages.Length}.", nameof(trainImages));
        if (testImages.Length != testLabels.Length * pixels)
            throw new ArgumentException($"{testLabels.Length} test labels need {testLabels.Length * pixels} pixel bytes, got {testImages.Length}.", nameof(testImages));
        if (validationCount < 0 || validationCount > trainLabels.Length)
            throw new ArgumentOutOfRangeException(nameof(validationCount), validationCount, $"Must be between 0 and the {trainLabels.Length} training images.");
        foreach (var l in trainLabels) if (l >= classCount) throw new ArgumentException($"Training label {l} is outside 0..{classCount - 1}.", nameof(trainLabels));
        foreach (var l in testLabels) if (l >= classCount) throw new ArgumentException($"Test label {l} is outside 0..{classCount - 1}.", nameof(testLabels));
        _name = name; Height = height; Width = width; _classCount = classCount;
        _trainImages = trainImages; _trainLabels = trainLabels; _testImages = testImages; _testLabels = testLabels;
        ValidationCount = validationCount; SplitSeed = splitSeed;
        var perm = new Rng(ZooSeeds.ForPurpose(splitSeed, "train/validation split")).Permutation(trainLabels.Length);
        _trainOrder = perm[..(trainLabels.Length - validationCount)];
        _validationOrder = perm[(trainLabels.Length - validationCount)..];
        _points = ImageGrid(height, width);
    }

    /// <summary>Fashion-MNIST under the DWSNets protocol: 55,000 train / 5,000 validation / 10,000 test.</summary>
    public static ImageInrTask FashionMnist(FashionMnist data, ulong splitSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new ImageInrTask("fashion-mnist", global::LayerCompiler.Tasks.Data.FashionMnist.Rows, global::LayerCompiler.Tasks.Data.FashionMnist.Cols, data.Train.Images, data.Train.Labels,
            data.Test.Images, data.Test.Labels, global::LayerCompiler.Tasks.Data.FashionMnist.ClassCount, 5000, splitSeed);
    }

    private readonly string _name;
    private readonly int _classCount;
    public override string Name => _name;
    public int Height { get; }
    public int Width { get; }
    public int ValidationCount { get; }
    public ulong SplitSeed { get; }
    public override IReadOnlyList<string> SplitNames { get; } = new[] { Train, Validation, Test };
    public override float[] Points => _points;
    public override int PointCount => Height * Width;
    public override int InputWidth => 2;
    public override int OutputWidth => 1;
    public override int ClassCount => _classCount;

    public override int Count(string split) => split switch
    {
        Train => _trainOrder.Length,
        Validation => _validationOrder.Length,
        Test => _testLabels.Length,
        _ => throw new ArgumentException($"Unknown split '{split}'; task {Name} has {string.Join(", ", SplitNames)}.", nameof(split)),
    };

    public override long ItemIndex(string split, int position) => split switch
    {
        Train => _trainOrder[position],
        Validation => _validationOrder[position],
        Test => CheckedTest(position),
        _ => throw new ArgumentException($"Unknown split '{split}'; task {Name} has {string.Join(", ", SplitNames)}.", nameof(split)),
    };

    private int CheckedTest(int position)
    {
        if ((uint)position >= (uint)_testLabels.Length) throw new ArgumentOutOfRangeException(nameof(position), position, $"The test split has {_testLabels.Length} images.");
        return position;
    }

    private (byte[] Images, byte[] Labels) Source(string split) => split == Test ? (_testImages, _testLabels) : (_trainImages, _trainLabels);

    public override void Target(string split, int position, Span<float> target)
    {
        int index = (int)ItemIndex(split, position), pixels = Height * Width;
        if (target.Length != pixels) throw new ArgumentException($"An image target has {pixels} values, got a buffer of {target.Length}.", nameof(target));
        var src = Source(split).Images.AsSpan(index * pixels, pixels);
        for (int i = 0; i < pixels; i++) target[i] = src[i] / 255f;
    }

    public override long Label(string split, int position) => Source(split).Labels[(int)ItemIndex(split, position)];

    public override IReadOnlyDictionary<string, string> Describe() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["name"] = Name,
        ["image_size"] = string.Create(CultureInfo.InvariantCulture, $"{Height}x{Width}"),
        ["coordinates"] = "x = column, y = row, each linspace(-1, 1, n); point = row * width + column",
        ["targets"] = "pixel / 255",
        ["source_train_count"] = _trainLabels.Length.ToString(CultureInfo.InvariantCulture),
        ["source_test_count"] = _testLabels.Length.ToString(CultureInfo.InvariantCulture),
        ["validation_count"] = ValidationCount.ToString(CultureInfo.InvariantCulture),
        ["split_seed"] = SplitSeed.ToString(CultureInfo.InvariantCulture),
        ["classes"] = _classCount.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// What the sine tasks share: three splits of synthetic items, each a function of x sampled at <see cref="PointCount"/>
/// points of [−π, π) (x_i = −π + 2π i / PointCount), one input and one output, items indexed by position.
/// </summary>
public abstract class SineInrTaskBase : InrTask
{
    public const string Train = "train", Validation = "validation", Test = "test";
    private readonly Dictionary<string, int> _counts;
    private readonly float[] _points;
    private readonly int _pointCount;

    protected SineInrTaskBase(ulong seed, int trainCount, int validationCount, int testCount, int pointCount)
    {
        if (trainCount < 0 || validationCount < 0 || testCount < 0) throw new ArgumentOutOfRangeException(nameof(trainCount), "Split sizes must be >= 0.");
        if (pointCount <= 0) throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "Need at least one point.");
        Seed = seed; _pointCount = pointCount;
        _counts = new Dictionary<string, int> { [Train] = trainCount, [Validation] = validationCount, [Test] = testCount };
        _points = new float[pointCount];
        for (int i = 0; i < pointCount; i++) _points[i] = (float)(-Math.PI + 2 * Math.PI * i / pointCount);
    }

    public ulong Seed { get; }
    public override IReadOnlyList<string> SplitNames { get; } = new[] { Train, Validation, Test };
    public override float[] Points => _points;
    public override int PointCount => _pointCount;
    public override int InputWidth => 1;
    public override int OutputWidth => 1;
    public override string IndexTensorName => ZooFormat.SampleIndexTensor;

    public override int Count(string split)
    {
        CheckSplit(split);
        return _counts[split];
    }

    public override long ItemIndex(string split, int position)
    {
        if ((uint)position >= (uint)Count(split)) throw new ArgumentOutOfRangeException(nameof(position), position, $"Split {split} has {Count(split)} items.");
        return position;
    }

    /// <summary>Throws unless <paramref name="target"/> holds one value per point.</summary>
    protected void CheckTargetLength(Span<float> target)
    {
        if (target.Length != _pointCount) throw new ArgumentException($"A target has {_pointCount} values, got a buffer of {target.Length}.", nameof(target));
    }

    /// <summary>The description entries every sine task records: points, seed and split sizes.</summary>
    protected SortedDictionary<string, string> DescribeCommon() => new(StringComparer.Ordinal)
    {
        ["name"] = Name,
        ["points"] = string.Create(CultureInfo.InvariantCulture, $"{_pointCount} points of [-pi, pi): x_i = -pi + 2 pi i / {_pointCount}"),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
        ["train_count"] = _counts[Train].ToString(CultureInfo.InvariantCulture),
        ["validation_count"] = _counts[Validation].ToString(CultureInfo.InvariantCulture),
        ["test_count"] = _counts[Test].ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>
/// The synthetic sine-wave task: f(x) = a·sin(b·x) with a, b ~ U(0, 10), sampled at <see cref="SineInrTaskBase.PointCount"/>
/// points of [−π, π); the regression targets are (a, b). Each item's (a, b) come from its own seed, so a split
/// can be built in any order or subset.
/// </summary>
public sealed class SineWaveInrTask : SineInrTaskBase
{
    public SineWaveInrTask(ulong seed, int trainCount, int validationCount, int testCount, int pointCount = 2000, float maxA = 10f, float maxB = 10f)
        : base(seed, trainCount, validationCount, testCount, pointCount)
    {
        MaxA = maxA; MaxB = maxB;
    }

    public float MaxA { get; }
    public float MaxB { get; }
    public override string Name => "sine-waves";
    public override int RegressionWidth => 2;

    /// <summary>(a, b) of an item.</summary>
    public (float A, float B) Parameters(string split, int position)
    {
        var rng = new Rng(ZooSeeds.ForItem(ZooSeeds.ForPurpose(Seed, "sine-wave parameters"), split, ItemIndex(split, position)));
        float a = rng.Uniform(0, MaxA), b = rng.Uniform(0, MaxB);
        return (a, b);
    }

    public override void Target(string split, int position, Span<float> target)
    {
        CheckTargetLength(target);
        var (a, b) = Parameters(split, position);
        var x = Points;
        for (int i = 0; i < x.Length; i++) target[i] = a * MathF.Sin(b * x[i]);
    }

    public override void Regression(string split, int position, Span<float> values)
    {
        var (a, b) = Parameters(split, position);
        values[0] = a; values[1] = b;
    }

    public override IReadOnlyDictionary<string, string> Describe()
    {
        var d = DescribeCommon();
        d["family"] = "a*sin(b*x)";
        d["function"] = string.Create(CultureInfo.InvariantCulture, $"a*sin(b*x), a ~ U(0, {MaxA}), b ~ U(0, {MaxB})");
        d["a_range"] = string.Create(CultureInfo.InvariantCulture, $"[0, {MaxA:R})");
        d["b_range"] = string.Create(CultureInfo.InvariantCulture, $"[0, {MaxB:R})");
        d["targets"] = "(a, b)";
        return d;
    }
}

/// <summary>
/// The sine-frequency task of DWSNets' regression experiment: f(x) = sin(a·x) with a ~ U(<see cref="MinA"/>, <see cref="MaxA"/>)
/// (protocol: U(0.5, 10)), sampled at <see cref="SineInrTaskBase.PointCount"/> points of [−π, π); the regression target is a. Each item's a
/// comes from its own seed (zoo seed, split, item index), so a split can be built in any order or subset.
/// </summary>
public sealed class SineFrequencyInrTask : SineInrTaskBase
{
    public const string TaskName = "sine-frequency";

    public SineFrequencyInrTask(ulong seed, int trainCount, int validationCount, int testCount, int pointCount = 2000, float minA = 0.5f, float maxA = 10f)
        : base(seed, trainCount, validationCount, testCount, pointCount)
    {
        if (!float.IsFinite(minA) || !float.IsFinite(maxA) || !(minA < maxA))
            throw new ArgumentOutOfRangeException(nameof(minA), $"The frequency range needs finite min < max, got [{minA}, {maxA}).");
        MinA = minA; MaxA = maxA;
    }

    public float MinA { get; }
    public float MaxA { get; }
    public override string Name => TaskName;
    public override int RegressionWidth => 1;

    /// <summary>The frequency a of an item.</summary>
    public float Frequency(string split, int position) =>
        new Rng(ZooSeeds.ForItem(ZooSeeds.ForPurpose(Seed, "sine-frequency parameter"), split, ItemIndex(split, position))).Uniform(MinA, MaxA);

    public override void Target(string split, int position, Span<float> target)
    {
        CheckTargetLength(target);
        float a = Frequency(split, position);
        var x = Points;
        for (int i = 0; i < x.Length; i++) target[i] = MathF.Sin(a * x[i]);
    }

    public override void Regression(string split, int position, Span<float> values) => values[0] = Frequency(split, position);

    public override IReadOnlyDictionary<string, string> Describe()
    {
        var d = DescribeCommon();
        d["family"] = "sin(a*x)";
        d["function"] = string.Create(CultureInfo.InvariantCulture, $"sin(a*x), a ~ U({MinA:R}, {MaxA:R})");
        d["a_range"] = string.Create(CultureInfo.InvariantCulture, $"[{MinA:R}, {MaxA:R})");
        d["targets"] = "(a)";
        return d;
    }
}
