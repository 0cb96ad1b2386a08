using System.Collections;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Runtime.Tests.IO;

public class AtomicWriteTests
{
    private static Dictionary<string, Tensor> Version(float v) => new() { ["w"] = new Tensor(new[] { v, v, v }, 3) };

    [Fact]
    public void FailingEnumerationLeavesPreviousFileByteIdenticalAndNoTempFiles()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafetensorsWriter.Write(path, Version(1f));
        byte[] before = File.ReadAllBytes(path);

        var ex = Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.Write(path, new ExplodingDictionary()));
        Assert.Equal("boom", ex.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "ckpt.safetensors" }, dir.Listing());
    }

    [Fact]
    public void FailureAfterPartialDataIsWrittenLeavesPreviousFile()
    {
        // The callback writes real bytes to the temp file before throwing, i.e. the failure is mid-file.
        using var dir = new TempDirectory();
        string path = dir.File("out.bin");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[4096]);
            s.Flush();
            throw new IOException("disk full (simulated)");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(new[] { "out.bin" }, dir.Listing());
    }

    [Fact]
    public void FailingMetadataEnumerationLeavesPreviousFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafetensorsWriter.Write(path, Version(1f), new Dictionary<string, string> { ["step"] = "1" });
        byte[] before = File.ReadAllBytes(path);

        Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.Write(path, Version(2f), new ExplodingMetadata()));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "ckpt.safetensors" }, dir.Listing());
    }

    [Fact]
    public void NonWritableTargetFailsAndLeavesNoTempFile()
    {
        // A directory sits where the file should go, so the final rename must fail.
        using var dir = new TempDirectory();
        string path = dir.File("taken");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "keep.txt"), "x");

        var ex = Record.Exception(() => SafetensorsWriter.Write(path, Version(1f)));
        Assert.True(ex is IOException or UnauthorizedAccessException, $"unexpected {ex?.GetType()}");
        Assert.Equal(new[] { "taken" }, dir.Listing());
        Assert.Equal("x", File.ReadAllText(Path.Combine(path, "keep.txt")));
    }

    [Fact]
    public void MissingDirectoryFailsCleanly()
    {
        using var dir = new TempDirectory();
        Assert.Throws<DirectoryNotFoundException>(() => SafetensorsWriter.Write(dir.File("no/such/dir/x.safetensors"), Version(1f)));
        Assert.Empty(dir.Listing());
    }

    [Fact]
    public void SuccessfulWriteReplacesPreviousFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        SafetensorsWriter.Write(path, Version(1f));
        SafetensorsWriter.Write(path, Version(2f));
        Assert.Equal(new[] { 2f, 2f, 2f }, SafetensorsFile.Read(path).GetFloat32("w").Data);
        Assert.Equal(new[] { "ckpt.safetensors" }, dir.Listing());
    }

    /// <summary>Yields one valid tensor, then fails, as a lazily computed state dict might.</summary>
    private sealed class ExplodingDictionary : IReadOnlyDictionary<string, Tensor>
    {
        public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
        {
            yield return new("a", new Tensor(new[] { 1f }, 1));
            throw new InvalidOperationException("boom");
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public int Count => 2;
        public Tensor this[string key] => throw new NotSupportedException();
        public IEnumerable<string> Keys => throw new NotSupportedException();
        public IEnumerable<Tensor> Values => throw new NotSupportedException();
        public bool ContainsKey(string key) => throw new NotSupportedException();
        public bool TryGetValue(string key, out Tensor value) => throw new NotSupportedException();
    }

    private sealed class ExplodingMetadata : IReadOnlyDictionary<string, string>
    {
        public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
        {
            yield return new("step", "2");
            throw new InvalidOperationException("metadata boom");
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public int Count => 2;
        public string this[string key] => throw new NotSupportedException();
        public IEnumerable<string> Keys => throw new NotSupportedException();
        public IEnumerable<string> Values => throw new NotSupportedException();
        public bool ContainsKey(string key) => throw new NotSupportedException();
        public bool TryGetValue(string key, out string value) => throw new NotSupportedException();
    }
}
