using System;
using System.Diagnostics;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Gpu;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Tools.GpuCheck.Models;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>One generated layer: its weight space, the generated C# (CPU) kernel and the generated CUDA kernel.</summary>
public sealed record LayerCase(string Name, Func<WS> Space, Func<LayerPlan, IEquivariantKernel> Cpu,
    Func<CudaDevice, LayerPlan, CudaEquivariantKernel> Cuda, int Cin, int Cout)
{
    public LayerPlan Plan() => new(Space(), Cin, Cout);

    public static LayerCase Siren(int width, int cin, int cout) => width switch
    {
        32 => new($"siren32 {cin}x{cout}", Siren32Model.CreateWeightSpace, Siren32Model.CreateKernel, Siren32Model.CreateCudaKernel, cin, cout),
        64 => new($"siren64 {cin}x{cout}", Siren64Model.CreateWeightSpace, Siren64Model.CreateKernel, Siren64Model.CreateCudaKernel, cin, cout),
        128 => new($"siren128 {cin}x{cout}", Siren128Model.CreateWeightSpace, Siren128Model.CreateKernel, Siren128Model.CreateCudaKernel, cin, cout),
        256 => new($"siren256 {cin}x{cout}", Siren256Model.CreateWeightSpace, Siren256Model.CreateKernel, Siren256Model.CreateCudaKernel, cin, cout),
        512 => new($"siren512 {cin}x{cout}", Siren512Model.CreateWeightSpace, Siren512Model.CreateKernel, Siren512Model.CreateCudaKernel, cin, cout),
        _ => throw new ArgumentOutOfRangeException(nameof(width), width, "gpu-check declares SIREN 2→h→h→1 for h = 32, 64, 128, 256, 512."),
    };

    public static readonly int[] SweepWidths = { 32, 64, 128, 256, 512 };
}

/// <summary>
/// Generated CUDA layers against the generated C# layers on random data: forward, input gradient and parameter
/// gradients (relative error ≤ 1e-5, max-norm), and bitwise-deterministic parameter gradients.
/// </summary>
public static class LayerChecks
{
    public static void Register(CheckRegistry r)
    {
        Add(r, "layer-siren32-1x32", "SIREN 2→32→32→1, hidden-neuron symmetry, first layer 1 → 32", LayerCase.Siren(32, 1, 32), 37);
        Add(r, "layer-siren32-32x32", "SIREN 2→32→32→1, hidden-neuron symmetry, 32 → 32", LayerCase.Siren(32, 32, 32), 37);
        Add(r, "layer-siren32-all-32x32", "SIREN 2→32→32→1, all-neuron symmetry, 32 → 32",
            new LayerCase("siren32 all 32x32", Siren32AllModel.CreateWeightSpace, Siren32AllModel.CreateKernel, Siren32AllModel.CreateCudaKernel, 32, 32), 37);
        Add(r, "layer-cnn-1x16", "small CNN (conv 3×3 ×2, dense), first layer 1 → 16",
            new LayerCase("cnn 1x16", SmallCnnModel.CreateWeightSpace, SmallCnnModel.CreateKernel, SmallCnnModel.CreateCudaKernel, 1, 16), 37);
        Add(r, "layer-cnn-16x16", "small CNN (conv 3×3 ×2, dense), 16 → 16",
            new LayerCase("cnn 16x16", SmallCnnModel.CreateWeightSpace, SmallCnnModel.CreateKernel, SmallCnnModel.CreateCudaKernel, 16, 16), 37);
        r.AddCheck("layer-siren-widths", "SIREN 2→h→h→1, 32 → 32, h = 64..512 (batch 3)", c =>
        {
            var results = LayerCase.SweepWidths.Skip(1).Select(h => (h, Compare(c, LayerCase.Siren(h, 32, 32), 3))).ToList();
            var r2 = new CheckResult(results.All(x => x.Item2.Passed), string.Join("; ", results.Select(x => $"h={x.h}: {x.Item2.Details}")));
            foreach (var (h, res) in results)
                foreach (var (k, v) in res.Metrics) r2.Metrics[$"h{h}_{k}"] = v;
            return r2;
        });
    }

