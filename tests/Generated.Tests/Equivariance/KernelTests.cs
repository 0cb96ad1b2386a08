using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tests.Generated;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Generated.Tests.Equivariance;

/// <summary>Generated fused kernels against the interpreted oracle and the float64 reference.</summary>
public class KernelTests
{
    public sealed record Case(string Name, Func<WS> Space, Func<LayerPlan, IEquivariantKernel> Kernel, int Cin, int Cout)
    {
        public override string ToString() => $"{Name} {Cin}→{Cout}";
    }

    public static IEnumerable<object[]> Cases()
    {
        var list = new List<Case>
        {
            new("Mlp2332 hidden", Mlp2332Hidden11.CreateWeightSpace, Mlp2332Hidden11.CreateKernel, 1, 1),
            new("Mlp2332 all", Mlp2332All11.CreateWeightSpace, Mlp2332All11.CreateKernel, 1, 1),
            new("Mlp2331 hidden", Mlp2331Hidden11.CreateWeightSpace, Mlp2331Hidden11.CreateKernel, 1, 1),
            new("Mlp2331 all", Mlp2331All11.CreateWeightSpace, Mlp2331All11.CreateKernel, 1, 1),
            new("Narrow hidden", NarrowHidden11.CreateWeightSpace, NarrowHidden11.CreateKernel, 1, 1),
            new("Narrow all", NarrowAll11.CreateWeightSpace, NarrowAll11.CreateKernel, 1, 1),
            new("Cnn hidden", SmallCnnHidden11.CreateWeightSpace, SmallCnnHidden11.CreateKernel, 1, 1),
            new("Cnn all", SmallCnnAll11.CreateWeightSpace, SmallCnnAll11.CreateKernel, 1, 1),
            new("Siren hidden", SirenClassifier.CreateWeightSpace, SirenClassifier.CreateKernel, 4, 3),
            new("Siren all", SirenClassifierAll.CreateWeightSpace, SirenClassifierAll.CreateKernel, 1, 4),
            new("Depth2", Depth2Classifier.CreateWeightSpace, Depth2Classifier.CreateKernel, 3, 2),
            new("Depth5 hidden", Depth5Editor.CreateWeightSpace, Depth5Editor.CreateKernel, 2, 3),
            new("Depth5 head", Depth5Editor.CreateWeightSpace, Depth5Editor.CreateKernel, 3, 2),
            new("Depth5 all", Depth5AllClassifier.CreateWeightSpace, Depth5AllClassifier.CreateKernel, 1, 2),
            new("Cnn hidden multi", CnnClassifier.CreateWeightSpace, CnnClassifier.CreateKernel, 2, 3),
            new("Cnn all multi", CnnEditorAll.CreateWeightSpace, CnnEditorAll.CreateKernel, 3, 2),
            new("Siren wide", SirenWide.CreateWeightSpace, SirenWide.CreateKernel, 1, 32),
            new("Siren wide", SirenWide.CreateWeightSpace, SirenWide.CreateKernel, 32, 32),
            new("Siren wide", SirenWide.CreateWeightSpace, SirenWide.CreateKernel, 32, 16),
        };
        return list.Select(c => new object[] { c });
    }

