using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`domain-adapt run` end to end at its smallest on the synthetic data set, and its refusals.</summary>
public class DomainAdaptCliTests
{
    [Fact]
    public void SmallestRunWritesTheTableAndReport_AndResumesWithoutRetraining()
    {
        string outDir = Path.Combine(Workspace.NewDirectory("adapt"), "out");
        string[] args = { "domain-adapt", "run", "--quick", "--pairs", "1", "--classifiers-per-pair", "8", "--classifier-steps", "2", "--epochs", "1",
            "--fine-tune-steps", "1", "--seeds", "1", "--out", outDir, "--data", Workspace.DataDirectory };
        var first = Tool.Run(Workspace.Root, args).ShouldSucceed();
        Assert.Contains("unadapted", first.Output);
        Assert.Contains(first.Lines, l => l.Contains("adapted (Δv model, one forward pass)", StringComparison.Ordinal) && l.Contains("TARGET", StringComparison.Ordinal));
        Assert.Contains("fine-tuned (SGD on target images)", first.Output);
        Assert.True(File.Exists(Path.Combine(outDir, "zoo", "pair-00.safetensors")));
        string html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("target domain (corrupted)", html);
        Assert.Contains("| method | target accuracy | source accuracy |", File.ReadAllText(Path.Combine(outDir, "results.md")));
        var second = Tool.Run(Workspace.Root, args).ShouldSucceed();
        Assert.DoesNotContain("epoch   1/1", second.Output);                    // the finished run only reloads its best epoch
        Assert.Equal(first.Lines.Where(l => l.Contains("TARGET", StringComparison.Ordinal)), second.Lines.Where(l => l.Contains("TARGET", StringComparison.Ordinal)));
        // Other zoo settings on the same directory: refused, naming the difference.
        var other = Tool.Run(Workspace.Root, args.Select(a => a == "2" ? "3" : a).ToArray()).ShouldFail(1, "classifier_steps: expected '3', found '2'");
        Assert.False(Tool.HasStackTrace(other.Output));
    }

    [Fact]
    public void ATenClassClassifierZooIsRefusedBeforeTheDataIsRead()
    {
        string dir = Workspace.NewDirectory("adapt-wrong-zoo");
        File.WriteAllText(Path.Combine(dir, "zoo.json"), "{}");
        var r = Tool.Run(Workspace.Root, "domain-adapt", "run", "--quick", "--zoo", dir, "--data", Path.Combine(dir, "no-data")).ShouldFail(1, "classifier zoo of the 10-class task");
        Assert.False(Tool.HasStackTrace(r.Output));
        Tool.Run(Workspace.Root, "domain-adapt", "run", "--quick", "--pairs", "46").ShouldFail(1, "Pairs must be in [1, 45]");
    }
}