    private static void Add(CheckRegistry r, string name, string what, LayerCase lc, int batch) =>
        r.AddCheck(name, $"{what}: CUDA vs C# forward, input and parameter gradients (≤ 1e-5), deterministic", c => Compare(c, lc, batch));

    internal static float[] Uniform(int n, Random rng, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = scale * (float)(2 * rng.NextDouble() - 1);
        return a;
    }

    internal static WeightSpaceBatch RandomBatch(WS space, int batch, int channels, Random rng)
    {
        var b = new WeightSpaceBatch(space, batch, channels);
        foreach (var t in b.Tensors)
            for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(2 * rng.NextDouble() - 1);
        return b;
    }

    public static CheckResult Compare(CheckContext c, LayerCase lc, int batch)
    {
        var plan = lc.Plan();
        var space = plan.Space;
        var cpu = lc.Cpu(plan);
        var sw = Stopwatch.StartNew();
        using var gpu = lc.Cuda(c.Device, plan);
        double compileSeconds = sw.Elapsed.TotalSeconds;
        var rng = new Random(1234);
        var w = Uniform(plan.WeightCount, rng, (float)plan.InitStd(0));
        var b = Uniform(plan.BiasCount, rng);
        var x = RandomBatch(space, batch, lc.Cin, rng);
        var gy = RandomBatch(space, batch, lc.Cout, rng);

        var yCpu = new WeightSpaceBatch(space, batch, lc.Cout);
        var yGpu = new WeightSpaceBatch(space, batch, lc.Cout);
        cpu.Forward(w, b, x, yCpu);
        gpu.Forward(w, b, x, yGpu);

        var gxCpu = new WeightSpaceBatch(space, batch, lc.Cin);
        var gxGpu = new WeightSpaceBatch(space, batch, lc.Cin);
        var gwCpu = new float[plan.WeightCount]; var gbCpu = new float[plan.BiasCount];
        var gwGpu = new float[plan.WeightCount]; var gbGpu = new float[plan.BiasCount];
        cpu.Backward(w, x, gy, gxCpu, gwCpu, gbCpu);
        gpu.Backward(w, x, gy, gxGpu, gwGpu, gbGpu);

        // Determinism: a second run gives bitwise the same gradients.
        var gxGpu2 = new WeightSpaceBatch(space, batch, lc.Cin);
        var gwGpu2 = new float[plan.WeightCount]; var gbGpu2 = new float[plan.BiasCount];
        gpu.Backward(w, x, gy, gxGpu2, gwGpu2, gbGpu2);
        bool deterministic = gwGpu.AsSpan().SequenceEqual(gwGpu2) && gbGpu.AsSpan().SequenceEqual(gbGpu2) && gxGpu.Flatten().AsSpan().SequenceEqual(gxGpu2.Flatten());

        double ey = CoreChecks.RelativeError(yGpu.Flatten(), yCpu.Flatten());
        double egx = CoreChecks.RelativeError(gxGpu.Flatten(), gxCpu.Flatten());
        double egw = CoreChecks.RelativeError(gwGpu, gwCpu);
        double egb = CoreChecks.RelativeError(gbGpu, gbCpu);
        bool ok = ey <= CoreChecks.Tolerance && egx <= CoreChecks.Tolerance && egw <= CoreChecks.Tolerance && egb <= CoreChecks.Tolerance && deterministic;
        return new CheckResult(ok,
            $"batch {batch}: forward {ey:0.0e+00}, input grad {egx:0.0e+00}, weight grad {egw:0.0e+00}, bias grad {egb:0.0e+00} (limit {CoreChecks.Tolerance:0e+00}), " +
            $"{(deterministic ? "deterministic" : "NOT deterministic")}, {gpu.Layer.KernelNames.Length} kernels, module {(gpu.Module.FromCache ? "from cache" : $"compiled in {compileSeconds:F1} s")}")
        {
            Metrics =
            {
                ["batch"] = batch,
                ["forward_rel_error"] = ey,
                ["input_grad_rel_error"] = egx,
                ["weight_grad_rel_error"] = egw,
                ["bias_grad_rel_error"] = egb,
                ["deterministic"] = deterministic ? 1 : 0,
                ["compile_seconds"] = compileSeconds,
            },
        };
    }
}
