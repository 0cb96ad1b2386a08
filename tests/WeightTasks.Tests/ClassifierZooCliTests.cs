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
    }

    [Fact]
    public void GeneralizationOnAMissingZooIsOneErrorLine()
    {
        string missing = Path.Combine(Workspace.Root, "no-classifier-zoo");
        var r = Tool.Run(Workspace.Root, "classifier-zoo", "generalization", "--zoo", missing).ShouldFail(1, "holds no classifier zoo");
        Assert.False(Tool.HasStackTrace(r.Output));
    }
}
