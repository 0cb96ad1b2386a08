using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// A parsed, fully validated safetensors file held in memory. Every structural problem is reported
/// as a <see cref="SafetensorsFormatException"/> at parse time, so the getters never see a bad entry.
/// </summary>
/// <remarks>
/// Layout: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON mapping tensor names to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> plus an optional <c>"__metadata__"</c> object of
/// strings, then the data buffer. Offsets are relative to the data buffer, whose bytes the tensors must
/// cover exactly, without gaps or overlaps. Shapes are limited to dimensions that fit in an <see cref="int"/>,
/// as <see cref="Tensor"/> is, and the data buffer to what one .NET array can hold.
/// </remarks>
public sealed class SafetensorsFile
{
    /// <summary>Largest header accepted (same bound as the reference implementation), so a hostile length cannot exhaust memory.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly byte[] _data;
    private readonly Dictionary<string, SafetensorsEntry> _byName;

    private SafetensorsFile(byte[] data, List<SafetensorsEntry> entries, Dictionary<string, string> metadata, long headerLength)
    {
        _data = data;
        entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        Entries = entries;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Metadata = metadata;
        HeaderLength = headerLength;
    }

    /// <summary>All tensors, in ordinal name order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> strings; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>N, the JSON header's length in bytes (including padding).</summary>
    public long HeaderLength { get; }

    /// <summary>Size of the data buffer in bytes.</summary>
    public long DataLength => _data.LongLength;

