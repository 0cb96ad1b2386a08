using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Runtime.Tests.InputNetworks;

/// <summary>A plain float64 implementation of the input network, point by point, used as the oracle.</summary>
internal static class DoubleReference
{
    public static double[] Forward(MlpInputNetwork net, double[] flat, double[] points, int pointCount)
    {
        var w = net.Widths;
        int depth = net.Depth;
        var outputs = new double[pointCount * net.OutputWidth];
        var offsets = Offsets(net);
        for (int p = 0; p < pointCount; p++)
        {
            var h = new double[w[0]];
            for (int i = 0; i < w[0]; i++) h[i] = points[p * w[0] + i];
            for (int m = 0; m < depth; m++)
            {
                var z = new double[w[m + 1]];
                for (int r = 0; r < w[m + 1]; r++)
                {
                    double s = offsets.B[m] >= 0 ? flat[offsets.B[m] + r] : 0;
                    for (int k = 0; k < w[m]; k++) s += flat[offsets.W[m] + r * w[m] + k] * h[k];
                    z[r] = m < depth - 1 ? Act(net, s) : s + net.OutputOffset;
                }
                h = z;
            }
            for (int o = 0; o < net.OutputWidth; o++) outputs[p * net.OutputWidth + o] = h[o];
        }
        return outputs;
    }

    private static double Act(MlpInputNetwork net, double z) => net.Activation switch
    {
        InputActivation.Sine => Math.Sin(net.Omega0 * z),
        InputActivation.Tanh => Math.Tanh(z),
        _ => Math.Max(0, z),
    };

    public static (int[] W, int[] B) Offsets(MlpInputNetwork net)
    {
        var w = new int[net.Depth]; var b = Enumerable.Repeat(-1, net.Depth).ToArray();
        for (int t = 0; t < net.Space.Tensors.Count; t++)
        {
            var wt = net.Space.Tensors[t];
            if (wt.IsBias) b[wt.LayerNumber - 1] = net.TensorOffset(t); else w[wt.LayerNumber - 1] = net.TensorOffset(t);
        }
        return (w, b);
    }

    /// <summary>Central differences in float64 of L(θ) = Σ gradOut · output(θ).</summary>
    public static double[] FiniteDifferenceGradient(MlpInputNetwork net, double[] flat, double[] points, int pointCount, double[] gradOut, double h = 1e-6)
    {
        var g = new double[flat.Length];
        var x = (double[])flat.Clone();
        for (int i = 0; i < flat.Length; i++)
        {
            x[i] = flat[i] + h; double lp = Dot(Forward(net, x, points, pointCount), gradOut);
            x[i] = flat[i] - h; double lm = Dot(Forward(net, x, points, pointCount), gradOut);
            x[i] = flat[i];
            g[i] = (lp - lm) / (2 * h);
        }
        return g;
    }

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }
}

public class MlpInputNetworkTests
{
    private static Space MakeSpace(params LayerDeclaration[] layers) => Space.FromLayers(layers, Symmetry.HiddenNeuron);

    private static Space Siren => MakeSpace(LayerDeclaration.Dense(2, 32), LayerDeclaration.Dense(32, 32), LayerDeclaration.Dense(32, 1));

    private static float[] RandomFloats(Rng rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = rng.Uniform(-scale, scale);
        return a;
    }

    private static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    [Fact]
    public void SirenForwardMatchesHandComputation()
    {
        // 1 → 2 → 1, ω0 = 30, offset 0.5: out = v0·sin(30(a0·x + c0)) + v1·sin(30(a1·x + c1)) + d + 0.5.
        var net = new MlpInputNetwork(MakeSpace(LayerDeclaration.Dense(1, 2), LayerDeclaration.Dense(2, 1)), InputActivation.Sine, 30f, 0.5f);
        // Flat order: W1 (2×1), b1 (2), W2 (1×2), b2 (1).
        float[] flat = { 0.1f, -0.2f, 0.05f, 0f, 0.5f, -1f, 0.25f };
        float[] xs = { 0.3f, -0.7f, 1f };
        var output = new float[3];
        net.ForwardNetwork(flat, xs, 3, output, net.CreateWorkspace());
        for (int p = 0; p < 3; p++)
        {
            double x = xs[p];
            double expected = 0.5 * Math.Sin(30 * (0.1 * x + 0.05)) - 1.0 * Math.Sin(30 * (-0.2 * x)) + 0.25 + 0.5;
            Assert.Equal(expected, output[p], 1e-5);
        }
        // At x = 0.3 by hand: sin(2.4) = 0.675463…, sin(−1.8) = −0.973848…, so out = 0.337732 + 0.973848 + 0.75.
        Assert.Equal(2.061580, output[0], 1e-4);
    }

    public static IEnumerable<object[]> Architectures() => new[]
    {
        new object[] { "siren", InputActivation.Sine, new[] { 2, 32, 32, 1 }, 150 },
        new object[] { "relu-odd-widths", InputActivation.ReLU, new[] { 3, 5, 7, 2 }, 37 },
        new object[] { "tanh-deep", InputActivation.Tanh, new[] { 2, 6, 9, 4, 3 }, 129 },
        new object[] { "sine-depth-2", InputActivation.Sine, new[] { 1, 12, 1 }, 8 },
    };

