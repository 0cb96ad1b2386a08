using LayerCompiler.Algebra;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Runtime.Tests.Training;

public class AugmentationTests
{
    private static double[] RandomPoint(Rng rng, int d) => Enumerable.Range(0, d).Select(_ => 2 * rng.NextDouble() - 1).ToArray();

    private static double[] Rotate(double[] x, double theta) =>
        new[] { Math.Cos(theta) * x[0] - Math.Sin(theta) * x[1], Math.Sin(theta) * x[0] + Math.Cos(theta) * x[1] };

    [Fact]
    public void HiddenPermutationLeavesEveryNetworksFunctionUnchanged()
    {
        var space = ReferenceMlp.Space(2, 5, 4, 1);
        var w = ReferenceMlp.Random(space, 6, 11);
        var aug = w.Clone();
        new WeightAugmentation { PermuteHidden = true }.Apply(aug, new Rng(12));
        var rng = new Rng(13);
        int changed = 0;
        for (int n = 0; n < w.Batch; n++)
        {
            for (int k = 0; k < 10; k++)
            {
                var x = RandomPoint(rng, 2);
                Assert.Equal(ReferenceMlp.Run(w, n, x)[0], ReferenceMlp.Run(aug, n, x)[0], 1e-9);
            }
            if (!w.Tensors[0].Data.AsSpan(n * 10, 10).SequenceEqual(aug.Tensors[0].Data.AsSpan(n * 10, 10))) changed++;
        }
        Assert.True(changed >= 5, $"only {changed} of 6 networks were permuted");
        // Output neurons are never permuted: b3 is untouched.
        Assert.Equal(w.Tensors[5].Data, aug.Tensors[5].Data);
    }

    [Fact]
    public void HiddenPermutationPreservesTheFunctionEvenForAnAllNeuronSpace()
    {
        // The all-neuron space marks inputs and outputs as permuted; the augmentation must still only permute hidden layers.
        var decl = new[] { LayerDeclaration.Dense(2, 3), LayerDeclaration.Dense(3, 2) };
        var all = WS.FromLayers(decl, Symmetry.AllNeuron);
        var w = ReferenceMlp.Random(all, 3, 5);
        var aug = w.Clone();
        new WeightAugmentation { PermuteHidden = true }.Apply(aug, new Rng(6));
        var rng = new Rng(7);
        for (int n = 0; n < 3; n++)
        {
            var x = RandomPoint(rng, 2);
            var a = ReferenceMlp.Run(w, n, x); var b = ReferenceMlp.Run(aug, n, x);
            for (int o = 0; o < 2; o++) Assert.Equal(a[o], b[o], 1e-9);
        }
    }

    [Fact]
    public void RotatingTheFirstLayerEqualsRotatingTheInputCoordinates()
    {
        var space = ReferenceMlp.Space(2, 6, 1);
        var w = ReferenceMlp.Random(space, 2, 21);
        var rotated = w.Clone();
        double theta = 0.3;
        WeightAugmentation.RotateFirstLayer(rotated, 1, theta);
        var rng = new Rng(22);
        for (int k = 0; k < 20; k++)
        {
            var x = RandomPoint(rng, 2);
            Assert.Equal(ReferenceMlp.Run(w, 1, Rotate(x, theta))[0], ReferenceMlp.Run(rotated, 1, x)[0], 1e-5);
            Assert.Equal(ReferenceMlp.Run(w, 0, x)[0], ReferenceMlp.Run(rotated, 0, x)[0], 0); // other network untouched
        }
    }

