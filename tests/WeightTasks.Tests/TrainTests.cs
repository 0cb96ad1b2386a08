using System.Diagnostics;
using WeightTasks.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WeightTasks.Tests;

/// <summary>`train` on the shared zoo: outputs of every model, augmentation, and checkpoint / resume semantics.</summary>
public class TrainTests
{
    private const string CheckpointFile = "training-checkpoint.safetensors";
    private readonly ITestOutputHelper _output;

    public TrainTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData("hidden")]
    [InlineData("all")]
    [InlineData("mlp")]
    [InlineData("stats")]
    public void Train_EveryModel_WritesModelReportAndCheckpoint(string model)
    {
        string run = Workspace.NewDirectory($"train-{model}");

        var result = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", model, "--epochs", "2", "--batch", "8", "--out", run)
            .ShouldSucceed();

        Assert.Contains("epoch   1/2", result.Output);
        Assert.Contains("epoch   2/2", result.Output);
        Assert.Matches($@"(?m)^Test accuracy: \d+\.\d\d % on {Workspace.PerSplit} test INRs", result.Output);

        var saved = SafetensorsContent.Read(Path.Combine(run, "model.safetensors"));
        Assert.Equal("layercompiler.checkpoint", saved.Metadata["format"]);
        Assert.Equal("model", saved.Metadata["kind"]);
        Assert.Equal(model, saved.Metadata["user.model.kind"]);
        Assert.Equal("2", saved.Metadata["user.train.epochs"]);
        Assert.Contains(saved.Tensors.Keys, k => k.StartsWith("extra.normalizer.", StringComparison.Ordinal));
        Assert.Contains(saved.Tensors.Keys, k => k.StartsWith("model.", StringComparison.Ordinal));

        string report = File.ReadAllText(Path.Combine(run, "report.html"));
        Assert.Contains("<svg", report);
        Assert.Contains("Test accuracy", report);

        var checkpoint = SafetensorsContent.Read(Path.Combine(run, CheckpointFile));
        Assert.Equal("2", checkpoint.Metadata["epoch"]);
    }

    [Theory]
    [InlineData("hidden")]
    [InlineData("mlp")]
    public void Train_WithProtocolAugmentation_Works(string model)
    {
        string run = Workspace.NewDirectory($"augment-{model}");

        var result = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", model, "--epochs", "1", "--batch", "8", "--augment", "protocol", "--out", run)
            .ShouldSucceed();

        Assert.Contains("augmentation: protocol", result.Output);
        Assert.Contains("WeightAugmentation(permute=True", SafetensorsContent.Read(Path.Combine(run, "model.safetensors")).Metadata["user.train.augmentation"]);
        Assert.Contains("protocol: WeightAugmentation(", File.ReadAllText(Path.Combine(run, "report.html")));
    }

    /// <summary>
    /// A run killed (SIGKILL) after its first epoch's checkpoint and started again with the same command ends with
    /// exactly the model of an uninterrupted run.
    /// </summary>
    [Fact]
    public void Train_KilledAfterAnEpoch_ResumesToTheSameModelAsAnUninterruptedRun()
    {
        string uninterrupted = Workspace.TrainedRun;
        string? run = null;
        int savedEpoch = 0;
        var attempts = new List<string>();
        // The kill races with training; a try in which the run got past its last epoch first is repeated.
        for (int attempt = 1; attempt <= 5 && run is null; attempt++)
        {
            string dir = Workspace.NewDirectory("train-killed");
            string checkpoint = Path.Combine(dir, CheckpointFile);
            using var tool = Tool.Start(Workspace.Root, Workspace.TrainArguments(dir));
            tool.LowerPriority();
            var sw = Stopwatch.StartNew();
            while (!File.Exists(checkpoint) && !tool.HasExited && sw.Elapsed < Tool.Timeout) Thread.Sleep(2);
            bool exitedFirst = tool.HasExited;
            var killed = tool.Kill();
            if (!File.Exists(checkpoint)) Assert.Fail("no training checkpoint was written\n" + killed.Describe());
            savedEpoch = int.Parse(SafetensorsContent.Read(checkpoint).Metadata["epoch"]);
            attempts.Add($"attempt {attempt}: {(exitedFirst ? "exited before the kill" : "killed")}, checkpoint of epoch {savedEpoch}");
            if (!exitedFirst && savedEpoch < 3 && !File.Exists(Path.Combine(dir, "model.safetensors"))) run = dir;
        }
        foreach (var line in attempts) _output.WriteLine(line);
        Assert.True(run != null, "could not interrupt training before its last epoch: " + string.Join("; ", attempts));

        var resumed = Tool.Run(Workspace.Root, Workspace.TrainArguments(run)).ShouldSucceed();

        Assert.Contains("resuming from", resumed.Output);
        for (int epoch = 1; epoch <= 3; epoch++)
            Assert.True(resumed.Output.Contains($"epoch   {epoch}/3") == epoch > savedEpoch, $"epoch {epoch} after a checkpoint of epoch {savedEpoch}\n" + resumed.Describe());
        Assert.Equal(Workspace.PrintedAccuracy(Workspace.TrainedRunResult, "test"), Workspace.PrintedAccuracy(resumed, "test"));
        SafetensorsContent.AssertSameTensors(Path.Combine(uninterrupted, "model.safetensors"), Path.Combine(run, "model.safetensors"));
        // The metadata holds settings and results, no timings: it matches too.
        Assert.Equal(SafetensorsContent.Read(Path.Combine(uninterrupted, "model.safetensors")).Metadata.OrderBy(kv => kv.Key),
            SafetensorsContent.Read(Path.Combine(run, "model.safetensors")).Metadata.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Train_FinishedRunAgain_SkipsTraining()
    {
        string run = Workspace.CopyOf(Workspace.TrainedRun, "train-again");

        var again = Tool.Run(Workspace.Root, Workspace.TrainArguments(run)).ShouldSucceed();

        Assert.Contains("all 3 epochs were already trained: training skipped", again.Output);
        Assert.DoesNotContain("epoch   1/3", again.Output);
        Assert.DoesNotContain("epoch   3/3", again.Output);
        Assert.Equal(Workspace.PrintedAccuracy(Workspace.TrainedRunResult, "test"), Workspace.PrintedAccuracy(again, "test"));
        SafetensorsContent.AssertSameTensors(Path.Combine(Workspace.TrainedRun, "model.safetensors"), Path.Combine(run, "model.safetensors"));
    }

    [Fact]
    public void Train_OtherSettingsIntoTheSameOut_FailsNamingBothSettings()
    {
        string run = Workspace.CopyOf(Workspace.TrainedRun, "train-other-lr");
        byte[] checkpointBefore = File.ReadAllBytes(Path.Combine(run, CheckpointFile));

        var result = Tool.Run(Workspace.Root, Workspace.TrainArguments(run, "--lr", "0.01"))
            .ShouldFail(1, "is the checkpoint of a different run");

        Assert.Contains("lr=0.005 ", result.Output); // saved
        Assert.Contains("lr=0.01 ", result.Output);  // now
        Assert.Contains("Use another --out directory", result.Output);
        Assert.Equal(checkpointBefore, File.ReadAllBytes(Path.Combine(run, CheckpointFile)));
    }
}
