using System.Globalization;
using System.Text.Json;
using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`table`: every model × every seed on one zoo, a mean ± std table, finished runs not repeated.</summary>
public class TableTests
{
    [Fact]
    public void Table_TrainsEveryModelAndSeed_WritesMeanAndStd_AndSkipsFinishedRuns()
    {
        string dir = Workspace.NewDirectory("table");
        string[] args = { "inr-classify", "table", "--zoo", Workspace.Zoo, "--models", "stats,mlp", "--seeds", "0,1", "--epochs", "1", "--batch", "8", "--out", dir };

        var first = Tool.Run(Workspace.Root, args).ShouldSucceed();
        Assert.Contains("Run 4/4: mlp, seed 1", first.Output);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        var runs = json.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(4, runs.Length);
        Assert.Equal(new[] { "stats", "stats", "mlp", "mlp" }, runs.Select(r => r.GetProperty("Model").GetString()).ToArray());
        // The summary is the mean and sample standard deviation of the runs' test accuracies, one row per model.
        var summaries = json.RootElement.GetProperty("summary").EnumerateArray().ToArray();
        Assert.Equal(new[] { "mlp", "stats" }, summaries.Select(x => x.GetProperty("Model").GetString()).Order().ToArray());
        foreach (var summary in summaries)
        {
            string model = summary.GetProperty("Model").GetString()!;
            var acc = runs.Where(r => r.GetProperty("Model").GetString() == model).Select(r => r.GetProperty("TestAccuracy").GetDouble()).ToArray();
            double mean = acc.Average();
            double std = Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Length - 1));
            Assert.Equal(mean, summary.GetProperty("Mean").GetDouble(), 12);
            Assert.Equal(std, summary.GetProperty("Std").GetDouble(), 12);
        }
        // Each run's own directory holds its model, and the printed accuracy is the one in the table.
        foreach (var r in runs)
        {
            string run = Path.Combine(dir, $"{r.GetProperty("Model").GetString()}-seed{r.GetProperty("Seed").GetUInt64()}");
            var saved = SafetensorsContent.Read(Path.Combine(run, "model.safetensors"));
            Assert.Equal(r.GetProperty("TestAccuracy").GetDouble(), double.Parse(saved.Metadata["user.result.test_accuracy"], CultureInfo.InvariantCulture));
        }
        string md = File.ReadAllText(Path.Combine(dir, "results.md"));
        Assert.Contains("| MLP on per-tensor statistics | 2 |", md);
        Assert.Contains("| MLP on flattened weights | 2 |", md);
        // Every run keeps its per-epoch validation accuracy and time; the tables give the median epoch time.
        foreach (var r in runs)
        {
            var val = r.GetProperty("ValidationAccuracies").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var sec = r.GetProperty("EpochSeconds").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(r.GetProperty("ValidationAccuracy").GetDouble(), Assert.Single(val), 12);
            Assert.True(sec.Length == 1 && sec[0] > 0, "one positive epoch time per epoch");
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"| {r.GetProperty("BestEpoch").GetInt32()} / 1 | {r.GetProperty("TrainSeconds").GetDouble():F0} s | {sec[0]:F1} |"), md);
        }
        Assert.Contains("s / epoch (median)", md);
        // The HTML report: the bars of test accuracy per model and a validation curve per model.
        string html = File.ReadAllText(Path.Combine(dir, "report.html"));
        Assert.Contains("Test accuracy, % (bar: mean; whisker: ± sd; dots: seeds)", html);
        Assert.Contains("stats: validation accuracy (%) after every epoch", html);
        Assert.Contains("mlp: validation accuracy (%) after every epoch", html);
        Assert.Contains("<svg", html);

        // Same command again: every run is already finished, nothing is trained, the table is the same.
        var second = Tool.Run(Workspace.Root, args).ShouldSucceed();
        Assert.DoesNotContain("epoch   1/1", second.Output);
        Assert.Equal(md, File.ReadAllText(Path.Combine(dir, "results.md")));
    }

    [Theory]
    [InlineData("--models", "hidden,bogus", "unknown model 'bogus'")]
    [InlineData("--seeds", "0,x", "'x' is not a non-negative integer")]
    [InlineData("--seeds", "1,1", "lists a value twice")]
    public void Table_BadLists_FailWithAClearMessage(string option, string value, string fragment)
    {
        Tool.Run(Workspace.Root, "inr-classify", "table", "--zoo", Workspace.Zoo, option, value, "--out", Workspace.NewDirectory("table-bad"))
            .ShouldFail(1, fragment);
    }
}
