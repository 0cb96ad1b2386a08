using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Writes safetensors files: tensors in ordinal name order, packed back to back, with the JSON header
/// padded with spaces so the data buffer starts at a multiple of 8 bytes. File writes are atomic
/// (see <see cref="AtomicFile"/>).
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>The key under which string metadata is stored in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Atomically writes float32 tensors as F32.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        AtomicFile.Write(path, s => WriteTo(s, tensors, metadata));
    }

    /// <summary>Atomically writes tensors of any dtype given as raw little-endian bytes.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, SafetensorsRawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        AtomicFile.Write(path, s => WriteTo(s, tensors, metadata));
    }

    /// <summary>Writes float32 tensors as F32 to a stream (not atomic; the caller owns the stream).</summary>
    public static void WriteTo(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<Item>();
        foreach (var (name, t) in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, $"tensors[\"{name}\"]");
            items.Add(new Item(name, SafetensorsDType.F32, t.Shape, (long)t.Length * 4, t, null));
        }
        WriteItems(stream, items, metadata);
    }

    /// <summary>Writes raw typed tensors to a stream (not atomic; the caller owns the stream).</summary>
    public static void WriteTo(Stream stream, IReadOnlyDictionary<string, SafetensorsRawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<Item>();
        foreach (var (name, t) in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, $"tensors[\"{name}\"]");
            items.Add(new Item(name, t.DType, t.Shape.ToArray(), t.Data.Length, null, t));
        }
        WriteItems(stream, items, metadata);
    }

    /// <summary>The complete file contents for float32 tensors.</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        WriteTo(ms, tensors, metadata);
        return ms.ToArray();
    }

    /// <summary>The complete file contents for raw typed tensors.</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, SafetensorsRawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        WriteTo(ms, tensors, metadata);
        return ms.ToArray();
    }

    private readonly record struct Item(string Name, SafetensorsDType DType, int[] Shape, long ByteLength, Tensor? Float, SafetensorsRawTensor? Raw);

    private static void WriteItems(Stream stream, List<Item> items, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(stream);
        // Ordinal order makes the output a pure function of the contents, whatever the dictionary's order.
        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        byte[] header = BuildHeader(items, metadata);

        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var item in items)
        {
            if (item.Raw is not null) stream.Write(item.Raw.Data);
            else WriteFloatsLittleEndian(stream, item.Float!.Data);
        }
    }

    /// <summary>
    /// Rejects strings with a lone UTF-16 surrogate: they have no UTF-8 form, so the header would hold an escape the
    /// reader (ours and the reference implementation) rejects, and the file could not be read back.
    /// </summary>
    private static void RequireText(string s, string what)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i]))
                throw new ArgumentException($"{what} holds a lone UTF-16 surrogate (U+{(int)s[i]:X4} at index {i}): it is not valid Unicode text and cannot be written.");
        }
    }

    private static byte[] BuildHeader(List<Item> items, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps non-ASCII names readable; the header is never embedded in HTML.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                var pairs = new List<KeyValuePair<string, string>>(metadata);
                pairs.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in pairs)
                {
                    if (v is null) throw new ArgumentException($"Metadata value for '{k}' is null; safetensors metadata values must be strings.", nameof(metadata));
                    RequireText(k, "A metadata key"); RequireText(v, $"The metadata value of '{k}'");
                    json.WriteString(k, v);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var item in items)
            {
                if (item.Name == MetadataKey)
                    throw new ArgumentException($"'{MetadataKey}' is reserved for metadata and cannot name a tensor.");
                RequireText(item.Name, "A tensor name");
                json.WriteStartObject(item.Name);
                json.WriteString("dtype", SafetensorsDTypes.ToJsonName(item.DType));
                json.WriteStartArray("shape");
                foreach (int d in item.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += item.ByteLength;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        // Pad with spaces (valid trailing JSON whitespace) so that 8 + header length is a multiple of 8:
        // the data buffer then starts aligned, which lets readers map tensors in place.
        int length = buffer.WrittenCount;
        int padded = (length + 8 + 7) / 8 * 8 - 8;
        if (padded > SafetensorsFile.MaxHeaderLength)
            throw new ArgumentException($"The header would be {padded} bytes, above the format's limit of {SafetensorsFile.MaxHeaderLength}.");
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    private static void WriteFloatsLittleEndian(Stream stream, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        var chunk = new byte[1 << 16];
        int i = 0;
        while (i < data.Length)
        {
            int n = Math.Min(data.Length - i, chunk.Length / 4);
            for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan(j * 4), data[i + j]);
            stream.Write(chunk, 0, n * 4);
            i += n;
        }
    }
}
