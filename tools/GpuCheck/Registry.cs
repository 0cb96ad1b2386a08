using System;
using System.Collections.Generic;
using System.IO;
using LayerCompiler.Gpu;

namespace LayerCompiler.Tools.GpuCheck;

/// <summary>Outcome of a check: pass/fail, one line of details, and optional numbers for the JSON report.</summary>
public sealed record CheckResult(bool Passed, string Details)
{
    public Dictionary<string, double> Metrics { get; init; } = new();

    public static CheckResult Pass(string details) => new(true, details);
    public static CheckResult Fail(string details) => new(false, details);
}

/// <summary>Outcome of a benchmark: the headline value with its unit, details, more numbers, and the raw samples.</summary>
public sealed record BenchmarkResult(double Value, string Unit, string Details)
{
    public Dictionary<string, double> Metrics { get; init; } = new();
    public IReadOnlyList<double> SamplesMs { get; init; } = Array.Empty<double>();
}

/// <summary>Settings from the command line that checks and benchmarks may read.</summary>
public sealed class RunOptions
{
    public long BandwidthBytes { get; set; } = 1L << 30;
    public int Runs { get; set; } = 30;
    public int Warmup { get; set; } = 5;
}

/// <summary>What a check or benchmark gets: the device, the options, and where to write extra lines.</summary>
public sealed class CheckContext
{
    public required CudaDevice Device { get; init; }
    public required RunOptions Options { get; init; }
    public required TextWriter Log { get; init; }
}

public sealed record NamedCheck(string Name, string Description, Func<CheckContext, CheckResult> Run);
public sealed record NamedBenchmark(string Name, string Description, Func<CheckContext, BenchmarkResult> Run);

/// <summary>
/// The checks and benchmarks gpu-check runs, in registration order. To add one, write a static
/// <c>Register(CheckRegistry)</c> in a new file and call it from <see cref="CreateDefault"/>.
/// </summary>
public sealed class CheckRegistry
{
    private readonly List<NamedCheck> _checks = new();
    private readonly List<NamedBenchmark> _benchmarks = new();

    public IReadOnlyList<NamedCheck> Checks => _checks;
    public IReadOnlyList<NamedBenchmark> Benchmarks => _benchmarks;

    public void AddCheck(string name, string description, Func<CheckContext, CheckResult> run)
    {
        EnsureUnique(name);
        _checks.Add(new NamedCheck(name, description, run));
    }

    public void AddBenchmark(string name, string description, Func<CheckContext, BenchmarkResult> run)
    {
        EnsureUnique(name);
        _benchmarks.Add(new NamedBenchmark(name, description, run));
    }

    private void EnsureUnique(string name)
    {
        if (_checks.Exists(c => c.Name == name) || _benchmarks.Exists(b => b.Name == name))
            throw new InvalidOperationException($"Duplicate check or benchmark name '{name}'.");
    }

    public static CheckRegistry CreateDefault()
    {
        var r = new CheckRegistry();
        CoreChecks.Register(r);
        LayerChecks.Register(r);
        BandwidthBenchmarks.Register(r);
        LayerBenchmarks.Register(r);
        InrChecks.Register(r);
        TrainChecks.Register(r);
        IlgpuChecks.Register(r);
        IlgpuInrFitChecks.Register(r);
        return r;
    }
}
