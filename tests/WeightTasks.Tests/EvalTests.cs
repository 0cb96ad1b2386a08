using System.Globalization;
using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`eval` of the model that `train` saved.</summary>
public class EvalTests
{
    [Fact]
    public void Eval_TestSplit_PrintsTheTestAccuracyThatTrainPrinted()
    {
        string model = Path.Combine(Workspace.TrainedRun, "model.safetensors");

        var result = Tool.Run(Workspace.Root, "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", model, "--split", "test").ShouldSucceed();

        Assert.Equal(Workspace.PrintedAccuracy(Workspace.TrainedRunResult, "test"), Workspace.PrintedAccuracy(result, "test"));
        Assert.Contains("trained 3 epochs", result.Output);
    }

    [Fact]
    public void Eval_ValidationSplit_MatchesTheAccuracyRecordedInTheModel()
    {
        string model = Path.Combine(Workspace.TrainedRun, "model.safetensors");
        double recorded = double.Parse(SafetensorsContent.Read(model).Metadata["user.result.validation_accuracy"], CultureInfo.InvariantCulture);

        var result = Tool.Run(Workspace.Root, "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", model, "--split", "validation").ShouldSucceed();

        Assert.Equal(recorded.ToString("P2", CultureInfo.InvariantCulture), Workspace.PrintedAccuracy(result, "validation"));
    }
}