    private static (IEquivariantKernel Gen, InterpretedKernel Ref, float[] W, float[] B) Make(Case c, ulong seed)
    {
        var plan = new LayerPlan(c.Space(), c.Cin, c.Cout);
        var gen = c.Kernel(plan);
        var w = TestUtil.RandomVector(plan.WeightCount, seed);
        var b = TestUtil.RandomVector(plan.BiasCount, seed + 1);
        return (gen, new InterpretedKernel(plan), w, b);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GeneratedForwardEqualsInterpreted(Case c)
    {
        var (gen, reference, w, b) = Make(c, 11);
        var space = gen.Plan.Space;
        var x = TestUtil.Random(space, 19, c.Cin, 5); // 19: not a multiple of the chunk size
        var y1 = new WeightSpaceBatch(space, 19, c.Cout);
        var y2 = new WeightSpaceBatch(space, 19, c.Cout);
        gen.Forward(w, b, x, y1);
        reference.Forward(w, b, x, y2);
        Assert.True(TestUtil.RelativeError(y1, y2) < 1e-5, $"relative error {TestUtil.RelativeError(y1, y2)}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GeneratedBackwardEqualsInterpreted(Case c)
    {
        var (gen, reference, w, _) = Make(c, 12);
        var space = gen.Plan.Space;
        var x = TestUtil.Random(space, 11, c.Cin, 6);
        var gy = TestUtil.Random(space, 11, c.Cout, 7);
        var gx1 = new WeightSpaceBatch(space, 11, c.Cin); var gx2 = new WeightSpaceBatch(space, 11, c.Cin);
        var gw1 = new float[w.Length]; var gw2 = new float[w.Length];
        var gb1 = new float[gen.Plan.BiasCount]; var gb2 = new float[gen.Plan.BiasCount];
        gen.Backward(w, x, gy, gx1, gw1, gb1);
        reference.Backward(w, x, gy, gx2, gw2, gb2);
        Assert.True(TestUtil.RelativeError(gx1, gx2) < 1e-5, $"input grad {TestUtil.RelativeError(gx1, gx2)}");
        Assert.True(TestUtil.RelativeError(gw1, gw2) < 1e-5, $"weight grad {TestUtil.RelativeError(gw1, gw2)}");
        Assert.True(TestUtil.RelativeError(gb1, gb2) < 1e-5, $"bias grad {TestUtil.RelativeError(gb1, gb2)}");
    }

    /// <summary>
    /// Without an input gradient (a model's first layer) the weight gradients take their own loops;
    /// with one, full-size terms are computed inside the input gradient's pass. Same sums, same order:
    /// bitwise equal.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void WeightGradientsWithoutInputGradientAreTheSame(Case c)
    {
        var (gen, _, w, _) = Make(c, 15);
        var space = gen.Plan.Space;
        var x = TestUtil.Random(space, 10, c.Cin, 8);
        var gy = TestUtil.Random(space, 10, c.Cout, 9);
        var gx = new WeightSpaceBatch(space, 10, c.Cin);
        var gw1 = new float[w.Length]; var gw2 = new float[w.Length];
        var gb1 = new float[gen.Plan.BiasCount]; var gb2 = new float[gen.Plan.BiasCount];
        gen.Backward(w, x, gy, gx, gw1, gb1);
        gen.Backward(w, x, gy, null, gw2, gb2);
        Assert.Equal(gw1, gw2);
        Assert.Equal(gb1, gb2);
        Assert.Contains(gw1, v => v != 0);
    }

    /// <summary>
    /// A ReLU fused into the kernel: the forward equals the separate activation applied to the plain
    /// forward, and the masked backward equals the separate activation's backward applied to the plain input
    /// gradient (using the layer's input as the ReLU's output), bitwise; parameter gradients are unchanged.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedReluIsBitwiseTheSeparateActivation(Case c)
    {
        var (gen, _, w, b) = Make(c, 17);
        var k = Assert.IsAssignableFrom<IReluFusingKernel>(gen);
        var space = gen.Plan.Space;
        var x = TestUtil.Random(space, 10, c.Cin, 18);
        var y = new WeightSpaceBatch(space, 10, c.Cout);
        var yFused = new WeightSpaceBatch(space, 10, c.Cout);
        k.Forward(w, b, x, y, relu: false);
        k.Forward(w, b, x, yFused, relu: true);
        bool anyNegative = false;
        for (int t = 0; t < y.Tensors.Length; t++)
        {
            var expected = new float[y.Tensors[t].Length];
            Runtime.Kernels.Activations.ReluForward(y.Tensors[t].Data, expected);
            Assert.Equal(expected, yFused.Tensors[t].Data);
            anyNegative |= y.Tensors[t].Data.Any(v => v < 0);
        }
        Assert.True(anyNegative, "the test input must exercise the ReLU");

        // Backward: the layer's input is the output of a ReLU (as in a model), so the mask has zeros.
        var xr = new WeightSpaceBatch(space, 10, c.Cin);
        for (int t = 0; t < x.Tensors.Length; t++) Runtime.Kernels.Activations.ReluForward(x.Tensors[t].Data, xr.Tensors[t].Data);
        var gy = TestUtil.Random(space, 10, c.Cout, 19);
        var gx = new WeightSpaceBatch(space, 10, c.Cin); var gxFused = new WeightSpaceBatch(space, 10, c.Cin);
        var gw1 = new float[w.Length]; var gw2 = new float[w.Length];
        var gb1 = new float[gen.Plan.BiasCount]; var gb2 = new float[gen.Plan.BiasCount];
        k.Backward(w, xr, gy, gx, gw1, gb1, reluMaskInput: false);
        k.Backward(w, xr, gy, gxFused, gw2, gb2, reluMaskInput: true);
        Assert.Equal(gw1, gw2);
        Assert.Equal(gb1, gb2);
        int zeroed = 0;
        for (int t = 0; t < gx.Tensors.Length; t++)
        {
            var expected = new float[gx.Tensors[t].Length];
            Runtime.Kernels.Activations.ReluBackward(xr.Tensors[t].Data, gx.Tensors[t].Data, expected);
            Assert.Equal(expected, gxFused.Tensors[t].Data);
            for (int i = 0; i < expected.Length; i++) if (expected[i] == 0 && gx.Tensors[t].Data[i] != 0) zeroed++;
        }
        Assert.True(zeroed > 0, "the mask must zero some of the input gradient");
    }

    public static IEnumerable<object[]> SmallCases() => Cases().Where(o => ((Case)o[0]).Space().Dimension <= 120);

    /// <summary>
    /// Finite differences (central, float64) of L = Σ r·layer(x) on the independent float64 reference,
    /// against the generated float32 backward. The layer is linear in x and in the parameters, so the
    /// differences are exact up to rounding.
    /// </summary>
    [Theory]
    [MemberData(nameof(SmallCases))]
    public void GeneratedBackwardMatchesFloat64FiniteDifferences(Case c)
    {
        var (gen, _, w, b) = Make(c, 13);
        var plan = gen.Plan; var space = plan.Space;
        var ref64 = new Reference64(plan);
        var x = TestUtil.Random(space, 1, c.Cin, 8);
        var r = TestUtil.Random(space, 1, c.Cout, 9);
        double[] X = x.Flatten().Select(v => (double)v).ToArray();
        double[] R = r.Flatten().Select(v => (double)v).ToArray();
        double[] Wd = w.Select(v => (double)v).ToArray(), Bd = b.Select(v => (double)v).ToArray();
        double Loss(double[] ww, double[] bb, double[] xx) { var y = ref64.Forward(ww, bb, xx); double s = 0; for (int i = 0; i < y.Length; i++) s += y[i] * R[i]; return s; }

        // The float64 reference must agree with the generated forward first.
        var y32 = new WeightSpaceBatch(space, 1, c.Cout);
        gen.Forward(w, b, x, y32);
        var y64 = ref64.Forward(Wd, Bd, X);
        Assert.True(TestUtil.RelativeError(y32.Flatten(), y64.Select(v => (float)v).ToArray()) < 1e-5);

        var gx = new WeightSpaceBatch(space, 1, c.Cin);
        var gw = new float[w.Length]; var gb = new float[b.Length];
        gen.Backward(w, x, r, gx, gw, gb);

        const double h = 1e-3;
        double[] Fd(double[] v, Func<double[], double> f)
        {
            var g = new double[v.Length];
            for (int i = 0; i < v.Length; i++)
            {
                double keep = v[i];
                v[i] = keep + h; double up = f(v);
                v[i] = keep - h; double down = f(v);
                v[i] = keep;
                g[i] = (up - down) / (2 * h);
            }
            return g;
        }
        var fdX = Fd(X, xx => Loss(Wd, Bd, xx));
        var fdW = Fd(Wd, ww => Loss(ww, Bd, X));
        var fdB = Fd(Bd, bb => Loss(Wd, bb, X));
        const double tol = 1e-5;
        Assert.True(TestUtil.RelativeError(gx.Flatten(), fdX.Select(v => (float)v).ToArray()) < tol, "input gradient");
        Assert.True(TestUtil.RelativeError(gw, fdW.Select(v => (float)v).ToArray()) < tol, "weight gradient");
        Assert.True(TestUtil.RelativeError(gb, fdB.Select(v => (float)v).ToArray()) < tol, "bias gradient");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerIsEquivariantUnderRandomHiddenPermutations(Case c)
    {
        var (gen, _, w, b) = Make(c, 14);
        var space = gen.Plan.Space;
        var rng = new Rng(99);
        var x = TestUtil.Random(space, 4, c.Cin, 10);
        var y = new WeightSpaceBatch(space, 4, c.Cout);
        gen.Forward(w, b, x, y);
        for (int trial = 0; trial < 5; trial++)
        {
            var g = Permutations.Random(space, rng);
            var ygx = new WeightSpaceBatch(space, 4, c.Cout);
            gen.Forward(w, b, Permutations.Apply(x, g), ygx);
            var gy = Permutations.Apply(y, g);
            double err = TestUtil.RelativeError(ygx, gy);
            Assert.True(err < 1e-5, $"trial {trial}: relative error {err}");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LayerIsNotEquivariantUnderUncoupledPermutations(bool hidden)
    {
        // Rows of W1 (layer 1) permuted by p, columns of W2 (also layer 1) by a different q.
        var space = hidden ? Mlp2332Hidden11.CreateWeightSpace() : Mlp2332All11.CreateWeightSpace();
        var kernel = hidden ? Mlp2332Hidden11.CreateKernel(new LayerPlan(space, 1, 1)) : Mlp2332All11.CreateKernel(new LayerPlan(space, 1, 1));
        var w = TestUtil.RandomVector(kernel.Plan.WeightCount, 3);
        var b = TestUtil.RandomVector(kernel.Plan.BiasCount, 4);
        var x = TestUtil.Random(space, 2, 1, 5);
        int[] p = { 1, 2, 0 }, q = { 0, 2, 1 };
        int[]? Perm(int tensor, int axis) => space.Tensors[tensor].Axes[axis].Layer == 1 ? (tensor == 2 ? q : p) : null;
        var y = new WeightSpaceBatch(space, 2, 1);
        kernel.Forward(w, b, x, y);
        var ygx = new WeightSpaceBatch(space, 2, 1);
        kernel.Forward(w, b, Permutations.ApplyPerAxis(x, Perm), ygx);
        double err = TestUtil.RelativeError(ygx, Permutations.ApplyPerAxis(y, Perm));
        Assert.True(err > 1e-2, $"an uncoupled permutation should break equivariance, relative error {err}");
        // And the coupled one (q = p) does commute: the test is sensitive, not broken.
        int[]? Coupled(int tensor, int axis) => space.Tensors[tensor].Axes[axis].Layer == 1 ? p : null;
        var ygx2 = new WeightSpaceBatch(space, 2, 1);
        kernel.Forward(w, b, Permutations.ApplyPerAxis(x, Coupled), ygx2);
        Assert.True(TestUtil.RelativeError(ygx2, Permutations.ApplyPerAxis(y, Coupled)) < 1e-5);
    }

    public static IEnumerable<object[]> RankCases() => Cases().Where(o => ((Case)o[0]).Cin == 1 && ((Case)o[0]).Cout == 1);

    /// <summary>
    /// Completeness and minimality: the maps of the unit parameter vectors span a space whose rank is
    /// the number of weights (nothing redundant), which equals the enumerated count and the brute-force
    /// orbit count (nothing missing).
    /// </summary>
    [Theory]
    [MemberData(nameof(RankCases))]
    public void SpanOfTheLayerHasFullRankEqualToOrbitCount(Case c)
    {
        var space = c.Space();
        var plan = new LayerPlan(space, 1, 1);
        var kernel = c.Kernel(plan);
        int dim = (int)space.Dimension;
        // The batch is the identity: network j is the j-th unit vector, so one forward gives M_p.
        var eye = new WeightSpaceBatch(space, dim, 1);
        var flat = new float[dim * dim];
        var identity = new float[dim * dim];
        for (int j = 0; j < dim; j++) identity[j * dim + j] = 1;
        // Flattened per network, tensor-major in memory: set entry j of network j.
        int off = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            int size = space.Tensors[t].Size;
            for (int e = 0; e < size; e++) eye.Tensors[t].Data[(off + e) * size + e] = 1;
            off += size;
        }
        var rows = new List<double[]>();
        var bias = new float[plan.BiasCount];
        var y = new WeightSpaceBatch(space, dim, 1);
        for (int p = 0; p < plan.WeightCount; p++)
        {
            var w = new float[plan.WeightCount];
            w[p] = 1;
            kernel.Forward(w, bias, eye, y);
            rows.Add(y.Flatten().Select(v => (double)v).ToArray());
        }
        long enumerated = Basis.CountPerChannelPair(space);
        long orbits = OrbitCounter.CountPairOrbits(space);
        Assert.Equal(enumerated, plan.WeightCount);
        Assert.Equal(orbits, enumerated);
        Assert.Equal(enumerated, TestUtil.Rank(rows.ToArray()));
    }
}
