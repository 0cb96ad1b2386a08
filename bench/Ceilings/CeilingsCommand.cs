using System;
using System.CommandLine;
using System.CommandLine.Parsing;

namespace LayerCompiler.Bench;

/// <summary>What one smoke run of the ceilings measures, as the command line gave it.</summary>
/// <param name="Budget">Seconds the measurement may take.</param>
/// <param name="Threads">Threads that stream memory and issue FMAs.</param>
/// <param name="ArrayMb">Size of each bandwidth array, MiB.</param>
/// <param name="Bytes">Bytes the example kernel moves.</param>
/// <param name="Flops">Floating-point operations the example kernel does.</param>
/// <param name="Ms">A measured time of the example kernel in milliseconds, or null.</param>
/// <param name="OutFile">File the JSON line is appended to, or null.</param>
public sealed record CeilingsSettings(double Budget, int Threads, long ArrayMb, double Bytes, double Flops, double? Ms, string? OutFile);

/// <summary>The smoke run's command line (System.CommandLine): options, defaults, and a clear error for each bad value.</summary>
public static class CeilingsCommand
{
    // Default example: the reference layer (2->32->32->1, batch 256, 32->32 channels): io bytes and per-entry
    // channel-mix flops as computed by bench/torch_reference/bench_layer.py.
    public const double ReferenceLayerBytes = 77_660_160, ReferenceLayerFlops = 654_835_712;

    /// <summary>The root command; its action calls <paramref name="run"/> with the parsed settings and returns its exit code.</summary>
    public static RootCommand Create(Func<CeilingsSettings, int> run)
    {
        var budget = Positive(new Option<double>("--budget") { Description = "Seconds the measurement may take.", DefaultValueFactory = _ => 6 });
        var threads = AtLeastOne(new Option<int>("--threads") { Description = "Threads for the bandwidth and FMA probes; all logical cores unless given.", DefaultValueFactory = _ => Environment.ProcessorCount });
        var arrayMb = AtLeastOne(new Option<long>("--array-mb") { Description = "Size of each bandwidth array in MiB (well above the last-level cache).", DefaultValueFactory = _ => MachineCeilings.DefaultArrayBytes >> 20 });
        var bytes = NotNegative(new Option<double>("--bytes") { Description = "Bytes the example kernel moves; the reference layer's unless given.", DefaultValueFactory = _ => ReferenceLayerBytes });
        var flops = NotNegative(new Option<double>("--flops") { Description = "Flops the example kernel does; the reference layer's unless given.", DefaultValueFactory = _ => ReferenceLayerFlops });
        var ms = Check(new Option<double?>("--ms") { Description = "A measured time of the example kernel, ms: prints its % of the roofline bound." },
            v => v > 0 && double.IsFinite(v.GetValueOrDefault()), "a positive time in milliseconds");
        var outFile = new Option<string?>("--out") { Description = "File to append the JSON line to." };
        var root = new RootCommand("Measures this machine's ceilings (memory bandwidth, FMA peak) and the roofline bound of a kernel; text on stderr, one JSON line on stdout.")
        {
            budget, threads, arrayMb, bytes, flops, ms, outFile,
        };
        root.SetAction(r => run(new CeilingsSettings(r.GetValue(budget), r.GetValue(threads), r.GetValue(arrayMb),
            r.GetValue(bytes), r.GetValue(flops), r.GetValue(ms), r.GetValue(outFile))));
        return root;
    }

    private static Option<double> Positive(Option<double> option) => Check(option, v => v > 0 && double.IsFinite(v), "a positive number");

    private static Option<double> NotNegative(Option<double> option) => Check(option, v => v >= 0 && double.IsFinite(v), "a finite number, 0 or more");

    private static Option<int> AtLeastOne(Option<int> option) => Check(option, v => v >= 1, "at least 1");

    private static Option<long> AtLeastOne(Option<long> option) => Check(option, v => v >= 1, "at least 1");

    private static Option<T> Check<T>(Option<T> option, Func<T, bool> valid, string expected)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && TryGetValue(r, out T v) && !valid(v)) r.AddError($"{option.Name} must be {expected}, got {v}.");
        });
        return option;
    }

    private static bool TryGetValue<T>(OptionResult result, out T value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            // A token that does not convert ("--threads four"): the parser reports that error itself; there is no value to check.
            value = default!;
            return false;
        }
    }
}