    /// <summary>Tensor names, in ordinal order.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>Reads and validates a file. Format errors name the file.</summary>
    public static SafetensorsFile Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            return Parse(stream);
        }
        catch (SafetensorsFormatException e)
        {
            throw e.InFile(path);
        }
    }

    /// <summary>Parses and validates a complete file image.</summary>
    public static SafetensorsFile Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8)
            throw new SafetensorsFormatException($"file is {bytes.Length} bytes, shorter than the 8-byte header length prefix");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        CheckHeaderLength(n, bytes.Length - 8);
        var header = bytes.Slice(8, (int)n).ToArray();
        var data = bytes.Slice(8 + (int)n).ToArray();
        return Build(header, data);
    }

    /// <summary>
    /// Parses and validates a file from a stream, reading it to its end. Memory grows only with bytes actually
    /// read, so a header length that lies about the size cannot trigger a large allocation.
    /// </summary>
    public static SafetensorsFile Parse(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        int got = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (got < 8)
            throw new SafetensorsFormatException($"file is {got} bytes, shorter than the 8-byte header length prefix");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        long? remaining = stream.CanSeek ? stream.Length - stream.Position : null;
        CheckHeaderLength(n, remaining);

        byte[] header = ReadUpTo(stream, (int)n);
        if (header.Length < (int)n)
            throw new SafetensorsFormatException(
                $"header length {n} is larger than the file: only {header.Length} bytes follow the 8-byte prefix");

        byte[] data;
        if (stream.CanSeek)
        {
            long left = stream.Length - stream.Position;
            if (left > Array.MaxLength)
                throw new SafetensorsFormatException($"data buffer of {left} bytes is larger than this reader supports ({Array.MaxLength} bytes)");
            data = ReadUpTo(stream, (int)left);
        }
        else
        {
            using var rest = new MemoryStream();
            stream.CopyTo(rest);
            data = rest.ToArray();
        }
        return Build(header, data);
    }

    /// <summary>True when the file holds a tensor of that name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The entry for <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> listing what exists.</summary>
    public SafetensorsEntry GetEntry(string name)
    {
        if (_byName.TryGetValue(name, out var e)) return e;
        const int shown = 20;
        string list = string.Join(", ", Entries.Take(shown).Select(x => $"'{x.Name}'")) + (Entries.Count > shown ? ", ..." : "");
        throw new KeyNotFoundException($"No tensor '{name}' in the safetensors file; it has {Entries.Count}: {list}");
    }

    /// <summary>The raw little-endian bytes of a tensor.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var e = GetEntry(name);
        return _data.AsSpan((int)e.Begin, (int)e.ByteLength);
    }

    /// <summary>
    /// A tensor converted to float32, whatever its stored dtype (F32, F64, F16, BF16, every integer type,
    /// BOOL as 0/1). Conversions from F64 and wide integers round to the nearest float.
    /// </summary>
    public Tensor GetFloat32(string name)
    {
        var e = GetEntry(name);
        var src = GetBytes(name);
        var dst = new float[e.ElementCount];
        switch (e.DType)
        {
            case SafetensorsDType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(i * 4)..]);
                break;
            case SafetensorsDType.F64:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(i * 8)..]);
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(i * 2)..]);
                break;
            case SafetensorsDType.BF16:
                // bfloat16 is the top half of an IEEE float32, so widening is a shift.
                for (int i = 0; i < dst.Length; i++)
                    dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]) << 16);
                break;
            case SafetensorsDType.BOOL:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i] != 0 ? 1f : 0f;
                break;
            case SafetensorsDType.U8:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
                break;
            case SafetensorsDType.I8:
                for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i];
                break;
            case SafetensorsDType.U16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]);
                break;
            case SafetensorsDType.I16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(i * 2)..]);
                break;
            case SafetensorsDType.U32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt32LittleEndian(src[(i * 4)..]);
                break;
            case SafetensorsDType.I32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(i * 4)..]);
                break;
            case SafetensorsDType.U64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt64LittleEndian(src[(i * 8)..]);
                break;
            case SafetensorsDType.I64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(i * 8)..]);
                break;
            default:
                throw new NotSupportedException($"dtype {e.DType} of tensor '{name}' cannot be converted to float32.");
        }
        return new Tensor(dst, e.ShapeArray());
    }

    /// <summary>Every tensor converted with <see cref="GetFloat32"/>, keyed by name (ready for <c>Module.LoadStateDict</c>).</summary>
    public Dictionary<string, Tensor> ReadAllFloat32()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in Entries) d[e.Name] = GetFloat32(e.Name);
        return d;
    }

    /// <summary>
    /// An integer tensor's values as <see cref="long"/>, flat in row-major order. Accepts every integer dtype and BOOL;
    /// U64 values above <see cref="long.MaxValue"/> throw <see cref="OverflowException"/>. Float dtypes throw
    /// <see cref="InvalidOperationException"/> rather than silently truncating.
    /// </summary>
    public long[] GetInt64(string name)
    {
        var e = GetEntry(name);
        var src = GetBytes(name);
        var dst = new long[e.ElementCount];
        switch (e.DType)
        {
            case SafetensorsDType.I64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(i * 8)..]);
                break;
            case SafetensorsDType.U64:
                for (int i = 0; i < dst.Length; i++)
                {
                    ulong v = BinaryPrimitives.ReadUInt64LittleEndian(src[(i * 8)..]);
                    if (v > long.MaxValue) throw new OverflowException($"Tensor '{name}' element {i} = {v} does not fit in Int64.");
                    dst[i] = (long)v;
                }
                break;
            case SafetensorsDType.I32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(i * 4)..]);
                break;
            case SafetensorsDType.U32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt32LittleEndian(src[(i * 4)..]);
                break;
            case SafetensorsDType.I16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(i * 2)..]);
                break;
            case SafetensorsDType.U16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]);
                break;
            case SafetensorsDType.I8:
                for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i];
                break;
            case SafetensorsDType.U8:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
                break;
            case SafetensorsDType.BOOL:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i] != 0 ? 1 : 0;
                break;
            default:
                throw new InvalidOperationException($"Tensor '{name}' has dtype {e.DType}, not an integer type.");
        }
        return dst;
    }

    /// <summary>
    /// An integer tensor's values as <see cref="int"/>, flat in row-major order. Wider types are narrowed with a check
    /// (<see cref="OverflowException"/> naming the element); float dtypes throw <see cref="InvalidOperationException"/>.
    /// </summary>
    public int[] GetInt32(string name)
    {
        long[] wide = GetInt64(name);
        var dst = new int[wide.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            if (wide[i] < int.MinValue || wide[i] > int.MaxValue)
                throw new OverflowException($"Tensor '{name}' element {i} = {wide[i]} does not fit in Int32.");
            dst[i] = (int)wide[i];
        }
        return dst;
    }

    /// <summary>A U8 (or BOOL) tensor's bytes, copied. Other dtypes throw <see cref="InvalidOperationException"/>.</summary>
    public byte[] GetUInt8(string name)
    {
        var e = GetEntry(name);
        if (e.DType is not (SafetensorsDType.U8 or SafetensorsDType.BOOL))
            throw new InvalidOperationException($"Tensor '{name}' has dtype {e.DType}, not U8.");
        return GetBytes(name).ToArray();
    }

    // ---------------------------------------------------------------- validation

    private static void CheckHeaderLength(ulong n, long? available)
    {
        // Both checks happen before anything of size n is allocated.
        if (n > MaxHeaderLength)
            throw new SafetensorsFormatException($"header length {n} exceeds the limit of {MaxHeaderLength} bytes");
        if (available is long a && (long)n > a)
            throw new SafetensorsFormatException($"header length {n} is larger than the file: only {a} bytes follow the 8-byte prefix");
    }

    /// <summary>Reads up to <paramref name="count"/> bytes, growing the buffer only as data arrives.</summary>
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
        var buffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            while (ms.Length < count)
            {
                int want = (int)Math.Min(chunk, count - ms.Length);
                int got = stream.Read(buffer, 0, want);
                if (got == 0) break;
                ms.Write(buffer, 0, got);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return ms.ToArray();
    }

    private static SafetensorsFile Build(byte[] header, byte[] data)
    {
        CheckUtf8(header);

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException($"header is not well-formed JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            try { return FromHeader(doc.RootElement, header, data); }
            catch (InvalidOperationException ex)
            {
                // JsonElement.GetString throws this for an escaped lone surrogate ("\ud800"): valid JSON, not valid text.
                throw new SafetensorsFormatException($"header holds a string that is not valid Unicode (an escaped lone surrogate): {ex.Message}", ex);
            }
        }
    }

    private static SafetensorsFile FromHeader(JsonElement root, byte[] header, byte[] data)
    {
        {
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException($"header must be a JSON object, but is {Describe(root.ValueKind)}");

            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                // JsonDocument keeps duplicate keys; a file whose meaning depends on which one wins is rejected.
                if (!seen.Add(prop.Name))
                    throw new SafetensorsFormatException(
                        prop.Name == SafetensorsWriter.MetadataKey ? $"duplicate '{SafetensorsWriter.MetadataKey}' key in header" : "duplicate name in header",
                        prop.Name == SafetensorsWriter.MetadataKey ? null : prop.Name);
                if (prop.Name == SafetensorsWriter.MetadataKey) ReadMetadata(prop.Value, metadata);
                else entries.Add(ReadEntry(prop.Name, prop.Value, data.LongLength));
            }
            CheckTiling(entries, data.LongLength);
            return new SafetensorsFile(data, entries, metadata, header.LongLength);
        }
    }

    private static void CheckUtf8(byte[] header)
    {
        if (System.Text.Unicode.Utf8.IsValid(header)) return;
        // Slow path only to say where: the first position that does not decode as a complete scalar.
        int pos = 0;
        while (pos < header.Length)
        {
            if (Rune.DecodeFromUtf8(header.AsSpan(pos), out _, out int consumed) != OperationStatus.Done) break;
            pos += consumed;
        }
        throw new SafetensorsFormatException($"header is not valid UTF-8 (bad byte 0x{header[pos]:X2} at header offset {pos})");
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException($"'{SafetensorsWriter.MetadataKey}' must be an object of strings, but is {Describe(value.ValueKind)}");
        foreach (var kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(
                    $"'{SafetensorsWriter.MetadataKey}' value for key '{kv.Name}' must be a string, but is {Describe(kv.Value.ValueKind)}");
            if (!metadata.TryAdd(kv.Name, kv.Value.GetString()!))
                throw new SafetensorsFormatException($"duplicate key '{kv.Name}' in '{SafetensorsWriter.MetadataKey}'");
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException($"entry must be a JSON object, but is {Describe(value.ValueKind)}", name);

        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (var p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype":
                    if (dtypeEl is not null) throw new SafetensorsFormatException("duplicate 'dtype'", name);
                    dtypeEl = p.Value;
                    break;
                case "shape":
                    if (shapeEl is not null) throw new SafetensorsFormatException("duplicate 'shape'", name);
                    shapeEl = p.Value;
                    break;
                case "data_offsets":
                    if (offsetsEl is not null) throw new SafetensorsFormatException("duplicate 'data_offsets'", name);
                    offsetsEl = p.Value;
                    break;
                default:
                    throw new SafetensorsFormatException($"unexpected key '{p.Name}' (expected only dtype, shape, data_offsets)", name);
            }
        }
        if (dtypeEl is null) throw new SafetensorsFormatException("missing 'dtype'", name);
        if (shapeEl is null) throw new SafetensorsFormatException("missing 'shape'", name);
        if (offsetsEl is null) throw new SafetensorsFormatException("missing 'data_offsets'", name);

        // dtype
        if (dtypeEl.Value.ValueKind != JsonValueKind.String)
            throw new SafetensorsFormatException($"'dtype' must be a string, but is {Describe(dtypeEl.Value.ValueKind)}", name);
        string dtypeName = dtypeEl.Value.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
            throw new SafetensorsFormatException($"unknown dtype '{dtypeName}'", name);

        // shape
        if (shapeEl.Value.ValueKind != JsonValueKind.Array)
            throw new SafetensorsFormatException($"'shape' must be an array, but is {Describe(shapeEl.Value.ValueKind)}", name);
        var shape = new int[shapeEl.Value.GetArrayLength()];
        long count = 1;
        bool overflow = false;
        int k = 0;
        foreach (var d in shapeEl.Value.EnumerateArray())
        {
            long dim = ReadNonNegativeInteger(d, $"shape[{k}]", name);
            if (dim > int.MaxValue)
                throw new SafetensorsFormatException($"shape[{k}] = {dim} exceeds the largest supported dimension {int.MaxValue}", name);
            shape[k++] = (int)dim;
            // Keep going after an overflow: a later zero dimension would make the count 0 and the shape fine.
            if (!overflow)
            {
                try { count = checked(count * dim); }
                catch (OverflowException) { overflow = true; }
            }
        }
        if (overflow && !shape.Contains(0))
            throw new SafetensorsFormatException($"shape [{string.Join(", ", shape)}] element count overflows a 64-bit integer", name);
        if (overflow) count = 0;
        long byteCount;
        try
        {
            byteCount = checked(count * SafetensorsDTypes.SizeOf(dtype));
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException($"shape [{string.Join(", ", shape)}] of {dtype} byte size overflows a 64-bit integer", name);
        }

        // data_offsets
        if (offsetsEl.Value.ValueKind != JsonValueKind.Array)
            throw new SafetensorsFormatException($"'data_offsets' must be an array of two integers, but is {Describe(offsetsEl.Value.ValueKind)}", name);
        if (offsetsEl.Value.GetArrayLength() != 2)
            throw new SafetensorsFormatException($"'data_offsets' must have exactly 2 elements, but has {offsetsEl.Value.GetArrayLength()}", name);
        long begin = ReadNonNegativeInteger(offsetsEl.Value[0], "data_offsets[0]", name);
        long end = ReadNonNegativeInteger(offsetsEl.Value[1], "data_offsets[1]", name);
        if (begin > end)
            throw new SafetensorsFormatException($"data_offsets begin {begin} is greater than end {end}", name);
        if (end > dataLength)
            throw new SafetensorsFormatException($"data_offsets end {end} is beyond the end of the data buffer ({dataLength} bytes)", name);
        if (end - begin != byteCount)
            throw new SafetensorsFormatException(
                $"shape [{string.Join(", ", shape)}] of {dtype} needs {byteCount} bytes, but data_offsets [{begin}, {end}] span {end - begin}", name);

        return new SafetensorsEntry(name, dtype, shape, begin, end, count);
    }

    private static long ReadNonNegativeInteger(JsonElement e, string what, string tensor)
    {
        if (e.ValueKind != JsonValueKind.Number)
            throw new SafetensorsFormatException($"{what} must be a non-negative integer, but is {Describe(e.ValueKind)}", tensor);
        // TryGetInt64 refuses fractions and exponents ("2.0", "1e3"), which the format does not allow either.
        if (!e.TryGetInt64(out long v))
        {
            string raw = e.GetRawText();
            bool digits = raw.TrimStart('-').All(char.IsAsciiDigit);
            throw new SafetensorsFormatException(
                digits ? $"{what} = {raw} is out of range" : $"{what} = {raw} is not an integer", tensor);
        }
        if (v < 0) throw new SafetensorsFormatException($"{what} = {v} is negative", tensor);
        return v;
    }

    private static void CheckTiling(List<SafetensorsEntry> entries, long dataLength)
    {
        // Sorted by position, the byte ranges must follow each other with no gap and no overlap and end exactly
        // at the end of the buffer: anything else is either corruption or bytes hidden from every reader.
        var byOffset = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        long cursor = 0;
        SafetensorsEntry? previous = null;
        foreach (var e in byOffset)
        {
            if (e.Begin < cursor)
                throw new SafetensorsFormatException(
                    $"data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}]", e.Name);
            if (e.Begin > cursor)
                throw new SafetensorsFormatException(
                    $"gap of {e.Begin - cursor} bytes before data_offsets [{e.Begin}, {e.End}] (previous data ends at {cursor})", e.Name);
            cursor = e.End;
            if (e.ByteLength > 0) previous = e;
        }
        if (cursor != dataLength)
            throw new SafetensorsFormatException(
                $"data buffer is {dataLength} bytes but the tensors cover only {cursor}: {dataLength - cursor} trailing bytes belong to no tensor");
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
