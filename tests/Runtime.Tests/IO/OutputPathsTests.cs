using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Runtime.Tests.IO;

public class OutputPathsTests
{
    [Fact]
    public void CreatesNestedDirectoriesAndAcceptsExistingOnes()
    {
        using var dir = new TempDirectory();
        string nested = Path.Combine(dir.Path, "a", "b", "c");
        OutputPaths.CreateDirectory(nested, "--out");
        Assert.True(Directory.Exists(nested));
        OutputPaths.CreateDirectory(nested, "--out");                 // again: fine
        OutputPaths.CreateParentOf(Path.Combine(dir.Path, "x", "grid.png"), "--out");
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "x")));
    }

    [Fact]
    public void AFileWhereADirectoryIsNeededIsNamed()
    {
        using var dir = new TempDirectory();
        string file = dir.File("afile");
        File.WriteAllText(file, "keep me");
        var e1 = Assert.Throws<IOException>(() => OutputPaths.CreateDirectory(file, "--out"));
        Assert.Equal($"--out '{file}' is a file, not a directory.", e1.Message);
        string below = Path.Combine(file, "sub", "run");
        var e2 = Assert.Throws<IOException>(() => OutputPaths.CreateDirectory(below, "--out"));
        Assert.Equal($"--out '{below}' cannot be created: '{file}' is a file.", e2.Message);
        Assert.Equal("keep me", File.ReadAllText(file));                // nothing was touched
    }

    [Fact]
    public void ADirectoryWhereAFileIsNeededIsNamed()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<IOException>(() => OutputPaths.CreateParentOf(dir.Path, "--out"));
        Assert.Contains("is a directory; give a file name", e.Message);
    }
}
