using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`sine regress`, `sine embed` and `inr-edit train` end to end on tiny zoos.</summary>
public class WeightOutputTaskTests
{
    private static readonly Lazy<(string Directory, ToolResult Result)> s_sineZoo = new(() =>
    {
        string dir = Path.Combine(Workspace.NewDirectory("sine-tasks"), "zoo");
        return (dir, Tool.Run(Workspace.Root, "inr-zoo", "build", "--task", "sine-waves", "--sizes", "16,8,8", "--steps", "10", "--shard-size", "8", "--out", dir));
    });

    private static string SineZoo
    {
        get
        {
            var (dir, result) = s_sineZoo.Value;
            result.ShouldSucceed();
            return dir;
        }
    }

    private static IReadOnlyList<string> MseLines(ToolResult r) => r.Lines.Where(l => l.Contains("TEST MSE", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void SineZooSizes_AreTrainValidationTest_AndOnlyForSineZoos()
    {
        string manifest = File.ReadAllText(Path.Combine(SineZoo, "zoo.json"));
        Assert.Contains("\"split.train.count\": \"16\"", manifest);
        Assert.Contains("\"split.test.count\": \"8\"", manifest);
        string dir = Workspace.NewDirectory("sizes");
        Tool.Run(dir, "inr-zoo", "build", "--sizes", "1,2,3", "--out", "z", "--data", Workspace.DataDirectory).ShouldFail(1, "--sizes applies to --task sine-waves and sine-frequency only");
        Tool.Run(dir, "inr-zoo", "build", "--task", "sine-waves", "--sizes", "4,4", "--out", "z").ShouldFail(1, "three counts");
        Tool.Run(dir, "inr-zoo", "build", "--task", "sine-waves", "--sizes", "4,0,4", "--out", "z").ShouldFail(1, "'0' is not a positive integer");
    }

    [Fact]
    public void SineRegress_TrainsEveryModelAndSize_WritesTheReport_AndASecondRunOnlyReevaluates()
    {
        string outDir = Path.Combine(Workspace.NewDirectory("sine-regress"), "out");
        string[] args = { "sine", "regress", "--zoo", SineZoo, "--train-counts", "8,16", "--epochs", "2", "--batch", "4", "--out", outDir };
        var first = Tool.Run(Workspace.Root, args).ShouldSucceed();
        var lines = MseLines(first);
        Assert.Equal(6, lines.Count);
        foreach (var model in new[] { "equivariant", "stats", "mlp" })
            foreach (var n in new[] { 8, 16 })
            {
                Assert.Contains(lines, l => Regex.IsMatch(l, $@"^{model}\s+{n} training INRs: TEST MSE \d+\.\d{{4}}"));
                Assert.True(File.Exists(Path.Combine(outDir, $"{model}-n{n}-seed0", "result.json")));
            }
        Assert.Contains("| equivariant | 16 |", File.ReadAllText(Path.Combine(outDir, "results.md")));
        string html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("log10(test MSE)", html);

        var second = Tool.Run(Workspace.Root, args).ShouldSucceed();
        Assert.DoesNotContain("epoch   1/2", second.Output);          // nothing retrained
        Assert.Equal(lines, MseLines(second));                          // the same models, the same numbers
    }

    [Fact]
    public void SineFrequencyZoo_RecordsItsFamilyAndOffset_RegressesA_AndIsRefusedByEmbed()
    {
        string root = Workspace.NewDirectory("sine-frequency");
        string zoo = Path.Combine(root, "zoo");
        var build = Tool.Run(Workspace.Root, "inr-zoo", "build", "--task", "sine-frequency", "--sizes", "12,6,6", "--steps", "10", "--shard-size", "6", "--out", zoo).ShouldSucceed();
        Assert.Contains("sin(a*x), a ~ U(0.5, 10)", build.Output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(zoo, "zoo.json"))))
        {
            var id = doc.RootElement.GetProperty("identity");
            Assert.Equal("sine-frequency", id.GetProperty("task.name").GetString());
            Assert.Equal("sin(a*x)", id.GetProperty("task.family").GetString());
            Assert.Equal("[0.5, 10)", id.GetProperty("task.a_range").GetString());
            Assert.Equal("1", id.GetProperty("targets.width").GetString());
            Assert.Equal("0.5", id.GetProperty("arch.output_offset").GetString());   // the protocol's SIREN offset
        }
        // The sine-waves zoo built by this version records the protocol offset too.
        Assert.Contains("\"arch.output_offset\": \"0.5\"", File.ReadAllText(Path.Combine(SineZoo, "zoo.json")));

        string outDir = Path.Combine(root, "regress");
        var r = Tool.Run(Workspace.Root, "sine", "regress", "--zoo", zoo, "--models", "stats", "--train-counts", "12", "--epochs", "2", "--batch", "4", "--out", outDir).ShouldSucceed();
        Assert.Contains("target: the frequency a of sin(a·x)", r.Output);
        Assert.Single(MseLines(r));
        Assert.Contains("frequency a of sin(a·x)", File.ReadAllText(Path.Combine(outDir, "results.md")));

        // On the a·sin(b·x) family the regression keeps predicting b, and says so.
        var waves = Tool.Run(Workspace.Root, "sine", "regress", "--zoo", SineZoo, "--models", "stats", "--train-counts", "8", "--epochs", "1", "--batch", "4", "--out", Path.Combine(root, "waves")).ShouldSucceed();
        Assert.Contains("target: the frequency b of a·sin(b·x)", waves.Output);

        // Embeddings read out (a, b): a sin(a·x) zoo is refused in one line naming its zoo.json.
        var e = Tool.Run(Workspace.Root, "sine", "embed", "--zoo", zoo, "--epochs", "1", "--out", Path.Combine(root, "embed"))
            .ShouldFail(1, Path.Combine(zoo, "zoo.json") + ": a sine-frequency zoo");
        Assert.Contains("sine embed needs a sine-waves zoo", e.Output);
    }

