using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Tests;

public class RowMajorTests
{
    private static readonly int[] Shape = { 2, 3, 4 };

    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(1, 0, 0, 1)]
    [InlineData(4, 0, 1, 0)]
    [InlineData(13, 1, 0, 1)]
    [InlineData(23, 1, 2, 3)]
    public void UnravelsLastAxisFastest(int entry, int i, int j, int k)
    {
        var index = new int[3];
        RowMajor.Unravel(entry, Shape, index);
        Assert.Equal(new[] { i, j, k }, index);
        Assert.Equal(entry, RowMajor.Ravel(index, Shape));
    }

    [Fact]
    public void EnumeratesEveryIndexOnceInLexicographicOrder()
    {
        var seen = new List<(int, int, int)>();
        var index = new int[3];
        for (int e = 0; e < 24; e++)
        {
            RowMajor.Unravel(e, Shape, index);
            seen.Add((index[0], index[1], index[2]));
        }
        var expected = from i in Enumerable.Range(0, 2) from j in Enumerable.Range(0, 3) from k in Enumerable.Range(0, 4) select (i, j, k);
        Assert.Equal(expected, seen);
    }

    [Fact]
    public void RejectsEntriesOutsideTheTensorAndIndicesOfTheWrongRank()
    {
        var index = new int[3];
        var high = Assert.Throws<ArgumentOutOfRangeException>(() => RowMajor.Unravel(24, Shape, index));
        Assert.Contains("Entry 24 is outside a tensor of shape [2, 3, 4]", high.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RowMajor.Unravel(-1, Shape, index));
        Assert.Throws<ArgumentException>(() => RowMajor.Unravel(0, Shape, new int[2]));
        Assert.Throws<ArgumentException>(() => RowMajor.Ravel(new[] { 0, 0 }, Shape));
    }

    [Fact]
    public void FixedIndexIsRowMajorOverTheFixedAxesOnly()
    {
        // A conv weight (out permuted 3, kernel 2, in fixed 4): the fixed index k·4 + in is the entry modulo 8.
        var conv = new WeightTensor(0, "W1", 1, false, new[] { new Axis(1, 3, true), Axis.Kernel(2), new Axis(0, 4, false) });
        Assert.Equal(Enumerable.Range(0, 24).Select(e => e % 8), RowMajor.FixedIndexMap(conv));
        // Fixed axis first (in 5 fixed, out 3 permuted): the fixed index is the row.
        var dense = new WeightTensor(0, "W1", 1, false, new[] { new Axis(0, 5, false), new Axis(1, 3, true) });
        Assert.Equal(Enumerable.Range(0, 15).Select(e => e / 3), RowMajor.FixedIndexMap(dense));
        // No fixed axis: one group.
        var hidden = new WeightTensor(0, "W2", 2, false, new[] { new Axis(2, 2, true), new Axis(1, 3, true) });
        Assert.Equal(new int[6], RowMajor.FixedIndexMap(hidden));
    }
}
