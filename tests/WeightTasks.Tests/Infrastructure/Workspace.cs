using System.Globalization;
using System.Text.RegularExpressions;

namespace WeightTasks.Tests.Infrastructure;

/// <summary>
/// What the tests share, built once per test run on first use (test classes run in parallel, so these are
/// thread-safe lazies): a temporary root directory, the synthetic data set, one tiny zoo and one trained model.
/// Tests never modify the shared zoo or run; a test that changes one works on a copy (<see cref="CopyOf"/>).
/// The root is deleted when the test process exits (or, if that is cut short, by the next run), unless INRCLASSIFIER_TESTS_KEEP=1.
/// </summary>
public static class Workspace
{
    /// <summary>The shared zoo: 20 INRs per split, 20 fitting steps, shards of 10 (so 2 shards per split).</summary>
    public const int PerSplit = 20, ShardSize = 10, ShardsPerSplit = PerSplit / ShardSize;
    public static readonly string[] Splits = { "train", "validation", "test" };

    private static readonly Lazy<string> s_root = new(CreateRoot);
    private static readonly Lazy<string> s_data = new(() =>
    {
        string dir = Path.Combine(Root, "data");
        SyntheticFashionMnist.Write(dir);
        return dir;
    });
    private static readonly Lazy<(string Directory, ToolResult Result)> s_zoo = new(() =>
    {
        string dir = Path.Combine(Root, "zoo");
        var result = Tool.Run(Root, ZooBuildArguments(dir));
        return (dir, result);
    });
    private static readonly Lazy<(string Directory, ToolResult Result)> s_trained = new(() =>
    {
        string dir = Path.Combine(Root, "run-hidden");
        var result = Tool.Run(Root, TrainArguments(dir));
        return (dir, result);
    });
    private static int s_counter;

    public static string Root => s_root.Value;

    /// <summary>Directory with the four synthetic Fashion-MNIST files.</summary>
    public static string DataDirectory => s_data.Value;

    /// <summary>`zoo build` arguments of the shared zoo, writing to <paramref name="outDirectory"/>.</summary>
    public static string[] ZooBuildArguments(string outDirectory) =>
        new[]
        {
            "inr-zoo", "build", "--per-split", PerSplit.ToString(CultureInfo.InvariantCulture), "--steps", "20",
            "--shard-size", ShardSize.ToString(CultureInfo.InvariantCulture), "--out", outDirectory, "--data", DataDirectory,
        };

    /// <summary>The shared zoo (built by the first test that needs it; the build must have succeeded).</summary>
    public static string Zoo
    {
        get
        {
            var (dir, result) = s_zoo.Value;
            result.ShouldSucceed();
            return dir;
        }
    }

    /// <summary>The run that built the shared zoo.</summary>
    public static ToolResult ZooBuild => s_zoo.Value.Result;

    /// <summary>
    /// `train` arguments of the shared run: the hidden-neuron model, 3 epochs, batch 2 (10 batches per epoch over the
    /// 20 training INRs: epochs long enough for the resume test to interrupt one), writing to <paramref name="outDirectory"/>.
    /// </summary>
    public static string[] TrainArguments(string outDirectory, params string[] extra) =>
        new[] { "inr-classify", "train", "--zoo", Zoo, "--model", "hidden", "--epochs", "3", "--batch", "2", "--out", outDirectory }.Concat(extra).ToArray();

    /// <summary>Output directory of the shared trained run (model.safetensors, report.html, training-checkpoint.safetensors).</summary>
    public static string TrainedRun
    {
        get
        {
            var (dir, result) = s_trained.Value;
            result.ShouldSucceed();
            return dir;
        }
    }

    public static ToolResult TrainedRunResult => s_trained.Value.Result;

    /// <summary>A new empty directory under the root.</summary>
    public static string NewDirectory(string name)
    {
        string dir = Path.Combine(Root, $"{name}-{Interlocked.Increment(ref s_counter)}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A copy of <paramref name="source"/> (files keep their timestamps) in a new directory.</summary>
    public static string CopyOf(string source, string name)
    {
        string target = NewDirectory(name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
            File.SetLastWriteTimeUtc(to, File.GetLastWriteTimeUtc(file));
        }
        return target;
    }

    /// <summary>The test accuracy the tool printed ("Test accuracy: 12.50 % ..." or "test accuracy: 12.50 % ...").</summary>
    public static string PrintedAccuracy(ToolResult result, string split)
    {
        var match = Regex.Match(result.Output, $@"^{Regex.Escape(split)} accuracy: (\d+\.\d\d %) on \d+ ", RegexOptions.Multiline | RegexOptions.IgnoreCase);
        Assert.True(match.Success, $"no '{split} accuracy: ...' line\n" + result.Describe());
        return match.Groups[1].Value;
    }

    /// <summary>
    /// `eval` of the saved model <paramref name="file"/> prints the test accuracy that training printed, and the validation
    /// accuracy recorded in the model's metadata.
    /// </summary>
    public static void AssertEvalReproduces(ToolResult trained, string file)
    {
        var test = Tool.Run(Root, "inr-classify", "eval", "--zoo", Zoo, "--checkpoint", file, "--split", "test").ShouldSucceed();
        Assert.Equal(PrintedAccuracy(trained, "test"), PrintedAccuracy(test, "test"));
        double recorded = double.Parse(SafetensorsContent.Read(file).Metadata["user.result.validation_accuracy"], System.Globalization.CultureInfo.InvariantCulture);
        var validation = Tool.Run(Root, "inr-classify", "eval", "--zoo", Zoo, "--checkpoint", file, "--split", "validation").ShouldSucceed();
        Assert.Equal(recorded.ToString("P2", System.Globalization.CultureInfo.InvariantCulture), PrintedAccuracy(validation, "validation"));
    }

    private const string RootPrefix = "inrclassifier-tests-";

    private static string CreateRoot()
    {
        RemoveStaleRoots();
        string root = Path.Combine(Path.GetTempPath(), $"{RootPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(root);
        if (Environment.GetEnvironmentVariable("INRCLASSIFIER_TESTS_KEEP") != "1")
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { Directory.Delete(root, recursive: true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            };
        return root;
    }

    /// <summary>
    /// Deletes the roots of earlier test runs whose process is gone: the test host may be stopped before its exit
    /// handler has finished deleting.
    /// </summary>
    private static void RemoveStaleRoots()
    {
        if (Environment.GetEnvironmentVariable("INRCLASSIFIER_TESTS_KEEP") == "1") return;
        foreach (string dir in Directory.EnumerateDirectories(Path.GetTempPath(), RootPrefix + "*"))
        {
            string rest = Path.GetFileName(dir)[RootPrefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || IsRunning(pid)) continue;
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }        // no such process
        catch (InvalidOperationException) { return false; }
    }
}
