using LayerCompiler.Runtime;
using LayerCompiler.Tasks.ClassifierZoo;
using System;
using ZooSeeds = LayerCompiler.Tasks.Zoo.ZooSeeds;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>
/// The target domain of the domain-adaptation task (DWSNets): source images corrupted by a random rotation, random
/// flips, a contrast change and Gaussian noise, each image with its own generator drawn from (seed, image index), so the
/// corrupted set is the same for every thread count and every subset order. Pixels are in [0, 1] and stay there.
/// </summary>
public sealed record ImageCorruption
{
    /// <summary>Rotation angle uniform in [−MaxRotationDegrees, MaxRotationDegrees] about the image centre (bilinear, zero outside).</summary>
    public double MaxRotationDegrees { get; init; } = 45;
    /// <summary>Probability of a left-right flip, and of an independent top-bottom flip.</summary>
    public double FlipProbability { get; init; } = 0.5;
    /// <summary>Contrast factor uniform in [MinContrast, MaxContrast]: x ↦ m + c·(x − m), m the image mean.</summary>
    public double MinContrast { get; init; } = 0.5;
    public double MaxContrast { get; init; } = 1.5;
    /// <summary>Standard deviation of the additive Gaussian noise (after the contrast change; then clamped to [0, 1]).</summary>
    public double NoiseStd { get; init; } = 0.1;

    /// <summary>No corruption at all (every setting neutral): the identity.</summary>
    public static ImageCorruption None => new() { MaxRotationDegrees = 0, FlipProbability = 0, MinContrast = 1, MaxContrast = 1, NoiseStd = 0 };

    public void Validate()
    {
        if (!(MaxRotationDegrees >= 0 && MaxRotationDegrees <= 180)) throw new ArgumentOutOfRangeException(nameof(MaxRotationDegrees), MaxRotationDegrees, "The rotation range must be in [0, 180] degrees.");
        if (!(FlipProbability >= 0 && FlipProbability <= 1)) throw new ArgumentOutOfRangeException(nameof(FlipProbability), FlipProbability, "A probability is in [0, 1].");
        if (!(MinContrast > 0 && MinContrast <= MaxContrast && double.IsFinite(MaxContrast))) throw new ArgumentOutOfRangeException(nameof(MinContrast), MinContrast, $"Contrast factors need 0 < MinContrast <= MaxContrast (got [{MinContrast}, {MaxContrast}]).");
        if (!(NoiseStd >= 0 && double.IsFinite(NoiseStd))) throw new ArgumentOutOfRangeException(nameof(NoiseStd), NoiseStd, "The noise standard deviation must be finite and >= 0.");
    }

    /// <summary>The corrupted copy of <paramref name="images"/> (square images; labels unchanged).</summary>
    public ClassifierImages Apply(ClassifierImages images, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(images);
        Validate();
        int side = (int)Math.Round(Math.Sqrt(images.InputLength));
        if (side * side != images.InputLength) throw new ArgumentException($"Corruptions work on square images; {images.InputLength} values per image is not a square.", nameof(images));
        var px = new float[images.Pixels.Length];
        System.Threading.Tasks.Parallel.For(0, images.Count, i =>
            CorruptOne(images.Pixels.AsSpan(i * images.InputLength, images.InputLength), px.AsSpan(i * images.InputLength, images.InputLength), side, new Rng(ZooSeeds.ForItem(seed, "corruption", i))));
        return new ClassifierImages(px, (int[])images.Labels.Clone(), images.Count, images.InputLength);
    }

    private void CorruptOne(ReadOnlySpan<float> src, Span<float> dst, int side, Rng rng)
    {
        // Draw every random quantity in a fixed order, whatever the settings, so one setting does not shift the others.
        double angle = (rng.NextDouble() * 2 - 1) * MaxRotationDegrees * Math.PI / 180;
        bool flipX = rng.NextDouble() < FlipProbability, flipY = rng.NextDouble() < FlipProbability;
        double contrast = MinContrast + rng.NextDouble() * (MaxContrast - MinContrast);
        double c = (side - 1) / 2.0, cos = Math.Cos(angle), sin = Math.Sin(angle);
        double mean = 0;
        foreach (float v in src) mean += v;
        mean /= src.Length;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                // Output pixel (x, y) samples the source at the inverse rotation of its (flipped) position.
                double ox = (flipX ? side - 1 - x : x) - c, oy = (flipY ? side - 1 - y : y) - c;
                double sx = cos * ox + sin * oy + c, sy = -sin * ox + cos * oy + c;
                double v = Bilinear(src, side, sx, sy);
                v = mean + contrast * (v - mean);
                if (NoiseStd > 0) v += NoiseStd * rng.Normal();
                dst[y * side + x] = (float)Math.Clamp(v, 0, 1);
            }
    }

    private static double Bilinear(ReadOnlySpan<float> src, int side, double x, double y)
    {
        // Snap values within rounding of a grid point onto it, so exact rotations (90°, 180°) move pixels exactly.
        double rx = Math.Round(x), ry = Math.Round(y);
        if (Math.Abs(x - rx) < 1e-9) x = rx;
        if (Math.Abs(y - ry) < 1e-9) y = ry;
        int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
        double fx = x - x0, fy = y - y0, v = 0;
        for (int dy = 0; dy <= 1; dy++)
            for (int dx = 0; dx <= 1; dx++)
            {
                int xx = x0 + dx, yy = y0 + dy;
                double w = (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy);
                if (w == 0 || xx < 0 || yy < 0 || xx >= side || yy >= side) continue;
                v += w * src[yy * side + xx];
            }
        return v;
    }
}
