using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>Whole generated models: invariance of the head, equivariance of equivariant heads, generated == interpreted.</summary>
public class ModelTests
{
    public static IEnumerable<object[]> InvariantModels() => new (string, Func<EquivariantNetwork>)[]
    {
        ("Siren hidden (depth 3)", () => new SirenClassifier(1)),
        ("Siren all", () => new SirenClassifierAll(2)),
        ("Depth 2, GELU, normalized", () => new Depth2Classifier(3)),
        ("Depth 5 all", () => new Depth5AllClassifier(4)),
        ("CNN hidden", () => new CnnClassifier(5)),
        ("Siren hidden, max pooling", () => new SirenClassifierMax(9)),
        ("Depth 5 all, mean and max pooling", () => new Depth5AllMeanMax(10)),
        ("Siren hidden, normalized ReLU, max pooling", () => new SirenNormClassifier(11)),
    }.Select(x => new object[] { x.Item1, x.Item2 });

    public static IEnumerable<object[]> EquivariantModels() => new (string, Func<EquivariantNetwork>)[]
    {
        ("Depth 5 editor", () => new Depth5Editor(6)),
        ("CNN editor all", () => new CnnEditorAll(7)),
        ("Mlp 2-3-3-2 editor GELU", () => new Mlp2332Editor(8)),
        ("Depth 5 editor, normalized ReLU", () => new Depth5NormEditor(12)),
    }.Select(x => new object[] { x.Item1, x.Item2 });

    [Theory]
    [MemberData(nameof(InvariantModels))]
    public void InvariantHeadIsInvariant(string name, Func<EquivariantNetwork> make)
    {
        var model = make();
        var x = TestUtil.Random(model.Space, 5, 1, 21);
        var y = model.Forward(x).Data.ToArray();
        var rng = new Rng(22);
        for (int trial = 0; trial < 4; trial++)
        {
            var yg = model.Forward(Permutations.Apply(x, Permutations.Random(model.Space, rng))).Data.ToArray();
            double err = TestUtil.RelativeError(yg, y);
            Assert.True(err < 1e-5, $"{name}: trial {trial} relative error {err}");
        }
        // Not trivially invariant: a different input gives a different output.
        var other = model.Forward(TestUtil.Random(model.Space, 5, 1, 23)).Data.ToArray();
        Assert.True(TestUtil.RelativeError(other, y) > 1e-3, $"{name}: output does not depend on the input");
    }

    [Theory]
    [MemberData(nameof(EquivariantModels))]
    public void EquivariantHeadIsEquivariant(string name, Func<EquivariantNetwork> make)
    {
        var model = make();
        var x = TestUtil.Random(model.Space, 3, 1, 31);
        var y = model.ForwardEquivariant(x).Clone();
        var rng = new Rng(32);
        for (int trial = 0; trial < 4; trial++)
        {
            var g = Permutations.Random(model.Space, rng);
            var ygx = model.ForwardEquivariant(Permutations.Apply(x, g));
            double err = TestUtil.RelativeError(ygx, Permutations.Apply(y, g));
            Assert.True(err < 1e-5, $"{name}: trial {trial} relative error {err}");
        }
    }

    [Theory]
    [MemberData(nameof(InvariantModels))]
    public void GeneratedModelEqualsInterpretedModel(string name, Func<EquivariantNetwork> make)
    {
        var gen = make();
        var interp = EquivariantNetwork.CreateInterpreted(gen.Config, gen.Space);
        interp.LoadStateDict(gen.StateDict());
        var x = TestUtil.Random(gen.Space, 9, 1, 41);
        var y1 = gen.Forward(x); var y2 = interp.Forward(x);
        Assert.True(TestUtil.RelativeError(y1.Data, y2.Data) < 1e-5, name);
        var gy = new Tensor(TestUtil.RandomVector(y1.Length, 42), y1.Shape);
        gen.ZeroGrad(); interp.ZeroGrad();
        var gx1 = gen.Backward(gy).Clone(); var gx2 = interp.Backward(gy);
        Assert.True(TestUtil.RelativeError(gx1, gx2) < 1e-4, $"{name}: input gradient");
        var p1 = gen.NamedParameters().ToList(); var p2 = interp.NamedParameters().ToList();
        // Relative to each gradient, but with a floor at the model's overall gradient scale: a bias that
        // feeds a normalization has an exactly-zero true gradient, where both sides are rounding noise.
        double total = Math.Sqrt(p2.Sum(p => p.Parameter.Grad.Data.Sum(v => (double)v * v)));
        for (int i = 0; i < p1.Count; i++)
        {
            var a = p1[i].Parameter.Grad.Data; var b = p2[i].Parameter.Grad.Data;
            double diff = Math.Sqrt(a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum());
            double norm = Math.Sqrt(b.Sum(v => (double)v * v));
            // Kernels agree to 1e-5 (KernelTests); through GELU and EquivariantNorm (which divides by each
            // tensor's σ) accumulation-order differences grow, so whole models are compared at 1e-4.
            Assert.True(diff <= 1e-4 * Math.Max(norm, 1e-3 * total), $"{name}: gradient of {p1[i].Name}: |Δ| = {diff}, |g| = {norm}, total {total}");
        }
    }

