using System.Buffers.Binary;
using System.Text;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Runtime.Tests.IO;

public class SafetensorsRoundTripTests
{
    private static Tensor Filled(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    private static void AssertBitwiseEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(
            expected.Data.Select(BitConverter.SingleToInt32Bits),
            actual.Data.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void FloatTensorsAndMetadataRoundTripThroughAFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        var special = new Tensor(new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue }, 2, 3);
        var tensors = new Dictionary<string, Tensor>
        {
            ["layers.1.weight"] = Filled(1, 4, 3),
            ["layers.0.weight"] = Filled(2, 3, 5),
            ["layers.0.bias"] = Filled(3, 3),
            ["empty"] = new Tensor(0),
            ["empty2d"] = new Tensor(3, 0),
            ["scalar"] = new Tensor(new[] { 42f }),
            ["special"] = special,
            ["ünïcode name ✓"] = Filled(4, 2),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" and \\ and ✓", ["empty"] = "" };

        SafetensorsWriter.Write(path, tensors, metadata);
        var file = SafetensorsFile.Read(path);

        Assert.Equal(tensors.Keys.OrderBy(k => k, StringComparer.Ordinal), file.Names);
        foreach (var (name, t) in tensors) AssertBitwiseEqual(t, file.GetFloat32(name));
        Assert.Equal(metadata.OrderBy(kv => kv.Key), file.Metadata.OrderBy(kv => kv.Key));
        Assert.Equal(Array.Empty<int>(), file.GetEntry("scalar").Shape);
        Assert.Equal(0, file.GetEntry("empty").ByteLength);
        Assert.Equal(new[] { 0 }, file.GetFloat32("empty").Shape);
        Assert.Equal(new[] { 3, 0 }, file.GetFloat32("empty2d").Shape);
        Assert.Equal(dir.Listing(), new[] { "model.safetensors" });
    }

    [Fact]
    public void DataIsLaidOutInOrdinalNameOrder()
    {
        var tensors = new Dictionary<string, Tensor> { ["b"] = Filled(1, 2), ["B"] = Filled(2, 3), ["a"] = Filled(3, 1) };
        var file = SafetensorsFile.Parse(SafetensorsWriter.Serialize(tensors));
        var ordered = file.Entries.OrderBy(e => e.Begin).Select(e => e.Name).ToArray();
        Assert.Equal(new[] { "B", "a", "b" }, ordered);
        Assert.Equal(new[] { (0L, 12L), (12L, 16L), (16L, 24L) }, file.Entries.OrderBy(e => e.Begin).Select(e => (e.Begin, e.End)));
    }

