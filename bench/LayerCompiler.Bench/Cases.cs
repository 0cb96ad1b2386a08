using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Bench;

/// <summary>One layer-benchmark case: a weight space, a 32 → 32 generated kernel, random data.</summary>
public sealed class LayerCase
{
    public string Name { get; }
    public int HiddenWidth { get; }
    public int Depth { get; }
    public int Batch { get; }
    public LayerPlan Plan { get; }
    public IEquivariantKernel Fused { get; }
    public InterpretedKernel Interpreted { get; }
    public float[] W, B, GW, GB;
    public WeightSpaceBatch X, Y, GX;

    public LayerCase(string name, int width, int depth, Func<LayerCompiler.Algebra.WeightSpace> space, Func<LayerPlan, IEquivariantKernel> kernel, int batch, int channels = 32)
    {
        Name = name; HiddenWidth = width; Depth = depth; Batch = batch;
        Plan = new LayerPlan(space(), channels, channels);
        Fused = kernel(Plan);
        Interpreted = new InterpretedKernel(Plan);
        var rng = new Rng(1);
        X = new WeightSpaceBatch(Plan.Space, batch, channels);
        foreach (var t in X.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)rng.Normal(); // never time on zeros
        W = new float[Plan.WeightCount]; B = new float[Plan.BiasCount];
        for (int i = 0; i < W.Length; i++) W[i] = (float)(Plan.InitStd(0) * rng.Normal());
        for (int i = 0; i < B.Length; i++) B[i] = (float)(0.1 * rng.Normal());
        Y = new WeightSpaceBatch(Plan.Space, batch, channels);
        GX = new WeightSpaceBatch(Plan.Space, batch, channels);
        GW = new float[W.Length]; GB = new float[B.Length];
    }

    /// <summary>Input read once + output written once (float32): the memory floor of any implementation.</summary>
    public long IoBytes => 2L * X.Length * sizeof(float);

    /// <summary>Flops of the channel mixes (entry terms and every small term), counted from the plan.</summary>
    public long Flops
    {
        get
        {
            long f = 0;
            foreach (var t in Plan.Terms)
            {
                var o = Plan.Space.Tensors[t.Term.Output];
                int keptMask = t.Term.KeptOutputMask(o);
                long positions = 1;
                for (int i = 0; i < o.PermutedAxes.Length; i++) if ((keptMask & (1 << i)) != 0) positions *= o.Axes[o.PermutedAxes[i]].Size;
                f += 2L * positions * t.Rows * t.Cols;
            }
            return f * Batch;
        }
    }

    public void Forward() => Fused.Forward(W, B, X, Y);
    public void ForwardBackward() { Fused.Forward(W, B, X, Y); Fused.Backward(W, X, Y, GX, GW, GB); }
    public void InterpretedForward() => Interpreted.Forward(W, B, X, Y);
    public void InterpretedForwardBackward() { Interpreted.Forward(W, B, X, Y); Interpreted.Backward(W, X, Y, GX, GW, GB); }

    public static LayerCase Reference(int batch = 256) => new("2-32-32-1", 32, 3, Layer32.CreateWeightSpace, Layer32.CreateKernel, batch);

    public static IEnumerable<LayerCase> WidthSweep()
    {
        // The batch shrinks with the width so the input stays near the reference size (as bench_layer.py does).
        yield return new("2-32-32-1", 32, 3, Layer32.CreateWeightSpace, Layer32.CreateKernel, 256);
        yield return new("2-64-64-1", 64, 3, Layer64.CreateWeightSpace, Layer64.CreateKernel, 256);
        yield return new("2-128-128-1", 128, 3, Layer128.CreateWeightSpace, Layer128.CreateKernel, 128);
        yield return new("2-256-256-1", 256, 3, Layer256.CreateWeightSpace, Layer256.CreateKernel, 64);
        yield return new("2-512-512-1", 512, 3, Layer512.CreateWeightSpace, Layer512.CreateKernel, 16);
    }

    public static IEnumerable<LayerCase> DepthSweep()
    {
        yield return new("depth 3", 32, 3, Layer32.CreateWeightSpace, Layer32.CreateKernel, 256);
        yield return new("depth 5", 32, 5, LayerDepth5.CreateWeightSpace, LayerDepth5.CreateKernel, 256);
        yield return new("depth 8", 32, 8, LayerDepth8.CreateWeightSpace, LayerDepth8.CreateKernel, 256);
    }
}
