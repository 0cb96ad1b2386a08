using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>
/// The product-layer kinds (issue 17) through the CLI: training with the recipe flags (warmup, constant rate, gradient
/// clipping), the saved model, `eval` of it, and clear errors for bad recipe values.
/// </summary>
public class ProductModelTests
{
    [Theory]
    [InlineData("product-signed")]
    [InlineData("product")]
    [InlineData("product-signed-ln")]
    [InlineData("product-signed-wide")]
    public void Train_ProductKind_WithTheRecipe_SavesAModelThatEvalReproduces(string model)
    {
        string run = Workspace.NewDirectory($"train-{model}");

        var trained = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", model, "--epochs", "2", "--batch", "8",
            "--lr", "1e-3", "--wd", "0.01", "--warmup", "3", "--constant-lr", "--clip", "1", "--out", run).ShouldSucceed();

        Assert.Contains("epoch   2/2", trained.Output);
        Assert.Contains("constant schedule (3 warmup steps), gradient norm clipped to 1", trained.Output);
        string file = Path.Combine(run, "model.safetensors");
        var saved = SafetensorsContent.Read(file);
        Assert.Equal(model, saved.Metadata["user.model.kind"]);
        Assert.Equal(model == "product-signed-wide", saved.Metadata["user.model.class"] == "WideSignedProductClassifier");
        Assert.Equal("3", saved.Metadata["user.train.warmup_steps"]);
        Assert.Equal("1", saved.Metadata["user.train.clip_grad_norm"]);
        Assert.Contains(saved.Tensors.Keys, k => k.StartsWith("extra.normalizer.", StringComparison.Ordinal));
        Assert.Contains(saved.Tensors.Keys, k => k.StartsWith("model.layers.1.", StringComparison.Ordinal));
        Assert.Equal(model == "product-signed-ln", saved.Tensors.Keys.Any(k => k.StartsWith("model.norms.", StringComparison.Ordinal)));

        Workspace.AssertEvalReproduces(trained, file);
    }

    [Fact]
    public void Train_SameSeedTwice_GivesTheSameModel()
    {
        string[] Args(string run) => new[] { "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", "product-signed-ln", "--epochs", "1", "--batch", "8", "--clip", "0.5", "--out", run };
        string a = Workspace.NewDirectory("product-det-a"), b = Workspace.NewDirectory("product-det-b");
        Tool.Run(Workspace.Root, Args(a)).ShouldSucceed();
        Tool.Run(Workspace.Root, Args(b)).ShouldSucceed();

        SafetensorsContent.AssertSameTensors(Path.Combine(a, "model.safetensors"), Path.Combine(b, "model.safetensors"));
    }

    [Theory]
    [InlineData("--clip", "0", "--clip must be a positive, finite gradient norm, got 0.")]
    [InlineData("--clip", "-1", "--clip must be a positive, finite gradient norm, got -1.")]
    [InlineData("--clip", "NaN", "--clip must be a positive, finite gradient norm")]
    [InlineData("--warmup", "-5", "--warmup must be >= 0 steps, got -5.")]
    public void Train_BadRecipeValue_IsOneClearLine(string option, string value, string fragment)
    {
        var result = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--model", "product-signed", option, value, "--out", Workspace.NewDirectory("bad-recipe"))
            .ShouldFail(1, fragment);
        Assert.True(result.ErrorLines.Count == 1, "expected exactly one 'error:' line\n" + result.Describe());
        Assert.DoesNotContain("epoch ", result.Output);
    }

    [Fact]
    public void Table_BadRecipeValue_IsRejectedBeforeTraining()
    {
        var result = Tool.Run(Workspace.Root, "inr-classify", "table", "--zoo", Workspace.Zoo, "--models", "product", "--seeds", "0", "--warmup", "-1", "--out", Workspace.NewDirectory("bad-table"))
            .ShouldFail(1, "--warmup must be >= 0 steps, got -1.");
        Assert.DoesNotContain("epoch ", result.Output);
    }
}
