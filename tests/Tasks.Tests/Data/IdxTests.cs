using System.Buffers.Binary;
using LayerCompiler.Tasks.Data;

namespace LayerCompiler.Tasks.Tests.Data;

public class IdxTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReadsImagesAndLabels(bool gzip)
    {
        using var dir = new TempDirectory();
        byte[] pixels = IdxFiles.Pixels(3 * 28 * 28, 7);
        byte[] imageFile = IdxFiles.Raw(0x08, new[] { 3, 28, 28 }, pixels);
        byte[] labelFile = IdxFiles.Labels(4, 0, 9);
        string ip = dir.File("img"), lp = dir.File("lbl");
        File.WriteAllBytes(ip, gzip ? IdxFiles.Gzip(imageFile) : imageFile);
        File.WriteAllBytes(lp, gzip ? IdxFiles.Gzip(labelFile) : labelFile);

        var images = Idx.ReadImages(ip);
        Assert.Equal(Idx.ImagesMagic, images.Magic);
        Assert.Equal(new[] { 3, 28, 28 }, images.Shape);
        Assert.Equal(pixels, images.Data);

        var labels = Idx.ReadLabels(lp);
        Assert.Equal(Idx.LabelsMagic, labels.Magic);
        Assert.Equal(new[] { 3 }, labels.Shape);
        Assert.Equal(new byte[] { 4, 0, 9 }, labels.Data);
    }

    [Fact]
    public void ZeroImagesIsValid()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("e"), IdxFiles.Images(0));
        var a = Idx.ReadImages(dir.File("e"));
        Assert.Equal(new[] { 0, 28, 28 }, a.Shape);
        Assert.Empty(a.Data);
    }

    [Theory]
    [InlineData("x.idx")]
    [InlineData("x.idx.gz")]
    public void WriterRoundTripsAndMatchesHandBuiltBytes(string name)
    {
        using var dir = new TempDirectory();
        byte[] pixels = IdxFiles.Pixels(2 * 3 * 4, 3);
        Idx.WriteUInt8(dir.File(name), pixels, 2, 3, 4);
        var back = Idx.Read(dir.File(name));
        Assert.Equal(new[] { 2, 3, 4 }, back.Shape);
        Assert.Equal(0x00000803, back.Magic);
        Assert.Equal(pixels, back.Data);
        if (!name.EndsWith(".gz")) Assert.Equal(IdxFiles.Raw(0x08, new[] { 2, 3, 4 }, pixels), File.ReadAllBytes(dir.File(name)));
        else Assert.Equal(new byte[] { 0x1f, 0x8b }, File.ReadAllBytes(dir.File(name))[..2]);
        Assert.Equal(new[] { name }, dir.Listing());
    }

    [Fact]
    public void WriterRejectsMismatchedShape()
    {
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => Idx.WriteUInt8(dir.File("x"), new byte[5], 2, 3));
        Assert.Empty(dir.Listing());
    }

    public static TheoryData<string, byte[], string> Malformed()
    {
        byte[] labels = IdxFiles.Labels(1, 2, 3);
        var data = new TheoryData<string, byte[], string>
        {
            { "empty file", Array.Empty<byte>(), "file is too short for the 4-byte IDX magic number (0 bytes)" },
            { "short magic", new byte[] { 0, 0, 8 }, "too short for the 4-byte IDX magic number (3 bytes)" },
            { "not IDX", IdxFiles.Raw(0x08, new[] { 1, 28, 28 }, new byte[784], first: 0x50, second: 0x4B), "bad magic number 0x504B0803: the first two bytes must be zero" },
            { "float element type", IdxFiles.Raw(0x0D, new[] { 1, 28, 28 }, new byte[4 * 784]), "element type 0x0D; only 0x08 (unsigned byte) is supported" },
            { "labels magic where images expected", labels, "magic number 0x00000801 where 0x00000803 (images) was expected" },
            { "rank 2 where images expected", IdxFiles.Raw(0x08, new[] { 2, 784 }, new byte[2 * 784]), "magic number 0x00000802 where 0x00000803 (images) was expected" },
            { "truncated dimensions", IdxFiles.Images(1)[..10], "file ends inside the dimension sizes (3 dimensions need 12 bytes, found 6)" },
            { "dimension above 2^31", HugeDim(), "dimension 1 = 4294967295 is too large" },
            { "dimensions overflow an array", IdxFiles.Raw(0x08, new[] { 65536, 65536, 65536 }, Array.Empty<byte>()), "describe more than" },
            { "huge dimensions on a tiny file", IdxFiles.Raw(0x08, new[] { 1, 40000, 40000 }, new byte[10]), "payload is truncated: dimensions [1, 40000, 40000] need 1600000000 bytes, found 10" },
            { "truncated payload", IdxFiles.Images(2)[..1000], "payload is truncated: dimensions [2, 28, 28] need 1568 bytes, found 984" },
            { "extra payload", IdxFiles.Images(1).Concat(new byte[] { 1 }).ToArray(), "payload is longer than dimensions [1, 28, 28] allow" },
        };
        return data;
    }

    private static byte[] HugeDim()
    {
        var b = IdxFiles.Raw(0x08, new[] { 1, 0, 28 }, Array.Empty<byte>());
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), uint.MaxValue);
        return b;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RejectsMalformedFilesNamingFileAndProblem(string name, byte[] file, string message)
    {
        using var dir = new TempDirectory();
        foreach (bool gzip in new[] { false, true })
        {
            string path = dir.File(gzip ? "bad.gz" : "bad");
            File.WriteAllBytes(path, gzip ? IdxFiles.Gzip(file) : file);
            var ex = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
            Assert.StartsWith(path + ": ", ex.Message);
            Assert.Contains(message, ex.Message);
        }
    }

    [Fact]
    public void RankZeroIsRejected()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("r0"), new byte[] { 0, 0, 8, 0 });
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(dir.File("r0")));
        Assert.Contains("declares rank 0", ex.Message);
    }

    [Fact]
    public void CorruptGzipIsRejectedNamingTheFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("corrupt.gz");
        var gz = IdxFiles.Gzip(IdxFiles.Images(2));
        // Keep the gzip header, scramble the deflate stream.
        for (int i = 10; i < gz.Length - 8; i++) gz[i] = (byte)(gz[i] ^ 0xA5);
        File.WriteAllBytes(path, gz);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
    }

    [Fact]
    public void TruncatedGzipIsRejectedNamingTheFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("cut.gz");
        var gz = IdxFiles.Gzip(IdxFiles.Images(4));
        File.WriteAllBytes(path, gz[..(gz.Length / 2)]);
        var ex = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
    }

    [Fact]
    public void StreamParserUsesTheGivenSourceName()
    {
        var ex = Assert.Throws<InvalidDataException>(() => Idx.Parse(new MemoryStream(new byte[] { 1, 2 }), "memory"));
        Assert.Equal("memory: file is too short for the 4-byte IDX magic number (2 bytes)", ex.Message);
    }
}
