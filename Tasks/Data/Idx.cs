using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace LayerCompiler.Tasks.Data;

/// <summary>An unsigned-byte IDX array: its magic number, dimensions and row-major payload.</summary>
public sealed class IdxArray
{
    public IdxArray(int magic, int[] shape, byte[] data)
    {
        Magic = magic;
        Shape = shape;
        Data = data;
    }

    /// <summary>The 4-byte magic as a big-endian integer, e.g. 0x00000803 for a rank-3 byte array.</summary>
    public int Magic { get; }
    public int[] Shape { get; }
    public byte[] Data { get; }
}

/// <summary>
/// Reader (and writer) for the IDX format used by MNIST and Fashion-MNIST: a magic number
/// <c>00 00 TT RR</c> (TT = element type, RR = rank), RR big-endian u32 dimensions, then the elements
/// row-major. Only element type 0x08 (unsigned byte) is supported. Files may be gzip-compressed.
/// </summary>
public static class Idx
{
    /// <summary>Magic of a rank-3 unsigned-byte array: images [n, rows, cols].</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic of a rank-1 unsigned-byte array: labels [n].</summary>
    public const int LabelsMagic = 0x00000801;

    private const byte UnsignedByteType = 0x08;

    /// <summary>Reads an image file (magic 0x00000803, shape [n, rows, cols]).</summary>
    public static IdxArray ReadImages(string path) => Read(path, ImagesMagic);

    /// <summary>Reads a label file (magic 0x00000801, shape [n]).</summary>
    public static IdxArray ReadLabels(string path) => Read(path, LabelsMagic);

    /// <summary>
    /// Reads an unsigned-byte IDX file, gzip-compressed or not (told apart by the gzip signature).
    /// When <paramref name="expectedMagic"/> is given, any other magic is rejected. Every problem is an
    /// <see cref="InvalidDataException"/> whose message starts with the path.
    /// </summary>
    public static IdxArray Read(string path, int? expectedMagic = null)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            Span<byte> sig = stackalloc byte[2];
            int n = file.ReadAtLeast(sig, 2, throwOnEndOfStream: false);
            file.Position = 0;
            if (n == 2 && sig[0] == 0x1f && sig[1] == 0x8b)
            {
                using var gz = new GZipStream(file, CompressionMode.Decompress);
                return Parse(gz, expectedMagic);
            }
            return Parse(file, expectedMagic);
        }
        catch (IdxFormatProblem p)
        {
            throw new InvalidDataException($"{path}: {p.Message}");
        }
        catch (InvalidDataException e)
        {
            // Raised by GZipStream on corrupt compressed data.
            throw new InvalidDataException($"{path}: gzip data is corrupt ({e.Message})", e);
        }
    }

    /// <summary>Parses an uncompressed IDX stream; <paramref name="sourceName"/> prefixes error messages.</summary>
    public static IdxArray Parse(Stream stream, string sourceName, int? expectedMagic = null)
    {
        try
        {
            return Parse(stream, expectedMagic);
        }
        catch (IdxFormatProblem p)
        {
            throw new InvalidDataException($"{sourceName}: {p.Message}");
        }
    }

    private static IdxArray Parse(Stream stream, int? expectedMagic)
    {
        Span<byte> head = stackalloc byte[4];
        int got = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (got < 4) throw new IdxFormatProblem($"file is too short for the 4-byte IDX magic number ({got} bytes)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(head);
        if (head[0] != 0 || head[1] != 0)
            throw new IdxFormatProblem($"bad magic number 0x{magic:X8}: the first two bytes must be zero (not an IDX file?)");
        if (head[2] != UnsignedByteType)
            throw new IdxFormatProblem($"magic number 0x{magic:X8} has element type 0x{head[2]:X2}; only 0x08 (unsigned byte) is supported");
        if (expectedMagic is int want && magic != want)
            throw new IdxFormatProblem($"magic number 0x{magic:X8} where 0x{want:X8} ({Describe(want)}) was expected");
        int rank = head[3];
        if (rank == 0) throw new IdxFormatProblem($"magic number 0x{magic:X8} declares rank 0");

        var dimBytes = new byte[4 * rank];
        got = stream.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false);
        if (got < dimBytes.Length)
            throw new IdxFormatProblem($"file ends inside the dimension sizes ({rank} dimensions need {dimBytes.Length} bytes, found {got})");
        var shape = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.AsSpan(4 * i));
            if (d > int.MaxValue) throw new IdxFormatProblem($"dimension {i} = {d} is too large");
            shape[i] = (int)d;
            count *= d; // at most (2^31)^2 before the check below stops the loop, so no overflow
            if (count > Array.MaxLength)
                throw new IdxFormatProblem($"dimensions [{string.Join(", ", shape[..(i + 1)])}...] describe more than {Array.MaxLength} bytes");
        }

        // Grow with the data actually present, so a lying header on a tiny file cannot force a huge allocation.
        byte[] data = ReadUpTo(stream, (int)count);
        if (data.Length < count)
            throw new IdxFormatProblem($"payload is truncated: dimensions [{string.Join(", ", shape)}] need {count} bytes, found {data.Length}");
        Span<byte> extra = stackalloc byte[1];
        if (stream.Read(extra) != 0)
            throw new IdxFormatProblem($"payload is longer than dimensions [{string.Join(", ", shape)}] allow: extra bytes after the expected {count}");
        return new IdxArray(magic, shape, data);
    }

    /// <summary>
    /// Atomically writes an unsigned-byte IDX file, gzip-compressed when the path ends in ".gz".
    /// The magic is <c>0x0000 08 rank</c>.
    /// </summary>
    public static void WriteUInt8(string path, byte[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length is 0 or > 255) throw new ArgumentException($"IDX rank must be 1..255, got {shape.Length}.", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension {d}.", nameof(shape));
            count = checked(count * d);
        }
        if (count != data.LongLength)
            throw new ArgumentException($"Shape [{string.Join(", ", shape)}] needs {count} bytes, got {data.LongLength}.", nameof(data));

        var header = new byte[4 + 4 * shape.Length];
        header[2] = UnsignedByteType;
        header[3] = (byte)shape.Length;
        for (int i = 0; i < shape.Length; i++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), shape[i]);
        bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        LayerCompiler.Runtime.IO.AtomicFile.Write(path, s =>
        {
            if (gzip)
            {
                using var gz = new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true);
                gz.Write(header);
                gz.Write(data);
            }
            else
            {
                s.Write(header);
                s.Write(data);
            }
        });
    }

    private static string Describe(int magic) => magic switch
    {
        ImagesMagic => "images",
        LabelsMagic => "labels",
        _ => $"rank-{magic & 0xFF} unsigned bytes",
    };

    private static byte[] ReadUpTo(Stream stream, int count)
    {
        const int chunk = 1 << 20;
        if (count <= chunk)
        {
            var small = new byte[count];
            int got = stream.ReadAtLeast(small, count, throwOnEndOfStream: false);
            return got == count ? small : small.AsSpan(0, got).ToArray();
        }
        using var ms = new MemoryStream();
        var buffer = new byte[chunk];
        while (ms.Length < count)
        {
            int got = stream.Read(buffer, 0, (int)Math.Min(chunk, count - ms.Length));
            if (got == 0) break;
            ms.Write(buffer, 0, got);
        }
        return ms.ToArray();
    }

    /// <summary>Internal carrier so the path can be prepended once, at the public boundary.</summary>
    private sealed class IdxFormatProblem : Exception
    {
        public IdxFormatProblem(string message) : base(message) { }
    }
}
