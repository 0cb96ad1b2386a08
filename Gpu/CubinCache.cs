using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace LayerCompiler.Gpu;

/// <summary>
/// On-disk cache of compiled kernel images (CUBIN), one file per key, <c>&lt;sha256-hex&gt;.cubin</c>.
/// The key is the SHA-256 of the source, the compile options, the target architecture and the NVRTC version.
/// Each file carries a header (magic, payload length, SHA-256 of the payload), so a truncated or damaged
/// entry is detected, deleted and recompiled. Files are written to a temporary name in the same directory
/// and renamed into place, so a reader never sees a half-written entry, even with several processes.
/// </summary>
public sealed class CubinCache
{
    private static readonly byte[] Magic = "LCCUBIN1"u8.ToArray();
    private const int HeaderSize = 8 + 8 + 32;
    private const string KeyFormat = "layercompiler-cubin-key-v1";

    public string Directory { get; }

    public CubinCache(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("Cache directory must be given.", nameof(directory));
        Directory = directory;
    }

    /// <summary>
    /// The default directory: <c>$LAYERCOMPILER_CACHE/cubin</c>, else <c>$XDG_CACHE_HOME/layercompiler/cubin</c>,
    /// else <c>~/.cache/layercompiler/cubin</c>, else (no home) the temp directory's <c>layercompiler/cubin</c>.
    /// </summary>
    public static string DefaultDirectory(Func<string, string?> getEnv, string? homeDirectory)
    {
        string? lc = getEnv("LAYERCOMPILER_CACHE");
        if (!string.IsNullOrWhiteSpace(lc)) return Path.Combine(lc, "cubin");
        string? xdg = getEnv("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg)) return Path.Combine(xdg, "layercompiler", "cubin");
        if (!string.IsNullOrWhiteSpace(homeDirectory)) return Path.Combine(homeDirectory, ".cache", "layercompiler", "cubin");
        return Path.Combine(Path.GetTempPath(), "layercompiler", "cubin");
    }

    /// <summary>A cache in <see cref="DefaultDirectory"/> for this process's environment.</summary>
    public static CubinCache CreateDefault() =>
        new(DefaultDirectory(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)));

    /// <summary>
    /// Hex SHA-256 over (format tag, source, arch, NVRTC version, options in order). Each field is length-prefixed,
    /// so no two different inputs share an encoding.
    /// </summary>
    public static string ComputeKey(string source, IReadOnlyList<string> options, string arch, string nvrtcVersion)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Field(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(len, bytes.Length);
            h.AppendData(len);
            h.AppendData(bytes);
        }
        Field(KeyFormat);
        Field(source);
        Field(arch);
        Field(nvrtcVersion);
        Field(options.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (string o in options) Field(o);
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public string PathFor(string key) => Path.Combine(Directory, key + ".cubin");

    /// <summary>Reads a valid entry. A missing entry returns false; a damaged one is deleted and returns false.</summary>
    public bool TryRead(string key, out byte[] image)
    {
        image = Array.Empty<byte>();
        string path = PathFor(key);
        byte[] data;
        try
        {
            if (!File.Exists(path)) return false;
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }

        if (!TryDecode(data, out image))
        {
            Remove(key);
            return false;
        }
        return true;
    }

    /// <summary>Writes an entry atomically (temp file + rename). Failures to write are ignored: the cache is optional.</summary>
    public bool Write(string key, ReadOnlySpan<byte> image)
    {
        string path = PathFor(key);
        string tmp = Path.Combine(Directory, $".{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(Encode(image));
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException) { }
            return false;
        }
    }

    public void Remove(string key)
    {
        try { File.Delete(PathFor(key)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    internal static byte[] Encode(ReadOnlySpan<byte> image)
    {
        var data = new byte[HeaderSize + image.Length];
        Magic.CopyTo(data, 0);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), image.Length);
        SHA256.HashData(image, data.AsSpan(16, 32));
        image.CopyTo(data.AsSpan(HeaderSize));
        return data;
    }

    internal static bool TryDecode(byte[] data, out byte[] image)
    {
        image = Array.Empty<byte>();
        if (data.Length < HeaderSize || !data.AsSpan(0, 8).SequenceEqual(Magic)) return false;
        long len = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(8));
        if (len <= 0 || len != data.Length - HeaderSize) return false;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data.AsSpan(HeaderSize), hash);
        if (!hash.SequenceEqual(data.AsSpan(16, 32))) return false;
        image = data.AsSpan(HeaderSize).ToArray();
        return true;
    }
}
