using System.Diagnostics;
using System.Globalization;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Bench;

/// <summary>
/// <c>optimizer [--sizes 5000,1000000] [--reps 7]</c>: time of one optimizer step (Adam, AdamW with AMSGrad, RMSprop) over
/// one parameter of each size, min / median / max over the repeats of 50 steps each after 20 warm-up steps, and elements
/// per second at the median. Compare commits by running this on each, in turn, on the same machine.
/// </summary>
public static class OptimizerBench
{
    public static int Run(string[] args)
    {
        int[] sizes = { 5_000, 1_000_000 };
        int reps = 7;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sizes" when i + 1 < args.Length:
                    sizes = args[++i].Split(',').Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
                        : throw new ArgumentException($"--sizes: '{s}' is not a positive whole number.")).ToArray();
                    break;
                case "--reps" when i + 1 < args.Length:
                    reps = int.TryParse(args[++i], NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r > 0 ? r : throw new ArgumentException("--reps takes a whole number ≥ 1.");
                    break;
                default: throw new ArgumentException($"optimizer: unknown argument '{args[i]}'. Use: optimizer [--sizes 5000,1000000] [--reps 7]");
            }
        }
        var kinds = new (string Name, Func<Parameter[], Optimizer> Make)[]
        {
            ("Adam", p => new Adam(p, 1e-3f)),
            ("AdamW amsgrad", p => new AdamW(p, 1e-3f, weightDecay: 0.01, amsgrad: true)),
            ("RMSprop", p => new RmsProp(p, 1e-3f)),
        };
        foreach (int n in sizes)
            foreach (var (name, make) in kinds)
            {
                var p = new Parameter(n);
                var rng = new Rng(1);
                for (int i = 0; i < n; i++) { p.Data[i] = (float)rng.NextDouble(); p.Grad.Data[i] = (float)(rng.NextDouble() - 0.5); }
                var opt = make(new[] { p });
                for (int i = 0; i < 20; i++) opt.Step();
                var ms = new List<double>();
                for (int r = 0; r < reps; r++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < 50; i++) opt.Step();
                    ms.Add(sw.Elapsed.TotalMilliseconds / 50);
                }
                ms.Sort();
                double median = ms[ms.Count / 2];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{name,-14} n={n,9}: {ms[0]:0.000} / {median:0.000} / {ms[^1]:0.000} ms per step (min / median / max), {n / median / 1e6:0.000} G elements/s at the median"));
            }
        return 0;
    }
}
