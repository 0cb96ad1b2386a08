using System;
using System.IO;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Output locations checked before a job writes anything, so that a mistyped path fails at once with a message that
/// names it (rather than "Could not find a part of the path" minutes into a run, or a stack trace).
/// </summary>
public static class OutputPaths
{
    /// <summary>
    /// Creates directory <paramref name="path"/> (and its parents) or accepts it if it exists. Throws
    /// <see cref="IOException"/> naming <paramref name="what"/> and the path when it, or one of its parents, is a file,
    /// or when it cannot be created.
    /// </summary>
    public static void CreateDirectory(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new IOException($"{what} '{path}' is a file, not a directory.");
        for (string? p = Path.GetDirectoryName(full); p != null; p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p)) throw new IOException($"{what} '{path}' cannot be created: '{p}' is a file.");
            if (Directory.Exists(p)) break;
        }
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{what} '{path}' cannot be created: {e.Message}", e);
        }
    }

    /// <summary>Creates the directory that will hold file <paramref name="path"/>; throws if the path itself is a directory.</summary>
    public static void CreateParentOf(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"{what} '{path}' is a directory; give a file name.");
        string? dir = Path.GetDirectoryName(full);
        if (dir != null) CreateDirectory(dir, what + "'s directory");
    }
}
