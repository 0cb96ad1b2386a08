using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using LayerCompiler.Bench;

// dotnet run -c Release --project bench/LayerCompiler.Bench [-- quick [--reps N] [--no-torch] [--no-interpreted] [--out DIR] [--paired-rounds N]]
// dotnet run -c Release --project bench/LayerCompiler.Bench -- bdn [BenchmarkDotNet arguments]
if (args.Length > 0 && args[0] == "bdn")
{
    var config = DefaultConfig.Instance.AddJob(Job.ShortRun);
    BenchmarkSwitcher.FromAssembly(typeof(LayerCase).Assembly).Run(args[1..], config);
    return 0;
}
var rest = args.Length > 0 && args[0] == "quick" ? args[1..] : args;
var options = new QuickBench.Options();
for (int i = 0; i < rest.Length; i++)
{
    switch (rest[i])
    {
        case "--reps": options = options with { Reps = int.Parse(rest[++i]) }; break;
        case "--no-torch": options = options with { Torch = false }; break;
        case "--no-interpreted": options = options with { Interpreted = false }; break;
        case "--out": options = options with { OutDirectory = rest[++i] }; break;
        case "--paired-rounds": options = options with { PairedRounds = int.Parse(rest[++i]) }; break;
        case "--ceiling-seconds": options = options with { CeilingSeconds = double.Parse(rest[++i], System.Globalization.CultureInfo.InvariantCulture) }; break;
        default:
            Console.Error.WriteLine($"Unknown argument '{rest[i]}'. Use: quick [--reps N] [--no-torch] [--no-interpreted] [--out DIR] [--ceiling-seconds S] [--paired-rounds N], or bdn [BenchmarkDotNet arguments].");
            return 2;
    }
}
return QuickBench.Run(options);
