using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Tests.Generated;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Gpu.Tests;

[EquivariantModel(typeof(Siren2x32x32x1), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class SirenWide { }

[EquivariantModel(typeof(SmallCnn), Channels = new[] { 32, 32 }, Outputs = 10)]
public partial class CnnWide { }

/// <summary>
/// The generated CUDA C, compiled as C++ and run on the CPU emulator (tests/Shared/CudaEmulation), against the
/// generated C# kernel: forward, input gradient and parameter gradients, launched exactly as the runtime launches
/// them (<see cref="CudaLayerSource.Launches"/>). Checks the kernels' math and their launch metadata on machines
/// without a GPU; the GPU tests (CudaGpuTests) check the same on a device.
/// </summary>
public class CudaEmulationTests
{
    public sealed record Case(string Name, Func<WS> Space, Func<LayerPlan, IEquivariantKernel> Cpu, Func<int, int, CudaLayerSource> Cuda, int Cin, int Cout)
    {
        public override string ToString() => $"{Name} {Cin}→{Cout}";
    }

    public static IEnumerable<object[]> Cases() => new List<Case>
    {
        new("Siren hidden", SirenClassifier.CreateWeightSpace, SirenClassifier.CreateKernel, SirenClassifier.CudaSources.ForChannels, 4, 3),
        new("Siren hidden first", SirenClassifier.CreateWeightSpace, SirenClassifier.CreateKernel, SirenClassifier.CudaSources.ForChannels, 1, 4),
        new("Siren all", SirenClassifierAll.CreateWeightSpace, SirenClassifierAll.CreateKernel, SirenClassifierAll.CudaSources.ForChannels, 4, 3),
        new("Cnn hidden", CnnClassifier.CreateWeightSpace, CnnClassifier.CreateKernel, CnnClassifier.CudaSources.ForChannels, 2, 3),
        new("Cnn all", CnnEditorAll.CreateWeightSpace, CnnEditorAll.CreateKernel, CnnEditorAll.CudaSources.ForChannels, 3, 2),
        new("Mlp2332 editor (non-trailing W3)", Mlp2332Editor.CreateWeightSpace, Mlp2332Editor.CreateKernel, Mlp2332Editor.CudaSources.ForChannels, 3, 2),
        new("Depth5 hidden", Depth5Editor.CreateWeightSpace, Depth5Editor.CreateKernel, Depth5Editor.CudaSources.ForChannels, 2, 3),
        new("Narrow hidden", NarrowHidden11.CreateWeightSpace, NarrowHidden11.CreateKernel, NarrowHidden11.CudaSources.ForChannels, 1, 1),
        // Wide channels: source rows staged in several chunks, several tiles per block, gradient tiles of 64.
        new("Siren hidden wide", SirenWide.CreateWeightSpace, SirenWide.CreateKernel, SirenWide.CudaSources.ForChannels, 32, 32),
        // 9 kernel positions × 32 channels = 288 output columns: two column tiles.
        new("Cnn hidden wide first", CnnWide.CreateWeightSpace, CnnWide.CreateKernel, CnnWide.CudaSources.ForChannels, 1, 32),
        new("Cnn hidden wide", CnnWide.CreateWeightSpace, CnnWide.CreateKernel, CnnWide.CudaSources.ForChannels, 32, 32),
    }.Select(c => new object[] { c });

    private static IEnumerable<CudaEmulator.Launch> Launches(CudaLayerSource layer, CudaLayerPass pass, int batch) =>
        layer.Launches(pass, batch).Select(l => new CudaEmulator.Launch(l.Step.Kernel, l.Blocks, layer.BlockSize));

    [HostCompilerTheory]
    [MemberData(nameof(Cases))]
    public void EmulatedCudaMatchesTheCpuKernel(Case c)
    {
        var space = c.Space();
        var plan = new LayerPlan(space, c.Cin, c.Cout);
        var cpu = c.Cpu(plan);
        var layer = c.Cuda(c.Cin, c.Cout);
        Assert.Equal(plan.WeightCount, layer.WeightCount);
        string exe = CudaEmulator.Build(layer.Source, layer.KernelNames);

        const int batch = 5;
        var w = TestUtil.RandomVector(plan.WeightCount, 21);
        var b = TestUtil.RandomVector(plan.BiasCount, 22);
        var x = TestUtil.Random(space, batch, c.Cin, 23);
        var gy = TestUtil.Random(space, batch, c.Cout, 24);

        // Forward.
        var yCpu = new WeightSpaceBatch(space, batch, c.Cout);
        cpu.Forward(w, b, x, yCpu);
        var (y, _, _) = CudaEmulator.Run(exe, batch, x.Flatten(), null, w, b, (int)layer.OutputLength(batch), null, null,
            layer.ScratchFloats(batch), Launches(layer, CudaLayerPass.Forward, batch));
        Assert.DoesNotContain(y, float.IsNaN);
        double ef = TestUtil.RelativeError(y, yCpu.Flatten());
        Assert.True(ef < 1e-5, $"forward: relative error {ef}");

        // Backward: parameter gradients are added to what the buffers hold.
        var gxCpu = new WeightSpaceBatch(space, batch, c.Cin);
        var gwCpu = new float[plan.WeightCount];
        var gbCpu = new float[plan.BiasCount];
        cpu.Backward(w, x, gy, gxCpu, gwCpu, gbCpu);
        var gw0 = TestUtil.RandomVector(plan.WeightCount, 25);
        var gb0 = TestUtil.RandomVector(plan.BiasCount, 26);
        var (gx, gw, gb) = CudaEmulator.Run(exe, batch, x.Flatten(), gy.Flatten(), w, null, (int)layer.InputLength(batch), gw0, gb0,
            layer.ScratchFloats(batch), Launches(layer, CudaLayerPass.ParameterGradient, batch).Concat(Launches(layer, CudaLayerPass.InputGradient, batch)));
        Assert.DoesNotContain(gx, float.IsNaN);
        double egx = TestUtil.RelativeError(gx, gxCpu.Flatten());
        Assert.True(egx < 1e-5, $"input gradient: relative error {egx}");
        double egw = TestUtil.RelativeError(gw.Zip(gw0, (a, z) => a - z).ToArray(), gwCpu);
        Assert.True(egw < 1e-5, $"weight gradient: relative error {egw}");
        double egb = TestUtil.RelativeError(gb.Zip(gb0, (a, z) => a - z).ToArray(), gbCpu);
        Assert.True(egb < 1e-5, $"bias gradient: relative error {egb}");
    }

    [HostCompilerTheory]
    [InlineData(1)]
    [InlineData(70)]
    public void EmulatedGradientsAreDeterministicAndBatchSizesWork(int batch)
    {
        // Batches that are not multiples of the chunk sizes, twice, the second time with blocks and threads in a
        // shuffled order (as a GPU may schedule them): the gradients must be bitwise equal.
        var space = SirenClassifierAll.CreateWeightSpace();
        var plan = new LayerPlan(space, 1, 4);
        var layer = SirenClassifierAll.CudaSources.ForChannels(1, 4);
        var cpu = SirenClassifierAll.CreateKernel(plan);
        string exe = CudaEmulator.Build(layer.Source, layer.KernelNames);
        var w = TestUtil.RandomVector(plan.WeightCount, 31);
        var x = TestUtil.Random(space, batch, 1, 32);
        var gy = TestUtil.Random(space, batch, 4, 33);
        (float[], float[], float[]) Once() => CudaEmulator.Run(exe, batch, x.Flatten(), gy.Flatten(), w, null, (int)layer.InputLength(batch),
            new float[plan.WeightCount], new float[plan.BiasCount], layer.ScratchFloats(batch),
            Launches(layer, CudaLayerPass.ParameterGradient, batch).Concat(Launches(layer, CudaLayerPass.InputGradient, batch)));
        var (gx1, gw1, gb1) = Once();
        float[] gx2, gw2, gb2;
        using (CudaEmulator.Schedule(0x5eed + (ulong)batch)) (gx2, gw2, gb2) = Once();
        Assert.Equal(gw1, gw2);
        Assert.Equal(gb1, gb2);
        Assert.Equal(gx1, gx2);
        var gwCpu = new float[plan.WeightCount];
        var gbCpu = new float[plan.BiasCount];
        cpu.Backward(w, x, gy, null, gwCpu, gbCpu);
        Assert.True(TestUtil.RelativeError(gw1, gwCpu) < 1e-5, $"weight gradient: relative error {TestUtil.RelativeError(gw1, gwCpu)}");
        Assert.True(TestUtil.RelativeError(gb1, gbCpu) < 1e-5, $"bias gradient: relative error {TestUtil.RelativeError(gb1, gbCpu)}");
    }
}

/// <summary>
/// The emulator's shuffled schedule (CudaEmulator.Schedule), which the determinism tests use for their second run: it
/// must change the outcome of order-dependent kernels, or those tests could not fail.
/// </summary>
public class CudaEmulatorScheduleTests
{
    private const string Racy = @"
extern ""C"" __global__ void last_block_wins(float* out)
{
    if (threadIdx.x == 0) out[0] = (float)blockIdx.x;      // a race between blocks: the last to run wins
}
extern ""C"" __global__ void no_barrier(float* out)
{
    __shared__ float s[64];
    s[threadIdx.x] = (float)(100 * blockIdx.x + threadIdx.x);
    if (threadIdx.x == 5) out[blockIdx.x] = s[40];         // reads another thread's write without __syncthreads
    __syncthreads();
}
extern ""C"" __global__ void with_barrier(float* out)
{
    __shared__ float s[64];
    s[threadIdx.x] = (float)(100 * blockIdx.x + threadIdx.x);
    __syncthreads();
    if (threadIdx.x == 5) out[blockIdx.x] = s[40];
}";

    private static float[] Run(string exe, string kernel, int blocks)
    {
        var buffers = new[] { CudaEmulator.Buffer.Of(new float[blocks]) };
        CudaEmulator.RunGeneric(exe, buffers, new[] { new CudaEmulator.KernelLaunch(kernel, blocks, 64, new[] { CudaEmulator.Arg.B(0) }) });
        return buffers[0].Floats();
    }

    [HostCompilerFact]
    public void AShuffledScheduleExposesRacesAndKeepsCorrectKernelsEqual()
    {
        string exe = CudaEmulator.BuildGeneric(Racy, new[] { "last_block_wins", "no_barrier", "with_barrier" });
        const int blocks = 64;
        static int Current(float[] o) => o.Select((v, b) => v == 100 * b + 40 ? 1 : 0).Sum();   // blocks that read this block's s[40]
        // Index order: the last block is 63; thread 40 has not written when thread 5 reads (threads run in order).
        Assert.Equal(63f, Run(exe, "last_block_wins", blocks)[0]);
        Assert.Equal(0, Current(Run(exe, "no_barrier", blocks)));
        var correct = Run(exe, "with_barrier", blocks);
        Assert.Equal(blocks, Current(correct));

        using (CudaEmulator.Schedule(0x5eed))
        {
            Assert.NotEqual(63f, Run(exe, "last_block_wins", blocks)[0]);            // another block ran last
            int current = Current(Run(exe, "no_barrier", blocks));
            Assert.InRange(current, 1, blocks - 1);                                  // thread 40 ran first in some blocks only
            Assert.Equal(correct, Run(exe, "with_barrier", blocks));                 // a correct kernel does not change
        }
    }
}
