using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Baselines;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Tests.Sine;
using LayerCompiler.Tasks.Zoo;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Editing;

public class EditingTests
{
    private static Space ImageSpace(int hidden = 5) =>
        Space.FromLayers(new[] { LayerDeclaration.Dense(2, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.HiddenNeuron);

    [Fact]
    public void DilationTakesTheMaximumOverTheNeighboursThatExist()
    {
        // 3×4 image; borders see only their in-image neighbours (no padding with larger values).
        float[] image = { 0, 1, 0, 0,
                          0, 0, 0, 5,
                          2, 0, 0, 0 };
        var d = new float[12];
        Dilation.Dilate3x3(image, 3, 4, d);
        Assert.Equal(new float[] { 1, 1, 5, 5,
                                   2, 2, 5, 5,
                                   2, 2, 5, 5 }, d);
        // Negative images: a border pixel is not raised towards 0 by padding.
        var neg = Enumerable.Repeat(-1f, 9).ToArray(); neg[4] = -0.5f;
        var dn = new float[9];
        Dilation.Dilate3x3(neg, 3, 3, dn);
        Assert.All(dn, v => Assert.Equal(-0.5f, v));
        Assert.Throws<ArgumentException>(() => Dilation.Dilate3x3(image, 3, 3, d));
    }

    [Fact]
    public void RenderingObjectiveIsThePixelMseAndItsGradientMatchesFiniteDifferences()
    {
        var space = ImageSpace();
        var net = new MlpInputNetwork(space, InputActivation.Sine, 30f, 0.5f);
        var weights = TestUtil.Random(space, 3, 1, 1, 0.1);
        var points = InrTask.ImageGrid(6, 6);
        var target = new Tensor(3, 36);
        var rng = new Rng(2);
        for (int i = 0; i < target.Length; i++) target.Data[i] = (float)rng.NextDouble();
        var objective = new RenderingObjective(net, points, 36);
        var rows = WeightFeatures.Flattened(weights);
        var (loss, grad) = objective.Compute(rows, new TrainingTargets(null, target));

        var rendered = new float[3 * 36];
        net.Forward(weights, points, 36, rendered);
        Assert.Equal(rendered.Zip(target.Data, (a, b) => ((double)a - b) * ((double)a - b)).Average(), loss, 1e-6);

        // Round trip of the row layout.
        Assert.Equal(rows.Data, WeightFeatures.Flattened(RenderingObjective.Unflatten(rows, space)).Data);
        // Central differences on a few entries (float32 network: h = 1e-3, 2 % tolerance).
        foreach (int i in new[] { 0, 7, 20, rows.Shape[1] + 3, rows.Length - 1 })
        {
            float keep = rows.Data[i];
            rows.Data[i] = keep + 1e-3f; double plus = objective.Compute(rows, new TrainingTargets(null, target)).Loss;
            rows.Data[i] = keep - 1e-3f; double minus = objective.Compute(rows, new TrainingTargets(null, target)).Loss;
            rows.Data[i] = keep;
            double numeric = (plus - minus) / 2e-3;
            Assert.True(Math.Abs(numeric - grad.Data[i]) <= 0.02 * Math.Abs(numeric) + 1e-5, $"entry {i}: analytic {grad.Data[i]}, numeric {numeric}");
        }
    }

    private static WeightEditor HiddenEditor(Space space, ulong seed) =>
        WeightEditor.Equivariant("hidden", EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 3 }, Activation.GELU, HeadKind.Equivariant, 1), space, seed));

    [Fact]
    public void EquivariantEditorStartsAtGammaOneHundredthAndCommutesWithHiddenPermutations()
    {
        var space = ImageSpace();
        // A normalizer fitted on a set closed under the involution g commutes with g.
        var (g, train) = TestUtil.ClosedUnderReversal(TestUtil.Random(space, 4, 1, 3));
        var editor = HiddenEditor(space, 4);
        Assert.Equal(0.01f, editor.Gamma);
        editor.FitInputs(train);
        var x = TestUtil.Random(space, 2, 1, 5);
        var edited = RenderingObjective.Unflatten(editor.Forward(x.Clone()), space);
        var editedOfPermuted = RenderingObjective.Unflatten(editor.Forward(Permutations.Apply(x, g)), space);
        var expected = Permutations.Apply(edited, g);
        for (int t = 0; t < expected.Tensors.Length; t++)
            for (int i = 0; i < expected.Tensors[t].Length; i++)
                Assert.True(Math.Abs(expected.Tensors[t].Data[i] - editedOfPermuted.Tensors[t].Data[i]) < 1e-5, $"tensor {t} entry {i}");
        // U' − U = γ·F: not zero, and small at γ = 0.01.
        var delta = edited.Flatten().Zip(x.Flatten(), (a, b) => Math.Abs(a - b)).Max();
        Assert.InRange(delta, 1e-6, 0.5);
    }

    [Theory]
    [InlineData("hidden")]
    [InlineData("pointwise")]
    [InlineData("mlp")]
    public void EditorBackwardMatchesFiniteDifferencesOfTheRenderingLoss(string kind)
    {
        // ω0 = 1 keeps the rendering smooth enough for central differences of a move of every parameter at once (at
        // ω0 = 30 a step of 1e-4 in all of F's parameters already bends the sines); the editor's backward does not depend on it.
        var space = ImageSpace(4);
        var net = new MlpInputNetwork(space, InputActivation.Sine, 1f, 0.5f);
        var editor = kind switch
        {
            "hidden" => HiddenEditor(space, 1),
            "pointwise" => WeightEditor.Pointwise(space, new[] { 4 }, 1),
            _ => WeightEditor.FlattenedMlp(space, new[] { 6 }, 1),
        };
        editor.FitInputs(TestUtil.Random(space, 6, 1, 2, 0.1));
        var x = TestUtil.Random(space, 3, 1, 3, 0.1);
        var target = new Tensor(3, 16);
        for (int i = 0; i < target.Length; i++) target.Data[i] = (i % 5) / 5f;
        var objective = new RenderingObjective(net, InrTask.ImageGrid(4, 4), 16);
        var y = new TrainingTargets(null, target);
        // γ = 0.5 so that F's parameters matter as much as γ in the check.
        var gammaParameter = editor.Module.NamedParameters().Single(p => p.Name == "gamma").Parameter;
        gammaParameter.Data[0] = 0.5f;
        editor.Module.ZeroGrad();
        editor.Backward(objective.Compute(editor.Forward(x.Clone()), y).Grad);
        var parameters = editor.Module.Parameters().ToList();
        var rng = new Rng(6);
        var direction = parameters.Select(p => Enumerable.Range(0, p.Length).Select(_ => (float)rng.Normal()).ToArray()).ToList();
        double analytic = 0;
        for (int k = 0; k < parameters.Count; k++) for (int i = 0; i < parameters[k].Length; i++) analytic += parameters[k].Grad.Data[i] * direction[k][i];
        const float h = 1e-3f;
        void Move(float s) { for (int k = 0; k < parameters.Count; k++) for (int i = 0; i < parameters[k].Length; i++) parameters[k].Data[i] += s * direction[k][i]; }
        Move(h); double plus = objective.Compute(editor.Forward(x.Clone()), y).Loss;
        Move(-2 * h); double minus = objective.Compute(editor.Forward(x.Clone()), y).Loss;
        Move(h);
        double numeric = (plus - minus) / (2 * h);
        Assert.True(Math.Abs(analytic - numeric) <= 0.03 * Math.Abs(numeric) + 1e-5, $"{kind}: analytic {analytic}, numeric {numeric}");
    }

    [Fact]
    public void AZooWithoutSourceImagesIsRefused()
    {
        using var dir = new TempDirectory();
        SineTaskTests.BuildSineZoo(dir.Path, 4, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => InrEditing.OpenImageZoo(dir.Path));
        Assert.Contains("record no source images", e.Message);
        Assert.Contains("inr-zoo build", e.Message);
    }
}
