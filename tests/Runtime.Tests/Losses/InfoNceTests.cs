using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Training;

namespace LayerCompiler.Runtime.Tests.Losses;

public class InfoNceTests
{
    // A float64 re-implementation written the way PyTorch users write NT-Xent: stack the views [z1; z2], normalize,
    // similarity matrix / τ, the diagonal masked out, cross-entropy against the index of the other view.
    private static double Reference(double[] pairs, int n, int d, double tau)
    {
        int m = 2 * n;
        var z = new double[m][];
        for (int i = 0; i < n; i++)
        {
            z[i] = pairs.Skip(i * 2 * d).Take(d).ToArray();
            z[i + n] = pairs.Skip(i * 2 * d + d).Take(d).ToArray();
        }
        var u = z.Select(v => { double norm = Math.Sqrt(v.Sum(a => a * a)); return v.Select(a => a / norm).ToArray(); }).ToArray();
        double total = 0;
        for (int j = 0; j < m; j++)
        {
            var logits = Enumerable.Range(0, m).Select(k => k == j ? double.NegativeInfinity : u[j].Zip(u[k], (a, b) => a * b).Sum() / tau).ToArray();
            int label = (j + n) % m;
            double max = logits.Where(double.IsFinite).Max();
            double logZ = max + Math.Log(logits.Where(double.IsFinite).Sum(l => Math.Exp(l - max)));
            total += logZ - logits[label];
        }
        return total / m;
    }

    private static float[] Random(int count, ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ => (float)rng.Normal()).ToArray();
    }

    [Theory]
    [InlineData(2, 3, 0.1f)]
    [InlineData(5, 4, 0.1f)]
    [InlineData(4, 16, 0.5f)]
    public void LossAndGradientMatchFloat64FiniteDifferences(int n, int d, float tau)
    {
        var x = Random(n * 2 * d, (ulong)(n * 100 + d));
        var (loss, grad) = new InfoNce(tau).Compute(new Tensor(x, n, 2 * d));
        var x64 = GradCheck.ToDouble(x);
        Assert.Equal(Reference(x64, n, d, tau), loss, 1e-5 * Math.Max(1, Math.Abs(loss)));
        var numeric = GradCheck.Numeric(v => Reference(v, n, d, tau), x64);
        GradCheck.AssertClose(grad.Data, numeric, 1e-4, 1e-6, "dInfoNCE/dz");
    }

    [Fact]
    public void AlignedViewsWithOrthogonalItemsGiveTheAnalyticMinimum()
    {
        // Two items with identical views, orthogonal to each other: every embedding's positive has similarity 1/τ, the
        // other two 0, so the loss is log(e^{1/τ} + 2) − 1/τ.
        var x = new float[] { 1, 0, 2, 0, 0, 3, 0, 1 };
        float tau = 0.5f;
        var (loss, _) = new InfoNce(tau).Compute(new Tensor(x, 2, 4));
        Assert.Equal(Math.Log(Math.Exp(2) + 2) - 2, loss, 1e-6);
    }

    [Fact]
    public void ReorderingTheItemsOrSwappingTheViewsLeavesTheLossUnchanged()
    {
        int n = 6, d = 3;
        var x = Random(n * 2 * d, 7);
        float loss = new InfoNce(0.1f).Compute(new Tensor(x, n, 2 * d)).Loss;
        var perm = new Rng(3).Permutation(n);
        var y = new float[x.Length];
        for (int i = 0; i < n; i++)
        {
            // item perm[i] moves to row i, with its views swapped
            Array.Copy(x, perm[i] * 2 * d + d, y, i * 2 * d, d);
            Array.Copy(x, perm[i] * 2 * d, y, i * 2 * d + d, d);
        }
        Assert.Equal(loss, new InfoNce(0.1f).Compute(new Tensor(y, n, 2 * d)).Loss, 1e-5);
    }

    [Fact]
    public void BadInputIsRefusedNamingTheProblem()
    {
        var e = Assert.Throws<ArgumentException>(() => new InfoNce(0.1f).Compute(new Tensor(new float[6], 2, 3)));
        Assert.Contains("two embeddings", e.Message);
        e = Assert.Throws<ArgumentException>(() => new InfoNce(0.1f).Compute(new Tensor(new float[4], 1, 4)));
        Assert.Contains("at least 2 items", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new InfoNce(0f));
    }

    [Fact]
    public void ContrastiveObjectiveIsInfoNceAndNamesItsTemperature()
    {
        var x = Random(4 * 8, 11);
        var objective = new ContrastiveObjective(0.1f);
        Assert.Equal("info_nce(t=0.1)", objective.Name);
        Assert.Equal(new InfoNce(0.1f).Compute(new Tensor(x, 4, 8)).Loss, objective.Compute(new Tensor(x, 4, 8), default).Loss);
    }
}
