namespace LayerCompiler.Runtime.Tests;

public class RngTests
{
    [Fact]
    public void SameSeedGivesSameStream()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        Assert.NotEqual(new Rng(42).NextUInt64(), c.NextUInt64());
    }

    [Fact]
    public void PermutationIsAPermutation()
    {
        var p = new Rng(1).Permutation(50);
        Assert.Equal(Enumerable.Range(0, 50), p.OrderBy(x => x));
    }

    [Fact]
    public void NormalHasUnitMoments()
    {
        var r = new Rng(7); double s = 0, s2 = 0; int n = 200_000;
        for (int i = 0; i < n; i++) { double x = r.Normal(); s += x; s2 += x * x; }
        Assert.InRange(s / n, -0.02, 0.02);
        Assert.InRange(s2 / n, 0.97, 1.03);
    }

    [Fact]
    public void FillIsTheSameStreamAsNextUInt64()
    {
        var a = new Rng(5); var b = new Rng(5);
        var buf = new ulong[37];
        a.Fill(buf);
        a.Fill(buf.AsSpan(0, 0)); // an empty span draws nothing
        for (int i = 0; i < buf.Length; i++) Assert.Equal(b.NextUInt64(), buf[i]);
        Assert.Equal(b.NextUInt64(), a.NextUInt64()); // the state moved on by exactly buf.Length draws
    }
}
