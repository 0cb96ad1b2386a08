using LayerCompiler.Algebra;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Gpu.Tests;

/// <summary>The launch metadata of generated CUDA layers (no GPU needed).</summary>
public class CudaLayerSourceTests
{
    [Fact]
    public void GridFormulaIsTheSumOfCeilingTerms()
    {
        var step = new CudaLaunchStep("k", CudaLayerPass.Forward, new long[] { 1, 64, 256, 4, 1, 1, 3, 1, 7 }, 2);
        // ⌈10·64/256⌉ + 4·10 + 3·⌈10/7⌉ + 2
        Assert.Equal(3 + 40 + 6 + 2, step.Blocks(10));
        Assert.Throws<ArgumentException>(() => new CudaLaunchStep("k", CudaLayerPass.Forward, new long[] { 1, 2 }));
        Assert.Throws<ArgumentException>(() => new CudaLaunchStep("k", CudaLayerPass.Forward, new long[] { 1, 2, 0 }));
    }

    public static IEnumerable<object[]> Layers() => new (string, Func<global::LayerCompiler.Algebra.WeightSpace>, Func<int, int, CudaLayerSource>, int, int)[]
    {
        ("SirenClassifier", SirenClassifier.CreateWeightSpace, SirenClassifier.CudaSources.ForChannels, 4, 3),
        ("CnnClassifier", CnnClassifier.CreateWeightSpace, CnnClassifier.CudaSources.ForChannels, 2, 3),
        ("Depth5Editor", Depth5Editor.CreateWeightSpace, Depth5Editor.CudaSources.ForChannels, 3, 2),
    }.Select(t => new object[] { t.Item1, t.Item2, t.Item3, t.Item4, t.Item5 });

    [Theory]
    [MemberData(nameof(Layers))]
    public void MetadataMatchesThePlanAndTheSource(string name, Func<global::LayerCompiler.Algebra.WeightSpace> spaceOf, Func<int, int, CudaLayerSource> cuda, int cin, int cout)
    {
        var space = spaceOf();
        var plan = new LayerPlan(space, cin, cout);
        var layer = cuda(cin, cout);
        Assert.Equal(plan.WeightCount, layer.WeightCount);
        Assert.Equal(plan.BiasCount, layer.BiasCount);
        Assert.Equal(space.Tensors.Select(t => t.Size), layer.TensorSizes);
        Assert.Equal(256, layer.BlockSize);
        foreach (var k in layer.KernelNames)
            Assert.True(layer.Source.Contains($" {k}(LC_ARGS)"), $"{name}: kernel {k} is launched but not defined");
        foreach (var pass in new[] { CudaLayerPass.Forward, CudaLayerPass.ParameterGradient, CudaLayerPass.InputGradient })
        {
            var launches = layer.Launches(pass, 100).ToList();
            Assert.NotEmpty(launches);
            Assert.All(launches, l => Assert.True(l.Blocks > 0));
        }
        Assert.Equal(100 * layer.EntriesPerNetwork * cin, layer.InputLength(100));
        Assert.True(layer.ScratchFloats(100) > layer.ScratchFloats(1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => layer.CheckBatch(layer.MaxBatch + 1));
        Assert.Contains(layer.MaxBatch.ToString(), e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Launches(CudaLayerPass.Forward, 0).ToList());
    }
}
