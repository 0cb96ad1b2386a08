using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace WeightTasks.Tests.Infrastructure;

/// <summary>One tensor of a safetensors file: dtype, shape and raw little-endian bytes.</summary>
public sealed record RawTensor(string DType, long[] Shape, byte[] Data)
{
    public bool BitwiseEquals(RawTensor other) =>
        DType == other.DType && Shape.SequenceEqual(other.Shape) && Data.AsSpan().SequenceEqual(other.Data);
}

/// <summary>
/// A deliberately independent safetensors reader for the tests (8-byte little-endian header length, JSON header
/// with <c>__metadata__</c> and per-tensor dtype / shape / data_offsets, then the data), so the tool's files are
/// checked against the format rather than against the runtime's own reader.
/// </summary>
public sealed class SafetensorsContent
{
    private SafetensorsContent(Dictionary<string, string> metadata, Dictionary<string, RawTensor> tensors)
    {
        Metadata = metadata;
        Tensors = tensors;
    }

    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, RawTensor> Tensors { get; }

    public static SafetensorsContent Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length >= 8, $"{path}: {bytes.Length} bytes is too short for a safetensors file");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.True(headerLength > 0 && 8 + headerLength <= bytes.Length, $"{path}: header length {headerLength} does not fit the file");
        int dataStart = 8 + (int)headerLength;
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, RawTensor>(StringComparer.Ordinal);
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                foreach (var m in entry.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            string dtype = entry.Value.GetProperty("dtype").GetString()!;
            long[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long[] offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.True(offsets.Length == 2 && offsets[0] <= offsets[1] && dataStart + offsets[1] <= bytes.Length,
                $"{path}: tensor '{entry.Name}' has data_offsets [{string.Join(", ", offsets)}] outside the file");
            tensors[entry.Name] = new RawTensor(dtype, shape, bytes.AsSpan(dataStart + (int)offsets[0], (int)(offsets[1] - offsets[0])).ToArray());
        }
        return new SafetensorsContent(metadata, tensors);
    }

    /// <summary>Overwrites element <paramref name="index"/> of the F32 tensor <paramref name="name"/> in place (the header is unchanged).</summary>
    public static void Overwrite(string path, string name, int index, float value)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var entry = header.RootElement.GetProperty(name);
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        long start = entry.GetProperty("data_offsets")[0].GetInt64();
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)(8 + headerLength + start + 4L * index), 4), value);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Asserts that both files hold the same tensor names with bitwise identical contents.</summary>
    public static void AssertSameTensors(string expectedPath, string actualPath)
    {
        var expected = Read(expectedPath);
        var actual = Read(actualPath);
        Assert.Equal(expected.Tensors.Keys.Order(StringComparer.Ordinal), actual.Tensors.Keys.Order(StringComparer.Ordinal));
        var different = expected.Tensors.Where(kv => !kv.Value.BitwiseEquals(actual.Tensors[kv.Key])).Select(kv => kv.Key).ToList();
        Assert.True(different.Count == 0, $"{actualPath} differs from {expectedPath} in {different.Count} of {expected.Tensors.Count} tensors: {string.Join(", ", different)}");
    }
}
