using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`classifier-zoo build` and `classifier-zoo generalization` end to end on the synthetic data set.</summary>
public class ClassifierZooCliTests
{
    private static string[] BuildArgs(string zoo) =>
        new[] { "classifier-zoo", "build", "--out", zoo, "--arch", "cnn", "--runs", "6", "--train-pool", "64", "--test-count", "50", "--epochs", "1,2", "--seed", "3", "--data", Workspace.DataDirectory };

    [Fact]
    public void BuildResumeAndGeneralizationTable()
    {
        string zoo = Path.Combine(Workspace.NewDirectory("czoo"), "zoo");
        var first = Tool.Run(Workspace.Root, BuildArgs(zoo)).ShouldSucceed();
        Assert.Contains("checkpoints", first.Output);
        Assert.Contains("test accuracy histogram", first.Output);
        Assert.True(File.Exists(Path.Combine(zoo, "zoo.json")));
        var again = Tool.Run(Workspace.Root, BuildArgs(zoo)).ShouldSucceed();
        Assert.Contains("shards trained 0, kept", again.Output);
        var gen = Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", zoo, "--models", "statnn", "--seeds", "1", "--train-epochs", "1").ShouldSucceed();
        Assert.Contains("| zoo | model | seeds | test Kendall τ | test R² |", gen.Output);
        Assert.Contains("| statnn | 1 |", gen.Output);
        // report.html (default: in the zoo directory) with the zoo histogram, τ bars, the scatter and the τ curves.
        string html = File.ReadAllText(Path.Combine(zoo, "report.html"));
        foreach (var chart in new[] { "Checkpoints per test-accuracy bin", "statnn: predicted vs true (test split)", "statnn: validation Kendall τ per epoch" })
            Assert.Contains($"<title>{chart}", html);
        // τ bars, or (one epoch on this tiny zoo may predict a constant) the note that τ is undefined.
        Assert.True(html.Contains("<title>Test Kendall τ") || html.Contains("No test τ (constant predictions)"), "neither the τ bars nor the note");
        Assert.True(File.Exists(Path.Combine(zoo, "results.json")));
        // Each (model, seed) run keeps its result: the same command again reads it back; other epochs are one clear error.
        var rerun = Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", zoo, "--models", "statnn", "--seeds", "1", "--train-epochs", "1", "--jobs", "2").ShouldSucceed();
        Assert.Contains("statnn seed 0: finished earlier", rerun.Output);
        Assert.Contains("| statnn | 1 |", rerun.Output);
        var other = Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", zoo, "--models", "statnn", "--seeds", "1", "--train-epochs", "2", "--jobs", "2").ShouldFail(1, "1 training epochs, not 2");
        Assert.False(Tool.HasStackTrace(other.Output));
        // Runs of single models drawn into one report.
        string mlpDir = Path.Combine(Path.GetDirectoryName(zoo)!, "mlp"), both = Path.Combine(Path.GetDirectoryName(zoo)!, "both");
        Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", zoo, "--models", "mlp", "--seeds", "1", "--train-epochs", "1", "--out", mlpDir).ShouldSucceed();
        var merged = Tool.Run(Workspace.Root, "classifier-zoo", "report", "--zoo", zoo, "--results", Path.Combine(zoo, "results.json") + "," + Path.Combine(mlpDir, "results.json"), "--out", both).ShouldSucceed();
        Assert.Contains("| statnn | 1 |", merged.Output);
        Assert.Contains("| mlp | 1 |", merged.Output);
        Assert.Contains("<title>mlp: predicted vs true (test split)", File.ReadAllText(Path.Combine(both, "report.html")));
        // Scored only above a test accuracy (the subset's scoring: GeneralizationTests); a threshold no checkpoint of this
        // tiny zoo reaches is a clear error.
        var above = Tool.Run(Workspace.Root, "classifier-zoo", "report", "--zoo", zoo, "--results", Path.Combine(mlpDir, "results.json"), "--out", Path.Combine(both, "above"), "--min-accuracy", "0").ShouldSucceed();
        Assert.Contains("scored on the 6 of 6 test checkpoints with test accuracy >= 0", above.Output);
        Tool.Run(Workspace.Root, "classifier-zoo", "report", "--zoo", zoo, "--results", Path.Combine(mlpDir, "results.json"), "--out", Path.Combine(both, "above"), "--min-accuracy", "0.99").ShouldFail(1, "τ needs at least 2");
        Tool.Run(Workspace.Root, "classifier-zoo", "report", "--zoo", zoo, "--results", Path.Combine(mlpDir, "results.json"), "--out", Path.Combine(both, "above"), "--min-accuracy", "1.5").ShouldFail(1, "--min-accuracy must be in [0, 1]");
        var bad = Tool.Run(Workspace.Root, "classifier-zoo", "report", "--zoo", zoo, "--results", Path.Combine(zoo, "zoo.json"), "--out", both).ShouldFail(1, "not a generalization results file");
        Assert.False(Tool.HasStackTrace(bad.Output));
    }

    [Fact]
    public void TicketsRunWritesTheReportWithAccuracyBarsPerMask()
    {
        string dir = Workspace.NewDirectory("tickets");
        var r = Tool.Run(Workspace.Root, "tickets", "run", "--seeds", "1", "--pairs", "2", "--held-out", "1", "--steps", "2", "--model-epochs", "1", "--out", dir, "--data", Workspace.DataDirectory).ShouldSucceed();
        Assert.Contains("predicted mask", r.Output);
        string html = File.ReadAllText(Path.Combine(dir, "report.html"));
        Assert.Contains("<title>Test accuracy per mask", html);
        foreach (var kind in new[] { "IMP", "predicted", "random", "magnitude at init" }) Assert.Contains($"data-group=\"{kind}\"", html);
        Assert.Contains("<title>Mask predictor: training loss per epoch", html);
    }

    [Fact]
    public void GeneralizationOnAMissingZooIsOneErrorLine()
    {
        string missing = Path.Combine(Workspace.Root, "no-classifier-zoo");
        var r = Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", missing).ShouldFail(1, "holds no classifier zoo");
        Assert.False(Tool.HasStackTrace(r.Output));
    }
}
