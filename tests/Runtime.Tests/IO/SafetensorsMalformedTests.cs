using System.Buffers.Binary;
using System.Text;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Runtime.Tests.IO;

/// <summary>A corpus of broken files: each must be rejected with a specific message, never a crash.</summary>
public class SafetensorsMalformedTests
{
    private const string A4 = "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";

    /// <summary>Length prefix + header bytes + data; the prefix is the header's length unless overridden.</summary>
    private static byte[] File(byte[] header, int dataBytes = 0, ulong? length = null)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    private static byte[] File(string header, int dataBytes = 0) => File(Encoding.UTF8.GetBytes(header), dataBytes);

    public static TheoryData<string, byte[], string, string?> Corpus() => new()
    {
        // name, file, expected message fragment, expected tensor name (null: file-level problem)
        { "empty file", Array.Empty<byte>(), "file is 0 bytes, shorter than the 8-byte header length prefix", null },
        { "truncated prefix", new byte[5], "file is 5 bytes, shorter than the 8-byte", null },
        { "huge header length 2^62", File(Array.Empty<byte>(), 16, 1UL << 62), "header length 4611686018427387904 exceeds the limit of 100000000 bytes", null },
        { "header length max u64", File(Array.Empty<byte>(), 16, ulong.MaxValue), "exceeds the limit", null },
        { "header length just over limit", File(Array.Empty<byte>(), 16, 100_000_001), "header length 100000001 exceeds the limit", null },
        { "header length past end of file", File(Encoding.UTF8.GetBytes("{}"), 0, 1000), "header length 1000 is larger than the file: only 2 bytes follow", null },
        { "truncated header", File("{" + A4 + "}", 4)[..20], "is larger than the file", null },
        { "empty header", File(""), "header is not well-formed JSON", null },
        { "invalid UTF-8", File(new byte[] { (byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}' }), "header is not valid UTF-8 (bad byte 0xFF at header offset 2)", null },
        { "truncated UTF-8 sequence", File(new byte[] { (byte)'{', (byte)'}', 0xE2, 0x82 }), "not valid UTF-8", null },
        { "invalid JSON", File("{\"a\": {"), "header is not well-formed JSON", null },
        { "lone surrogate in a tensor name", File("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "header holds a string that is not valid Unicode (an escaped lone surrogate)", null },
        { "lone surrogate in a metadata value", File("{\"__metadata__\":{\"k\":\"a\\udc00\"}}"), "not valid Unicode (an escaped lone surrogate)", null },
        { "trailing garbage after JSON", File("{} x"), "header is not well-formed JSON", null },
        { "header is an array", File("[1, 2]"), "header must be a JSON object, but is an array", null },
        { "header is a string", File("\"hi\""), "header must be a JSON object, but is a string", null },
        { "entry not an object", File("{\"a\": 5}"), "entry must be a JSON object, but is a number", "a" },
        { "missing dtype", File("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "missing 'dtype'", "a" },
        { "missing shape", File("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "missing 'shape'", "a" },
        { "missing data_offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "missing 'data_offsets'", "a" },
        { "unexpected key", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4), "unexpected key 'x'", "a" },
        { "duplicate key in entry", File("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "duplicate 'dtype'", "a" },
        { "dtype not a string", File("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "'dtype' must be a string, but is a number", "a" },
        { "unknown dtype", File("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype 'F33'", "a" },
        { "dtype wrong case", File("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype 'f32'", "a" },
        { "dtype numeric string", File("{\"a\":{\"dtype\":\"9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype '9'", "a" },
        { "shape not an array", File("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4), "'shape' must be an array, but is a number", "a" },
        { "negative shape", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "shape[0] = -1 is negative", "a" },
        { "fractional shape", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4), "shape[0] = 1.5 is not an integer", "a" },
        { "exponent shape", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4), "shape[0] = 1e0 is not an integer", "a" },
        { "string shape element", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4), "shape[0] must be a non-negative integer, but is a string", "a" },
        { "shape dim beyond int", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,3000000000],\"data_offsets\":[0,4]}}", 4), "shape[1] = 3000000000 exceeds the largest supported dimension", "a" },
        { "shape dim beyond long", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4), "shape[0] = 99999999999999999999 is out of range", "a" },
        { "shape count overflow", File("{\"a\":{\"dtype\":\"U8\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4), "element count overflows", "a" },
        { "shape byte size overflow", File("{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,1],\"data_offsets\":[0,4]}}", 4), "byte size overflows", "a" },
        { "offsets not an array", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}}", 4), "'data_offsets' must be an array of two integers, but is a string", "a" },
        { "three offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8), "'data_offsets' must have exactly 2 elements, but has 3", "a" },
        { "negative offset", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4), "data_offsets[0] = -4 is negative", "a" },
        { "fractional offset", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4), "data_offsets[1] = 4.0 is not an integer", "a" },
        { "null offset", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[null,4]}}", 4), "data_offsets[0] must be a non-negative integer, but is null", "a" },
        { "begin after end", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4), "data_offsets begin 4 is greater than end 0", "a" },
        { "offsets out of range", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3), "data_offsets end 4 is beyond the end of the data buffer (3 bytes)", "a" },
        { "offsets far out of range", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4611686018427387904,4611686018427387908]}}", 4), "is beyond the end of the data buffer", "a" },
        { "shape does not match length", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), "shape [2] of F32 needs 8 bytes, but data_offsets [0, 4] span 4", "a" },
        { "dtype size does not match length", File("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "shape [1] of F64 needs 8 bytes", "a" },
        { "overlapping", File("{" + A4.Replace("[1]", "[2]").Replace("[0,4]", "[0,8]") + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "data_offsets [4, 12] overlap tensor 'a' at [0, 8]", "b" },
        { "identical ranges", File("{" + A4 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "overlap tensor", "b" },
        { "gap between tensors", File("{" + A4 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "gap of 4 bytes before data_offsets [8, 12] (previous data ends at 4)", "b" },
        { "gap at start", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "gap of 4 bytes before data_offsets [4, 8] (previous data ends at 0)", "a" },
        { "trailing bytes", File("{" + A4 + "}", 8), "data buffer is 8 bytes but the tensors cover only 4: 4 trailing bytes belong to no tensor", null },
        { "data but no tensors", File("{}", 8), "tensors cover only 0", null },
        { "duplicate names", File("{" + A4 + "," + A4 + "}", 4), "duplicate name in header", "a" },
        { "duplicate metadata", File("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate '__metadata__' key", null },
        { "metadata not an object", File("{\"__metadata__\":[\"x\"]}"), "'__metadata__' must be an object of strings, but is an array", null },
        { "metadata null", File("{\"__metadata__\":null}"), "'__metadata__' must be an object of strings, but is null", null },
        { "metadata value not a string", File("{\"__metadata__\":{\"k\":1}}"), "'__metadata__' value for key 'k' must be a string, but is a number", null },
        { "metadata duplicate key", File("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "duplicate key 'k' in '__metadata__'", null },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void SpanParserRejectsWithSpecificMessage(string name, byte[] file, string message, string? tensor)
    {
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(file));
        Assert.Contains(message, ex.Message);
        Assert.Equal(tensor, ex.TensorName);
        if (tensor is not null) Assert.StartsWith($"tensor '{tensor}': ", ex.Message);
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void StreamParserRejectsWithSameMessage(string name, byte[] file, string message, string? tensor)
    {
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(new MemoryStream(file)));
        Assert.Contains(message, ex.Message);
        Assert.Equal(tensor, ex.TensorName);
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void NonSeekableStreamRejectsToo(string name, byte[] file, string message, string? tensor)
    {
        // Without a known length, a header length past the end is only noticed while reading; the message is the same.
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(new ForwardOnlyStream(file)));
        Assert.Contains(message, ex.Message);
        Assert.Equal(tensor, ex.TensorName);
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void FileReaderNamesTheFile(string name, byte[] file, string message, string? tensor)
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.safetensors");
        System.IO.File.WriteAllBytes(path, file);
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Read(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(message, ex.Message);
        Assert.Equal(tensor, ex.TensorName);
    }

    [Fact]
    public void LyingHeaderLengthOnNonSeekableStreamIsRejectedWithoutReadingPastTheEnd()
    {
        // Claims ~95 MB of header but carries 2 bytes: the reader must notice at end of stream.
        var file = File(Encoding.UTF8.GetBytes("{}"), 0, 95_000_000);
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(new ForwardOnlyStream(file)));
        Assert.Contains("header length 95000000 is larger than the file: only 2 bytes follow", ex.Message);
    }

    [Fact]
    public void CorpusCoversEveryCaseOnce()
    {
        var names = Corpus().Select(row => (string)row[0]).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.True(names.Count >= 40);
    }

    /// <summary>A stream that cannot seek or report its length, like a pipe or network stream.</summary>
    private sealed class ForwardOnlyStream : Stream
    {
        private readonly MemoryStream _inner;
        public ForwardOnlyStream(byte[] bytes) => _inner = new MemoryStream(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        // Hand out at most 3 bytes per call so partial reads are exercised.
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 3));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
