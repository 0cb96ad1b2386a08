using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Gpu.Tests;

/// <summary>The launch metadata of generated input-network CUDA (<c>Arch.NetworkCuda.Info</c>); no GPU needed.</summary>
public class CudaInputNetworkSourceTests
{
    [Fact]
    public void MetadataMatchesTheArchitectureAndTheCpuNetworksFlatLayout()
    {
        foreach (var c in InrCase.All())
        {
            var src = c.Cuda;
            var cpuNet = c.Cpu();
            var mlp = src.CreateCpuNetwork();
            Assert.True(src.Supported);
            Assert.Equal(cpuNet.Space.Dimension, src.ParameterCount);
            Assert.Equal(mlp.ParameterCount, src.ParameterCount);
            Assert.Equal(cpuNet.Activation, src.Activation);
            Assert.Equal(cpuNet.Omega0, src.Omega0);
            Assert.Equal(cpuNet.OutputOffset, src.OutputOffset);
            Assert.Equal(mlp.Widths, src.Widths);
            for (int t = 0, l = 0; l < src.Depth; l++)
            {
                Assert.Equal(mlp.TensorOffset(t++), src.WeightOffset(l));
                if (src.BiasOffset(l) >= 0) Assert.Equal(mlp.TensorOffset(t++), src.BiasOffset(l));
            }
            Assert.Equal(CudaInputNetworkSource.KernelNames, new[] { "lc_inr_forward", "lc_inr_mse_grad", "lc_inr_fit" });
        }
        Assert.Equal(-1, Mlp5.NetworkCuda.Info.BiasOffset(2));
        Assert.True(Siren2x32x32x1.NetworkCuda.SharedWeights);
        Assert.False(Siren2x64x64x1.NetworkCuda.SharedWeights);
        Assert.Equal(Siren2x64x64x1.NetworkCuda.ParameterCount * 5L, Siren2x64x64x1.NetworkCuda.Info.FitScratchFloats(5));
        Assert.Equal(0, Siren2x32x32x1.NetworkCuda.Info.FitScratchFloats(5));
    }

    [Fact]
    public void FlattenAndUnflattenAreInverseAndUseThePerNetworkOrder()
    {
        var c = InrCase.All().First(x => x.Name.StartsWith("ReLU"));
        var src = c.Cuda;
        var net = src.CreateCpuNetwork();
        var batch = TestUtil.Random(net.Space, 3, 1, 5);
        var flat = src.Flatten(batch);
        Assert.Equal(3 * src.ParameterCount, flat.Length);
        var one = new float[src.ParameterCount];
        for (int n = 0; n < 3; n++)
        {
            net.Gather(batch, n, one);
            Assert.Equal(one, flat.AsSpan(n * src.ParameterCount, src.ParameterCount).ToArray());
        }
        var back = new WeightSpaceBatch(net.Space, 3, 1);
        src.Unflatten(flat, back);
        Assert.Equal(batch.Flatten(), back.Flatten());
        Assert.Throws<ArgumentException>(() => src.Flatten(new WeightSpaceBatch(Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron), 1, 1)));
        Assert.Throws<ArgumentException>(() => src.Flatten(new WeightSpaceBatch(net.Space, 1, 2)));
    }

    [Fact]
    public void ForwardGridCoversEveryTileOnce()
    {
        var src = Siren2x32x32x1.NetworkCuda.Info;
        Assert.Equal(32, src.TilePoints);
        Assert.Equal(1, src.ForwardChunks(1));
        Assert.Equal(1, src.ForwardChunks(4 * 32));
        Assert.Equal(2, src.ForwardChunks(4 * 32 + 1));
        Assert.Equal(7, src.ForwardChunks(784));       // 25 tiles, 4 per block
        Assert.Equal(7 * 10, src.ForwardBlocks(10, 784));
        Assert.Throws<ArgumentOutOfRangeException>(() => src.ForwardChunks(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => src.ForwardBlocks(0, 784));
    }

    [Fact]
    public void AdamTableHoldsTheCpuFittersStepScalars()
    {
        var s = new InrFitSettings { MaxSteps = 3, LearningRate = 1e-3f };
        var table = CudaInrFitter.AdamTable(s);
        Assert.Equal(6, table.Length);
        for (int t = 1; t <= 3; t++)
        {
            Assert.Equal((float)(-s.LearningRate / (1 - Math.Pow(0.9, t))), table[2 * (t - 1)]);
            Assert.Equal((float)(1 / Math.Sqrt(1 - Math.Pow(0.999, t))), table[2 * (t - 1) + 1]);
        }
        Assert.Equal(2, CudaInrFitter.AdamTable(s with { MaxSteps = 0 }).Length);
    }

    [Fact]
    public void AnUnsupportedNetworkSaysWhy()
    {
        var src = new CudaInputNetworkSource("Demo.Wide", "", new[] { 2, 3000, 1 }, new[] { true, true }, InputActivation.Tanh, 30f, 0f, 256, 0, false, 4, "too wide");
        Assert.False(src.Supported);
        var e = Assert.Throws<NotSupportedException>(src.EnsureSupported);
        Assert.Contains("Demo.Wide: too wide", e.Message);
    }

    [Fact]
    public void FitStatesMapToTheCpuFittersResults()
    {
        Assert.Equal(new InrFitResult(0.5, 3, true), new CudaInrFitState(3, CudaInrFitStatus.Stopped, 0.5).ToResult());
        Assert.Equal(new InrFitResult(0.5, 9, false), new CudaInrFitState(9, CudaInrFitStatus.MaxSteps, 0.5).ToResult());
        Assert.False(new CudaInrFitState(0, CudaInrFitStatus.NotFinite, double.NaN).ToResult().Stopped);
        Assert.False(new CudaInrFitState(2, CudaInrFitStatus.Running, 1).Done);
        var t = new InrFitThroughput(100, 100_000, 1001, 11, 2.0, 1.9);
        Assert.Equal(50_000, t.InrStepsPerSecond);
        Assert.Equal(50, t.InrsPerSecond);
        Assert.Contains("100 INRs", t.ToString());
    }
}
