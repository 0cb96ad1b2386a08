using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Tests.Kernels;

/// <summary>
/// The element-wise kernels (TensorPrimitives inside) give the bits of the plain scalar loop at every length: vector
/// body, tail, and the special values an IEEE operation must pass through.
/// </summary>
public class ElementwiseTests
{
    private static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        var special = new[] { 0f, -0f, float.Epsilon, -1e-40f, float.MaxValue, float.NegativeInfinity, float.NaN, 1f / 3 };
        return Enumerable.Range(0, n).Select(i => i % 5 == 4 ? special[rng.Next(special.Length)] : (float)(rng.NextDouble() * 8 - 4)).ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(17)]
    [InlineData(1000)]
    public void AddAndMultiplyInPlaceMatchTheScalarLoopBitwise(int n)
    {
        float[] x = Values(n, n), y = Values(n, n + 1);
        var sum = (float[])y.Clone();
        DenseKernels.AddInPlace(x, sum);
        var product = (float[])y.Clone();
        PointKernels.MultiplyInPlace(product, x);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(y[i] + x[i]), BitConverter.SingleToInt32Bits(sum[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(y[i] * x[i]), BitConverter.SingleToInt32Bits(product[i]));
        }
    }

    [Fact]
    public void LengthsMustMatch()
    {
        Assert.Contains("lengths differ (3 vs 4)", Assert.Throws<ArgumentException>(() => DenseKernels.AddInPlace(new float[3], new float[4])).Message);
        Assert.Contains("lengths differ (4 vs 3)", Assert.Throws<ArgumentException>(() => PointKernels.MultiplyInPlace(new float[4], new float[3])).Message);
    }
}
