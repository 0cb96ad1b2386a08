using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>
/// --device on the verbs without a GPU path yet (classifier-zoo build | generalization, tickets run, sine regress | embed,
/// inr-edit train): cuda is refused before any work with "WHAT runs on the CPU only for now", auto runs on the CPU and
/// says so; and `inr-zoo build`, which fits on the GPU through ILGPU: auto (no GPU here; cuda's message is in
/// ErrorTests.ZooBuild_DeviceCuda_IsRefusedWithTheReason) falls back to the CPU, says so and records the device in zoo.json. The child processes see no GPU
/// (LAYERCOMPILER_DISABLE_CUDA=1); each invocation is the cheapest that reaches the check.
/// </summary>
public class DeviceTests
{
    public static TheoryData<string, string[]> CpuOnlyVerbs() => new()
    {
        { "classifier-zoo build", new[] { "classifier-zoo", "build", "--out", Path.Combine(Workspace.Root, "device-czoo"), "--data", Path.Combine(Workspace.Root, "does-not-exist") } },
        { "classifier-zoo generalization", new[] { "classifier-zoo", "generalization", "--zoo", Path.Combine(Workspace.Root, "does-not-exist") } },
        { "tickets run", new[] { "tickets", "run", "--data", Path.Combine(Workspace.Root, "does-not-exist") } },
        { "sine regress", new[] { "sine", "regress", "--zoo", Path.Combine(Workspace.Root, "does-not-exist") } },
        { "sine embed", new[] { "sine", "embed", "--zoo", Path.Combine(Workspace.Root, "does-not-exist") } },
        { "inr-edit train", new[] { "inr-edit", "train", "--zoo", Path.Combine(Workspace.Root, "does-not-exist") } },
    };

    [Theory]
    [MemberData(nameof(CpuOnlyVerbs))]
    public void CpuOnlyVerb_DeviceCuda_IsRefusedWithTheReason(string verb, string[] args)
    {
        var result = Tool.Run(Workspace.Root, args.Concat(new[] { "--device", "cuda" }).ToArray()).ShouldFail(1, $"--device cuda: {verb}");
        Assert.True(result.ErrorLines.Count == 1 && result.ErrorLines[0].Contains($"--device cuda: {verb} runs on the CPU only for now; use --device cpu or auto.", StringComparison.Ordinal),
            result.Describe());
    }

    [Theory]
    [MemberData(nameof(CpuOnlyVerbs))]
    public void CpuOnlyVerb_DeviceAuto_RunsOnTheCpuAndSaysSo(string verb, string[] args)
    {
        // The invocation then stops at its missing zoo or data set: what matters is that auto went on, on the CPU.
        var result = Tool.Run(Workspace.Root, args.Concat(new[] { "--device", "auto" }).ToArray());
        Assert.Contains($"device: cpu ({verb} runs on the CPU only for now)", result.Output);
        Assert.DoesNotContain("--device cuda", result.Output);
    }

    [Fact]
    public void ZooBuild_DeviceAutoWithoutAGpu_FitsOnTheCpuSaysSoAndRecordsIt()
    {
        string zoo = Path.Combine(Workspace.NewDirectory("zoo-auto"), "zoo");
        var result = Tool.Run(Workspace.Root, "inr-zoo", "build", "--task", "sine-waves", "--sizes", "2,1,1", "--steps", "2", "--out", zoo, "--device", "auto").ShouldSucceed();
        Assert.Contains("device: cpu (no CUDA device found (ILGPU found: CPU accelerator only", result.Output);
        string manifest = File.ReadAllText(Path.Combine(zoo, "zoo.json"));
        Assert.Equal(3, manifest.Split("\"fit_device\": \"cpu\"").Length - 1);
    }
}