    [Fact]
    public void SineEmbed_ReadsOutEveryRepresentation_AndDrawsThePca()
    {
        string outDir = Path.Combine(Workspace.NewDirectory("sine-embed"), "out");
        var r = Tool.Run(Workspace.Root, "sine", "embed", "--zoo", SineZoo, "--epochs", "2", "--batch", "8", "--out", outDir).ShouldSucceed();
        foreach (var name in new[] { "weight statistics", "flattened weights", "equivariant encoder, untrained", "equivariant encoder, SimCLR" })
            Assert.Contains(MseLines(r), l => l.StartsWith(name, StringComparison.Ordinal));
        string html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("coloured by frequency b", html);
        Assert.True(Regex.Matches(html, "<circle").Count >= 2 * 8);   // every test INR in both pictures
        Assert.True(File.Exists(Path.Combine(outDir, "seed0", "training-checkpoint.safetensors")));
    }

    /// <summary>Every editor trained for one epoch on the workspace's zoo (shared by the train and eval tests).</summary>
    private static readonly Lazy<(string Directory, ToolResult Result)> s_editRun = new(() =>
    {
        string outDir = Path.Combine(Workspace.NewDirectory("inr-edit"), "out");
        return (outDir, Tool.Run(Workspace.Root, "inr-edit", "train", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--epochs", "1", "--batch", "4", "--out", outDir));
    });

    [Fact]
    public void InrEdit_TrainsEveryEditor_AndWritesThePicture()
    {
        var (outDir, result) = s_editRun.Value;
        var r = result.ShouldSucceed();
        Assert.Equal(4, MseLines(r).Count);
        Assert.Contains("unedited INRs against the dilated images: test MSE", r.Output);
        var png = File.ReadAllBytes(Path.Combine(outDir, "test-edits.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        // 8 test INRs per row; rows: renderings, dilated images, 4 editors → 6 rows of 28 + 7 gaps of 2 pixels.
        int height = (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23];
        Assert.Equal(6 * 28 + 7 * 2, height);
        Assert.Contains("data:image/png;base64,", File.ReadAllText(Path.Combine(outDir, "report.html")));
        Assert.Contains("| hidden-neuron equivariant (DWSNets / NFN HNP) |", File.ReadAllText(Path.Combine(outDir, "results.md")));
    }

    [Fact]
    public void InrEditEval_ReproducesTheTrainedRunsTestMse_AndDrawsOriginalTargetEdited()
    {
        var (trainDir, train) = s_editRun.Value;
        train.ShouldSucceed();
        string hidden = Path.Combine(trainDir, "hidden-seed0"), mlp = Path.Combine(trainDir, "mlp-seed0", "model.safetensors");
        Assert.True(File.Exists(Path.Combine(hidden, "model.safetensors")), "train writes RUN/model.safetensors");
        string outDir = Path.Combine(Workspace.NewDirectory("inr-edit-eval"), "out");
        var r = Tool.Run(Workspace.Root, "inr-edit", "eval", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--checkpoint", $"{hidden},{mlp}", "--out", outDir).ShouldSucceed();
        var lines = MseLines(r);
        Assert.Equal(3, lines.Count);
        // The same editors on the same test INRs: the numbers train measured (train evaluated at most 500 test INRs; the zoo has fewer).
        string Mse(string run) => JsonDocument.Parse(File.ReadAllText(Path.Combine(trainDir, run, "result.json"))).RootElement.GetProperty("TestMse").GetDouble().ToString("F4", CultureInfo.InvariantCulture);
        Assert.Contains($"TEST MSE {Mse("hidden-seed0")}", lines[1]);
        Assert.Contains($"TEST MSE {Mse("mlp-seed0")}", lines[2]);
        string unedited = Regex.Match(train.Output, @"unedited INRs against the dilated images: test MSE ([0-9.]+)").Groups[1].Value;
        Assert.Contains($"TEST MSE {unedited}", lines[0]);
        var png = File.ReadAllBytes(Path.Combine(outDir, "eval-edits.png"));
        int height = (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23];
        Assert.Equal(4 * 28 + 5 * 2, height); // renderings, dilated images, 2 editors
        Assert.Contains("| unedited INRs |", File.ReadAllText(Path.Combine(outDir, "eval.md")));
        Assert.Contains("data:image/png;base64,", File.ReadAllText(Path.Combine(outDir, "eval-report.html")));

        // Wrong inputs: one clear line each, before any work.
        Tool.Run(Workspace.Root, "inr-edit", "eval", "--zoo", SineZoo, "--data", Workspace.DataDirectory, "--checkpoint", hidden).ShouldFail(1, "record no source images");
        Tool.Run(Workspace.Root, "inr-edit", "eval", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--checkpoint", Path.Combine(Workspace.TrainedRun, "model.safetensors")).ShouldFail(1, "not an INR editor");
        Tool.Run(Workspace.Root, "inr-edit", "eval", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--checkpoint", trainDir).ShouldFail(1, "study directory");
        Tool.Run(Workspace.Root, "inr-edit", "eval", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--checkpoint", Path.Combine(hidden, "training-checkpoint.safetensors")).ShouldFail(1, "training checkpoint");
    }

    [Fact]
    public void WrongZoos_AndBadOptions_FailWithOneClearLine()
    {
        Tool.Run(Workspace.Root, "sine", "regress", "--zoo", Workspace.Zoo).ShouldFail(1, "sine regress needs a sine-frequency zoo (sin(a·x), 1 target) or a sine-waves zoo");
        Tool.Run(Workspace.Root, "sine", "embed", "--zoo", Workspace.Zoo).ShouldFail(1, "sine embed needs a sine-waves zoo (a·sin(b·x), 2 targets)");
        Tool.Run(Workspace.Root, "inr-edit", "train", "--zoo", SineZoo, "--data", Workspace.DataDirectory).ShouldFail(1, "record no source images");
        Tool.Run(Workspace.Root, "sine", "regress", "--zoo", SineZoo, "--train-counts", "8,0").ShouldFail(1, "'0' is not a positive integer");
        Tool.Run(Workspace.Root, "sine", "regress", "--zoo", SineZoo, "--train-counts", "100").ShouldFail(1, "the zoo in");
        Tool.Run(Workspace.Root, "sine", "regress", "--zoo", SineZoo, "--models", "cnn").ShouldFail(1, "unknown model 'cnn'");
        Tool.Run(Workspace.Root, "sine", "embed", "--zoo", SineZoo, "--batch", "1").ShouldFail(1, "at least 2");
        Tool.Run(Workspace.Root, "inr-edit", "train", "--zoo", Workspace.Zoo, "--data", Workspace.DataDirectory, "--models", "hidden,cnn").ShouldFail(1, "unknown model 'cnn'");
    }
}
