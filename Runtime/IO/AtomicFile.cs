using System;
using System.IO;
using System.Runtime.InteropServices;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Writes a file so that readers only ever see the old complete file or the new complete file,
/// never a partial one: a crash or exception mid-write must not destroy the previous checkpoint.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> on a temporary file in the same directory as <paramref name="path"/>
    /// (same directory so the final rename stays on one file system and is atomic), flushes it to disk,
    /// then renames it over <paramref name="path"/>. If anything throws, the temporary file is deleted,
    /// the exception propagates, and an existing file at <paramref name="path"/> is untouched.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no directory.", nameof(path));
        // Hidden, unique, and recognisably ours if a power cut ever leaves one behind.
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // Data must be on disk before the rename, or a crash could leave a renamed but empty file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            SyncDirectory(directory);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Atomically replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // Spans cannot be captured by a lambda; copying is fine for the sizes written this way.
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy, 0, copy.Length));
    }

    /// <summary>
    /// Flushes the directory entry of the rename to disk (POSIX: fsync on the directory), so that after a power cut the
    /// new file, not the old one, is what the directory holds. Best effort: a failure here leaves a complete file
    /// either way. Windows has no equivalent call and needs none for this.
    /// </summary>
    private static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        try
        {
            int fd = PosixOpen(directory, 0 /* O_RDONLY */);
            if (fd < 0) return;
            PosixFsync(fd);
            PosixClose(fd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int PosixOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int PosixFsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int PosixClose(int fd);

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (IOException)
        {
            // Best effort: the original exception is the one worth reporting.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
