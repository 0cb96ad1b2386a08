using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>
/// The probing kinds (issue 17) through the CLI: training saves the probes with the feature standardization, `eval`
/// reproduces the printed accuracies, one seed trains bitwise the same model twice, and a model whose saved probes were
/// changed is refused with a clear error.
/// </summary>
public class ProbeModelTests
{
    [Theory]
    [InlineData("probe", 128)]
    [InlineData("probe-grid", 784)]
    public void Train_ProbeKind_SavesItsProbes_AndEvalReproduces(string model, int probes)
    {
        string run = Workspace.NewDirectory($"train-{model}");
        var trained = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", model, "--epochs", "2", "--batch", "8", "--out", run).ShouldSucceed();

        Assert.Contains("epoch   2/2", trained.Output);
        string file = Path.Combine(run, "model.safetensors");
        var saved = SafetensorsContent.Read(file);
        Assert.Equal(model, saved.Metadata["user.model.kind"]);
        Assert.Equal(new long[] { probes, 2 }, saved.Tensors["extra.normalizer.probes"].Shape);
        Assert.Equal(new long[] { probes }, saved.Tensors["extra.normalizer.feature_mean"].Shape);

        Workspace.AssertEvalReproduces(trained, file);
    }

    [Fact]
    public void Train_SameSeedTwice_GivesTheSameModel()
    {
        string[] Args(string run) => new[] { "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", "probe", "--epochs", "2", "--batch", "8", "--out", run };
        string a = Workspace.NewDirectory("probe-det-a"), b = Workspace.NewDirectory("probe-det-b");
        Tool.Run(Workspace.Root, Args(a)).ShouldSucceed();
        Tool.Run(Workspace.Root, Args(b)).ShouldSucceed();

        SafetensorsContent.AssertSameTensors(Path.Combine(a, "model.safetensors"), Path.Combine(b, "model.safetensors"));
    }

    [Fact]
    public void Eval_OfAModelWithOtherProbes_IsOneClearError()
    {
        string run = Workspace.NewDirectory("probe-moved");
        Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", "probe", "--epochs", "1", "--batch", "8", "--out", run).ShouldSucceed();
        string file = Path.Combine(run, "model.safetensors");
        SafetensorsContent.Overwrite(file, "extra.normalizer.probes", 0, 0.123f);

        var result = Tool.Run(Workspace.Root, "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", file).ShouldFail(1, "probes are not this probe model's 128 probes");
        Assert.True(result.ErrorLines.Count == 1, "expected exactly one 'error:' line\n" + result.Describe());
    }
}
