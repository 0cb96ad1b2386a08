using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Zoo;
using Spectre.Console;
using WeightTasks.InrClassification;

namespace WeightTasks;

/// <summary>Console output: Spectre progress bars and tables on a terminal, plain lines when redirected.</summary>
internal static class Ui
{
    public static bool Interactive => AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    public static void Info(string text) => AnsiConsole.MarkupLine(Markup.Escape(text));
    public static void Step(string text) => AnsiConsole.MarkupLine($"[bold blue]==>[/] {Markup.Escape(text)}");
    public static void Good(string text) => AnsiConsole.MarkupLine($"[bold green]{Markup.Escape(text)}[/]");
    public static void Warn(string text) => AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(text)}");
    public static void Error(string text) => AnsiConsole.MarkupLine($"[bold red]error:[/] {Markup.Escape(text)}");

    public static string Pct(double v) => v.ToString("P2", CultureInfo.InvariantCulture);
    public static string F(double v, int digits = 3) => v.ToString("F" + digits, CultureInfo.InvariantCulture);

    /// <summary>Runs a zoo build with a live progress bar (or periodic lines) and reports kept/rebuilt shards.</summary>
    public static ZooBuildResult BuildZoo(ZooBuilder builder, CancellationToken cancellation)
    {
        var notes = new List<string>();
        int kept = 0;
        void Note(ZooProgress p)
        {
            if (p.Message is null) return;
            if (p.Message.StartsWith("kept", StringComparison.Ordinal)) kept++;
            else if (p.Message.StartsWith("rebuilding", StringComparison.Ordinal)) lock (notes) notes.Add(p.Message);
        }
        ZooBuildResult result;
        if (Interactive)
        {
            result = AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("fitting INRs", maxValue: 1);
                    return builder.Build(new SyncProgress(p =>
                    {
                        Note(p);
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"{p.Split}: {p.Done}/{p.Total} INRs, {p.InrsPerSecond:F1} INR/s, {p.InrStepsPerSecond:F0} INR-steps/s");
                    }), cancellation);
                });
        }
        else
        {
            var sw = Stopwatch.StartNew();
            long last = -1;
            result = builder.Build(new SyncProgress(p =>
            {
                Note(p);
                long tick = sw.ElapsedMilliseconds / 15000;
                if (tick == last && p.Done != p.Total) return;
                last = tick;
                Info(string.Create(CultureInfo.InvariantCulture,
                    $"  {p.Split}: {p.Done}/{p.Total} INRs ({p.Fraction:P0}), {p.InrsPerSecond:F1} INR/s, {p.InrStepsPerSecond:F0} INR-steps/s, ETA {(p.Eta is { } e ? e.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "?")}"));
            }), cancellation);
        }
        foreach (var n in notes) Warn(n);
        if (kept > 0) Info($"  reused {kept} finished shard(s) from an earlier run");
        if (result.FittedInrs > 0)
            Info(string.Create(CultureInfo.InvariantCulture,
                $"  fitted {result.FittedInrs} INRs in {result.Seconds:F1} s: {result.FittedInrs / result.Seconds:F1} INR/s, {result.InrStepsPerSecond:F0} INR-steps/s"));
        return result;
    }

    public static void ZooSummary(ZooManifest manifest)
    {
        var table = new Table().Title(Markup.Escape($"{manifest.TaskName} zoo: {manifest.Architecture.Describe()}"));
        foreach (var c in new[] { "split", "INRs", "PSNR mean", "5th pct", "median", "min", "≥ target", "mean steps" }) table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var s in manifest.Splits)
        {
            var st = s.Stats;
            table.AddRow(s.Name, s.Count.ToString(CultureInfo.InvariantCulture),
                st is null ? "-" : F(st.PsnrMean, 2) + " dB", st is null ? "-" : F(st.PsnrP5, 2), st is null ? "-" : F(st.PsnrMedian, 2),
                st is null ? "-" : F(st.PsnrMin, 2), st is null ? "-" : st.Stopped.ToString(CultureInfo.InvariantCulture), st is null ? "-" : F(st.MeanSteps, 0));
        }
        AnsiConsole.Write(table);
    }

    public static void Epoch(EpochRecord r, int epochs, bool best, TimeSpan? eta) =>
        Info(string.Create(CultureInfo.InvariantCulture,
            $"  epoch {r.Epoch,3}/{epochs}  train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2}  val loss {r.ValLoss:F4} acc {r.ValAccuracy:P2}  lr {r.LearningRate:G3}  {r.Seconds:F1} s{(r.Epoch < epochs && eta is { } left ? $"  ETA {LayerCompiler.Runtime.Training.TrainingProgress.FormatSpan(left)}" : "")}{(best ? "  *" : "")}"));

    public static void Confusion(Evaluation e)
    {
        var table = new Table().Title(Markup.Escape($"{e.Split}: confusion (rows true, columns predicted)"));
        table.AddColumn("");
        for (int j = 0; j < 10; j++) table.AddColumn(new TableColumn(Short(j)).RightAligned());
        for (int i = 0; i < 10; i++)
        {
            var cells = new List<string> { Markup.Escape(FashionMnist.ClassNames[i]) };
            int total = 0;
            for (int j = 0; j < 10; j++) total += e.Confusion[i, j];
            for (int j = 0; j < 10; j++)
            {
                string v = e.Confusion[i, j].ToString(CultureInfo.InvariantCulture);
                cells.Add(i == j ? $"[bold green]{v}[/]" : total > 0 && e.Confusion[i, j] > total / 5 ? $"[red]{v}[/]" : v);
            }
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
    }

    private static string Short(int c) => FashionMnist.ClassNames[c].Split('/', ' ')[0][..Math.Min(5, FashionMnist.ClassNames[c].Split('/', ' ')[0].Length)];

    /// <summary>IProgress that reports synchronously on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    public sealed class SyncProgress : IProgress<ZooProgress>
    {
        private readonly Action<ZooProgress> _action;
        private readonly object _lock = new();
        public SyncProgress(Action<ZooProgress> action) => _action = action;
        public void Report(ZooProgress value) { lock (_lock) _action(value); }
    }
}
