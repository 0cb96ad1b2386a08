using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using L = LayerCompiler.TestSupport.ClassifierReference64.Layer;

namespace LayerCompiler.Generated.Tests.InputNetworks;

/// <summary>
/// The generated image-classifier pass (strided valid convolutions, global average pooling, dense layers; or dense
/// layers over flattened images) against a float64 reference written from the definition, its weight gradient against
/// float64 central differences, and determinism.
/// </summary>
public class GeneratedClassifierTests
{
    /// <summary>Declarations of Architectures.cs typed in again (so a misread attribute cannot check itself).</summary>
    private static readonly L[] Cnn =
    {
        new(true, 2, 3, 3, 3, 2), new(true, 3, 4, 2, 2, 1, Bias: false), new(true, 4, 3, 2, 2, 2),
        new(false, 3, 4), new(false, 4, 3),
    };
    /// <summary>VectorStridedCnn's declarations (whole vectors of 8 and 16 channels and a scalar tail of 4).</summary>
    private static readonly L[] Wide =
    {
        new(true, 2, 8, 3, 3, 2), new(true, 8, 16, 2, 2, 1, Bias: false), new(true, 16, 12, 2, 2, 2),
        new(false, 12, 5), new(false, 5, 3),
    };
    private static readonly L[] Mlp = { new(false, 24, 5), new(false, 5, 4), new(false, 4, 3) };

    private sealed record Case(string Name, WeightSpace Space, int InputLength, int Outputs, int Features,
        Action<WeightSpaceBatch, float[], int[], int, float[], float[]?> Forward,
        Action<WeightSpaceBatch, float[], int[], int, float[], WeightSpaceBatch, float[]?> Backward,
        ClassifierReference64 Reference)
    {
        public Action<WeightSpaceBatch, float[], int[], int, float[], float[], float[]?> ForwardSave { get; init; } = null!;
        public Action<WeightSpaceBatch, float[], int[], int, float[], WeightSpaceBatch, float[], float[]?> BackwardSaved { get; init; } = null!;
        public int SavedPerImage { get; init; }
    }

    private static Case Get(string name)
    {
        switch (name)
        {
            case "cnn-tanh": { var c = new TinyStridedCnn.Classifier(); return new(name, c.Space, TinyStridedCnn.Classifier.InputLength, 3, 4, c.Forward, c.Backward, new(Cnn, InputActivation.Tanh, 2, 9, 9)) { ForwardSave = c.ForwardSave, BackwardSaved = c.BackwardSaved, SavedPerImage = TinyStridedCnn.Classifier.SavedPerImage }; }
            case "cnn-relu": { var c = new TinyStridedCnnRelu.Classifier(); return new(name, c.Space, TinyStridedCnnRelu.Classifier.InputLength, 3, 4, c.Forward, c.Backward, new(Cnn, InputActivation.ReLU, 2, 9, 9)) { ForwardSave = c.ForwardSave, BackwardSaved = c.BackwardSaved, SavedPerImage = TinyStridedCnnRelu.Classifier.SavedPerImage }; }
            case "wide-tanh": { var c = new VectorStridedCnn.Classifier(); return new(name, c.Space, VectorStridedCnn.Classifier.InputLength, 3, 5, c.Forward, c.Backward, new(Wide, InputActivation.Tanh, 2, 11, 11)) { ForwardSave = c.ForwardSave, BackwardSaved = c.BackwardSaved, SavedPerImage = VectorStridedCnn.Classifier.SavedPerImage }; }
            case "wide-relu": { var c = new VectorStridedCnnRelu.Classifier(); return new(name, c.Space, VectorStridedCnnRelu.Classifier.InputLength, 3, 5, c.Forward, c.Backward, new(Wide, InputActivation.ReLU, 2, 11, 11)) { ForwardSave = c.ForwardSave, BackwardSaved = c.BackwardSaved, SavedPerImage = VectorStridedCnnRelu.Classifier.SavedPerImage }; }
            case "mlp-relu": { var c = new TinyImageMlp.Classifier(); return new(name, c.Space, TinyImageMlp.Classifier.InputLength, 3, 4, c.Forward, c.Backward, new(Mlp, InputActivation.ReLU, 2, 3, 4)) { ForwardSave = c.ForwardSave, BackwardSaved = c.BackwardSaved, SavedPerImage = TinyImageMlp.Classifier.SavedPerImage }; }
            default: throw new ArgumentException(name);
        }
    }

    public static TheoryData<string> Names => new() { "cnn-tanh", "cnn-relu", "wide-tanh", "wide-relu", "mlp-relu" };

