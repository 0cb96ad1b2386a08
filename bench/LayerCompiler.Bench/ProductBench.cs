using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Bench;

/// <summary>
/// The `product` verb: the generated fused product kernel (2→32→32→1, D features: <see cref="ProductSiren32"/> for D = 16,
/// <see cref="ProductSiren32Wide"/> for D = 32; other D have no fused kernel) against the generic kernel
/// (<see cref="ProductKernel"/>'s loops, what generated models ran before the fused passes), the same message passing in
/// PyTorch (bench/torch_reference/product_layer.py) and the interpreted reference (<see cref="ProductLayerReference{T}"/>,
/// float32), forward and forward + backward, min / median / max, in one run. First the
/// PyTorch script recomputes the C# kernel's outputs from the same parameters and inputs (a safetensors file), so the
/// two implementations are known to compute the same map before they are timed. JSON lines on stdout.
/// </summary>
public static class ProductBench
{
    /// <param name="TorchThreads">PyTorch's intra-op thread counts, one timed PyTorch run each (the C# kernels use every core).</param>
    public sealed record Options(int Batch = 64, int Features = 16, int Reps = 10, bool Torch = true, bool Reference = true,
        IReadOnlyList<int>? TorchThreads = null, bool Generic = true);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(Options o)
    {
        var graph = NeuralGraph.FromSpace(ProductSiren32.CreateWeightSpace());
        int d = o.Features, batch = o.Batch;
        var generic = new ProductKernel(graph, d);
        var kernel = d == ProductSiren32.Configuration.Features ? ProductSiren32.CreateKernel(graph, d)
            : d == ProductSiren32Wide.Configuration.Features ? ProductSiren32Wide.CreateKernel(graph, d) : generic;
        if (kernel.FusedFeatures != d) Console.Error.WriteLine($"note: no fused kernel is declared for {d} features (16 and 32 are); timing the generic kernel only.");
        var rng = new Rng(1);
        var p = new ProductLayerParameters<float>(graph, d);
        p.Initialize(rng.Normal);
        var x = new GraphFeatures<float>(graph, batch, d);
        foreach (var a in x.All) for (int i = 0; i < a.Length; i++) a[i] = (float)rng.Normal();
        var y = new GraphFeatures<float>(graph, batch, d);
        var gx = new GraphFeatures<float>(graph, batch, d);
        var gp = new ProductLayerParameters<float>(graph, d);
        var gy = new GraphFeatures<float>(graph, batch, d);
        foreach (var a in gy.All) Array.Fill(a, 1f);   // loss = sum of every output, as the PyTorch script

        kernel.Forward(p, x, y);
        int status = 0;
        if (o.Torch) status = Check(graph, d, p, x, y);

        // The machine right now: load average and the Vector256 FMA peak of all cores, measured in this process before the
        // timings (and again after them), so that a kernel's GFLOP/s can be read as a fraction of what the machine gave.
        var (fwdFlops, bwdFlops) = Flops(graph, d);
        string load0 = LoadAverage();
        double peak0 = MachineCeilings.FmaPeakNow(0.5, Environment.ProcessorCount);
        double cpuPeak0 = MachineCeilings.FmaPeakPerCpuSecond();
        var (fwd, fwdCpu) = Time(() => kernel.Forward(p, x, y), o.Reps);
        var (fb, fbCpu) = Time(() => { kernel.Forward(p, x, y); kernel.Backward(p, x, gy, gx, gp); }, o.Reps);
        if (kernel.FusedFeatures == d) Emit("fused", graph, batch, d, fwd, fb, fwdCpu, fbCpu);
        if (kernel.FusedFeatures == d && o.Generic)
        {
            var (gf, gfCpu) = Time(() => generic.Forward(p, x, y), o.Reps);
            var (gfb, gfbCpu) = Time(() => { generic.Forward(p, x, y); generic.Backward(p, x, gy, gx, gp); }, o.Reps);
            Emit("generic", graph, batch, d, gf, gfb, gfCpu, gfbCpu);
        }
        if (kernel.FusedFeatures != d) Emit("generic", graph, batch, d, fwd, fb, fwdCpu, fbCpu);
        double peak1 = MachineCeilings.FmaPeakNow(0.5, Environment.ProcessorCount);
        double cpuPeak = Math.Max(cpuPeak0, MachineCeilings.FmaPeakPerCpuSecond());
        double f = fwdFlops * batch, fbf = (fwdFlops + bwdFlops) * batch;
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["bench"] = "product-machine", ["load_before"] = load0, ["load_after"] = LoadAverage(),
            ["fma_peak_gflops_before"] = Math.Round(peak0, 1), ["fma_peak_gflops_after"] = Math.Round(peak1, 1),
            ["forward_gflop"] = f / 1e9, ["fwd_bwd_gflop"] = fbf / 1e9,
            ["fused_forward_gflops_at_min"] = Math.Round(f / fwd.Min / 1e6, 1), ["fused_fwd_bwd_gflops_at_min"] = Math.Round(fbf / fb.Min / 1e6, 1),
            ["fused_forward_pct_of_peak"] = Math.Round(100 * f / fwd.Min / 1e6 / Math.Max(peak0, peak1), 1),
            ["fused_fwd_bwd_pct_of_peak"] = Math.Round(100 * fbf / fb.Min / 1e6 / Math.Max(peak0, peak1), 1),
            // Load-independent: flops per CPU-second of the kernel (all its threads) against one core's FMA flops per CPU-second.
            ["fma_peak_gflops_per_cpu_second"] = Math.Round(cpuPeak, 1),
            ["fused_forward_gflops_per_cpu_second"] = Math.Round(f / fwdCpu.Min / 1e6, 1),
            ["fused_fwd_bwd_gflops_per_cpu_second"] = Math.Round(fbf / fbCpu.Min / 1e6, 1),
            ["fused_forward_pct_of_cpu_peak"] = Math.Round(100 * f / fwdCpu.Min / 1e6 / cpuPeak, 1),
            ["fused_fwd_bwd_pct_of_cpu_peak"] = Math.Round(100 * fbf / fbCpu.Min / 1e6 / cpuPeak, 1),
        }));
        if (o.Reference)
        {
            int reps = Math.Max(1, o.Reps / 5);
            var rf = QuickBench.Time(() => ProductLayerReference<float>.Forward(p, x), reps, warmup: 1, warmupSeconds: 0);
            var rfb = QuickBench.Time(() => ProductLayerReference<float>.Backward(p, x, gy, gp), reps, warmup: 1, warmupSeconds: 0);
            Emit("reference", graph, batch, d, rf, rfb);
        }
        if (o.Torch)
            foreach (int threads in o.TorchThreads ?? [1, Environment.ProcessorCount])
            {
                var (code, stdout, stderr) = Python("--batch", batch.ToString(Inv), "--features", d.ToString(Inv), "--reps", o.Reps.ToString(Inv),
                    "--threads", threads.ToString(Inv), "--widths", string.Join(" ", graph.Widths));
                if (code != 0) { Console.Error.WriteLine($"PyTorch product layer failed (exit {code}): {stderr.Trim()} — run bash bench/setup.sh"); return 1; }
                Console.Write(stdout);
            }
        return status;
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim(); } catch (IOException) { return "n/a"; } catch (UnauthorizedAccessException) { return "n/a"; }
    }

    /// <summary>Flops of one network's forward and of its backward as the fused kernel executes them (the backward recomputes
    /// the messages, the node updates and V_E e), counting the matrix products only (2 flops per multiply-add; the
    /// elementwise products, SiLU and sums are O(D) per row and left out).</summary>
    public static (double Forward, double Backward) Flops(NeuralGraph g, int d)
    {
        double dd = (double)d * d, fwd = 0, bwd = 0;
        int m = g.Depth;
        for (int l = 1; l <= m; l++)
        {
            double edges = (double)g.Out(l) * g.In(l), nodes = g.Out(l) + g.In(l);
            fwd += 2 * dd * edges + dd * nodes;     // [A e | A' e], B h, B' h
            fwd += dd * edges + dd * nodes;         // V_E e, V_src h', V_dst h'
            bwd += 3 * dd * edges + 2 * dd * nodes; // recomputed [A e | A' e], V_E e, and the node terms
            bwd += 2 * dd * edges + 2 * dd * nodes; // edge update: g V_E, V gradient; node terms' V gradients and input gradients
            bwd += dd * nodes;                      // node terms recomputed in the edge backward
            bwd += 4 * dd * edges + 2 * dd * nodes; // messages: [g_f | g_b] [A; A'], A and A' gradients; B, B' gradients and input gradients
        }
        for (int k = 0; k <= m; k++)
        {
            int parts = 1 + (k > 0 ? 1 : 0) + (k < m ? 1 : 0);
            fwd += dd * parts * g.Widths[k];
            bwd += dd * parts * g.Widths[k] + 2 * dd * parts * g.Widths[k]; // recomputed; U gradient and the input and message gradients
        }
        return (2 * fwd, 2 * bwd);
    }

    private static void Emit(string impl, NeuralGraph g, int batch, int d, Spread fwd, Spread fb, Spread? fwdCpu = null, Spread? fbCpu = null)
    {
        var r = new Dictionary<string, object?>
        {
            ["bench"] = "product", ["impl"] = impl, ["widths"] = g.Widths, ["batch"] = batch, ["features"] = d,
            ["forward_ms"] = Ms(fwd), ["fwd_bwd_ms"] = Ms(fb),
        };
        if (fwdCpu is { } fc && fbCpu is { } bc) { r["forward_cpu_ms"] = Ms(fc); r["fwd_bwd_cpu_ms"] = Ms(bc); }
        Console.WriteLine(JsonSerializer.Serialize(r));
    }

    /// <summary>Wall-clock and CPU milliseconds (the process's processor time, every thread) of each repetition, after
    /// 3 warm-up calls and at least 0.5 s of warm-up.</summary>
    private static (Spread Wall, Spread Cpu) Time(Action action, int reps)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < 0.5; i++) action();
        var wall = new List<double>();
        var cpu = new List<double>();
        for (int r = 0; r < reps; r++)
        {
            var c0 = Environment.CpuUsage.TotalTime;
            var sw = Stopwatch.StartNew();
            action();
            wall.Add(sw.Elapsed.TotalMilliseconds);
            cpu.Add((Environment.CpuUsage.TotalTime - c0).TotalMilliseconds);
        }
        return (Spread.Of(wall), Spread.Of(cpu));
    }

    private static Dictionary<string, object> Ms(Spread s) => new() { ["min"] = s.Min, ["median"] = s.Median, ["max"] = s.Max, ["reps"] = s.Runs };

    /// <summary>Writes parameters, inputs and the kernel's outputs; the PyTorch script recomputes the outputs and compares.</summary>
    private static int Check(NeuralGraph graph, int d, ProductLayerParameters<float> p, GraphFeatures<float> x, GraphFeatures<float> y)
    {
        string file = Path.Combine(Path.GetTempPath(), $"lc-product-check-{Environment.ProcessId}.safetensors");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, v) in p.Named()) tensors["p." + name] = new Tensor((float[])v.Clone(), v.Length);
        for (int k = 0; k < x.Nodes.Length; k++)
        {
            tensors[$"x.nodes.{k}"] = new Tensor((float[])x.Nodes[k].Clone(), x.Batch, graph.Widths[k], d);
            tensors[$"y.nodes.{k}"] = new Tensor((float[])y.Nodes[k].Clone(), x.Batch, graph.Widths[k], d);
        }
        for (int l = 1; l <= graph.Depth; l++)
        {
            tensors[$"x.edges.{l - 1}"] = new Tensor((float[])x.Edges[l - 1].Clone(), x.Batch, graph.Out(l), graph.In(l), d);
            tensors[$"y.edges.{l - 1}"] = new Tensor((float[])y.Edges[l - 1].Clone(), x.Batch, graph.Out(l), graph.In(l), d);
        }
        SafetensorsWriter.Write(file, tensors, new Dictionary<string, string> { ["widths"] = string.Join(",", graph.Widths), ["features"] = d.ToString(Inv) });
        try
        {
            var (code, stdout, stderr) = Python("--check", file);
            Console.Write(stdout);
            if (code != 0) Console.Error.WriteLine($"The PyTorch product layer does not reproduce the C# kernel's outputs (exit {code}). {stderr.Trim()}");
            return code == 0 ? 0 : 1;
        }
        finally { File.Delete(file); }
    }

    private static (int Code, string Stdout, string Stderr) Python(params string[] args)
    {
        string? script = null;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir != null && script == null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bench/torch_reference/product_layer.py");
            if (File.Exists(candidate)) script = candidate;
        }
        if (script == null || !File.Exists("/usr/bin/python3")) return (127, "", "bench/torch_reference/product_layer.py or /usr/bin/python3 not found");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args)
            foreach (var part in a.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(part);
        using var proc = Process.Start(psi)!;
        var stderrTask = proc.StandardError.ReadToEndAsync();
        string stdout = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        return (proc.ExitCode, stdout, stderrTask.Result);
    }
}
