using System.Buffers.Binary;
using System.Text.Json;
using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>`zoo build`, `zoo render` and `zoo bench` on the synthetic data set.</summary>
public class ZooTests
{
    private static string ShardPath(string zoo, string split, int shard) => Path.Combine(zoo, split, $"shard-{shard:D5}.safetensors");

    private static IEnumerable<string> AllShards(string zoo) =>
        Workspace.Splits.SelectMany(s => Enumerable.Range(0, Workspace.ShardsPerSplit).Select(k => ShardPath(zoo, s, k)));

    [Fact]
    public void Build_WritesACompleteManifestAndEveryShard()
    {
        string zoo = Workspace.Zoo;
        var build = Workspace.ZooBuild;
        Assert.Contains($"fitted {3 * Workspace.PerSplit} INRs", build.Output);

        using (var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(zoo, "zoo.json"))))
        {
            Assert.Equal("complete", manifest.RootElement.GetProperty("status").GetString());
            var splits = manifest.RootElement.GetProperty("splits").EnumerateArray().ToList();
            Assert.Equal(Workspace.Splits, splits.Select(s => s.GetProperty("name").GetString()));
            Assert.All(splits, s =>
            {
                Assert.Equal(Workspace.PerSplit, s.GetProperty("count").GetInt32());
                Assert.True(s.GetProperty("complete").GetBoolean());
            });
        }

        foreach (string split in Workspace.Splits)
        {
            Assert.Equal(Workspace.ShardsPerSplit, Directory.GetFiles(Path.Combine(zoo, split), "*.safetensors").Length);
            for (int k = 0; k < Workspace.ShardsPerSplit; k++)
            {
                var shard = SafetensorsContent.Read(ShardPath(zoo, split, k));
                Assert.Equal(new long[] { Workspace.ShardSize, 32, 2 }, shard.Tensors["W1"].Shape);
                // The labels stored with the INRs are those of the source images they were fitted to.
                long[] index = Int64s(shard.Tensors["image_index"]), labels = Int64s(shard.Tensors["labels"]);
                int salt = split == "test" ? 5 : 3;
                Assert.Equal(index.Select(i => (long)SyntheticFashionMnist.Label((int)i, salt)), labels);
            }
        }
    }

    [Fact]
    public void Build_SameCommandAgain_ReusesEveryShardWithoutFitting()
    {
        string zoo = Workspace.CopyOf(Workspace.Zoo, "zoo-again");
        var before = AllShards(zoo).ToDictionary(p => p, File.GetLastWriteTimeUtc);

        var again = Tool.Run(Workspace.Root, Workspace.ZooBuildArguments(zoo)).ShouldSucceed();

        Assert.Contains($"reused {before.Count} finished shard(s)", again.Output);
        Assert.DoesNotContain("fitted", again.Output);
        Assert.All(before, kv => Assert.Equal(kv.Value, File.GetLastWriteTimeUtc(kv.Key)));
    }

    [Theory]
    [InlineData("delete")]   // an interrupted build: the last shard was never written
    [InlineData("truncate")] // a damaged shard (e.g. a copy cut short)
    public void Build_AfterLosingTheLastShard_RebuildsOnlyThatShard(string damage)
    {
        string zoo = Workspace.CopyOf(Workspace.Zoo, $"zoo-{damage}");
        string lost = ShardPath(zoo, "test", Workspace.ShardsPerSplit - 1);
        if (damage == "delete") File.Delete(lost);
        else File.WriteAllBytes(lost, File.ReadAllBytes(lost)[..1000]);
        var kept = AllShards(zoo).Where(p => p != lost).ToDictionary(p => p, File.GetLastWriteTimeUtc);

        var rebuild = Tool.Run(Workspace.Root, Workspace.ZooBuildArguments(zoo)).ShouldSucceed();

        Assert.Contains($"reused {kept.Count} finished shard(s)", rebuild.Output);
        Assert.Contains($"fitted {Workspace.ShardSize} INRs", rebuild.Output);
        if (damage == "truncate") Assert.Contains("rebuilding test/shard-00001.safetensors", rebuild.Output);
        Assert.All(kept, kv => Assert.Equal(kv.Value, File.GetLastWriteTimeUtc(kv.Key)));
        // Fitting is deterministic: the rebuilt shard holds exactly the INRs of the original one.
        SafetensorsContent.AssertSameTensors(ShardPath(Workspace.Zoo, "test", Workspace.ShardsPerSplit - 1), lost);
    }

    [Fact]
    public void Build_WithOtherSettingsIntoAnExistingZoo_IsRefused()
    {
        string zoo = Workspace.CopyOf(Workspace.Zoo, "zoo-other");
        var args = Workspace.ZooBuildArguments(zoo);
        args[Array.IndexOf(args, "--per-split") + 1] = "5";

        Tool.Run(Workspace.Root, args).ShouldFail(1, "holds a different zoo")
            .ShouldFail(1, "'split.train.count' is '20', expected '5'");
        Assert.Equal(File.ReadAllBytes(Path.Combine(Workspace.Zoo, "zoo.json")), File.ReadAllBytes(Path.Combine(zoo, "zoo.json")));
    }

    [Fact]
    public void Render_WritesAPngGrid()
    {
        string png = Path.Combine(Workspace.NewDirectory("render"), "sub", "grid.png");

        var result = Tool.Run(Workspace.Root, "inr-zoo", "render", "--zoo", Workspace.Zoo, "--split", "test", "--count", "5", "--columns", "3", "--size", "14", "--out", png)
            .ShouldSucceed();

        Assert.Contains($"5 of {Workspace.PerSplit} test INRs at 14×14", result.Output);
        byte[] bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 8 + 25 + 12, $"{png} has only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        // 3 columns × 2 rows of 14×14 images with 2-pixel padding around and between them.
        Assert.Equal(3 * 14 + 4 * 2, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(2 * 14 + 3 * 2, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
    }

    [Fact]
    public void Bench_PrintsMinMedianMax()
    {
        var result = Tool.Run(Workspace.Root, "inr-zoo", "bench", "--count", "2", "--steps", "3", "--repeats", "2", "--threads", "1", "--data", Workspace.DataDirectory)
            .ShouldSucceed();

        Assert.Contains("run 2:", result.Output);
        Assert.Matches(@"INR-steps/s: min \d+ / median \d+ / max \d+", result.Output);
        // The fit's quality, for comparing implementations of the same problem: a finite PSNR per INR
        // (images in [0, 1] against an initial output near 0.5 give a few dB after 3 steps, not 0 and not ∞).
        var psnr = System.Text.RegularExpressions.Regex.Match(result.Output, @"PSNR of the 2 fitted INRs after 3 steps: mean (\d+\.\d+) dB, 5th percentile (\d+\.\d+) dB");
        Assert.True(psnr.Success, result.Output);
        double mean = double.Parse(psnr.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(mean, 1.0, 30.0);
    }

    [Fact]
    public void SineWaveZoo_Builds_ButCannotBeTrainedOnOrRendered()
    {
        string zoo = Path.Combine(Workspace.NewDirectory("sine"), "zoo");

        Tool.Run(Workspace.Root, "inr-zoo", "build", "--task", "sine-waves", "--per-split", "2", "--steps", "3", "--out", zoo).ShouldSucceed();
        Assert.True(File.Exists(Path.Combine(zoo, "zoo.json")));

        Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", zoo, "--epochs", "1", "--out", Path.Combine(zoo, "..", "run"))
            .ShouldFail(1, "train needs a Fashion-MNIST zoo");
        Tool.Run(Workspace.Root, "inr-zoo", "render", "--zoo", zoo, "--out", Path.Combine(zoo, "..", "grid.png"))
            .ShouldFail(1, "Only image zoos can be rendered");
    }

    private static long[] Int64s(RawTensor t)
    {
        Assert.Equal("I64", t.DType);
        var values = new long[t.Data.Length / 8];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(t.Data.AsSpan(8 * i));
        return values;
    }
}
