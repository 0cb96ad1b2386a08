using System;
using System.Globalization;
using System.IO;
using System.Text.Json;
using LayerCompiler.Bench;

// Smoke run: measures this machine's ceilings and prints them (text on stderr, one JSON line on stdout).
// Usage: dotnet run -c Release --project bench/Ceilings -- [--budget SECONDS] [--threads N] [--array-mb MB]
//        [--bytes B --flops F [--ms T]] [--out FILE]   (--help lists them; CeilingsCommand.cs defines them)
// With --bytes/--flops it also prints the roofline bound of a kernel that moves B bytes and does F flops,
// and with --ms the %-of-bound of a run that took T milliseconds.

return CeilingsCommand.Create(Run).Parse(args).Invoke();

static int Run(CeilingsSettings settings)
{
    var (budget, threads, arrayMb, bytes, flops, ms, outFile) = settings;
    var c = MachineCeilings.Measure(TimeSpan.FromSeconds(budget), threads, arrayMb << 20);
    var bound = Roofline.Bound(bytes, flops, c);
    Console.Error.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
    Console.Error.WriteLine($"ceilings ({c.Elapsed.TotalSeconds:F1} s): {c}");
    Console.Error.WriteLine($"example kernel: {bytes:N0} bytes, {flops:N0} flops -> {bound}");
    if (ms is double measured) Console.Error.WriteLine($"measured {measured} ms = {bound.PercentOfBound(measured / 1e3):F1} % of bound");

    // Sanity: the harness must have produced positive, finite figures (a smoke run, not a test).
    bool ok = c.BandwidthGBs > 0 && c.FmaGFlops > 0 && double.IsFinite(c.BandwidthGBs) && double.IsFinite(c.FmaGFlops);

    object S(Spread s) => new { min = s.Min, median = s.Median, max = s.Max, runs = s.Runs };
    var record = new
    {
        bench = "ceilings",
        bandwidth_gbs = c.BandwidthGBs,
        fma_gflops = c.FmaGFlops,
        isa = c.Isa,
        bandwidth_kernel = c.BandwidthKernel,
        copy_gbs = S(c.Copy),
        copy_nt_gbs = c.CopyNonTemporal.Runs > 0 ? S(c.CopyNonTemporal) : null,
        triad_gbs = S(c.Triad),
        fma256_gflops = S(c.Fma256),
        fma512_gflops = c.Fma512.Runs > 0 ? S(c.Fma512) : null,
        threads = c.Threads,
        array_bytes = c.ArrayBytes,
        elapsed_s = c.Elapsed.TotalSeconds,
        cpus = Environment.ProcessorCount,
        loadavg_1m = LoadAverage(),
        example = new { bytes, flops, bound_ms = bound.Seconds * 1e3, memory_bound = bound.MemoryBound, measured_ms = ms, percent_of_bound = ms is double t ? bound.PercentOfBound(t / 1e3) : (double?)null },
    };
    string json = JsonSerializer.Serialize(record, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
    Console.WriteLine(json);
    if (outFile != null) File.AppendAllText(outFile, json + Environment.NewLine);
    return ok ? 0 : 1;
}

// 1-minute load average (Linux), null elsewhere: figures taken under a load above the core count are
// contaminated by other processes.
static double? LoadAverage()
{
    try
    {
        string s = File.ReadAllText("/proc/loadavg");
        return double.Parse(s.Split(' ')[0], CultureInfo.InvariantCulture);
    }
    catch (Exception) { return null; }
}
