using LayerCompiler.Tasks.Data;

namespace LayerCompiler.Tasks.Tests.Data;

public class FashionMnistTests
{
    private static void WriteGz(string path, byte[] idx) => File.WriteAllBytes(path, IdxFiles.Gzip(idx));

    private static void WriteSet(TempDirectory dir, int train, int test)
    {
        WriteGz(dir.File(FashionMnist.TrainImagesFile), IdxFiles.Images(train, seed: 1));
        WriteGz(dir.File(FashionMnist.TrainLabelsFile), IdxFiles.Labels(Enumerable.Range(0, train).Select(i => (byte)(i % 10)).ToArray()));
        WriteGz(dir.File(FashionMnist.TestImagesFile), IdxFiles.Images(test, seed: 2));
        WriteGz(dir.File(FashionMnist.TestLabelsFile), IdxFiles.Labels(Enumerable.Range(0, test).Select(i => (byte)(9 - i % 10)).ToArray()));
    }

    [Fact]
    public void ClassNamesAreTheTenFashionMnistClasses()
    {
        Assert.Equal(
            new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" },
            FashionMnist.ClassNames);
        Assert.Equal(FashionMnist.ClassCount, FashionMnist.ClassNames.Count);
    }

    [Fact]
    public void MissingFilesGiveTheInstallCommand()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File(FashionMnist.TrainImagesFile), IdxFiles.Images(1));
        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("apt-get install -y dataset-fashion-mnist", ex.Message);
        Assert.Contains(FashionMnist.TrainLabelsFile, ex.Message);
        Assert.Contains(FashionMnist.TestImagesFile, ex.Message);
        Assert.DoesNotContain(FashionMnist.TrainImagesFile + ",", ex.Message);
        Assert.Equal(dir.File(FashionMnist.TrainLabelsFile), ex.FileName);
    }

    [Fact]
    public void DefaultDirectoryLoadsRealDataIfInstalledOtherwiseExplainsTheFix()
    {
        // Never requires the real data: with it, check the loader end to end; without it, check the error.
        bool present = new[] { FashionMnist.TrainImagesFile, FashionMnist.TrainLabelsFile, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile }
            .All(f => File.Exists(Path.Combine(FashionMnist.DefaultDirectory, f)));
        if (!present)
        {
            var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load());
            Assert.Contains("apt-get install -y dataset-fashion-mnist", ex.Message);
            return;
        }
        var data = FashionMnist.Load();
        Assert.Equal(60000, data.Train.Count);
        Assert.Equal(10000, data.Test.Count);
        Assert.Equal(60000 * 784, data.Train.Images.Length);
        Assert.Equal(10000, data.Test.Labels.Length);
        // The official training set is balanced: 6000 per class.
        Assert.All(data.Train.Labels.GroupBy(l => l), g => Assert.Equal(6000, g.Count()));
    }

    [Fact]
    public void LoadSplitReadsSyntheticFiles()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, 5, 3);
        var split = FashionMnist.LoadSplit(dir.File(FashionMnist.TrainImagesFile), dir.File(FashionMnist.TrainLabelsFile));
        Assert.Equal(5, split.Count);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4 }, split.Labels);
        byte[] pixels = IdxFiles.Pixels(5 * 784, 1);
        Assert.Equal(pixels[784..1568], split.Image(1).ToArray());
        float[] f = split.ImageAsFloats(4);
        Assert.Equal(784, f.Length);
        Assert.Equal(pixels[4 * 784 + 10] / 255f, f[10]);
        Assert.All(f, v => Assert.InRange(v, 0f, 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => split.Image(5));
    }

    [Fact]
    public void LoadChecksTheOfficialCounts()
    {
        using var dir = new TempDirectory();
        WriteSet(dir, 5, 3);
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(FashionMnist.TrainImagesFile, ex.Message);
        Assert.Contains("holds 5 images, expected 60000", ex.Message);
    }

    [Fact]
    public void ImageAndLabelCountsMustAgree()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File("i.gz"), IdxFiles.Images(4));
        WriteGz(dir.File("l.gz"), IdxFiles.Labels(1, 2, 3));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSplit(dir.File("i.gz"), dir.File("l.gz")));
        Assert.Contains("holds 3 labels but", ex.Message);
        Assert.Contains("holds 4 images", ex.Message);
    }

    [Fact]
    public void ExpectedCountIsEnforced()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File("i.gz"), IdxFiles.Images(2));
        WriteGz(dir.File("l.gz"), IdxFiles.Labels(1, 2));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSplit(dir.File("i.gz"), dir.File("l.gz"), expectedCount: 3));
        Assert.Contains("holds 2 images, expected 3", ex.Message);
    }

    [Fact]
    public void ImagesMustBe28By28()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File("i.gz"), IdxFiles.Images(2, rows: 27));
        WriteGz(dir.File("l.gz"), IdxFiles.Labels(1, 2));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSplit(dir.File("i.gz"), dir.File("l.gz")));
        Assert.Contains("images are 27×28, expected 28×28", ex.Message);
    }

    [Fact]
    public void LabelsMustBeClassIndices()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File("i.gz"), IdxFiles.Images(3));
        WriteGz(dir.File("l.gz"), IdxFiles.Labels(1, 10, 3));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSplit(dir.File("i.gz"), dir.File("l.gz")));
        Assert.Contains("label 10 at index 1 is outside 0..9", ex.Message);
    }

    [Fact]
    public void SwappedFilesAreCaughtByTheMagicNumber()
    {
        using var dir = new TempDirectory();
        WriteGz(dir.File("i.gz"), IdxFiles.Images(3));
        WriteGz(dir.File("l.gz"), IdxFiles.Labels(1, 2, 3));
        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.LoadSplit(dir.File("l.gz"), dir.File("i.gz")));
        Assert.StartsWith(dir.File("l.gz") + ": ", ex.Message);
        Assert.Contains("0x00000801 where 0x00000803 (images) was expected", ex.Message);
    }
}
