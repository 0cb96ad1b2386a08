using System.Buffers.Binary;
using System.IO.Compression;

namespace WeightTasks.Tests.Infrastructure;

/// <summary>
/// A synthetic stand-in for Fashion-MNIST in its on-disk format: the four gzip'd IDX files (magic 0x00000803 for
/// images [n, 28, 28], 0x00000801 for labels [n]) that <c>--data DIR</c> expects.
/// </summary>
/// <remarks>
/// The tool's loader checks the real counts (60,000 training and 10,000 test images; the protocol also holds out
/// 5,000 training images for validation), so the files have those counts; the tests only ever fit INRs to the first
/// few images of each split. Every image is a simple class-dependent pattern, mostly zeros, so the files compress to
/// about 1.6 MB and are written in well under a second.
/// </remarks>
public static class SyntheticFashionMnist
{
    public const int TrainCount = 60_000, TestCount = 10_000, Side = 28, Pixels = Side * Side;

    public const string TrainImages = "train-images-idx3-ubyte.gz", TrainLabels = "train-labels-idx1-ubyte.gz";
    public const string TestImages = "t10k-images-idx3-ubyte.gz", TestLabels = "t10k-labels-idx1-ubyte.gz";

    /// <summary>Label of image <paramref name="index"/>: all ten classes, interleaved.</summary>
    public static byte Label(int index, int salt) => (byte)((index * 7 + salt) % 10);

    /// <summary>
    /// Image of class <paramref name="label"/>: a bright horizontal bar whose row depends on the class, and a dimmer
    /// vertical bar whose column varies with <paramref name="index"/>.
    /// </summary>
    public static void Image(int index, byte label, Span<byte> pixels)
    {
        pixels.Clear();
        int row = 2 + 2 * label;
        for (int r = row; r < row + 2; r++)
            for (int c = 4; c < 24; c++) pixels[r * Side + c] = 255;
        int column = 4 + index % 7;
        for (int r = 4; r < 24; r++) pixels[r * Side + column] = (byte)Math.Max(pixels[r * Side + column], (byte)128);
    }

    /// <summary>Writes the four files into <paramref name="directory"/> (created if needed).</summary>
    public static void Write(string directory, int trainCount = TrainCount, int testCount = TestCount)
    {
        Directory.CreateDirectory(directory);
        WriteSplit(Path.Combine(directory, TrainImages), Path.Combine(directory, TrainLabels), trainCount, salt: 3);
        WriteSplit(Path.Combine(directory, TestImages), Path.Combine(directory, TestLabels), testCount, salt: 5);
    }

    private static void WriteSplit(string imagesPath, string labelsPath, int count, int salt)
    {
        var labels = new byte[count];
        for (int i = 0; i < count; i++) labels[i] = Label(i, salt);

        using (var images = Gzip(imagesPath))
        {
            WriteHeader(images, 0x00000803, count, Side, Side);
            var pixels = new byte[Pixels];
            for (int i = 0; i < count; i++)
            {
                Image(i, labels[i], pixels);
                images.Write(pixels);
            }
        }
        using (var labelStream = Gzip(labelsPath))
        {
            WriteHeader(labelStream, 0x00000801, count);
            labelStream.Write(labels);
        }
    }

    private static GZipStream Gzip(string path) => new(File.Create(path), CompressionLevel.Fastest);

    private static void WriteHeader(Stream s, int magic, params int[] dims)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        s.Write(word);
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            s.Write(word);
        }
    }
}