    private static MlpInputNetwork Build(InputActivation act, int[] widths, bool dropOneBias = false)
    {
        var layers = new LayerDeclaration[widths.Length - 1];
        for (int m = 0; m < layers.Length; m++) layers[m] = LayerDeclaration.Dense(widths[m], widths[m + 1], bias: !(dropOneBias && m == 1));
        return new MlpInputNetwork(MakeSpace(layers), act, act == InputActivation.Sine ? 3f : 30f, 0.25f);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void ForwardMatchesFloat64Reference(string name, InputActivation act, int[] widths, int pointCount)
    {
        _ = name;
        var net = Build(act, widths);
        var rng = new Rng(7);
        var flat = RandomFloats(rng, net.ParameterCount, 0.6f);
        var pts = RandomFloats(rng, pointCount * net.InputWidth, 1f);
        var output = new float[pointCount * net.OutputWidth];
        net.ForwardNetwork(flat, pts, pointCount, output, net.CreateWorkspace());
        var expected = DoubleReference.Forward(net, ToDouble(flat), ToDouble(pts), pointCount);
        for (int i = 0; i < output.Length; i++) Assert.True(Math.Abs(output[i] - expected[i]) < 1e-4 * (1 + Math.Abs(expected[i])), $"{name} output {i}: {output[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void BackwardMatchesFiniteDifferencesInFloat64(string name, InputActivation act, int[] widths, int pointCount)
    {
        var net = Build(act, widths, dropOneBias: widths.Length > 3);
        var rng = new Rng(11);
        var flat = RandomFloats(rng, net.ParameterCount, 0.6f);
        var pts = RandomFloats(rng, pointCount * net.InputWidth, 1f);
        var gradOut = RandomFloats(rng, pointCount * net.OutputWidth, 1f);
        var grad = new float[net.ParameterCount];
        grad.AsSpan().Fill(123f); // overwrite semantics
        net.BackwardNetwork(flat, pts, pointCount, gradOut, grad, net.CreateWorkspace());
        var fd = DoubleReference.FiniteDifferenceGradient(net, ToDouble(flat), ToDouble(pts), pointCount, ToDouble(gradOut));
        double scale = fd.Max(Math.Abs);
        double num = 0, den = 0;
        for (int i = 0; i < fd.Length; i++)
        {
            Assert.True(Math.Abs(grad[i] - fd[i]) <= 1e-4 * scale + 1e-5, $"{name} parameter {i}: backward {grad[i]} vs finite differences {fd[i]} (scale {scale})");
            num += (grad[i] - fd[i]) * (grad[i] - fd[i]); den += fd[i] * fd[i];
        }
        Assert.True(Math.Sqrt(num / den) < 1e-5, $"{name}: relative gradient error {Math.Sqrt(num / den)}");
    }

    [Fact]
    public void MseAndGradientAgreesWithBackwardOfMseGradient()
    {
        var net = new MlpInputNetwork(Siren, InputActivation.Sine, 30f, 0.5f);
        var rng = new Rng(3);
        var flat = RandomFloats(rng, net.ParameterCount, 0.05f);
        int n = 200;
        var pts = RandomFloats(rng, n * 2, 1f);
        var targets = RandomFloats(rng, n, 1f);
        var ws = net.CreateWorkspace();
        var grad = new float[net.ParameterCount];
        double mse = net.MseAndGradient(flat, pts, n, targets, grad, ws);

        var output = new float[n];
        net.ForwardNetwork(flat, pts, n, output, ws);
        double expectedMse = 0;
        var gradOut = new float[n];
        for (int i = 0; i < n; i++) { double e = output[i] - targets[i]; expectedMse += e * e; gradOut[i] = (float)(2 * e / n); }
        expectedMse /= n;
        Assert.Equal(expectedMse, mse, 1e-6 * (1 + expectedMse));
        var expected = new float[net.ParameterCount];
        net.BackwardNetwork(flat, pts, n, gradOut, expected, ws);
        for (int i = 0; i < grad.Length; i++) Assert.Equal((double)expected[i], grad[i], 1e-4 * (1 + Math.Abs(expected[i])));
        // Loss only: the gradient argument may be empty.
        Assert.Equal(mse, net.MseAndGradient(flat, pts, n, targets, Span<float>.Empty, ws));
    }

    [Fact]
    public void BatchApiMatchesPerNetworkRunsAndOverwritesGradients()
    {
        var space = MakeSpace(LayerDeclaration.Dense(2, 5), LayerDeclaration.Dense(5, 3), LayerDeclaration.Dense(3, 2));
        var net = new MlpInputNetwork(space, InputActivation.Tanh, 30f, 0.1f);
        var rng = new Rng(5);
        int batch = 6, n = 20;
        var weights = new WeightSpaceBatch(space, batch, 1);
        foreach (var t in weights.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Uniform(-1, 1);
        var pts = RandomFloats(rng, n * 2, 1f);
        var output = new float[batch * n * 2];
        net.Forward(weights, pts, n, output);
        var gradOut = RandomFloats(rng, batch * n * 2, 1f);
        var grads = new WeightSpaceBatch(space, batch, 1);
        foreach (var t in grads.Tensors) Array.Fill(t.Data, 9f);
        net.Backward(weights, pts, n, gradOut, grads);

        var ws = net.CreateWorkspace();
        var flat = new float[net.ParameterCount];
        var one = new float[n * 2];
        var g = new float[net.ParameterCount];
        var gOne = new float[net.ParameterCount];
        for (int b = 0; b < batch; b++)
        {
            net.Gather(weights, b, flat);
            net.ForwardNetwork(flat, pts, n, one, ws);
            Assert.Equal(one, output.AsSpan(b * n * 2, n * 2).ToArray());
            net.BackwardNetwork(flat, pts, n, gradOut.AsSpan(b * n * 2, n * 2), g, ws);
            net.Gather(grads, b, gOne);
            Assert.Equal(g, gOne);
        }

        // Thread count does not change anything.
        net.MaxDegreeOfParallelism = 1;
        var serial = new float[output.Length];
        net.Forward(weights, pts, n, serial);
        Assert.Equal(output, serial);
    }

    [Fact]
    public void PermutingHiddenNeuronsPreservesTheFunction()
    {
        var space = Siren;
        var net = new MlpInputNetwork(space, InputActivation.Sine, 30f, 0.5f);
        var rng = new Rng(21);
        var weights = new WeightSpaceBatch(space, 2, 1);
        foreach (var t in weights.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Uniform(-0.1f, 0.1f);
        var permuted = Permutations.Apply(weights, Permutations.Random(space, rng));
        int n = 50;
        var pts = RandomFloats(rng, n * 2, 1f);
        var a = new float[2 * n]; var b = new float[2 * n];
        net.Forward(weights, pts, n, a);
        net.Forward(permuted, pts, n, b);
        for (int i = 0; i < a.Length; i++) Assert.Equal((double)a[i], b[i], 1e-5);
        Assert.NotEqual(weights.Flatten(), permuted.Flatten());
    }

    [Fact]
    public void RejectsBadInputsWithMessages()
    {
        var space = Siren;
        var net = new MlpInputNetwork(space, InputActivation.Sine, 30f, 0.5f);
        var pts = new float[20];
        var ex = Assert.Throws<ArgumentException>(() => net.Forward(new WeightSpaceBatch(space, 1, 2), pts, 10, new float[10]));
        Assert.Contains("1 channel", ex.Message);
        var other = MakeSpace(LayerDeclaration.Dense(2, 8), LayerDeclaration.Dense(8, 1));
        ex = Assert.Throws<ArgumentException>(() => net.Forward(new WeightSpaceBatch(other, 1, 1), pts, 10, new float[10]));
        Assert.Contains("weight space", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => net.Forward(new WeightSpaceBatch(space, 2, 1), pts, 10, new float[10]));
        Assert.Contains("output holds 10", ex.Message);
        var cnn = Space.FromLayers(new[] { LayerDeclaration.Conv2d(1, 2, 3, 3), LayerDeclaration.Dense(2, 1) }, Symmetry.HiddenNeuron);
        ex = Assert.Throws<ArgumentException>(() => new MlpInputNetwork(cnn));
        Assert.Contains("dense", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MlpInputNetwork(space, InputActivation.Sine, 0f));
    }
}

/// <summary>A fact about the Vector256 code path; skipped where Vector256 is not hardware-accelerated (e.g. DOTNET_EnableAVX2=0).</summary>
public sealed class Vector256FactAttribute : FactAttribute
{
    public Vector256FactAttribute()
    {
        if (!System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated) Skip = "Vector256 is not hardware-accelerated on this machine or configuration.";
    }
}

public class FastSinCosTests
{
    [Vector256Fact]
    public void VectorSinCosMatchesMathWithinAFewUlps()
    {
        var rng = new Rng(1);
        double worst = 0;
        for (int k = 0; k < 20000; k++)
        {
            // Dense near 0 and across the range SIREN pre-activations reach (|ω0·z| up to a few hundred).
            float scale = k % 3 == 0 ? 4f : k % 3 == 1 ? 100f : 2000f;
            var xs = new float[8];
            for (int i = 0; i < 8; i++) xs[i] = rng.Uniform(-scale, scale);
            var (s, c) = PointKernels.SinCos(System.Runtime.Intrinsics.Vector256.Create(xs));
            for (int i = 0; i < 8; i++)
            {
                // The float argument is exact; compare against the double sin/cos of that value.
                double es = Math.Sin(xs[i]), ec = Math.Cos(xs[i]);
                worst = Math.Max(worst, Math.Max(Math.Abs(s[i] - es), Math.Abs(c[i] - ec)));
            }
        }
        Assert.True(worst < 2e-6, $"largest error {worst}");
        var (s0, c0) = PointKernels.SinCos(System.Runtime.Intrinsics.Vector256<float>.Zero);
        Assert.Equal(0f, s0[0]);
        Assert.Equal(1f, c0[0]);
    }
}
