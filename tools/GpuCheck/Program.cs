using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.CommandLine;
using System.Runtime.InteropServices;
using LayerCompiler.Gpu;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>
/// gpu-check: prints the device, runs the registered checks (pass/fail) and benchmarks, optionally writes a JSON
/// report. Exit codes: 0 = all checks passed, or no CUDA driver (skipped); 1 = a check or benchmark failed;
/// 2 = bad arguments, or --require-gpu and no usable GPU.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var registry = CheckRegistry.CreateDefault();
        var parsed = CreateCommand(registry).Parse(args);
        // Bad arguments exit 2 (System.CommandLine's own exit code for them is 1, which here means a failed check).
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine("gpu-check: " + error.Message);
            Console.Error.WriteLine("gpu-check: see --help");
            return 2;
        }
        return parsed.Invoke();
    }

    private static RootCommand CreateCommand(CheckRegistry registry)
    {
        var defaults = new RunOptions();
        var outOption = new Option<string?>("--out") { Description = "Write a JSON report to this file." };
        var onlyOption = new Option<string[]>("--only")
        {
            Description = "Comma-separated check/benchmark names to run (default: all; see --list).",
            CustomParser = r => r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray(),
        };
        onlyOption.Validators.Add(r =>
        {
            var known = registry.Checks.Select(c => c.Name).Concat(registry.Benchmarks.Select(b => b.Name)).ToHashSet();
            var unknown = (r.GetValueOrDefault<string[]>() ?? Array.Empty<string>()).Where(n => !known.Contains(n)).ToList();
            if (unknown.Count > 0) r.AddError($"--only names unknown checks or benchmarks: {string.Join(", ", unknown)} (see --list).");
        });
        var noBenchOption = new Option<bool>("--no-bench") { Description = "Run the checks only." };
        var listOption = new Option<bool>("--list") { Description = "List checks and benchmarks, then exit." };
        var requireGpuOption = new Option<bool>("--require-gpu") { Description = "Exit 2 (not 0) when no CUDA driver or device is usable." };
        var ilgpuCpuOption = new Option<bool>("--ilgpu-cpu") { Description = "Run only the ilgpu-* checks, on ILGPU's CPU accelerator (no GPU needed; proves a publish runs the ILGPU backend)." };
        var bandwidthOption = AtLeast(new Option<int>("--bandwidth-mib") { Description = "Buffer size for the bandwidth benchmarks, MiB.", DefaultValueFactory = _ => (int)(defaults.BandwidthBytes >> 20) }, 1);
        var runsOption = AtLeast(new Option<int>("--runs") { Description = "Timed runs per benchmark.", DefaultValueFactory = _ => defaults.Runs }, 1);
        var warmupOption = AtLeast(new Option<int>("--warmup") { Description = "Untimed warm-up runs per benchmark.", DefaultValueFactory = _ => defaults.Warmup }, 0);
        var root = new RootCommand(
            "gpu-check: prints the device, runs the registered checks (pass/fail) and benchmarks, optionally writes a JSON report. " +
            "Exit codes: 0 = all checks passed, or no CUDA driver (skipped); 1 = a check or benchmark failed; 2 = bad arguments, " +
            "or --require-gpu and no usable GPU. Environment: LAYERCOMPILER_LIBCUDA, LAYERCOMPILER_NVRTC (library paths), " +
            "LAYERCOMPILER_CACHE (cache root).")
        {
            outOption, onlyOption, noBenchOption, listOption, requireGpuOption, bandwidthOption, runsOption, warmupOption, ilgpuCpuOption,
        };
        root.SetAction(r =>
        {
            var options = new RunOptions
            {
                BandwidthBytes = (long)r.GetValue(bandwidthOption) << 20,
                Runs = r.GetValue(runsOption),
                Warmup = r.GetValue(warmupOption),
            };
            string[]? only = r.GetValue(onlyOption);
            if (r.GetValue(ilgpuCpuOption)) return RunIlgpuCpu(registry, options, r.GetValue(outOption), only is { Length: > 0 } ? only.ToHashSet() : null);
            return Run(registry, options, r.GetValue(outOption), only is { Length: > 0 } ? only.ToHashSet() : null,
                r.GetValue(noBenchOption), r.GetValue(listOption), r.GetValue(requireGpuOption));
        });
        return root;
    }

    private static Option<int> AtLeast(Option<int> option, int min)
    {
        option.Validators.Add(r =>
        {
            // Only a token that converted has a value to check; "--runs x" already carries the parser's own error.
            if (r.Tokens.Count == 1 && int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v < min)
                r.AddError($"{option.Name} must be an integer >= {min}, got {v}.");
        });
        return option;
    }

    private static int Run(CheckRegistry registry, RunOptions options, string? outPath, HashSet<string>? only, bool noBench, bool list, bool requireGpu)
    {
        if (list)
        {
            foreach (var c in registry.Checks) Console.WriteLine($"check      {c.Name,-24} {c.Description}");
            foreach (var b in registry.Benchmarks) Console.WriteLine($"benchmark  {b.Name,-24} {b.Description}");
            return 0;
        }

        var report = new Report { StartedUtc = DateTime.UtcNow };
        Console.WriteLine($"gpu-check: {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier}, {Environment.ProcessorCount} CPUs");

        if (!CudaDevice.TryGetDefault(out var device, out string reason) || device is null)
        {
            report.Status = "skipped";
            report.Reason = reason;
            Console.WriteLine($"SKIP: no usable CUDA driver/device: {reason}");
            Console.WriteLine("gpu-check: nothing was run (this is expected on machines without an NVIDIA GPU).");
            WriteReport(report, outPath);
            return requireGpu ? 2 : 0;
        }

        using (device)
        {
            report.Device = DescribeDevice(device);
            foreach (var (k, v) in report.Device) Console.WriteLine($"  {k,-28} {v}");

            var ctx = new CheckContext { Device = device, Options = options, Log = Console.Out };
            foreach (var check in registry.Checks.Where(c => only is null || only.Contains(c.Name)))
                report.Checks.Add(RunCheck(check, ctx));
            if (!noBench)
                foreach (var bench in registry.Benchmarks.Where(b => only is null || only.Contains(b.Name)))
                    report.Benchmarks.Add(RunBenchmark(bench, ctx));
            IlgpuChecks.DisposeDevice();
        }

        int passed = report.Checks.Count(c => c.Passed), failed = report.Checks.Count - passed;
        int benchFailed = report.Benchmarks.Count(b => b.Error is not null);
        report.Status = failed == 0 && benchFailed == 0 ? "passed" : "failed";
        Console.WriteLine($"gpu-check: {passed} checks passed, {failed} failed; {report.Benchmarks.Count - benchFailed} benchmarks ran, {benchFailed} failed");
        WriteReport(report, outPath);
        return report.Status == "passed" ? 0 : 1;
    }

    /// <summary>--ilgpu-cpu: the ILGPU checks on ILGPU's CPU accelerator, without a CUDA driver (benchmarks are not run).</summary>
    private static int RunIlgpuCpu(CheckRegistry registry, RunOptions options, string? outPath, HashSet<string>? only)
    {
        var report = new Report { StartedUtc = DateTime.UtcNow };
        IlgpuChecks.Kind = LayerCompiler.Ilgpu.IlgpuDeviceKind.Cpu;
        Console.WriteLine($"gpu-check --ilgpu-cpu: {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier}, {Environment.ProcessorCount} CPUs");
        // The ILGPU checks do not touch the CUDA device.
        var ctx = new CheckContext { Device = null!, Options = options, Log = Console.Out };
        try
        {
            foreach (var check in registry.Checks.Where(c => c.Name.StartsWith("ilgpu-", StringComparison.Ordinal) && (only is null || only.Contains(c.Name))))
                report.Checks.Add(RunCheck(check, ctx));
        }
        finally { IlgpuChecks.DisposeDevice(); }
        int passed = report.Checks.Count(c => c.Passed), failed = report.Checks.Count - passed;
        report.Status = failed == 0 ? "passed" : "failed";
        Console.WriteLine($"gpu-check --ilgpu-cpu: {passed} checks passed, {failed} failed");
        WriteReport(report, outPath);
        return failed == 0 ? 0 : 1;
    }

    private static Dictionary<string, string> DescribeDevice(CudaDevice d)
    {
        var info = new Dictionary<string, string>
        {
            ["name"] = d.Name,
            ["ordinal"] = d.Ordinal.ToString(CultureInfo.InvariantCulture),
            ["compute_capability"] = d.ComputeCapability.ToString(),
            ["arch"] = d.ComputeCapability.Arch,
            ["sm_count"] = d.SmCount.ToString(CultureInfo.InvariantCulture),
            ["total_memory_bytes"] = d.TotalMemory.ToString(CultureInfo.InvariantCulture),
            ["total_memory"] = $"{d.TotalMemory / (1024.0 * 1024 * 1024):F1} GiB",
            ["l2_cache_bytes"] = d.L2CacheBytes.ToString(CultureInfo.InvariantCulture),
            ["max_shared_per_block_optin"] = d.MaxSharedMemoryPerBlockOptin.ToString(CultureInfo.InvariantCulture),
            ["driver_cuda_version"] = d.DriverVersion.ToString(),
            ["libcuda"] = d.DriverLibraryPath ?? "?",
            ["nvrtc_version"] = d.NvrtcVersion?.ToString() ?? "unavailable",
            ["libnvrtc"] = d.NvrtcLibraryPath ?? (d.NvrtcError ?? "?"),
            ["cubin_cache"] = d.Cache?.Directory ?? "disabled",
        };
        if (d.MemoryClockKHz is int clock) info["memory_clock_khz"] = clock.ToString(CultureInfo.InvariantCulture);
        if (d.MemoryBusWidthBits is int bus) info["memory_bus_bits"] = bus.ToString(CultureInfo.InvariantCulture);
        if (d.TheoreticalBandwidthGBs is double peak) info["theoretical_bandwidth_gbps"] = peak.ToString("F1", CultureInfo.InvariantCulture);
        return info;
    }

    private static CheckRecord RunCheck(NamedCheck check, CheckContext ctx)
    {
        var sw = Stopwatch.StartNew();
        CheckResult result;
        try { result = check.Run(ctx); }
        catch (Exception e) { result = CheckResult.Fail(Describe(e)); }
        double seconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"[{(result.Passed ? "PASS" : "FAIL")}] {check.Name,-24} ({seconds:F2} s) {result.Details}");
        return new CheckRecord(check.Name, result.Passed, result.Details, seconds, result.Metrics);
    }

    private static BenchmarkRecord RunBenchmark(NamedBenchmark bench, CheckContext ctx)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            var r = bench.Run(ctx);
            double seconds = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"[BENCH] {bench.Name,-24} {r.Value.ToString("F2", CultureInfo.InvariantCulture)} {r.Unit}  ({r.Details})");
            return new BenchmarkRecord(bench.Name, r.Value, r.Unit, r.Details, seconds, r.Metrics, r.SamplesMs, null);
        }
        catch (Exception e)
        {
            string msg = Describe(e);
            Console.WriteLine($"[BENCH-FAIL] {bench.Name,-19} {msg}");
            return new BenchmarkRecord(bench.Name, double.NaN, "", "", sw.Elapsed.TotalSeconds, new(), Array.Empty<double>(), msg);
        }
    }

    private static string Describe(Exception e) =>
        e is CudaException ? e.Message
            : $"{e.GetType().Name}: {e.Message}{(e.InnerException is { } inner ? $" ← {inner.GetType().Name}: {inner.Message}" : "")}\n{e.StackTrace}";

    private static void WriteReport(Report report, string? path)
    {
        if (path is null) return;
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            File.WriteAllBytes(path, JsonReport.Serialize(report));
            Console.WriteLine($"gpu-check: report written to {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"gpu-check: could not write {path}: {e.Message}");
        }
    }
}
