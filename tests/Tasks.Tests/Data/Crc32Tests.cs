using System.Text;
using LayerCompiler.Tasks.Data;

namespace LayerCompiler.Tasks.Tests.Data;

public class Crc32Tests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xE8B7BE43u)]
    [InlineData("123456789", 0xCBF43926u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x414FA339u)]
    [InlineData("IEND", 0xAE426082u)]
    public void KnownVectors(string text, uint expected) =>
        Assert.Equal(expected, Crc32.Compute(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void AppendEqualsComputeOfConcatenation()
    {
        var data = new byte[1000];
        new Random(1).NextBytes(data);
        for (int split = 0; split <= data.Length; split += 97)
            Assert.Equal(Crc32.Compute(data), Crc32.Append(Crc32.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
    }
}
