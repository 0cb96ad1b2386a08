using System;

namespace LayerCompiler.Tasks.Editing;

/// <summary>
/// Grey-scale morphological dilation with a 3×3 square structuring element, one iteration: every pixel becomes the maximum
/// over its 3×3 neighbourhood. Neighbours outside the image are left out (not padded with larger values), so border pixels
/// take the maximum over the neighbours that exist.
/// </summary>
public static class Dilation
{
    public static void Dilate3x3(ReadOnlySpan<float> image, int height, int width, Span<float> destination)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"The image size must be positive, got {height}×{width}.");
        if (image.Length != height * width || destination.Length != height * width)
            throw new ArgumentException($"A {height}×{width} image has {height * width} pixels; got {image.Length} in and {destination.Length} out.");
        if (image.Overlaps(destination)) throw new ArgumentException("The destination must not overlap the image.", nameof(destination));
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                float max = float.NegativeInfinity;
                for (int dr = Math.Max(0, r - 1); dr <= Math.Min(height - 1, r + 1); dr++)
                    for (int dc = Math.Max(0, c - 1); dc <= Math.Min(width - 1, c + 1); dc++)
                        max = Math.Max(max, image[dr * width + dc]);
                destination[r * width + c] = max;
            }
    }
}
