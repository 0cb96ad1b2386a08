using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Generated.Tests.InputNetworks;

/// <summary>The generated batched pass of the input network against a float64 reference.</summary>
public class GeneratedInputNetworkTests
{
    public static IEnumerable<object[]> Networks() => new (string, Func<IInputNetwork>, double)[]
    {
        ("SIREN 2-32-32-1 (ω0 = 30, +0.5)", () => new Siren2x32x32x1.Network(), 0.05),
        ("ReLU depth 5, one layer without bias", () => new Mlp5.Network(), 1.0),
        ("tanh 3-4-4-2", () => new TanhNet.Network(), 1.0),
    }.Select(x => new object[] { x.Item1, x.Item2, x.Item3 });

    /// <summary>
    /// What Architectures.cs declares for each network, typed in again here: the float64 reference uses these, not
    /// the generated class's own Activation / Omega0 / OutputOffset (a generator that misread an attribute would
    /// otherwise check itself against its own mistake).
    /// </summary>
    private static readonly Dictionary<string, (InputActivation Activation, double Omega0, double Offset)> Declared = new()
    {
        ["SIREN 2-32-32-1 (ω0 = 30, +0.5)"] = (InputActivation.Sine, 30, 0.5),
        ["ReLU depth 5, one layer without bias"] = (InputActivation.ReLU, 30, 0),
        ["tanh 3-4-4-2"] = (InputActivation.Tanh, 30, 0),
    };

    /// <summary>Float64 evaluation of network n at one point, with the declared activation, ω0 and output offset.</summary>
    private static double[] Run(IInputNetwork net, double[][] w, double[] x, (InputActivation Activation, double Omega0, double Offset) d0)
    {
        var space = net.Space; var h = x; int t = 0;
        for (int l = 0; l < space.Depth; l++)
        {
            var d = space.Declarations[l];
            var W = w[t++];
            double[]? b = d.Bias ? w[t++] : null;
            var z = new double[d.Out];
            for (int o = 0; o < d.Out; o++) { z[o] = b?[o] ?? 0; for (int i = 0; i < d.In; i++) z[o] += W[o * d.In + i] * h[i]; }
            if (l < space.Depth - 1)
                for (int o = 0; o < d.Out; o++)
                    z[o] = d0.Activation switch { InputActivation.Sine => Math.Sin(d0.Omega0 * z[o]), InputActivation.Tanh => Math.Tanh(z[o]), _ => Math.Max(0, z[o]) };
            else for (int o = 0; o < d.Out; o++) z[o] += d0.Offset;
            h = z;
        }
        return h;
    }

    private static double[][] Weights(WeightSpaceBatch b, int n) =>
        b.Tensors.Select((t, i) => { int size = b.Space.Tensors[i].Size; return t.Data.Skip(n * size).Take(size).Select(v => (double)v).ToArray(); }).ToArray();

    private static WeightSpaceBatch RandomWeights(IInputNetwork net, int batch, ulong seed, double scale)
    {
        var b = new WeightSpaceBatch(net.Space, batch, 1);
        var rng = new Rng(seed);
        for (int t = 0; t < b.Tensors.Length; t++)
        {
            var wt = net.Space.Tensors[t];
            double fan = wt.Axes.Length > 1 ? wt.Axes[1].Size : 1;
            foreach (ref float v in b.Tensors[t].Data.AsSpan()) v = (float)(scale * rng.Normal() / Math.Sqrt(fan));
        }
        return b;
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void ForwardMatchesFloat64Reference(string name, Func<IInputNetwork> make, double scale)
    {
        var net = make();
        int batch = 5, points = 19; // two 8-point tiles and a tail of 3
        var w = RandomWeights(net, batch, 1, scale);
        var x = TestUtil.RandomVector(points * net.InputWidth, 2);
        var y = new float[batch * points * net.OutputWidth];
        net.Forward(w, x, points, y);
        for (int n = 0; n < batch; n++)
            for (int p = 0; p < points; p++)
            {
                var r = Run(net, Weights(w, n), x.Skip(p * net.InputWidth).Take(net.InputWidth).Select(v => (double)v).ToArray(), Declared[name]);
                for (int o = 0; o < r.Length; o++)
                    Assert.True(Math.Abs(r[o] - y[(n * points + p) * net.OutputWidth + o]) < 1e-4 * (1 + Math.Abs(r[o])), $"{name}: n={n} p={p} o={o}");
            }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void WeightGradientMatchesFloat64FiniteDifferences(string name, Func<IInputNetwork> make, double scale)
    {
        var net = make();
        int batch = 2, points = 13; // one 8-point tile and a tail of 5
        var w = RandomWeights(net, batch, 3, scale);
        var x = TestUtil.RandomVector(points * net.InputWidth, 4);
        var r = TestUtil.RandomVector(batch * points * net.OutputWidth, 5);
        var g = new WeightSpaceBatch(net.Space, batch, 1);
        net.Backward(w, x, points, r, g);
        for (int n = 0; n < batch; n++)
        {
            var wd = Weights(w, n);
            double Loss()
            {
                double s = 0;
                for (int p = 0; p < points; p++)
                {
                    var y = Run(net, wd, x.Skip(p * net.InputWidth).Take(net.InputWidth).Select(v => (double)v).ToArray(), Declared[name]);
                    for (int o = 0; o < y.Length; o++) s += y[o] * r[(n * points + p) * net.OutputWidth + o];
                }
                return s;
            }
            var fd = new List<float>(); var got = new List<float>();
            for (int t = 0; t < wd.Length; t++)
                for (int i = 0; i < wd[t].Length; i++)
                {
                    double keep = wd[t][i], h = 1e-6;
                    wd[t][i] = keep + h; double up = Loss();
                    wd[t][i] = keep - h; double down = Loss();
                    wd[t][i] = keep;
                    fd.Add((float)((up - down) / (2 * h)));
                    got.Add(g.Tensors[t].Data[n * wd[t].Length + i]);
                }
            double err = TestUtil.RelativeError(got.ToArray(), fd.ToArray());
            Assert.True(err < 1e-4, $"{name}: network {n} relative error {err}");
        }
    }

    [Fact]
    public void BadShapesAreRejectedWithTheExpectedSizes()
    {
        var net = new Siren2x32x32x1.Network();
        var w = new WeightSpaceBatch(net.Space, 2, 1);
        var ex = Assert.Throws<ArgumentException>(() => net.Forward(w, new float[10], 5, new float[3]));
        Assert.Contains("batch × points × 1 = 10", ex.Message);
        Assert.Throws<ArgumentException>(() => net.Forward(w, new float[3], 5, new float[10]));
    }
}