    [Fact]
    public void OutputDoesNotDependOnDictionaryInsertionOrder()
    {
        var x = Filled(1, 3);
        var y = Filled(2, 2);
        var first = SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["x"] = x, ["y"] = y }, new Dictionary<string, string> { ["p"] = "1", ["q"] = "2" });
        var second = SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["y"] = y, ["x"] = x }, new Dictionary<string, string> { ["q"] = "2", ["p"] = "1" });
        Assert.Equal(first, second);
    }

    [Fact]
    public void EmptyFileRoundTrips()
    {
        var bytes = SafetensorsWriter.Serialize(new Dictionary<string, Tensor>());
        var file = SafetensorsFile.Parse(bytes);
        Assert.Empty(file.Entries);
        Assert.Empty(file.Metadata);
        Assert.Equal(0, file.DataLength);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    [InlineData("é")]
    public void HeaderIsPaddedWithSpacesToAlignTheDataBuffer(string name)
    {
        var bytes = SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { [name] = Filled(1, 3) });
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, (8 + n) % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        string trimmed = header.TrimEnd(' ');
        Assert.EndsWith("}", trimmed);
        Assert.True(header.Length - trimmed.Length < 8, "padding is at most 7 spaces");
        Assert.Equal(8 + (long)n + 12, bytes.LongLength);
        Assert.Equal((long)n, SafetensorsFile.Parse(bytes).HeaderLength);
    }

    [Fact]
    public void ModuleStateDictSurvivesSaveAndLoad()
    {
        using var dir = new TempDirectory();
        var a = new TwoLayer();
        var rng = new Random(5);
        foreach (var p in a.Parameters())
            for (int i = 0; i < p.Length; i++) p.Data[i] = (float)rng.NextDouble();
        SafetensorsWriter.Write(dir.File("m.safetensors"), a.StateDict());

        var b = new TwoLayer();
        b.LoadStateDict(SafetensorsFile.Read(dir.File("m.safetensors")).ReadAllFloat32());
        foreach (var ((n1, p1), (n2, p2)) in a.NamedParameters().Zip(b.NamedParameters()))
        {
            Assert.Equal(n1, n2);
            Assert.Equal(p1.Data, p2.Data);
        }
    }

    private sealed class TwoLayer : Module
    {
        private readonly Parameter _w1 = new(4, 3), _b1 = new(4), _w2 = new(2, 4);
        protected override IEnumerable<(string Name, Parameter Parameter)> OwnParameters() =>
            new[] { ("fc1.weight", _w1), ("fc1.bias", _b1), ("fc2.weight", _w2) };
    }

    [Fact]
    public void RawTypedTensorsRoundTrip()
    {
        var labels = new long[] { 0, 9, -3, long.MaxValue, long.MinValue };
        var ints = new[] { 1, -2, int.MaxValue, int.MinValue };
        var mask = new byte[] { 0, 1, 255, 7, 8, 9 };
        var raw = new Dictionary<string, SafetensorsRawTensor>
        {
            ["labels"] = SafetensorsRawTensor.FromInt64(labels, 5),
            ["ints"] = SafetensorsRawTensor.FromInt32(ints, 2, 2),
            ["mask"] = SafetensorsRawTensor.FromUInt8(mask, 2, 3),
            ["w"] = SafetensorsRawTensor.FromTensor(new Tensor(new[] { 1.5f, -2f }, 2)),
        };
        using var dir = new TempDirectory();
        SafetensorsWriter.Write(dir.File("d.safetensors"), raw, new Dictionary<string, string> { ["kind"] = "dataset" });
        var file = SafetensorsFile.Read(dir.File("d.safetensors"));

        Assert.Equal(SafetensorsDType.I64, file.GetEntry("labels").DType);
        Assert.Equal(labels, file.GetInt64("labels"));
        Assert.Equal(ints, file.GetInt32("ints"));
        Assert.Equal(new[] { 2, 2 }, file.GetEntry("ints").Shape);
        Assert.Equal(ints.Select(i => (long)i), file.GetInt64("ints"));
        Assert.Equal(mask, file.GetUInt8("mask"));
        Assert.Equal(mask.Select(b => (float)b), file.GetFloat32("mask").Data);
        Assert.Equal(new[] { 1.5f, -2f }, file.GetFloat32("w").Data);
        Assert.Equal("dataset", file.Metadata["kind"]);
    }

    [Fact]
    public void Int32GetterRefusesValuesThatDoNotFit()
    {
        var file = SafetensorsFile.Parse(SafetensorsWriter.Serialize(new Dictionary<string, SafetensorsRawTensor>
        {
            ["big"] = SafetensorsRawTensor.FromInt64(new[] { 1L, 1L << 40 }, 2),
            ["small"] = SafetensorsRawTensor.FromInt64(new[] { 7L, -7L }, 2),
        }));
        Assert.Equal(new[] { 7, -7 }, file.GetInt32("small"));
        var ex = Assert.Throws<OverflowException>(() => file.GetInt32("big"));
        Assert.Contains("'big' element 1", ex.Message);
    }

    [Fact]
    public void IntegerAndByteGettersRefuseFloatData()
    {
        var file = SafetensorsFile.Parse(SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w"] = Filled(1, 2) }));
        Assert.Contains("F32", Assert.Throws<InvalidOperationException>(() => file.GetInt64("w")).Message);
        Assert.Contains("F32", Assert.Throws<InvalidOperationException>(() => file.GetUInt8("w")).Message);
    }

    [Fact]
    public void MissingTensorIsReportedWithWhatExists()
    {
        var file = SafetensorsFile.Parse(SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w"] = Filled(1, 2) }));
        Assert.False(file.Contains("v"));
        var ex = Assert.Throws<KeyNotFoundException>(() => file.GetFloat32("v"));
        Assert.Contains("'v'", ex.Message);
        Assert.Contains("'w'", ex.Message);
    }

    public static TheoryData<SafetensorsDType, byte[], float[]> Conversions() => new()
    {
        { SafetensorsDType.F64, Bytes(8, (s, i) => BinaryPrimitives.WriteDoubleLittleEndian(s, new[] { 1.25, -3.0 }[i]), 2), new[] { 1.25f, -3f } },
        { SafetensorsDType.F16, Bytes(2, (s, i) => BinaryPrimitives.WriteHalfLittleEndian(s, (Half)new[] { 0.5f, -2f, 65504f }[i]), 3), new[] { 0.5f, -2f, 65504f } },
        // bfloat16 1.0 = 0x3F80, -2.0 = 0xC000, 0.15625 = 0x3E20
        { SafetensorsDType.BF16, new byte[] { 0x80, 0x3F, 0x00, 0xC0, 0x20, 0x3E }, new[] { 1f, -2f, 0.15625f } },
        { SafetensorsDType.I32, Bytes(4, (s, i) => BinaryPrimitives.WriteInt32LittleEndian(s, new[] { -7, 100000 }[i]), 2), new[] { -7f, 100000f } },
        { SafetensorsDType.I64, Bytes(8, (s, i) => BinaryPrimitives.WriteInt64LittleEndian(s, new[] { -1L, 1L << 40 }[i]), 2), new[] { -1f, 1099511627776f } },
        { SafetensorsDType.U8, new byte[] { 0, 128, 255 }, new[] { 0f, 128f, 255f } },
        { SafetensorsDType.I8, new byte[] { 0xFF, 0x7F, 0x80 }, new[] { -1f, 127f, -128f } },
        { SafetensorsDType.BOOL, new byte[] { 0, 1 }, new[] { 0f, 1f } },
        { SafetensorsDType.U16, new byte[] { 0xFF, 0xFF }, new[] { 65535f } },
        { SafetensorsDType.I16, new byte[] { 0x00, 0x80 }, new[] { -32768f } },
        { SafetensorsDType.U32, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, new[] { 4294967295f } },
        { SafetensorsDType.U64, new byte[] { 5, 0, 0, 0, 0, 0, 0, 0 }, new[] { 5f } },
    };

    private static byte[] Bytes(int size, SpanWriter write, int count)
    {
        var b = new byte[size * count];
        for (int i = 0; i < count; i++) write(b.AsSpan(i * size, size), i);
        return b;
    }

    private delegate void SpanWriter(Span<byte> destination, int index);

    [Theory]
    [MemberData(nameof(Conversions))]
    public void GetFloat32ConvertsEveryDType(SafetensorsDType dtype, byte[] data, float[] expected)
    {
        var raw = new SafetensorsRawTensor(dtype, new[] { expected.Length }, data);
        var file = SafetensorsFile.Parse(SafetensorsWriter.Serialize(new Dictionary<string, SafetensorsRawTensor> { ["t"] = raw }));
        Assert.Equal(dtype, file.GetEntry("t").DType);
        Assert.Equal(expected, file.GetFloat32("t").Data);
        Assert.Equal(data, file.GetBytes("t").ToArray());
    }

    [Fact]
    public void WriterRejectsReservedNameAndBadRawData()
    {
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["__metadata__"] = new Tensor(1) }));
        Assert.Throws<ArgumentException>(() => new SafetensorsRawTensor(SafetensorsDType.I64, new[] { 2 }, new byte[15]));
        Assert.Throws<ArgumentException>(() => new SafetensorsRawTensor(SafetensorsDType.U8, new[] { -1 }, new byte[0]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Serialize(new Dictionary<string, Tensor>(), new Dictionary<string, string> { ["k"] = null! }));
    }
    /// <summary>Strings without a UTF-8 form (a lone surrogate) are refused when writing, so no file is written that cannot be read back.</summary>
    [Fact]
    public void NamesAndMetadataThatAreNotValidUnicodeAreRefused()
    {
        var t = new Tensor(new float[] { 1f }, 1);
        var e1 = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w\ud800"] = t }));
        Assert.Contains("A tensor name holds a lone UTF-16 surrogate (U+D800 at index 1)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w"] = t }, new Dictionary<string, string> { ["k"] = "\udc00" }));
        Assert.Contains("metadata value of 'k'", e2.Message);
        // A proper pair (an emoji) is text and round-trips.
        var ok = SafetensorsFile.Parse(SafetensorsWriter.Serialize(new Dictionary<string, Tensor> { ["w\ud83d\ude00"] = t }));
        Assert.Equal("w\ud83d\ude00", ok.Entries.Single().Name);
    }
}

