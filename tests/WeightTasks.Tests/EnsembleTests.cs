using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`inr-classify ensemble`: members evaluated alone agree with `eval`; the ensemble's files; bad input.</summary>
public class EnsembleTests
{
    private static readonly Lazy<string> s_secondRun = new(() =>
    {
        string dir = Workspace.NewDirectory("ensemble-seed1");
        Tool.Run(Workspace.Root, Workspace.TrainArguments(dir, "--seed", "1")).ShouldSucceed();
        return Path.Combine(dir, "model.safetensors");
    });

    [Fact]
    public void Ensemble_OfTwoSeeds_PrintsEachMemberAsEvalDoes_AndWritesTheTable()
    {
        string first = Path.Combine(Workspace.TrainedRun, "model.safetensors"), second = s_secondRun.Value;
        string outDir = Workspace.NewDirectory("ensemble-out");

        var result = Tool.Run(Workspace.Root, "inr-classify", "ensemble", "--zoo", Workspace.Zoo, "--checkpoints", $"{first},{second}", "--out", outDir).ShouldSucceed();

        var alone = Regex.Matches(result.Output, @"test accuracy alone: (\d+\.\d\d %)").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, alone.Length);
        Assert.Equal(Workspace.PrintedAccuracy(Workspace.TrainedRunResult, "test"), alone[0]);
        var evalSecond = Tool.Run(Workspace.Root, "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", second).ShouldSucceed();
        Assert.Equal(Workspace.PrintedAccuracy(evalSecond, "test"), alone[1]);
        Assert.Matches(@"Ensemble test accuracy: \d+\.\d\d % on \d+ INRs \(2 models", result.Output);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "ensemble.json")));
        var members = json.RootElement.GetProperty("members");
        Assert.Equal(2, members.GetArrayLength());
        Assert.Equal("1", members[1].GetProperty("Seed").GetString());
        double ensemble = json.RootElement.GetProperty("ensemble_accuracy").GetDouble();
        Assert.InRange(ensemble, 0, 1);
        string printed = Regex.Match(result.Output, @"Ensemble test accuracy: (\d+\.\d\d %)").Groups[1].Value;
        Assert.Equal(ensemble.ToString("P2", CultureInfo.InvariantCulture), printed);
        Assert.Contains("**ensemble of 2**", File.ReadAllText(Path.Combine(outDir, "ensemble.md")));
    }

    [Fact]
    public void Ensemble_OfOneModel_IsRefusedPointingToEval()
    {
        var result = Tool.Run(Workspace.Root, "inr-classify", "ensemble", "--zoo", Workspace.Zoo, "--checkpoints", Path.Combine(Workspace.TrainedRun, "model.safetensors"))
            .ShouldFail(1, "an ensemble needs at least 2 models");
        Assert.Contains("inr-classify eval", result.Output);
    }

    [Fact]
    public void Ensemble_ListingAModelTwice_IsRefused()
    {
        string model = Path.Combine(Workspace.TrainedRun, "model.safetensors");
        Tool.Run(Workspace.Root, "inr-classify", "ensemble", "--zoo", Workspace.Zoo, "--checkpoints", $"{model},{model}").ShouldFail(1, "--checkpoints lists a value twice");
    }
}