    /// <summary>Training's backward (no input gradient) gives the same parameter gradients, bit for bit.</summary>
    [Theory]
    [MemberData(nameof(InvariantModels))]
    public void BackwardParametersEqualsBackward(string name, Func<EquivariantNetwork> make)
    {
        var a = make(); var b = make();
        var x = TestUtil.Random(a.Space, 9, 1, 31);
        var g = new Tensor(TestUtil.RandomVector(9 * a.Config.Outputs, 32), 9, a.Config.Outputs);
        a.Forward(x); b.Forward(x);
        var gx = a.Backward(g);
        b.BackwardParameters(g);
        Assert.NotNull(gx);
        foreach (var ((n, pa), (_, pb)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.True(pa.Grad.Data.AsSpan().SequenceEqual(pb.Grad.Data), $"{name}: gradient of {n}");
        Assert.Contains(a.Layers[0].Weight.Grad.Data, v => v != 0);
    }

    /// <summary>
    /// ReLU fused into the layers or normalizations (the default) against every activation as its own pass: logits,
    /// input gradients and every parameter gradient bitwise equal, through Backward and BackwardParameters.
    /// </summary>
    [Theory]
    [MemberData(nameof(InvariantModels))]
    public void FusedActivationsAreBitwiseTheSeparatePasses(string name, Func<EquivariantNetwork> make)
    {
        var fused = make(); var plain = make(); plain.FuseActivations = false;
        // Every ReLU fuses (all these models have generated kernels); other activations never do.
        bool relu = fused.Config.Activation == Activation.ReLU;
        Assert.Equal(relu ? fused.Config.Channels.Length : 0, fused.FusedActivationCount);
        Assert.Equal(0, plain.FusedActivationCount);
        var x = TestUtil.Random(fused.Space, 9, 1, 41);
        var g = new Tensor(TestUtil.RandomVector(9 * fused.Config.Outputs, 42), 9, fused.Config.Outputs);
        for (int pass = 0; pass < 2; pass++)
        {
            Assert.Equal(plain.Forward(x).Data.ToArray(), fused.Forward(x).Data.ToArray());
            if (pass == 0)
            {
                var ga = fused.Backward(g); var gb = plain.Backward(g);
                for (int t = 0; t < ga.Tensors.Length; t++) Assert.True(ga.Tensors[t].Data.AsSpan().SequenceEqual(gb.Tensors[t].Data), $"{name}: input gradient of tensor {t}");
            }
            else { fused.BackwardParameters(g); plain.BackwardParameters(g); }
            foreach (var ((n, pa), (_, pb)) in fused.NamedParameters().Zip(plain.NamedParameters()))
                Assert.True(pa.Grad.Data.AsSpan().SequenceEqual(pb.Grad.Data), $"{name}: gradient of {n} (pass {pass})");
            fused.ZeroGrad(); plain.ZeroGrad();
        }
    }

    /// <summary>
    /// FuseActivations switched between a forward and its backward: the backward follows what the forward did
    /// (a normalization that applied the ReLU differentiates it; one that did not leaves it to the activation).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SwitchingFusionBetweenForwardAndBackwardKeepsTheGradients(bool fusedForward)
    {
        var switched = new SirenNormClassifier(11) { FuseActivations = fusedForward };
        var plain = new SirenNormClassifier(11) { FuseActivations = false };
        var x = TestUtil.Random(switched.Space, 5, 1, 45);
        var g = new Tensor(TestUtil.RandomVector(5 * switched.Config.Outputs, 46), 5, switched.Config.Outputs);
        Assert.Equal(plain.Forward(x).Data.ToArray(), switched.Forward(x).Data.ToArray());
        switched.FuseActivations = !fusedForward;
        var ga = switched.Backward(g); var gb = plain.Backward(g);
        for (int t = 0; t < ga.Tensors.Length; t++) Assert.True(ga.Tensors[t].Data.AsSpan().SequenceEqual(gb.Tensors[t].Data), $"input gradient of tensor {t}");
        foreach (var ((n, pa), (_, pb)) in switched.NamedParameters().Zip(plain.NamedParameters()))
            Assert.True(pa.Grad.Data.AsSpan().SequenceEqual(pb.Grad.Data), $"gradient of {n}");
    }

    [Theory]
    [MemberData(nameof(EquivariantModels))]
    public void FusedActivationsAreBitwiseTheSeparatePassesWithAnEquivariantHead(string name, Func<EquivariantNetwork> make)
    {
        var fused = make(); var plain = make(); plain.FuseActivations = false;
        // Every ReLU fuses (all these models have generated kernels); other activations never do.
        bool relu = fused.Config.Activation == Activation.ReLU;
        Assert.Equal(relu ? fused.Config.Channels.Length : 0, fused.FusedActivationCount);
        var x = TestUtil.Random(fused.Space, 6, 1, 43);
        var ya = fused.ForwardEquivariant(x); var yb = plain.ForwardEquivariant(x);
        for (int t = 0; t < ya.Tensors.Length; t++) Assert.True(ya.Tensors[t].Data.AsSpan().SequenceEqual(yb.Tensors[t].Data), $"{name}: output tensor {t}");
        var g = TestUtil.Random(fused.Space, 6, fused.Config.Outputs, 44);
        var ga = fused.BackwardEquivariant(g); var gb = plain.BackwardEquivariant(g);
        for (int t = 0; t < ga.Tensors.Length; t++) Assert.True(ga.Tensors[t].Data.AsSpan().SequenceEqual(gb.Tensors[t].Data), $"{name}: input gradient of tensor {t}");
        foreach (var ((n, pa), (_, pb)) in fused.NamedParameters().Zip(plain.NamedParameters()))
            Assert.True(pa.Grad.Data.AsSpan().SequenceEqual(pb.Grad.Data), $"{name}: gradient of {n}");
    }

    [Fact]
    public void SameSeedGivesBitwiseIdenticalResults()
    {
        var a = new SirenClassifier(7); var b = new SirenClassifier(7);
        var x = TestUtil.Random(a.Space, 33, 1, 1);
        Assert.Equal(a.Forward(x).Data, b.Forward(x).Data);
        var g = new Tensor(TestUtil.RandomVector(33 * 10, 2), 33, 10);
        a.Backward(g); b.Backward(g);
        foreach (var ((_, pa), (_, pb)) in a.NamedParameters().Zip(b.NamedParameters())) Assert.Equal(pa.Grad.Data, pb.Grad.Data);
        Assert.NotEqual(new SirenClassifier(8).Layers[0].Weight.Data, a.Layers[0].Weight.Data);
    }

    [Fact]
    public void HeadHasTheDocumentedFeatureCount()
    {
        // Hidden-neuron: C·(2M − 3 + d0 + 2·dM) = 3·(6 − 3 + 2 + 2) = 21 for 2→32→32→1 with C = 3.
        Assert.Equal(21, new SirenClassifier().Pooling!.FeatureCount);
        // All-neuron: 2M·C = 6·3.
        Assert.Equal(18, new SirenClassifierAll().Pooling!.FeatureCount);
        // Max pooling has as many features as the mean; both side by side twice as many.
        Assert.Equal(21, new SirenClassifierMax().Pooling!.FeatureCount);
        Assert.Equal(2 * new Depth5AllMeanMax().Space.Tensors.Count * 2, new Depth5AllMeanMax().Pooling!.FeatureCount);
        Assert.Equal(HeadPooling.Max, SirenClassifierMax.Configuration.Pooling);
    }
}
