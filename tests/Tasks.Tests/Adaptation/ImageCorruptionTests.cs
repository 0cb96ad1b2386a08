using LayerCompiler.Runtime;
using LayerCompiler.Tasks.Adaptation;
using LayerCompiler.Tasks.ClassifierZoo;

namespace LayerCompiler.Tasks.Tests.Adaptation;

/// <summary>The domain-adaptation target domain: deterministic per seed and per image, the identity when neutral, exact flips, contrast about the mean, noise of the stated size, bad settings refused.</summary>
public sealed class ImageCorruptionTests
{
    private static ClassifierImages Images(int count, ulong seed)
    {
        var rng = new Rng(seed);
        var px = new float[count * 784];
        for (int k = 0; k < px.Length; k++) px[k] = (float)rng.NextDouble();
        return new ClassifierImages(px, Enumerable.Range(0, count).Select(i => i % 10).ToArray(), count, 784);
    }

    [Fact]
    public void TheSameSeedGivesBitwiseIdenticalImagesAndAnotherSeedDoesNot()
    {
        var x = Images(20, 1);
        var c = new ImageCorruption();
        var a = c.Apply(x, 5); var b = c.Apply(x, 5); var d = c.Apply(x, 6);
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.NotEqual(a.Pixels, d.Pixels);
        Assert.Equal(x.Labels, a.Labels);
        Assert.All(a.Pixels, v => Assert.InRange(v, 0f, 1f));
        // Rotation alone changes images (and is drawn per image).
        var rot = (ImageCorruption.None with { MaxRotationDegrees = 30 }).Apply(x, 5);
        Assert.NotEqual(x.Pixels, rot.Pixels);
        // Image i depends on (seed, i) only: corrupting a prefix gives the same images.
        var prefix = c.Apply(new ClassifierImages(x.Pixels.AsSpan(0, 5 * 784).ToArray(), x.Labels.Take(5).ToArray(), 5, 784), 5);
        Assert.Equal(a.Pixels.AsSpan(0, 5 * 784).ToArray(), prefix.Pixels);
    }

    [Fact]
    public void NeutralSettingsAreTheIdentityFlipsMovePixelsExactlyAndContrastScalesAboutTheMean()
    {
        var x = Images(3, 2);
        Assert.Equal(x.Pixels, ImageCorruption.None.Apply(x, 1).Pixels);
        // Both flips forced: a 180° turn (no rotation drawn).
        var flips = (ImageCorruption.None with { FlipProbability = 1 }).Apply(x, 1);
        for (int i = 0; i < 3; i++)
            for (int y = 0; y < 28; y++)
                for (int xx = 0; xx < 28; xx++)
                    Assert.Equal(x.Pixels[i * 784 + (27 - y) * 28 + 27 - xx], flips.Pixels[i * 784 + y * 28 + xx]);
        // A contrast-only change keeps the mean and scales deviations from it.
        var contrast = (ImageCorruption.None with { MinContrast = 0.5, MaxContrast = 0.5 }).Apply(x, 1);
        for (int i = 0; i < 3; i++)
        {
            double m0 = x.Pixels.AsSpan(i * 784, 784).ToArray().Average(), m1 = contrast.Pixels.AsSpan(i * 784, 784).ToArray().Average();
            Assert.Equal(m0, m1, 5);
            for (int k = 0; k < 784; k++) Assert.Equal(m0 + 0.5 * (x.Pixels[i * 784 + k] - m0), contrast.Pixels[i * 784 + k], 5);
        }
    }

    [Fact]
    public void NoiseHasTheStatedStandardDeviation()
    {
        var gray = new ClassifierImages(Enumerable.Repeat(0.5f, 50 * 784).ToArray(), new int[50], 50, 784);
        var noisy = (ImageCorruption.None with { NoiseStd = 0.05 }).Apply(gray, 3);
        double sd = Math.Sqrt(noisy.Pixels.Average(v => (v - 0.5) * (v - 0.5)));
        Assert.InRange(sd, 0.048, 0.052);
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        var x = Images(1, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageCorruption { NoiseStd = -1 }.Apply(x, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageCorruption { MinContrast = 0 }.Apply(x, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageCorruption { MinContrast = 2, MaxContrast = 1 }.Apply(x, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageCorruption { FlipProbability = 1.5 }.Apply(x, 1));
        Assert.Throws<ArgumentException>(() => new ImageCorruption().Apply(new ClassifierImages(new float[10], new int[1], 1, 10), 1));
    }
}