    [Fact]
    public void RandomRotationsAreRotationsWithinTheRange()
    {
        var space = ReferenceMlp.Space(2, 6, 1);
        var w = ReferenceMlp.Random(space, 8, 31);
        var aug = w.Clone();
        new WeightAugmentation { MaxRotationDegrees = 45 }.Apply(aug, new Rng(32));
        var angles = new List<double>();
        for (int n = 0; n < w.Batch; n++)
        {
            // Least squares: R = (W1ᵀ W1)⁻¹ W1ᵀ W1'.
            var a = new double[6, 2]; var b = new double[6, 2];
            for (int r = 0; r < 6; r++) for (int c = 0; c < 2; c++) { a[r, c] = w.Tensors[0].Data[n * 12 + r * 2 + c]; b[r, c] = aug.Tensors[0].Data[n * 12 + r * 2 + c]; }
            double g00 = 0, g01 = 0, g11 = 0, h00 = 0, h01 = 0, h10 = 0, h11 = 0;
            for (int r = 0; r < 6; r++)
            {
                g00 += a[r, 0] * a[r, 0]; g01 += a[r, 0] * a[r, 1]; g11 += a[r, 1] * a[r, 1];
                h00 += a[r, 0] * b[r, 0]; h01 += a[r, 0] * b[r, 1]; h10 += a[r, 1] * b[r, 0]; h11 += a[r, 1] * b[r, 1];
            }
            double det = g00 * g11 - g01 * g01;
            double r00 = (g11 * h00 - g01 * h10) / det, r01 = (g11 * h01 - g01 * h11) / det;
            double r10 = (-g01 * h00 + g00 * h10) / det, r11 = (-g01 * h01 + g00 * h11) / det;
            // R(θ) = [[cos, −sin], [sin, cos]]
            Assert.Equal(r00, r11, 1e-5);
            Assert.Equal(r01, -r10, 1e-5);
            Assert.Equal(1.0, r00 * r00 + r10 * r10, 1e-5);
            double theta = Math.Atan2(r10, r00) * 180 / Math.PI;
            Assert.InRange(theta, -45.0, 45.0);
            angles.Add(theta);
            Assert.Equal(w.Tensors[1].Data.AsSpan(n * 6, 6).ToArray(), aug.Tensors[1].Data.AsSpan(n * 6, 6).ToArray()); // b1 untouched
        }
        Assert.True(angles.Distinct().Count() == angles.Count, "each network gets its own angle");
        Assert.True(angles.Max() - angles.Min() > 30, "angles should spread over the range");
    }

    [Fact]
    public void ScalingAndTranslationActOnTheInputCoordinates()
    {
        var space = ReferenceMlp.Space(2, 5, 2);
        var w = ReferenceMlp.Random(space, 1, 41);
        var scaled = w.Clone();
        WeightAugmentation.ScaleFirstLayer(scaled, 0, 1.15f);
        var shifted = w.Clone();
        WeightAugmentation.TranslateInputs(shifted, 0, new[] { 0.25f, -0.5f });
        var rng = new Rng(42);
        for (int k = 0; k < 10; k++)
        {
            var x = RandomPoint(rng, 2);
            var fs = ReferenceMlp.Run(w, 0, new[] { x[0] * 1.15f, x[1] * 1.15f });
            var ft = ReferenceMlp.Run(w, 0, new[] { x[0] + 0.25, x[1] - 0.5 });
            for (int o = 0; o < 2; o++)
            {
                Assert.Equal(fs[o], ReferenceMlp.Run(scaled, 0, x)[o], 1e-5);
                Assert.Equal(ft[o], ReferenceMlp.Run(shifted, 0, x)[o], 1e-5);
            }
        }
    }

    [Fact]
    public void SameSeedGivesTheSameAugmentationAndAnotherSeedDoesNot()
    {
        var space = ReferenceMlp.Space(2, 8, 8, 1);
        var w = ReferenceMlp.Random(space, 5, 51);
        var aug = WeightAugmentation.Reference(noiseStd: 0.05f, maxTranslation: 0.1f);
        var a = w.Clone(); aug.Apply(a, new Rng(7));
        var b = w.Clone(); aug.Apply(b, new Rng(7));
        var c = w.Clone(); aug.Apply(c, new Rng(8));
        ReferenceMlp.AssertBitwiseEqual(a, b);
        Assert.False(a.Flatten().AsSpan().SequenceEqual(c.Flatten()));
        Assert.False(a.Flatten().AsSpan().SequenceEqual(w.Flatten()));
    }

