using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Zoo;
using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Tasks.Data;

/// <summary>An 8-bit grayscale image: <see cref="Width"/>×<see cref="Height"/> bytes, row-major.</summary>
public sealed class GrayImage
{
    public GrayImage(byte[] pixels, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0) throw new ArgumentException($"Image size must be positive, got {width}×{height}.");
        if ((long)width * height != pixels.LongLength)
            throw new ArgumentException($"{width}×{height} image needs {(long)width * height} pixels, got {pixels.LongLength}.", nameof(pixels));
        Pixels = pixels;
        Width = width;
        Height = height;
    }

    public byte[] Pixels { get; }
    public int Width { get; }
    public int Height { get; }
}

/// <summary>
/// Minimal PNG encoder: 8-bit grayscale or RGB, non-interlaced, every row with filter type 0 (None), one IDAT
/// chunk compressed with zlib. Enough for looking at samples and weights; not an image library.
/// </summary>
public static class Png
{
    private static readonly byte[] Signature = { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
    private const byte ColorGray = 0;
    private const byte ColorRgb = 2;

    /// <summary>Encodes <paramref name="pixels"/> (width×height bytes, row-major) as a grayscale PNG.</summary>
    public static byte[] EncodeGray(ReadOnlySpan<byte> pixels, int width, int height) => Encode(pixels, width, height, ColorGray, 1);

    /// <summary>Encodes <paramref name="pixels"/> (width×height×3 bytes, R,G,B per pixel, row-major) as an RGB PNG.</summary>
    public static byte[] EncodeRgb(ReadOnlySpan<byte> pixels, int width, int height) => Encode(pixels, width, height, ColorRgb, 3);

    /// <summary>Atomically writes a grayscale PNG (see <see cref="AtomicFile"/>).</summary>
    public static void WriteGray(string path, byte[] pixels, int width, int height) =>
        AtomicFile.WriteAllBytes(path, EncodeGray(pixels, width, height));

    /// <summary>Atomically writes a grayscale PNG of <paramref name="image"/>.</summary>
    public static void WriteGray(string path, GrayImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        WriteGray(path, image.Pixels, image.Width, image.Height);
    }

    /// <summary>Atomically writes an RGB PNG (3 bytes per pixel).</summary>
    public static void WriteRgb(string path, byte[] pixels, int width, int height) =>
        AtomicFile.WriteAllBytes(path, EncodeRgb(pixels, width, height));

    /// <summary>
    /// Tiles equally sized images into one grid, row by row, <paramref name="columns"/> per row (fewer if there
    /// are fewer images), with <paramref name="pad"/> pixels of <paramref name="padValue"/> between images and
    /// around the border. Each image is <paramref name="h"/>×<paramref name="w"/> floats, row-major, meant to lie
    /// in [0, 1]: values are clamped to [0, 1] (NaN shows as 0) and mapped to 0..255 by rounding, so outliers
    /// saturate rather than rescale the picture; normalise first if you want contrast stretching.
    /// </summary>
    public static GrayImage GrayGrid(IReadOnlyList<float[]> images, int h, int w, int columns, int pad, byte padValue = 0)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("No images to tile.", nameof(images));
        if (h <= 0 || w <= 0) throw new ArgumentException($"Image size must be positive, got {h}×{w}.");
        if (columns <= 0) throw new ArgumentOutOfRangeException(nameof(columns), columns, "Need at least one column.");
        if (pad < 0) throw new ArgumentOutOfRangeException(nameof(pad), pad, "Padding cannot be negative.");

        int cols = Math.Min(columns, images.Count);
        int rows = (images.Count + cols - 1) / cols;
        long width = (long)cols * w + (long)(cols + 1) * pad;
        long height = (long)rows * h + (long)(rows + 1) * pad;
        if (width > int.MaxValue || height > int.MaxValue || width * height > Array.MaxLength)
            throw new ArgumentException($"Grid of {width}×{height} pixels is too large.");

        var pixels = new byte[width * height];
        pixels.AsSpan().Fill(padValue);
        for (int i = 0; i < images.Count; i++)
        {
            var img = images[i] ?? throw new ArgumentException($"Image {i} is null.", nameof(images));
            if (img.Length != h * w)
                throw new ArgumentException($"Image {i} has {img.Length} values, expected {h}×{w} = {h * w}.", nameof(images));
            int x0 = pad + (i % cols) * (w + pad);
            int y0 = pad + (i / cols) * (h + pad);
            for (int y = 0; y < h; y++)
            {
                int row = (int)((y0 + y) * width + x0);
                for (int x = 0; x < w; x++) pixels[row + x] = ToByte(img[y * w + x]);
            }
        }
        return new GrayImage(pixels, (int)width, (int)height);
    }

    private static byte ToByte(float v)
    {
        if (!(v > 0f)) return 0; // also catches NaN
        if (v >= 1f) return 255;
        return (byte)MathF.Round(v * 255f);
    }

    private static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, byte colorType, int channels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"PNG size must be positive, got {width}×{height}.");
        long rowBytes = (long)width * channels;
        if ((long)pixels.Length != rowBytes * height)
            throw new ArgumentException($"{width}×{height} image with {channels} channel(s) needs {rowBytes * height} bytes, got {pixels.Length}.", nameof(pixels));

        using var png = new MemoryStream();
        png.Write(Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8;          // bit depth
        ihdr[9] = colorType;  // 0 gray, 2 RGB
        ihdr[10] = 0;         // compression: deflate
        ihdr[11] = 0;         // filter method: adaptive (we always pick filter type 0 per row)
        ihdr[12] = 0;         // no interlace
        WriteChunk(png, "IHDR", ihdr);

        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                // Each scanline is prefixed by its filter type byte; 0 = None keeps the encoder trivial.
                Span<byte> filter = stackalloc byte[1];
                filter[0] = 0;
                for (int y = 0; y < height; y++)
                {
                    z.Write(filter);
                    z.Write(pixels.Slice((int)(y * rowBytes), (int)rowBytes));
                }
            }
            WriteChunk(png, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }
        WriteChunk(png, "IEND", ReadOnlySpan<byte>.Empty);
        return png.ToArray();
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        s.Write(typeBytes);
        s.Write(data);
        // The CRC (ISO-HDLC, as zlib's) covers the chunk type and data, not the length.
        var crc = new Crc32();
        crc.Append(typeBytes);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        s.Write(word);
    }
}
