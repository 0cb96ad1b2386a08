using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using System;
using System.Collections.Generic;
using System.IO;

namespace LayerCompiler.Tasks.Data;

/// <summary>One split (train or test) of Fashion-MNIST: <see cref="Count"/> 28×28 grayscale images and their labels.</summary>
public sealed class FashionMnistSplit
{
    internal FashionMnistSplit(byte[] images, byte[] labels, int count)
    {
        Images = images;
        Labels = labels;
        Count = count;
    }

    /// <summary>Number of examples.</summary>
    public int Count { get; }

    /// <summary>All pixels, flat: image i occupies [i·784, (i+1)·784), row-major, 0 = background, 255 = ink.</summary>
    public byte[] Images { get; }

    /// <summary>Class index 0..9 per image; see <see cref="FashionMnist.ClassNames"/>.</summary>
    public byte[] Labels { get; }

    /// <summary>The 784 pixels of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"Split has {Count} images.");
        return Images.AsSpan(index * FashionMnist.PixelsPerImage, FashionMnist.PixelsPerImage);
    }

    /// <summary>Writes image <paramref name="index"/> scaled to [0, 1] (pixel / 255) into <paramref name="destination"/>.</summary>
    public void ImageAsFloats(int index, Span<float> destination)
    {
        var src = Image(index);
        if (destination.Length < src.Length)
            throw new ArgumentException($"Destination holds {destination.Length} floats, an image needs {src.Length}.", nameof(destination));
        for (int i = 0; i < src.Length; i++) destination[i] = src[i] / 255f; // exact division: 255 maps to exactly 1
    }

    /// <summary>Image <paramref name="index"/> scaled to [0, 1].</summary>
    public float[] ImageAsFloats(int index)
    {
        var dst = new float[FashionMnist.PixelsPerImage];
        ImageAsFloats(index, dst);
        return dst;
    }
}

/// <summary>
/// Loader for Fashion-MNIST (Zalando, 2017): 60,000 training and 10,000 test 28×28 grayscale images of
/// clothing in 10 classes, stored as gzip'd IDX files. Everything is validated: magic numbers, image size,
/// counts, agreement between images and labels, and label range.
/// </summary>
public sealed class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist/";

    /// <summary>The command that installs the data set into <see cref="DefaultDirectory"/>.</summary>
    public const string InstallCommand = "apt-get install -y dataset-fashion-mnist";

    public const string TrainImagesFile = "train-images-idx3-ubyte.gz";
    public const string TrainLabelsFile = "train-labels-idx1-ubyte.gz";
    public const string TestImagesFile = "t10k-images-idx3-ubyte.gz";
    public const string TestLabelsFile = "t10k-labels-idx1-ubyte.gz";

    public const int Rows = 28;
    public const int Cols = 28;
    public const int PixelsPerImage = Rows * Cols;
    public const int ClassCount = 10;
    public const int TrainCount = 60_000;
    public const int TestCount = 10_000;

    /// <summary>Class names in label order (0 = "T-shirt/top" ... 9 = "Ankle boot").</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Array.AsReadOnly(new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    });

    private FashionMnist(FashionMnistSplit train, FashionMnistSplit test)
    {
        Train = train;
        Test = test;
    }

    public FashionMnistSplit Train { get; }
    public FashionMnistSplit Test { get; }

    /// <summary>
    /// Loads both splits from <paramref name="directory"/> (default <see cref="DefaultDirectory"/>).
    /// Missing files raise <see cref="FileNotFoundException"/> with the install command; malformed files raise
    /// <see cref="InvalidDataException"/> naming the file and the problem.
    /// </summary>
    public static FashionMnist Load(string? directory = null)
    {
        string dir = directory ?? DefaultDirectory;
        string[] names = { TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile };
        var missing = new List<string>();
        foreach (var n in names)
            if (!File.Exists(Path.Combine(dir, n))) missing.Add(n);
        if (missing.Count > 0)
        {
            // Say exactly how to fix it: this is the first thing a new user of the examples hits.
            string fix = directory is null
                ? $"Install the data set with: {InstallCommand}"
                : $"Pass the directory that holds them, or install the data set into {DefaultDirectory} with: {InstallCommand}";
            throw new FileNotFoundException(
                $"Fashion-MNIST not found in '{dir}': missing {string.Join(", ", missing)}. {fix}",
                Path.Combine(dir, missing[0]));
        }
        var train = LoadSplit(Path.Combine(dir, TrainImagesFile), Path.Combine(dir, TrainLabelsFile), TrainCount);
        var test = LoadSplit(Path.Combine(dir, TestImagesFile), Path.Combine(dir, TestLabelsFile), TestCount);
        return new FashionMnist(train, test);
    }

    /// <summary>
    /// Loads one split from an images file and a labels file, checking that images are 28×28, that both files
    /// hold the same number of examples (and <paramref name="expectedCount"/> if given), and that labels are 0..9.
    /// </summary>
    public static FashionMnistSplit LoadSplit(string imagesPath, string labelsPath, int? expectedCount = null)
    {
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath);
        int n = images.Shape[0];
        if (images.Shape[1] != Rows || images.Shape[2] != Cols)
            throw new InvalidDataException($"{imagesPath}: images are {images.Shape[1]}×{images.Shape[2]}, expected {Rows}×{Cols}");
        if (expectedCount is int want && n != want)
            throw new InvalidDataException($"{imagesPath}: holds {n} images, expected {want}");
        if (labels.Shape[0] != n)
            throw new InvalidDataException($"{labelsPath}: holds {labels.Shape[0]} labels but {imagesPath} holds {n} images");
        for (int i = 0; i < labels.Data.Length; i++)
            if (labels.Data[i] >= ClassCount)
                throw new InvalidDataException($"{labelsPath}: label {labels.Data[i]} at index {i} is outside 0..{ClassCount - 1}");
        return new FashionMnistSplit(images.Data, labels.Data, n);
    }
}