    [Fact]
    public void DropoutAndNoiseHaveTheRequestedStatistics()
    {
        var space = ReferenceMlp.Space(2, 32, 32, 1);
        var w = ReferenceMlp.Random(space, 20, 61);
        var dropped = w.Clone();
        new WeightAugmentation { DropoutP = 0.25f }.Apply(dropped, new Rng(62));
        float[] x = w.Flatten(), d = dropped.Flatten();
        int zeros = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (d[i] == 0) zeros++;
            else Assert.Equal(x[i] / 0.75f, d[i], 1e-5f);
        }
        Assert.InRange((double)zeros / x.Length, 0.23, 0.27);

        var noisy = w.Clone();
        new WeightAugmentation { NoiseStd = 0.1f }.Apply(noisy, new Rng(63));
        var diff = noisy.Flatten().Zip(x, (a, b) => (double)a - b).ToArray();
        double mean = diff.Average(), std = Math.Sqrt(diff.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.005, 0.005);
        Assert.InRange(std, 0.097, 0.103);
    }

    [Fact]
    public void RelativeNoiseScalesWithEachTensorsSpread()
    {
        var space = ReferenceMlp.Space(2, 32, 32, 1);
        var w = ReferenceMlp.Random(space, 20, 71);
        // Give the tensors very different spreads: relative noise must follow each one.
        for (int t = 0; t < w.Tensors.Length; t++)
        {
            float scale = (float)Math.Pow(10, t - 2);
            var d = w.Tensors[t].Data;
            for (int i = 0; i < d.Length; i++) d[i] *= scale;
        }
        var noisy = w.Clone();
        new WeightAugmentation { NoiseStd = 0.1f, NoiseRelative = true }.Apply(noisy, new Rng(72));
        for (int t = 0; t < w.Tensors.Length; t++)
        {
            int size = space.Tensors[t].Size;
            if (size < 2) continue;
            double ratioSum = 0; int networks = 0;
            for (int n = 0; n < w.Batch; n++)
            {
                var x = w.Tensors[t].Data.AsSpan(n * size, size);
                var y = noisy.Tensors[t].Data.AsSpan(n * size, size);
                double mean = 0; for (int i = 0; i < size; i++) mean += x[i]; mean /= size;
                double spread = 0; for (int i = 0; i < size; i++) spread += (x[i] - mean) * (x[i] - mean); spread = Math.Sqrt(spread / size);
                double noise = 0; for (int i = 0; i < size; i++) noise += (y[i] - x[i]) * (double)(y[i] - x[i]); noise = Math.Sqrt(noise / size);
                ratioSum += noise / spread; networks++;
            }
            Assert.InRange(ratioSum / networks, 0.09, 0.11);
        }
        // A one-entry tensor (the output bias) has no spread and is left alone.
        int last = w.Tensors.Length - 1;
        Assert.Equal(1, space.Tensors[last].Size);
        Assert.True(w.Tensors[last].Data.AsSpan().SequenceEqual(noisy.Tensors[last].Data));
    }

    [Fact]
    public void RotationNeedsAFirstLayerWithTwoInputs()
    {
        var three = ReferenceMlp.Space(3, 4, 1);
        var aug = new WeightAugmentation { MaxRotationDegrees = 45 };
        var ex = Assert.Throws<InvalidOperationException>(() => aug.Apply(ReferenceMlp.Random(three, 1, 1), new Rng(1)));
        Assert.Contains("needs a dense first layer with 2 inputs (2-D coordinates)", ex.Message);
        Assert.Contains("Dense(3→4)", ex.Message);
        Assert.Throws<InvalidOperationException>(() => aug.Validate(three));

        var cnn = WS.FromLayers(new[] { LayerDeclaration.Conv2d(2, 3, 3, 3), LayerDeclaration.Dense(3, 1) }, Symmetry.HiddenNeuron);
        ex = Assert.Throws<InvalidOperationException>(() => aug.Validate(cnn));
        Assert.Contains("Conv2d", ex.Message);
        // Scaling works for any first layer.
        new WeightAugmentation { ScaleMin = 0.8f, ScaleMax = 1.2f, PermuteHidden = true }.Apply(ReferenceMlp.Random(cnn, 2, 3), new Rng(2));
    }
}
