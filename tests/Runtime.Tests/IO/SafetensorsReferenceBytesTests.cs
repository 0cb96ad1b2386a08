using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Runtime.Tests.IO;

/// <summary>
/// A file assembled byte by byte from the format description, independent of our writer, so reader and
/// writer cannot agree on a mistake.
/// </summary>
public class SafetensorsReferenceBytesTests
{
    // Tensor "w", F32, shape [2], values [1.0, -2.0].
    // Header JSON (54 bytes): {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
    // 8 + 54 = 62 is not a multiple of 8, so 2 spaces of padding make N = 56 and the data start at byte 64.
    private static readonly byte[] Reference = BuildReference();

    private static byte[] BuildReference()
    {
        var b = new List<byte>
        {
            // u64 little-endian header length: 56
            0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        };
        b.AddRange(new byte[]
        {
            0x7B,                                           // {
            0x22, 0x77, 0x22, 0x3A,                         // "w":
            0x7B,                                           // {
            0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3A, // "dtype":
            0x22, 0x46, 0x33, 0x32, 0x22, 0x2C,             // "F32",
            0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3A, // "shape":
            0x5B, 0x32, 0x5D, 0x2C,                         // [2],
            0x22, 0x64, 0x61, 0x74, 0x61, 0x5F, 0x6F, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3A, // "data_offsets":
            0x5B, 0x30, 0x2C, 0x38, 0x5D,                   // [0,8]
            0x7D,                                           // }
            0x7D,                                           // }
            0x20, 0x20,                                     // padding
        });
        b.AddRange(new byte[]
        {
            0x00, 0x00, 0x80, 0x3F, // 1.0f little-endian (0x3F800000)
            0x00, 0x00, 0x00, 0xC0, // -2.0f little-endian (0xC0000000)
        });
        return b.ToArray();
    }

    /// <summary>The hand-built fixture itself says what the comment above says (a typo in it would mislead every test).</summary>
    [Fact]
    public void ReferenceIsWellFormedByConstruction()
    {
        ulong n = BitConverter.ToUInt64(Reference, 0);
        Assert.Equal(56UL, n);
        Assert.Equal(0UL, (8 + n) % 8);                                     // data start 8-byte aligned
        string header = System.Text.Encoding.UTF8.GetString(Reference, 8, (int)n);
        Assert.Equal("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ", header);
        Assert.Equal(8 + (int)n + 8, Reference.Length);                     // the header, then 2 floats
        Assert.Equal(new[] { 1.0f, -2.0f }, new[] { BitConverter.ToSingle(Reference, 64), BitConverter.ToSingle(Reference, 68) });
    }

    [Fact]
    public void ReaderDecodesHandBuiltFile()
    {
        var file = SafetensorsFile.Parse(Reference);
        var e = Assert.Single(file.Entries);
        Assert.Equal("w", e.Name);
        Assert.Equal(SafetensorsDType.F32, e.DType);
        Assert.Equal(new[] { 2 }, e.Shape);
        Assert.Equal((0L, 8L), (e.Begin, e.End));
        Assert.Equal(56, file.HeaderLength);
        Assert.Empty(file.Metadata);
        Assert.Equal(new[] { 1f, -2f }, file.GetFloat32("w").Data);
    }

    [Fact]
    public void WriterProducesExactlyTheReferenceBytes()
    {
        var bytes = SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w"] = new Tensor(new[] { 1f, -2f }, 2) });
        Assert.Equal(Reference, bytes);

        using var dir = new TempDirectory();
        SafetensorsWriter.Write(dir.File("ref.safetensors"), new Dictionary<string, Tensor> { ["w"] = new Tensor(new[] { 1f, -2f }, 2) });
        Assert.Equal(Reference, File.ReadAllBytes(dir.File("ref.safetensors")));
    }
}