    private static WeightSpaceBatch RandomWeights(WeightSpace space, int batch, ulong seed)
    {
        var b = new WeightSpaceBatch(space, batch, 1);
        var rng = new Rng(seed);
        foreach (var t in b.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(rng.Normal() * 0.6);
        return b;
    }

    private static float[] RandomFloats(int n, ulong seed, double scale, double offset = 0)
    {
        var rng = new Rng(seed); var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)(offset + rng.Normal() * scale);
        return r;
    }

    private static (float[] Images, int[] Indices, float[] Mask) Data(Case c, int batch, int per, ulong seed)
    {
        const int images = 7;
        var x = RandomFloats(images * c.InputLength, seed, 1.0);
        var rng = new Rng(seed + 1);
        var idx = new int[batch * per];
        for (int i = 0; i < idx.Length; i++) idx[i] = (int)(rng.NextUInt64() % images);
        var mask = new float[batch * per * c.Features];
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < 0.3 ? 0f : 1.25f;
        return (x, idx, mask);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ForwardMatchesFloat64Reference(string name)
    {
        var c = Get(name);
        const int batch = 5, per = 4;
        var w = RandomWeights(c.Space, batch, 11);
        var (x, idx, mask) = Data(c, batch, per, 12);
        foreach (bool masked in new[] { false, true })
        {
            var logits = new float[batch * per * c.Outputs];
            c.Forward(w, x, idx, per, logits, masked ? mask : null);
            for (int n = 0; n < batch; n++)
            {
                var wn = ClassifierReference64.Weights(w, n);
                for (int j = 0; j < per; j++)
                {
                    int item = n * per + j;
                    var expect = c.Reference.Logits(wn, new ReadOnlySpan<float>(x, idx[item] * c.InputLength, c.InputLength),
                        masked ? new ReadOnlySpan<float>(mask, item * c.Features, c.Features) : default);
                    GradCheck.AssertClose(new ReadOnlySpan<float>(logits, item * c.Outputs, c.Outputs), expect, 1e-4, 1e-5, $"{name} masked={masked} logits n={n} j={j}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void WeightGradientMatchesCentralDifferences(string name)
    {
        var c = Get(name);
        const int batch = 3, per = 3;
        var w = RandomWeights(c.Space, batch, 21);
        var (x, idx, mask) = Data(c, batch, per, 22);
        var gy = RandomFloats(batch * per * c.Outputs, 23, 1.0);
        foreach (bool masked in new[] { false, true })
        {
            var gw = new WeightSpaceBatch(c.Space, batch, 1);
            // Garbage in the output: Backward must overwrite, not accumulate.
            foreach (var t in gw.Tensors) Array.Fill(t.Data, 7f);
            c.Backward(w, x, idx, per, gy, gw, masked ? mask : null);
            for (int n = 0; n < batch; n++)
            {
                var wn = ClassifierReference64.Weights(w, n);
                var sizes = wn.Select(a => a.Length).ToArray();
                var flat = wn.SelectMany(a => a).ToArray();
                double Loss(double[] v)
                {
                    var parts = new double[sizes.Length][];
                    for (int t = 0, o = 0; t < sizes.Length; o += sizes[t], t++) parts[t] = v.Skip(o).Take(sizes[t]).ToArray();
                    double s = 0;
                    for (int j = 0; j < per; j++)
                    {
                        int item = n * per + j;
                        var y = c.Reference.Logits(parts, new ReadOnlySpan<float>(x, idx[item] * c.InputLength, c.InputLength),
                            masked ? new ReadOnlySpan<float>(mask, item * c.Features, c.Features) : default);
                        for (int k = 0; k < y.Length; k++) s += gy[item * c.Outputs + k] * y[k];
                    }
                    return s;
                }
                var numeric = GradCheck.Numeric(Loss, flat);
                var analytic = new List<float>();
                for (int t = 0; t < gw.Tensors.Length; t++) analytic.AddRange(gw.Tensors[t].Data.Skip(n * sizes[t]).Take(sizes[t]));
                GradCheck.AssertClose(analytic.ToArray(), numeric, 2e-3, 2e-4, $"{name} masked={masked} dW n={n}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DeterministicAndIndependentOfBatchNeighbours(string name)
    {
        var c = Get(name);
        const int batch = 6, per = 5;
        var w = RandomWeights(c.Space, batch, 31);
        var (x, idx, mask) = Data(c, batch, per, 32);
        var gy = RandomFloats(batch * per * c.Outputs, 33, 1.0);
        var g1 = new WeightSpaceBatch(c.Space, batch, 1); var g2 = new WeightSpaceBatch(c.Space, batch, 1);
        c.Backward(w, x, idx, per, gy, g1, mask);
        c.Backward(w, x, idx, per, gy, g2, mask);
        Assert.Equal(g1.Flatten(), g2.Flatten());
        // Network 4 alone gives bitwise what it gave in the batch.
        const int n = 4;
        var one = new WeightSpaceBatch(c.Space, 1, 1);
        for (int t = 0; t < one.Tensors.Length; t++) { int s = c.Space.Tensors[t].Size; Array.Copy(w.Tensors[t].Data, n * s, one.Tensors[t].Data, 0, s); }
        var gOne = new WeightSpaceBatch(c.Space, 1, 1);
        c.Backward(one, x, idx.Skip(n * per).Take(per).ToArray(), per, gy.Skip(n * per * c.Outputs).Take(per * c.Outputs).ToArray(), gOne,
            mask.Skip(n * per * c.Features).Take(per * c.Features).ToArray());
        for (int t = 0; t < one.Tensors.Length; t++)
        {
            int s = c.Space.Tensors[t].Size;
            Assert.Equal(g1.Tensors[t].Data.Skip(n * s).Take(s).ToArray(), gOne.Tensors[t].Data);
        }
    }

    /// <summary>
    /// ForwardSave gives Forward's logits and BackwardSaved, reading the activations it kept instead of recomputing them,
    /// gives Backward's gradient bit for bit (with and without a feature mask); a short saved buffer is refused.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void BackwardFromSavedActivationsIsBackwardBitForBit(string name)
    {
        var c = Get(name);
        const int batch = 5, per = 4;
        var w = RandomWeights(c.Space, batch, 41);
        var (x, idx, mask) = Data(c, batch, per, 42);
        var gy = RandomFloats(batch * per * c.Outputs, 43, 1.0);
        foreach (bool masked in new[] { false, true })
        {
            var m = masked ? mask : null;
            var logits = new float[batch * per * c.Outputs]; var logitsSaved = new float[logits.Length];
            var saved = RandomFloats(batch * per * c.SavedPerImage, 44, 3.0);
            c.Forward(w, x, idx, per, logits, m);
            c.ForwardSave(w, x, idx, per, logitsSaved, saved, m);
            Assert.Equal(logits, logitsSaved);
            var g1 = new WeightSpaceBatch(c.Space, batch, 1); var g2 = new WeightSpaceBatch(c.Space, batch, 1);
            foreach (var t in g2.Tensors) Array.Fill(t.Data, 5f);
            c.Backward(w, x, idx, per, gy, g1, m);
            c.BackwardSaved(w, x, idx, per, gy, g2, saved, m);
            Assert.Equal(g1.Flatten(), g2.Flatten());
            // The saved activations are what the gradient is computed from: other ones give another gradient.
            var other = (float[])saved.Clone();
            for (int i = 0; i < other.Length; i++) other[i] *= 0.5f;
            var g3 = new WeightSpaceBatch(c.Space, batch, 1);
            c.BackwardSaved(w, x, idx, per, gy, g3, other, m);
            Assert.NotEqual(g1.Flatten(), g3.Flatten());
        }
        var e = Assert.Throws<ArgumentException>(() => c.ForwardSave(w, x, idx, per, new float[batch * per * c.Outputs], new float[batch * per * c.SavedPerImage - 1], null));
        Assert.Contains("saved", e.Message);
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var c = Get("cnn-tanh");
        var w = RandomWeights(c.Space, 2, 1);
        var x = new float[3 * c.InputLength];
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Forward(w, x, new[] { 0, 3 }, 1, new float[2 * 3], null));
        Assert.Throws<ArgumentException>(() => c.Forward(w, x, new[] { 0, 1, 2 }, 1, new float[2 * 3], null));
        Assert.Throws<ArgumentException>(() => c.Forward(w, new float[c.InputLength + 1], new[] { 0, 0 }, 1, new float[2 * 3], null));
        Assert.Throws<ArgumentException>(() => c.Forward(w, x, new[] { 0, 1 }, 1, new float[5], null));
        Assert.Throws<ArgumentException>(() => c.Forward(w, x, new[] { 0, 1 }, 1, new float[6], new float[3]));
    }

    [Fact]
    public void DeclaredGeometryConstants()
    {
        Assert.Equal((2, 9, 9, 162, 3, 4), (TinyStridedCnn.Classifier.ImageChannels, TinyStridedCnn.Classifier.ImageHeight, TinyStridedCnn.Classifier.ImageWidth,
            TinyStridedCnn.Classifier.InputLength, TinyStridedCnn.Classifier.Outputs, TinyStridedCnn.Classifier.FeatureLength));
        Assert.Equal((2, 24, 4), (TinyImageMlp.Classifier.ImageChannels, TinyImageMlp.Classifier.InputLength, TinyImageMlp.Classifier.FeatureLength));
    }
}
