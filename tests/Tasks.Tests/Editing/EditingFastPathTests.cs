using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Zoo;

namespace LayerCompiler.Tasks.Tests.Editing;

// The image zoos' SIREN, declared here so that the test runs the generated network the inr-edit verb renders with.
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class EditTestSiren { }

[EquivariantModel(typeof(EditTestSiren), Channels = new[] { 4, 4 }, Outputs = 1, Head = HeadKind.Equivariant)]
public partial class EditTestEditor { }

/// <summary>
/// The fast paths of INR editing (the rendering loss through MlpInputNetwork's fused tile kernels, the pointwise editor
/// through the pointwise kernels) against the straightforward reference (the generated network's own Forward and
/// Backward; Sequential on [n·P, 1] rows): same loss, same gradients to float rounding, deterministic.
/// </summary>
public class EditingFastPathTests
{
    /// <summary>SIREN-initialized 2-32-32-1 networks, nudged (as trained INRs are), as [n, P] rows.</summary>
    private static Tensor SirenRows(int n, ulong seed)
    {
        var space = EditTestSiren.CreateWeightSpace(Symmetry.HiddenNeuron);
        var mlp = new MlpInputNetwork(space, InputActivation.Sine, 30f, 0.5f);
        var rows = new Tensor(n, mlp.ParameterCount);
        var rng = new Rng(seed);
        for (int i = 0; i < n; i++)
        {
            var row = rows.Data.AsSpan(i * mlp.ParameterCount, mlp.ParameterCount);
            SirenInit.Initialize(mlp, row, rng);
            for (int k = 0; k < row.Length; k++) row[k] += (float)(0.01 * rng.Normal());
        }
        return rows;
    }

    private static Tensor RandomTargets(int n, int pixels, ulong seed)
    {
        var t = new Tensor(n, pixels);
        var rng = new Rng(seed);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.NextDouble();
        return t;
    }

