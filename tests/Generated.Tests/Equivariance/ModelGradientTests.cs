using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>
/// Whole models' backward against central finite differences of their forward: the input gradient and every
/// parameter tensor's gradient (layers, norms, head), for invariant and equivariant heads. The other model
/// tests compare two implementations that share the trunk, norm, pooling and head code, so an error common to
/// both (a wrong factor in the trunk's backward, a missing term in a norm's gradient) would pass them.
/// </summary>
public class ModelGradientTests
{
    public static IEnumerable<object[]> Models() => ModelTests.InvariantModels().Select(m => new object[] { m[0], m[1], false })
        .Concat(ModelTests.EquivariantModels().Select(m => new object[] { m[0], m[1], true }));

    /// <summary>
    /// Finite-difference step. The models are piecewise smooth (ReLU, max pooling): a parameter shared by every
    /// position moves thousands of pre-activations, so a larger step crosses kinks (with 2e-3 the normalized ReLU
    /// editor's layer weights differ by up to 40 %); agreement within 2 % holds from 5e-5 to 2e-4, where float32
    /// rounding of L is still far below the tolerance.
    /// </summary>
    private const float Step = 1e-4f;

    /// <summary>L = Σ r·f(x) accumulated in float64, f the invariant or the equivariant output.</summary>
    private static double Loss(EquivariantNetwork model, WeightSpaceBatch x, float[] r, bool equivariant)
    {
        float[] y = equivariant ? model.ForwardEquivariant(x).Flatten() : model.Forward(x).Data;
        Assert.Equal(r.Length, y.Length);
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)r[i] * y[i];
        return s;
    }

    /// <summary>Central difference of L along one float, restored afterwards.</summary>
    private static double Difference(Func<double> loss, float[] data, int index, float h)
    {
        float v = data[index];
        data[index] = v + h; double up = loss();
        data[index] = v - h; double down = loss();
        data[index] = v;
        return (up - down) / ((double)(v + h) - (double)(v - h)); // the step the floats actually took
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void BackwardMatchesFiniteDifferences(string name, Func<EquivariantNetwork> make, bool equivariant)
    {
        var model = make();
        // A generic point: initialized norm biases are 0, and a norm over a one-entry tensor (the last bias of a
        // one-output network) gives x̂ = 0, so the ReLU after it would sit exactly on its kink.
        var jitter = new Rng(50);
        foreach (var p in model.Parameters())
            for (int i = 0; i < p.Length; i++) p.Data[i] += (float)(0.05 * jitter.Normal());
        var x = TestUtil.Random(model.Space, 3, 1, 51);
        int outputs = equivariant ? (int)model.ForwardEquivariant(x).Length : model.Forward(x).Length;
        var r = TestUtil.RandomVector(outputs, 52);

        // Analytic gradients.
        model.ZeroGrad();
        WeightSpaceBatch gx;
        if (equivariant)
        {
            var y = model.ForwardEquivariant(x);
            var gy = new WeightSpaceBatch(y.Space, y.Batch, y.Channels);
            gy.Unflatten(r);
            gx = model.BackwardEquivariant(gy).Clone();
        }
        else
        {
            var y = model.Forward(x);
            gx = model.Backward(new Tensor((float[])r.Clone(), y.Shape)).Clone();
        }

        // Probes: 12 input entries and up to 4 entries of every parameter tensor (so an error confined to one
        // layer, norm or head tensor shows), each compared with its central difference.
        var rng = new Rng(53);
        var probes = new List<(string What, float[] Data, int Index, double Analytic)>();
        for (int k = 0; k < 12; k++)
        {
            int t = (int)(rng.NextDouble() * x.Tensors.Length);
            int i = (int)(rng.NextDouble() * x.Tensors[t].Length);
            probes.Add(($"input tensor {t}[{i}]", x.Tensors[t].Data, i, gx.Tensors[t].Data[i]));
        }
        foreach (var (pname, p) in model.NamedParameters())
            for (int k = 0; k < Math.Min(4, p.Length); k++)
            {
                int i = (int)(rng.NextDouble() * p.Length);
                probes.Add((pname + $"[{i}]", p.Data, i, p.Grad.Data[i]));
            }

        double scale = Math.Sqrt(probes.Average(q => q.Analytic * q.Analytic));
        Assert.True(scale > 1e-6, $"{name}: the sampled gradients are all zero");
        var failures = new List<string>();
        foreach (var (what, data, index, analytic) in probes)
        {
            double numeric = Difference(() => Loss(model, x, r, equivariant), data, index, Step);
            // Each difference carries float32 rounding of L (divided by the step) and, through ReLU and max,
            // the rare kink inside ±Step: compared relative to the larger of the entry and the sampled scale.
            if (Math.Abs(numeric - analytic) > 2e-2 * Math.Max(Math.Abs(analytic), scale))
                failures.Add($"{what}: analytic {analytic:G6}, finite difference {numeric:G6}");
        }
        // A wrong gradient fails most probes of its tensor; a kink crossed by one step fails one. At most one of
        // the ~40-90 probes may miss.
        Assert.True(failures.Count <= 1, $"{name}: {failures.Count} of {probes.Count} probes disagree (scale {scale:G3}):\n" + string.Join("\n", failures));
    }
}
