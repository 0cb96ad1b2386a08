using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using LayerCompiler.Bench;

// dotnet run -c Release --project bench/LayerCompiler.Bench [-- quick [--reps N] [--no-torch] [--no-interpreted] [--out DIR] [--paired-rounds N] [--ceiling-seconds S]]   (no verb: quick)
// dotnet run -c Release --project bench/LayerCompiler.Bench -- bdn [BenchmarkDotNet arguments]
// dotnet run -c Release --project bench/LayerCompiler.Bench -- optimizer [--sizes 5000,1000000] [--reps 7]
// dotnet run -c Release --project bench/LayerCompiler.Bench -- product [--batch B] [--features D] [--reps N] [--torch-threads 1,2] [--no-torch] [--no-reference] [--no-generic]
if (args.Length > 0 && args[0] == "bdn")
{
    var config = DefaultConfig.Instance.AddJob(Job.ShortRun);
    BenchmarkSwitcher.FromAssembly(typeof(LayerCase).Assembly).Run(args[1..], config);
    return 0;
}
if (args.Length > 0 && args[0] == "optimizer") return OptimizerBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "product")
{
    // product [--batch B] [--features D] [--reps N] [--torch-threads 1,2] [--no-torch] [--no-reference] [--no-generic]
    var po = new ProductBench.Options();
    for (int i = 1; i < args.Length; i++)
    {
        int Next() => i + 1 < args.Length && int.TryParse(args[++i], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1
            ? n : throw new ArgumentException($"{args[i - 1]} takes a whole number ≥ 1.");
        try
        {
            switch (args[i])
            {
                case "--batch": po = po with { Batch = Next() }; break;
                case "--features": po = po with { Features = Next() }; break;
                case "--reps": po = po with { Reps = Next() }; break;
                case "--torch-threads":
                    po = po with { TorchThreads = i + 1 < args.Length ? ParseCounts(args[++i]) : throw new ArgumentException("--torch-threads takes a list of thread counts, e.g. 1,2.") };
                    break;
                case "--no-torch": po = po with { Torch = false }; break;
                case "--no-reference": po = po with { Reference = false }; break;
                case "--no-generic": po = po with { Generic = false }; break;
                default: Console.Error.WriteLine($"error: unknown argument '{args[i]}'. Use: product [--batch B] [--features D] [--reps N] [--torch-threads 1,2] [--no-torch] [--no-reference] [--no-generic]"); return 2;
            }
        }
        catch (ArgumentException e) { Console.Error.WriteLine("error: " + e.Message); return 2; }
    }
    return ProductBench.Run(po);
}
var rest = args.Length > 0 && args[0] == "quick" ? args[1..] : args;
const string Usage = "Use: quick [--reps N] [--no-torch] [--no-interpreted] [--out DIR] [--ceiling-seconds S] [--paired-rounds N], or bdn [BenchmarkDotNet arguments].";
var options = new QuickBench.Options();
for (int i = 0; i < rest.Length; i++)
{
    string name = rest[i];
    // The value after an option, or null (and a message) when it is missing.
    string? Value()
    {
        if (i + 1 < rest.Length && !rest[i + 1].StartsWith("--", StringComparison.Ordinal)) return rest[++i];
        Console.Error.WriteLine($"error: {name} needs a value. {Usage}");
        return null;
    }
    int? Count(int min)
    {
        string? v = Value();
        if (v == null) return null;
        if (int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= min) return n;
        Console.Error.WriteLine($"error: {name} takes a whole number ≥ {min}, got '{v}'.");
        return null;
    }
    switch (name)
    {
        case "--reps": { if (Count(1) is not int n) return 2; options = options with { Reps = n }; break; }
        case "--paired-rounds": { if (Count(0) is not int n) return 2; options = options with { PairedRounds = n }; break; }
        case "--no-torch": options = options with { Torch = false }; break;
        case "--no-interpreted": options = options with { Interpreted = false }; break;
        case "--out": { if (Value() is not string d) return 2; options = options with { OutDirectory = d }; break; }
        case "--ceiling-seconds":
        {
            if (Value() is not string v) return 2;
            if (!double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double sec) || !(sec > 0) || double.IsInfinity(sec))
            {
                Console.Error.WriteLine($"error: --ceiling-seconds takes a positive number of seconds, got '{v}'.");
                return 2;
            }
            options = options with { CeilingSeconds = sec };
            break;
        }
        default:
            Console.Error.WriteLine($"error: unknown argument '{name}'. {Usage}");
            return 2;
    }
}
return QuickBench.Run(options);

// "1,2" → [1, 2]: positive whole numbers separated by commas.
static int[] ParseCounts(string list) => list.Split(',').Select(t =>
    int.TryParse(t, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1
        ? n : throw new ArgumentException($"--torch-threads takes positive thread counts separated by commas (e.g. 1,2), got '{list}'.")).ToArray();
