using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Bench;

/// <summary>
/// The `quick` benchmark: every case in one process run, min / median / max of several runs after
/// warm-up, ratios between implementations, and the machine's ceilings measured in the same run.
/// </summary>
public static class QuickBench
{
    public sealed record Options(int Reps = 10, bool Torch = true, bool Interpreted = true, string? OutDirectory = null, double CeilingSeconds = 6, int PairedRounds = 40);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Min / median / max of <paramref name="reps"/> timed calls after a warm-up of at least
    /// <paramref name="warmup"/> calls and <paramref name="warmupSeconds"/> seconds: .NET compiles
    /// methods with loops first at tier 0 (with on-stack replacement) and recompiles them optimized only
    /// after a quiet period of ~100 ms and 30 calls, so a warm-up counted in calls alone (10 × 5 ms) can
    /// time the unoptimized micro-kernels.
    /// </summary>
    public static Spread Time(Action action, int reps, int warmup = 10, double warmupSeconds = 1.0)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warm.Elapsed.TotalSeconds < warmupSeconds; i++) action();
        var ms = new List<double>();
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            action();
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        return Spread.Of(ms);
    }

    public static int Run(Options o)
    {
        var results = new List<Dictionary<string, object?>>();
        var md = new StringBuilder();
        void Emit(Dictionary<string, object?> r) { results.Add(r); Console.WriteLine(JsonSerializer.Serialize(r)); }

        Console.Error.WriteLine($"Measuring ceilings ({o.CeilingSeconds} s)…");
        var ceil = MachineCeilings.Measure(TimeSpan.FromSeconds(o.CeilingSeconds));
        Emit(new() { ["bench"] = "ceilings", ["bandwidth_gbs"] = ceil.BandwidthGBs, ["fma_gflops"] = ceil.FmaGFlops, ["isa"] = ceil.Isa, ["threads"] = ceil.Threads });
        md.AppendLine($"Machine: {Environment.ProcessorCount} cores, {ceil.Isa}; measured bandwidth {ceil.BandwidthGBs:F1} GB/s ({ceil.BandwidthKernel}), FMA peak {ceil.FmaGFlops:F0} GFLOP/s.\n");

        // 1. Reference size: fused vs interpreted vs PyTorch.
        var reference = LayerCase.Reference();
        var bound = Roofline.Bound(reference.IoBytes, reference.Flops, ceil);
        var fwd = Time(reference.Forward, o.Reps);
        var fb = Time(reference.ForwardBackward, o.Reps);
        Spread? ifwd = null, ifb = null;
        if (o.Interpreted)
        {
            Console.Error.WriteLine("Interpreted layer…");
            ifwd = Time(reference.InterpretedForward, 3, 2, 0);
            ifb = Time(reference.InterpretedForwardBackward, 3, 2, 0);
        }
        var torch = o.Torch ? RunTorch("--reps", Math.Max(5, o.Reps / 2).ToString(Inv)) : null;
        var t0 = torch?.FirstOrDefault(t => t.Depth == 3 && t.Width == 32);
        Emit(new()
        {
            ["bench"] = "layer", ["case"] = reference.Name, ["batch"] = reference.Batch, ["io_bytes"] = reference.IoBytes, ["flops"] = reference.Flops,
            ["fused_fwd_ms"] = fwd, ["fused_fwd_bwd_ms"] = fb, ["interp_fwd_ms"] = ifwd, ["interp_fwd_bwd_ms"] = ifb,
            ["torch_fwd_ms"] = t0?.Forward, ["torch_fwd_bwd_ms"] = t0?.ForwardBackward,
            ["bound_ms"] = bound.Seconds * 1e3, ["memory_bound"] = bound.MemoryBound, ["fwd_pct_of_bound"] = bound.PercentOfBound(fwd.Median / 1e3),
        });
        md.AppendLine("| 2→32→32→1, batch 256, 32→32 ch | fused (ms) | interpreted (ms) | PyTorch per-block (ms) | interp / fused | PyTorch / fused |");
        md.AppendLine("|---|---|---|---|---|---|");
        md.AppendLine($"| forward | {fwd} | {ifwd?.ToString() ?? "—"} | {FormatSpread(t0?.Forward)} | {Ratio(ifwd?.Median, fwd.Median)} | {Ratio(t0?.Forward?.Median, fwd.Median)} |");
        md.AppendLine($"| forward + backward | {fb} | {ifb?.ToString() ?? "—"} | {FormatSpread(t0?.ForwardBackward)} | {Ratio(ifb?.Median, fb.Median)} | {Ratio(t0?.ForwardBackward?.Median, fb.Median)} |");
        md.AppendLine();
        md.AppendLine($"Roofline of the forward: {reference.IoBytes / 1e6:F1} MB must move ({reference.IoBytes / ceil.BandwidthGBs / 1e6:F2} ms at {ceil.BandwidthGBs:F0} GB/s), {reference.Flops / 1e9:F2} GFLOP ({reference.Flops / ceil.FmaGFlops / 1e6:F2} ms at {ceil.FmaGFlops:F0} GFLOP/s): bound {bound.Seconds * 1e3:F2} ms ({(bound.MemoryBound ? "memory" : "compute")}-bound); fused forward median = {bound.PercentOfBound(fwd.Median / 1e3):F0}% of the bound, {reference.IoBytes / fwd.Median / 1e6:F1} GB/s, {reference.Flops / fwd.Median / 1e6:F1} GFLOP/s.\n");

        // 1b. The same percentage, paired: this machine's speed drifts with its neighbours' load within a
        // run, so the FMA peak is re-measured right before each group of forwards and the percentage is
        // taken per round (the memory bound, far below the compute bound here, keeps the start's bandwidth).
        var pct = new List<double>(); var peaks = new List<double>();
        for (int r = 0; r < o.PairedRounds; r++)
        {
            double peak = MachineCeilings.FmaPeakNow(0.05, ceil.Threads);
            var round = Time(reference.Forward, 5, 2, 0);
            var now = Roofline.Bound(reference.IoBytes, reference.Flops, ceil with { FmaGFlops = peak });
            pct.Add(now.PercentOfBound(round.Median / 1e3)); peaks.Add(peak);
        }
        if (pct.Count > 0)
        {
            var ps = Spread.Of(pct); var pk = Spread.Of(peaks);
            Emit(new() { ["bench"] = "paired_roofline", ["case"] = reference.Name, ["rounds"] = pct.Count, ["percent_min"] = ps.Min, ["percent_median"] = ps.Median, ["percent_max"] = ps.Max, ["fma_gflops_min"] = pk.Min, ["fma_gflops_median"] = pk.Median, ["fma_gflops_max"] = pk.Max });
            md.AppendLine($"Paired (FMA peak re-measured before each of {pct.Count} rounds of 5 forwards; the peak ranged {pk.Min:F0}–{pk.Max:F0} GFLOP/s): fused forward = **{ps.Median:F0}% of the bound** (median over rounds; min {ps.Min:F0}%, max {ps.Max:F0}%).\n");
        }

        // 2. Width sweep (fused), with a fitted exponent of time vs number of weights per network.
        md.AppendLine("| width sweep | batch | weights/net | fused fwd (ms) | per network (µs) | % of bound |");
        md.AppendLine("|---|---|---|---|---|---|");
        var xs = new List<double>(); var ys = new List<double>();
        foreach (var c in LayerCase.WidthSweep())
        {
            var t = Time(c.Forward, Math.Max(3, o.Reps / 2));
            var b = Roofline.Bound(c.IoBytes, c.Flops, ceil);
            double perNet = t.Median * 1e3 / c.Batch;
            xs.Add(Math.Log(c.Plan.Space.Dimension)); ys.Add(Math.Log(perNet));
            Emit(new() { ["bench"] = "width", ["case"] = c.Name, ["batch"] = c.Batch, ["weights_per_network"] = c.Plan.Space.Dimension, ["fused_fwd_ms"] = t, ["per_network_us"] = perNet, ["pct_of_bound"] = b.PercentOfBound(t.Median / 1e3) });
            md.AppendLine($"| {c.Name} | {c.Batch} | {c.Plan.Space.Dimension} | {t} | {perNet:F1} | {b.PercentOfBound(t.Median / 1e3):F0}% |");
        }
        double slope = Slope(xs, ys);
        Emit(new() { ["bench"] = "width-exponent", ["exponent"] = slope });
        md.AppendLine($"\nFitted exponent of time per network vs weights per network: **{slope:F2}** (1 = linear).\n");

        // 3. Depth sweep.
        md.AppendLine("| depth sweep | weights/net | fused fwd (ms) | fused fwd+bwd (ms) | % of bound (fwd) |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var c in LayerCase.DepthSweep())
        {
            var t = Time(c.Forward, Math.Max(3, o.Reps / 2));
            var tb = Time(c.ForwardBackward, Math.Max(3, o.Reps / 2));
            var b = Roofline.Bound(c.IoBytes, c.Flops, ceil);
            Emit(new() { ["bench"] = "depth", ["case"] = c.Name, ["fused_fwd_ms"] = t, ["fused_fwd_bwd_ms"] = tb, ["pct_of_bound"] = b.PercentOfBound(t.Median / 1e3) });
            md.AppendLine($"| {c.Name} | {c.Plan.Space.Dimension} | {t} | {tb} | {b.PercentOfBound(t.Median / 1e3):F0}% |");
        }

        // 4. Memory: bytes the layer allocates beyond its input and output.
        var m = LayerCase.Reference();
        m.Forward(); m.ForwardBackward();
        long before = GC.GetTotalAllocatedBytes(true);
        m.Forward();
        long perCall = GC.GetTotalAllocatedBytes(true) - before;
        long io = m.IoBytes;
        Emit(new() { ["bench"] = "memory", ["allocated_per_forward_bytes"] = perCall, ["io_bytes"] = io });
        md.AppendLine($"\nAllocation per forward call after warm-up: {perCall:N0} bytes (input + output activations: {io:N0} bytes); scratch is per worker, reused.\n");

        // 5. A full training step of the reference classifier (5 layers × 32 channels, batch 512), and of the
        // normalized one the sample trains with --full (EquivariantNorm after every layer, max pooling).
        var rng = new Rng(3);
        foreach (var (name, model) in new (string, Runtime.Modules.EquivariantNetwork)[] { ("train-step", new ReferenceClassifier(0)), ("train-step-norm", new ReferenceClassifierNorm(0)) })
        {
            var opt = new AdamW(model.Parameters(), 5e-3f, weightDecay: 5e-4, amsgrad: true);
            var loss = new SoftmaxCrossEntropy();
            var xb = new WeightSpaceBatch(model.Space, 512, 1);
            foreach (var tt in xb.Tensors) for (int i = 0; i < tt.Length; i++) tt.Data[i] = (float)rng.Normal();
            var labels = Enumerable.Range(0, 512).Select(i => i % 10).ToArray();
            var step = Time(() =>
            {
                model.ZeroGrad();
                var logits = model.Forward(xb);
                var (_, g) = loss.Compute(logits, labels);
                model.BackwardParameters(g);
                opt.Step();
            }, Math.Max(3, o.Reps / 3), 1);
            Emit(new() { ["bench"] = name, ["batch"] = 512, ["ms"] = step, ["networks_per_s"] = 512 / (step.Median / 1e3) });
            md.AppendLine(name == "train-step"
                ? $"Training step of the reference classifier (5 × 32 channels, mean pooling, AdamW, batch 512): {step} ms, {512 / (step.Median / 1e3):F0} networks/s.\n"
                : $"Training step of the normalized reference classifier (5 × 32 channels, EquivariantNorm + ReLU, max pooling, AdamW, batch 512; the sample's --full model): {step} ms, {512 / (step.Median / 1e3):F0} networks/s.\n");
        }

        // 6. INR fitting throughput: forward + weight gradient of SIREN 2→32→32→1 on the 28×28 grid.
        var net = new Siren32.Network();
        int batch = 64, points = 784;
        var wts = new WeightSpaceBatch(net.Space, batch, 1);
        foreach (var tt in wts.Tensors) for (int i = 0; i < tt.Length; i++) tt.Data[i] = (float)(0.05 * rng.Normal());
        var grid = new float[points * 2];
        for (int p = 0; p < points; p++) { grid[2 * p] = -1 + 2f * (p % 28) / 27; grid[2 * p + 1] = -1 + 2f * (p / 28) / 27; }
        var outp = new float[batch * points]; var gw = new WeightSpaceBatch(net.Space, batch, 1);
        var fit = Time(() => { net.Forward(wts, grid, points, outp); net.Backward(wts, grid, points, outp, gw); }, Math.Max(3, o.Reps / 2));
        double inrSteps = batch / (fit.Median / 1e3);
        Emit(new() { ["bench"] = "inr-fit", ["batch"] = batch, ["points"] = points, ["ms"] = fit, ["inr_steps_per_s"] = inrSteps });
        md.AppendLine($"INR fitting (generated SIREN 2→32→32→1 forward + weight gradient, 784 points, {batch} INRs per call): {fit} ms, **{inrSteps:F0} INR-steps/s**.\n");

        Console.WriteLine();
        Console.WriteLine(md.ToString());
        if (o.OutDirectory != null)
        {
            Directory.CreateDirectory(o.OutDirectory);
            File.WriteAllLines(Path.Combine(o.OutDirectory, "quick.jsonl"), results.Select(r => JsonSerializer.Serialize(r)));
            File.WriteAllText(Path.Combine(o.OutDirectory, "quick.md"), md.ToString());
            // Which code produced these figures (a stale commit.txt from another run would mislead).
            File.WriteAllText(Path.Combine(o.OutDirectory, "commit.txt"), CommitDescription() + "\n");
        }
        return 0;
    }

    /// <summary>`git describe`-like: the short commit, "+ local changes" when the tree is dirty, or "unknown" outside a checkout.</summary>
    private static string CommitDescription()
    {
        static string? Git(string args)
        {
            try
            {
                var psi = new ProcessStartInfo("git", args) { RedirectStandardOutput = true, RedirectStandardError = true };
                using var p = Process.Start(psi);
                if (p == null) return null;
                string outText = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                return p.ExitCode == 0 ? outText.Trim() : null;
            }
            catch (Exception) { return null; }
        }
        string? head = Git("rev-parse --short HEAD");
        if (head == null) return "unknown (not a git checkout)";
        string? status = Git("status --porcelain --untracked-files=no");
        return string.IsNullOrEmpty(status) ? head : head + " + local changes";
    }

    private static string FormatSpread(Spread? s) => s is Spread v ? v.ToString() : "—";
    private static string Ratio(double? a, double b) => a is double v ? (v / b).ToString("F1", Inv) + "×" : "—";

    private static double Slope(List<double> x, List<double> y)
    {
        double mx = x.Average(), my = y.Average();
        return x.Zip(y, (a, b) => (a - mx) * (b - my)).Sum() / x.Sum(a => (a - mx) * (a - mx));
    }

    public sealed record TorchResult(int Width, int Depth, Spread? Forward, Spread? ForwardBackward);

    /// <summary>Runs the PyTorch reference (bench/torch_reference/bench_layer.py) in this session and reads its JSON lines.</summary>
    public static List<TorchResult>? RunTorch(params string[] args)
    {
        string? script = FindUp("bench/torch_reference/bench_layer.py");
        if (script == null || !File.Exists("/usr/bin/python3")) { Console.Error.WriteLine("PyTorch reference skipped: bench/torch_reference/bench_layer.py or /usr/bin/python3 not found (run bash bench/setup.sh)."); return null; }
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        Console.Error.WriteLine("PyTorch reference layer…");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.Error.WriteLine($"PyTorch reference failed (exit {p.ExitCode}): {stderr.Trim()} — run bash bench/setup.sh"); return null; }
        var list = new List<TorchResult>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            if (r.GetProperty("bench").GetString() != "layer") continue;
            var widths = r.GetProperty("widths").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            list.Add(new TorchResult(widths[1], r.GetProperty("depth").GetInt32(), ReadSpread(r, "forward_ms"), ReadSpread(r, "fwd_bwd_ms")));
        }
        return list;
    }

    private static Spread? ReadSpread(JsonElement r, string name)
    {
        if (!r.TryGetProperty(name, out var s) || s.ValueKind != JsonValueKind.Object) return null;
        return new Spread(s.GetProperty("min").GetDouble(), s.GetProperty("median").GetDouble(), s.GetProperty("max").GetDouble(), s.GetProperty("reps").GetInt32());
    }

    private static string? FindUp(string relative)
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        return null;
    }
}
