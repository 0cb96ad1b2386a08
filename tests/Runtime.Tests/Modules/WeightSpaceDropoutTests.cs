using LayerCompiler.Runtime.Tests.Training;
using LayerCompiler.Runtime.Modules;

namespace LayerCompiler.Runtime.Tests.Modules;

public class WeightSpaceDropoutTests
{
    private static WeightSpaceBatch Ones(int batch, int channels)
    {
        var x = new WeightSpaceBatch(ReferenceMlp.Space(2, 5, 4, 3), batch, channels);
        foreach (var t in x.Tensors) Array.Fill(t.Data, 1f);
        return x;
    }

    [Fact]
    public void EvalAndZeroPAreTheIdentity()
    {
        var x = Ones(2, 3);
        var d = new WeightSpaceDropout(0.5f, new Rng(1));
        d.Eval();
        Assert.Same(x, d.Forward(x));
        Assert.Same(x, d.Backward(x));
        var z = new WeightSpaceDropout(0f, new Rng(1));
        Assert.Same(x, z.Forward(x));
    }

    [Fact]
    public void SameSeedSameMasksAndTheDropoutRule()
    {
        const float p = 0.25f;
        var x = Ones(40, 8);
        var a = new WeightSpaceDropout(p, new Rng(3)).Forward(x).Clone();
        var b = new WeightSpaceDropout(p, new Rng(3)).Forward(x);
        for (int t = 0; t < a.Tensors.Length; t++) Assert.Equal(a.Tensors[t].Data, b.Tensors[t].Data);
        var c = new WeightSpaceDropout(p, new Rng(4)).Forward(x);
        Assert.NotEqual(a.Tensors[0].Data, c.Tensors[0].Data);

        // The masks are Dropout.FillMask's, drawn tensor by tensor from the same generator.
        var rng = new Rng(3);
        for (int t = 0; t < a.Tensors.Length; t++)
        {
            var m = new float[a.Tensors[t].Length];
            Dropout.FillMask(m, p, rng);
            Assert.Equal(m, a.Tensors[t].Data);
        }
        long zeros = a.Tensors.Sum(t => t.Data.LongCount(v => v == 0f)), all = a.Tensors.Sum(t => (long)t.Length);
        Assert.InRange(zeros / (double)all, 0.2, 0.3);
    }

    [Fact]
    public void BackwardUsesTheForwardMask()
    {
        var x = Ones(3, 2);
        var d = new WeightSpaceDropout(0.5f, new Rng(5));
        var y = d.Forward(x).Clone();
        var g = d.Backward(Ones(3, 2));
        for (int t = 0; t < y.Tensors.Length; t++) Assert.Equal(y.Tensors[t].Data, g.Tensors[t].Data);
    }
}
