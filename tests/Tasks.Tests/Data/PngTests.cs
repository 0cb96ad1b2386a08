using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using LayerCompiler.Tasks.Data;

namespace LayerCompiler.Tasks.Tests.Data;

public class PngTests
{
    /// <summary>A decoded PNG: header fields and the raw (unfiltered) pixel bytes.</summary>
    private sealed record Decoded(int Width, int Height, int BitDepth, int ColorType, byte[] Pixels, string[] ChunkTypes);

    /// <summary>
    /// Independent decoder for what our encoder may produce: checks signature, chunk CRCs (bit by bit, not the
    /// table version under test), IHDR, inflates the IDAT stream and undoes filter type 0.
    /// </summary>
    private static Decoded Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int pos = 8;
        var types = new List<string>();
        byte[]? ihdr = null;
        using var idat = new MemoryStream();
        while (pos < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            byte[] data = png[(pos + 8)..(pos + 8 + length)];
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + length));
            Assert.Equal(BitwiseCrc(png.AsSpan(pos + 4, 4 + length)), crc);
            types.Add(type);
            if (type == "IHDR") ihdr = data;
            if (type == "IDAT") idat.Write(data);
            pos += 12 + length;
        }
        Assert.Equal(png.Length, pos);
        Assert.Equal("IHDR", types[0]);
        Assert.Equal("IEND", types[^1]);
        Assert.NotNull(ihdr);
        Assert.Equal(13, ihdr!.Length);
        int width = BinaryPrimitives.ReadInt32BigEndian(ihdr);
        int height = BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4));
        Assert.Equal(new byte[] { 0, 0, 0 }, ihdr[10..13]); // deflate, adaptive filtering, no interlace
        int channels = ihdr[9] switch { 0 => 1, 2 => 3, _ => throw new Xunit.Sdk.XunitException($"color type {ihdr[9]}") };

        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        byte[] scan = raw.ToArray();
        int stride = width * channels;
        Assert.Equal(height * (stride + 1), scan.Length);
        var pixels = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            Assert.Equal(0, scan[y * (stride + 1)]); // filter type None
            Array.Copy(scan, y * (stride + 1) + 1, pixels, y * stride, stride);
        }
        return new Decoded(width, height, ihdr[8], ihdr[9], pixels, types.ToArray());
    }

    private static uint BitwiseCrc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 5)]
    [InlineData(28, 28)]
    [InlineData(300, 2)]
    public void GrayscaleRoundTrips(int width, int height)
    {
        var pixels = new byte[width * height];
        new Random(width * 31 + height).NextBytes(pixels);
        var d = Decode(Png.EncodeGray(pixels, width, height));
        Assert.Equal((width, height, 8, 0), (d.Width, d.Height, d.BitDepth, d.ColorType));
        Assert.Equal(pixels, d.Pixels);
        Assert.Equal(new[] { "IHDR", "IDAT", "IEND" }, d.ChunkTypes);
    }

    [Fact]
    public void EndsWithTheStandardIendChunk()
    {
        // Every PNG ends with the same 12 bytes: length 0, "IEND", and CRC-32("IEND") = 0xAE426082 (PNG spec).
        byte[] png = Png.EncodeGray(new byte[] { 7 }, 1, 1);
        Assert.Equal(new byte[] { 0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82 }, png[^12..]);
    }

    [Fact]
    public void RgbRoundTrips()
    {
        var pixels = new byte[4 * 3 * 3];
        new Random(3).NextBytes(pixels);
        var d = Decode(Png.EncodeRgb(pixels, 4, 3));
        Assert.Equal((4, 3, 8, 2), (d.Width, d.Height, d.BitDepth, d.ColorType));
        Assert.Equal(pixels, d.Pixels);
    }

    [Fact]
    public void WritesFilesAtomically()
    {
        using var dir = new TempDirectory();
        var pixels = new byte[] { 0, 64, 128, 255, 10, 20 };
        Png.WriteGray(dir.File("a.png"), pixels, 3, 2);
        Assert.Equal(pixels, Decode(File.ReadAllBytes(dir.File("a.png"))).Pixels);

        var rgb = new byte[] { 255, 0, 0, 0, 255, 0 };
        Png.WriteRgb(dir.File("b.png"), rgb, 2, 1);
        Assert.Equal(rgb, Decode(File.ReadAllBytes(dir.File("b.png"))).Pixels);

        byte[] before = File.ReadAllBytes(dir.File("a.png"));
        Assert.Throws<ArgumentException>(() => Png.WriteGray(dir.File("a.png"), new byte[5], 3, 2));
        Assert.Equal(before, File.ReadAllBytes(dir.File("a.png")));
        Assert.Equal(new[] { "a.png", "b.png" }, dir.Listing());
    }

    [Fact]
    public void RejectsBadSizes()
    {
        Assert.Throws<ArgumentException>(() => Png.EncodeGray(Array.Empty<byte>(), 0, 1));
        Assert.Throws<ArgumentException>(() => Png.EncodeGray(new byte[6], 2, 2));
        Assert.Throws<ArgumentException>(() => Png.EncodeRgb(new byte[4], 2, 2));
    }

    [Fact]
    public void GridTilesImagesWithPaddingAndClamps()
    {
        var a = new[] { 0f, 0.25f, 0.5f, 1f };
        var b = new[] { -0.5f, 1.5f, float.NaN, float.PositiveInfinity };
        var c = new[] { 1f, 1f, 1f, 1f };
        var grid = Png.GrayGrid(new[] { a, b, c }, h: 2, w: 2, columns: 2, pad: 1, padValue: 7);
        // 2 columns × 2 rows of 2×2 images, 1 pixel of padding between and around: 2·2 + 3 = 7 each way.
        Assert.Equal((7, 7), (grid.Width, grid.Height));
        byte At(int x, int y) => grid.Pixels[y * grid.Width + x];
        Assert.Equal(new byte[] { 0, 64, 128, 255 }, new[] { At(1, 1), At(2, 1), At(1, 2), At(2, 2) });
        Assert.Equal(new byte[] { 0, 255, 0, 255 }, new[] { At(4, 1), At(5, 1), At(4, 2), At(5, 2) });
        Assert.Equal(new byte[] { 255, 255, 255, 255 }, new[] { At(1, 4), At(2, 4), At(1, 5), At(2, 5) });
        Assert.Equal(7, At(0, 0));
        Assert.Equal(7, At(3, 1));
        Assert.Equal(7, At(4, 4)); // empty cell of the last row
        Assert.Equal(7, At(6, 6));
        Assert.Equal(3 * 4, grid.Pixels.Count(p => p != 7)); // everything else is padding

        var d = Decode(Png.EncodeGray(grid.Pixels, grid.Width, grid.Height));
        Assert.Equal(grid.Pixels, d.Pixels);
    }

    [Fact]
    public void GridUsesFewerColumnsWhenThereAreFewerImages()
    {
        var grid = Png.GrayGrid(new[] { new float[6], new float[6] }, h: 2, w: 3, columns: 8, pad: 2);
        Assert.Equal((2 * 3 + 3 * 2, 2 + 2 * 2), (grid.Width, grid.Height));
        Assert.All(grid.Pixels, p => Assert.Equal(0, p));
    }

    [Fact]
    public void GridWithoutPaddingIsPlainConcatenation()
    {
        var grid = Png.GrayGrid(new[] { new[] { 1f }, new[] { 0f }, new[] { 1f } }, 1, 1, columns: 3, pad: 0);
        Assert.Equal(new byte[] { 255, 0, 255 }, grid.Pixels);
        Assert.Equal((3, 1), (grid.Width, grid.Height));
    }

    [Fact]
    public void GridRejectsBadInput()
    {
        Assert.Throws<ArgumentException>(() => Png.GrayGrid(Array.Empty<float[]>(), 2, 2, 1, 0));
        Assert.Throws<ArgumentException>(() => Png.GrayGrid(new[] { new float[3] }, 2, 2, 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Png.GrayGrid(new[] { new float[4] }, 2, 2, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Png.GrayGrid(new[] { new float[4] }, 2, 2, 1, -1));
    }

    [Fact]
    public void GridImageCanBeWritten()
    {
        using var dir = new TempDirectory();
        var grid = Png.GrayGrid(new[] { new[] { 0.5f, 1f } }, 1, 2, 1, 1);
        Png.WriteGray(dir.File("g.png"), grid);
        var d = Decode(File.ReadAllBytes(dir.File("g.png")));
        Assert.Equal((4, 3), (d.Width, d.Height));
        Assert.Equal(grid.Pixels, d.Pixels);
    }
}
