using System.Buffers.Binary;
using System.IO.Compression;

namespace LayerCompiler.Tasks.Tests.Data;

/// <summary>Builds IDX bytes by hand (independently of <c>Idx.WriteUInt8</c>) for synthetic test files.</summary>
internal static class IdxFiles
{
    public static byte[] Raw(byte type, int[] dims, byte[] payload, byte first = 0, byte second = 0)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        bytes[0] = first;
        bytes[1] = second;
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Images(int n, int rows = 28, int cols = 28, int seed = 1) =>
        Raw(0x08, new[] { n, rows, cols }, Pixels(n * rows * cols, seed));

    public static byte[] Labels(params byte[] labels) => Raw(0x08, new[] { labels.Length }, labels);

    public static byte[] Pixels(int count, int seed)
    {
        var p = new byte[count];
        new Random(seed).NextBytes(p);
        return p;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
        return ms.ToArray();
    }
}
