using System;
using System.CommandLine;
using System.Threading;
using LayerCompiler.Ilgpu;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tasks.Zoo;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary><c>inr-zoo build | render | bench</c>: zoos of SIRENs fitted to Fashion-MNIST images or to sine waves.</summary>
internal static class InrZooVerbs
{
    public static Command Create()
    {
        // ---------------------------------------------------------------- zoo build
        var outOption = new Option<string>("--out") { Description = "Zoo directory to create or resume.", Required = true };
        var perSplitOption = new Option<int?>("--per-split") { Description = "Build only the first N INRs of each split (train, validation, test)." };
        var stepsOption = new Option<int?>("--steps") { Description = "Adam steps per INR (protocol: 1000 for Fashion-MNIST, 1500 for the sine corpora)." };
        var fitLrOption = new Option<float?>("--lr") { Description = "Adam learning rate for fitting (protocol: 5e-4 for Fashion-MNIST, 1e-3 for the sine corpora)." };
        var shardOption = new Option<int>("--shard-size") { Description = "INRs per shard file.", DefaultValueFactory = _ => 1000 };
        var taskOption = new Option<string>("--task") { Description = "fashion-mnist (one INR per image), sine-waves (a·sin(b·x), a, b ~ U(0, 10); targets a and b: the SSL corpus) or sine-frequency (sin(a·x), a ~ U(0.5, 10); target a: the regression corpus).", DefaultValueFactory = _ => "fashion-mnist" };
        taskOption.AcceptOnlyFromAmong("fashion-mnist", "sine-waves", "sine-frequency");
        var sizesOption = new Option<string?>("--sizes") { Description = "sine-waves and sine-frequency only: INRs per split as TRAIN,VALIDATION,TEST (e.g. 3000,500,1000), instead of --per-split or --full." };
        var build = new Command("build", "Fit one SIREN per Fashion-MNIST image (or sine wave) and write the zoo (resumes an interrupted build).")
        {
            outOption, perSplitOption, sizesOption, Cli.Full, taskOption, Cli.Seed, Cli.Threads, stepsOption, fitLrOption, shardOption, Cli.Data, Cli.Device,
        };
        build.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            int? perSplit = r.GetValue(perSplitOption);
            bool full = r.GetValue(Cli.Full);
            bool frequencyFamily = r.GetValue(taskOption) == "sine-frequency";
            bool sine = frequencyFamily || r.GetValue(taskOption) == "sine-waves";
            int[]? sizes = r.GetValue(sizesOption) is string sizesText ? Jobs.ParseSineSizes(sizesText, sine, perSplit is not null || full) : null;
            if (sizes is null && perSplit is null == !full) throw new ArgumentException("Choose the zoo size with exactly one of --per-split N (the first N INRs of each split) or --full (the whole protocol).");
            if (perSplit is <= 0) throw new ArgumentException($"--per-split must be positive, got {perSplit}.");
            if (r.GetValue(shardOption) <= 0) throw new ArgumentException($"--shard-size must be positive, got {r.GetValue(shardOption)}.");
            var fit = sine ? InrFitProtocols.SineWaves : InrFitProtocols.FashionMnist;
            if (r.GetValue(stepsOption) is int steps)
            {
                if (steps <= 0) throw new ArgumentException($"--steps must be positive, got {steps} (a zoo of unfitted INRs would classify nothing).");
                fit = fit with { MaxSteps = steps };
            }
            if (r.GetValue(fitLrOption) is float lr) fit = fit with { LearningRate = lr };
            // --device: the INRs are fitted by IlgpuInrFitter on a CUDA GPU (cuda, or auto with one), else on the CPU.
            using var device = Cli.OpenDevice(r.GetValue(Cli.Device)!, "INR fitting on the GPU through ILGPU");
            ZooFitterFactory? fitter = device is null ? null : IlgpuZooFitter.Factory(device, sine);
            var plan = new ZooPlan(full ? "full protocol" : sizes != null ? $"{string.Join("/", sizes)} per split" : $"first {perSplit} per split", null, perSplit, fit, r.GetValue(shardOption));
            if (sine)
            {
                Jobs.BuildSineZoo(r.GetValue(outOption)!, sizes ?? (perSplit is int n ? new[] { n, n, n } : null), plan, r.GetValue(Cli.Seed), r.GetValue(Cli.Threads), ct, fitter, frequencyFamily);
                return 0;
            }
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            Jobs.BuildFashionZoo(data, r.GetValue(outOption)!, plan, r.GetValue(Cli.Seed), r.GetValue(Cli.Threads), ct, fitter);
            return 0;
        })));

        // ---------------------------------------------------------------- zoo render
        var countOption = new Option<int>("--count") { Description = "Number of INRs to render.", DefaultValueFactory = _ => 64 };
        var sizeOption = new Option<int>("--size") { Description = "Pixels per side (28 = the training grid).", DefaultValueFactory = _ => 28 };
        var columnsOption = new Option<int>("--columns") { Description = "Images per row.", DefaultValueFactory = _ => 8 };
        var pngOption = new Option<string>("--out") { Description = "PNG file to write.", DefaultValueFactory = _ => "grid.png" };
        var render = new Command("render", "Evaluate INRs of a zoo on a pixel grid and write a PNG grid.") { Cli.Zoo, Cli.Split, countOption, sizeOption, columnsOption, pngOption };
        render.SetAction((ParseResult r) => Cli.Run(() =>
        {
            Jobs.Render(r.GetValue(Cli.Zoo)!, r.GetValue(Cli.Split)!, r.GetValue(countOption), r.GetValue(sizeOption), r.GetValue(columnsOption), r.GetValue(pngOption)!);
            return 0;
        }));

        // ---------------------------------------------------------------- zoo bench
        var benchCountOption = new Option<int>("--count") { Description = "INRs fitted per run.", DefaultValueFactory = _ => 64 };
        var benchStepsOption = new Option<int>("--steps") { Description = "Adam steps per INR (no early stop).", DefaultValueFactory = _ => 300 };
        var repeatsOption = new Option<int>("--repeats") { Description = "Timed runs (after one warm-up run).", DefaultValueFactory = _ => 5 };
        var bench = new Command("bench", "Measure INR fitting throughput (INR-steps/s) on Fashion-MNIST images; prints min / median / max.")
        {
            benchCountOption, benchStepsOption, repeatsOption, Cli.Threads, Cli.Data,
        };
        bench.SetAction((ParseResult r) => Cli.Run(() =>
        {
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            Jobs.BenchFit(data, r.GetValue(benchCountOption), r.GetValue(benchStepsOption), r.GetValue(repeatsOption), r.GetValue(Cli.Threads));
            return 0;
        }));

        return new Command("inr-zoo", "Build, render or benchmark zoos of INRs (SIRENs fitted to Fashion-MNIST images or sine waves).") { build, render, bench };
    }
}

/// <summary>
/// The zoo's fitter on an ILGPU accelerator: <see cref="IlgpuInrFitter"/> with the generated network of the zoo's SIREN
/// (checked against the zoo's CPU network before anything is fitted), recorded as "ilgpu &lt;accelerator&gt;".
/// </summary>
internal sealed class IlgpuZooFitter(IlgpuInrFitter fitter) : IZooFitter
{
    public static ZooFitterFactory Factory(IlgpuDevice device, bool sine) => (network, points, pointCount, settings) =>
    {
        var generated = sine ? Siren1x32x32x1.IlgpuNetwork.Create(device) : Siren2x32x32x1.IlgpuNetwork.Create(device);
        var f = new IlgpuInrFitter(generated, points, pointCount, settings, ownsNetwork: true);
        try { f.CheckMatches(network); }
        catch { f.Dispose(); throw; }
        return new IlgpuZooFitter(f);
    };

    public string Device => "ilgpu " + fitter.Device.Description;

    public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted, CancellationToken cancellation) =>
        fitter.FitMany(parameters, targets, count, onFitted, cancellation);

    public void Dispose() => fitter.Dispose();
}
