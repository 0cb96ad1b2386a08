using System;
using System.Diagnostics;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Zoo;
using WeightTasks;

namespace LayerCompiler.Bench.EditSpeed;

/// <summary>Render forward / backward of 32 zoo INRs: the generated network vs MlpInputNetwork (CPU time per INR).</summary>
static class RenderBench
{
    public static void Run(string zoo)
    {
        var reader = ZooReader.Open(zoo);
        var zs = reader.Load("train", limit: 32);
        var gen = new Siren2x32x32x1.Network();
        var mlp = new MlpInputNetwork(zs.Weights.Space, InputActivation.Sine, 30f, 0.5f);
        var pts = InrTask.ImageGrid(28, 28);
        int n = 32, P = 784;
        var w = zs.Weights;
        var outA = new float[n * P]; var outB = new float[n * P];
        var rng = new Random(1);
        var gOut = Enumerable.Range(0, n * P).Select(_ => (float)(rng.NextDouble() - 0.5) * 1e-4f).ToArray();
        var gA = new WeightSpaceBatch(w.Space, n, 1); var gB = new WeightSpaceBatch(w.Space, n, 1);
        for (int rep = 0; rep < 6; rep++)
        {
            double a = Cpu(() => gen.Forward(w, pts, P, outA), 30) / n;
            double b = Cpu(() => mlp.Forward(w, pts, P, outB), 30) / n;
            double c = Cpu(() => gen.Backward(w, pts, P, gOut, gA), 30) / n;
            double d = Cpu(() => mlp.Backward(w, pts, P, gOut, gB), 30) / n;
            Console.WriteLine($"CPU µs per INR: generated fwd {a:F0} bwd {c:F0}; MlpInputNetwork fwd {b:F0} bwd {d:F0}");
        }
        var ws = mlp.CreateWorkspace();
        var flat = new float[mlp.ParameterCount]; var fgrad = new float[mlp.ParameterCount];
        var tgt = new float[P]; var o1 = new float[P];
        mlp.Gather(w, 0, flat);
        for (int rep = 0; rep < 4; rep++)
        {
            double f = Cpu(() => { for (int k = 0; k < 32; k++) mlp.ForwardNetwork(flat, pts, P, o1, ws); }, 30) / 32;
            double fused = Cpu(() => { for (int k = 0; k < 32; k++) mlp.SquaredErrorGradient(flat, pts, P, tgt, 1e-5, o1, fgrad, ws); }, 30) / 32;
            Console.WriteLine($"one thread, CPU µs per INR: ForwardNetwork {f:F0}, SquaredErrorGradient (fused fwd+bwd) {fused:F0}");
        }
        double maxd = 0; for (int i = 0; i < outA.Length; i++) maxd = Math.Max(maxd, Math.Abs(outA[i] - outB[i]));
        Console.WriteLine($"max |fwd diff| {maxd:G3}");
        var fa = LayerCompiler.Tasks.Baselines.WeightFeatures.Flattened(gA).Data; var fb = LayerCompiler.Tasks.Baselines.WeightFeatures.Flattened(gB).Data;
        double num = 0, den = 0; for (int i = 0; i < fa.Length; i++) { num += (fa[i] - fb[i]) * (double)(fa[i] - fb[i]); den += fa[i] * (double)fa[i]; }
        Console.WriteLine($"grad rel L2 diff {Math.Sqrt(num / den):G3}");
    }

    static double Cpu(Action f, int reps)
    {
        f();
        var p = Process.GetCurrentProcess();
        var t0 = p.TotalProcessorTime;
        for (int i = 0; i < reps; i++) f();
        p.Refresh();
        return (p.TotalProcessorTime - t0).TotalMilliseconds * 1000 / reps;
    }
}