    /// <summary>‖a − b‖ / ‖b‖ in float64.</summary>
    private static double RelativeL2(float[] a, float[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); den += (double)b[i] * b[i]; }
        return Math.Sqrt(num / den);
    }

    [Theory]
    [InlineData(28, 28, 32)]  // the verb's grid and batch
    [InlineData(5, 5, 3)]     // a grid that leaves a partial tile of 8 points and of 128
    [InlineData(28, 28, 1)]
    public void TheFusedRenderingLossMatchesTheGeneratedNetworksForwardAndBackward(int rows, int cols, int n)
    {
        var network = new EditTestSiren.Network();
        int pixels = rows * cols;
        var grid = InrTask.ImageGrid(rows, cols);
        var fast = new RenderingObjective(network, grid, pixels);
        var reference = new RenderingObjective(network, grid, pixels, reference: true);
        Assert.True(fast.UsesFlatKernels);
        Assert.False(reference.UsesFlatKernels);
        var outputs = SirenRows(n, 7);
        var y = new TrainingTargets(null, RandomTargets(n, pixels, 8));

        var (fl, fg) = fast.Compute(outputs, y);
        var (rl, rg) = reference.Compute(outputs, y);
        Assert.True(Math.Abs(fl - rl) <= 1e-5 * Math.Abs(rl), $"loss {fl} vs reference {rl}");
        Assert.Equal(rg.Shape, fg.Shape);
        double rel = RelativeL2(fg.Data, rg.Data);
        Assert.True(rel <= 1e-5, $"gradient relative L2 difference {rel:G3}");
        float scale = rg.Data.Max(Math.Abs);
        for (int i = 0; i < rg.Length; i++)
            Assert.True(Math.Abs(fg.Data[i] - rg.Data[i]) <= 1e-5f * scale + 1e-4f * Math.Abs(rg.Data[i]), $"entry {i}: {fg.Data[i]} vs reference {rg.Data[i]}");

        // The same again (no state kept between calls but reused buffers): bitwise.
        var (fl2, fg2) = fast.Compute(outputs, y);
        Assert.Equal(fl, fl2);
        Assert.Equal(fg.Data, fg2.Data);

        // Loss only (a validation pass): the same loss, bitwise, and no gradient.
        var lossOnly = new RenderingObjective(network, grid, pixels) { GradientWanted = () => false };
        var (ll, lg) = lossOnly.Compute(outputs, y);
        Assert.Equal(fl, ll);
        Assert.All(lg.Data, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void TheFusedRenderingLossIsTheReferenceLossBitwiseWhenTheRenderingsAgree()
    {
        // The loss is summed over the renderings in the reference's order and the output gradient is formed with its
        // arithmetic, so an MlpInputNetwork rendered both ways gives the same loss to the bit.
        var space = EditTestSiren.CreateWeightSpace(Symmetry.HiddenNeuron);
        var mlp = new MlpInputNetwork(space, InputActivation.Sine, 30f, 0.5f);
        var grid = InrTask.ImageGrid(28, 28);
        var outputs = SirenRows(4, 3);
        var y = new TrainingTargets(null, RandomTargets(4, 784, 4));
        var (fl, _) = new RenderingObjective(mlp, grid, 784).Compute(outputs, y);
        var (rl, _) = new RenderingObjective(mlp, grid, 784, reference: true).Compute(outputs, y);
        Assert.Equal(rl, fl);
    }

    [Fact]
    public void ThePointwiseKernelsMatchSequentialAndAreDeterministic()
    {
        var space = EditTestSiren.CreateWeightSpace(Symmetry.HiddenNeuron);
        var network = new EditTestSiren.Network();
        var train = RenderingObjective.Unflatten(SirenRows(8, 1), space);
        // 6 networks × 1,153 weights: several chunks of the pointwise kernels, the last one partial.
        var x = RenderingObjective.Unflatten(SirenRows(6, 2), space);
        var y = new TrainingTargets(null, RandomTargets(6, 784, 3));
        var objective = new RenderingObjective(network, InrTask.ImageGrid(28, 28), 784, reference: true);

        (Tensor Output, Dictionary<string, float[]> Grads) Pass(WeightEditor e)
        {
            e.FitInputs(train);
            var output = e.Forward(x.Clone());
            e.Module.ZeroGrad();
            e.Backward(objective.Compute(output, y).Grad);
            return (output, e.Module.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad.Data.ToArray()));
        }

        var (fo, fg) = Pass(WeightEditor.Pointwise(space, new[] { 32, 32 }, 5));
        var (ro, rg) = Pass(WeightEditor.Pointwise(space, new[] { 32, 32 }, 5, reference: true));
        for (int i = 0; i < ro.Length; i++)
            Assert.True(Math.Abs(fo.Data[i] - ro.Data[i]) <= 1e-5f * Math.Max(1f, Math.Abs(ro.Data[i])), $"output {i}: {fo.Data[i]} vs reference {ro.Data[i]}");
        Assert.Equal(rg.Keys.OrderBy(k => k), fg.Keys.OrderBy(k => k));
        foreach (var (name, r) in rg)
        {
            double rel = RelativeL2(fg[name], r);
            Assert.True(rel <= 1e-5, $"{name}: gradient relative L2 difference {rel:G3}");
        }

        // Determinism: the same seed twice, a few optimizer steps through the fast paths → bitwise the same parameters.
        Dictionary<string, Tensor> Train()
        {
            var e = WeightEditor.Pointwise(space, new[] { 32, 32 }, 9);
            e.FitInputs(train);
            var options = new InrEditing.Settings(1, 6, 1e-3f).ToTrainerOptions(6, 9, e.Kind, null);
            var exec = e.Executor(options);
            var fastObjective = new RenderingObjective(network, InrTask.ImageGrid(28, 28), 784);
            for (int s = 0; s < 3; s++) exec.Step(x.Clone(), y, fastObjective);
            return e.Module.StateDict();
        }
        var a = Train();
        var b = Train();
        foreach (var (k, v) in a) Assert.Equal(v.Data, b[k].Data);
    }

    public static TheoryData<string> EquivariantKinds => new() { "generated", "interpreted" };

    [Theory]
    [MemberData(nameof(EquivariantKinds))]
    public void BackwardEquivariantParametersGivesBackwardEquivariantsParameterGradientsBitwise(string kind)
    {
        var space = EditTestSiren.CreateWeightSpace(Symmetry.HiddenNeuron);
        EquivariantNetwork Create() => kind == "generated"
            ? new EditTestEditor(3)
            : EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 4, 4 }, Activation.ReLU, HeadKind.Equivariant, 1), space, 3);
        var x = RenderingObjective.Unflatten(SirenRows(3, 4), space);
        var g = RenderingObjective.Unflatten(SirenRows(3, 5), space);
        Dictionary<string, float[]> Grads(bool parametersOnly)
        {
            var net = Create();
            net.ForwardEquivariant(x.Clone());
            net.ZeroGrad();
            if (parametersOnly) net.BackwardEquivariantParameters(g.Clone()); else net.BackwardEquivariant(g.Clone());
            return net.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad.Data.ToArray());
        }
        var full = Grads(false);
        var only = Grads(true);
        Assert.Equal(full.Keys, only.Keys);
        Assert.Contains(full.Values, v => v.Any(e => e != 0));
        foreach (var (name, v) in full) Assert.Equal(v, only[name]);
    }
}
