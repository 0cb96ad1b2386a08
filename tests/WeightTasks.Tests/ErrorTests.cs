using WeightTasks.Tests.Infrastructure;

namespace WeightTasks.Tests;

/// <summary>
/// Bad input ends with the documented exit code (1; 3 when the data set is missing) and one clear line starting
/// with "error:", never a stack trace.
/// </summary>
public class ErrorTests
{
    private const string InstallCommand = "apt-get install -y dataset-fashion-mnist";

    /// <summary>Runs the tool and checks the exit code and that the single "error:" line contains <paramref name="fragment"/>.</summary>
    private static ToolResult Fails(int exitCode, string fragment, params string[] args)
    {
        var result = Tool.Run(Workspace.Root, args).ShouldFail(exitCode, fragment);
        var errors = result.ErrorLines;
        Assert.True(errors.Count == 1, "expected exactly one 'error:' line\n" + result.Describe());
        Assert.True(errors[0].Contains(fragment, StringComparison.Ordinal), $"the error line should contain \"{fragment}\"\n" + result.Describe());
        return result;
    }

    private static string Missing => Path.Combine(Workspace.Root, "does-not-exist");

    // ------------------------------------------------------------------ the data set

    [Fact]
    public void ZooBuild_MissingDataDirectory_PrintsTheInstallCommand() =>
        Fails(3, InstallCommand, "inr-zoo", "build", "--per-split", "2", "--out", Path.Combine(Workspace.NewDirectory("nodata"), "zoo"), "--data", Missing);

    [Fact]
    public void ClassifierZooBuild_TwoFullSizes_AreRefusedBeforeAnyWork() =>
        Fails(1, "--full and --full-every-epoch are two sizes; give one.", "classifier-zoo", "build", "--out", Path.Combine(Workspace.NewDirectory("czoo-two-sizes"), "zoo"), "--full", "--full-every-epoch", "--data", Workspace.DataDirectory);

    [Fact]
    public void MainJob_MissingDataDirectory_PrintsTheInstallCommand() =>
        Fails(3, InstallCommand, "--data", Missing, "--work", Workspace.NewDirectory("main-nodata"));

    [Fact]
    public void ZooBuild_DataFileWithTheWrongMagicNumber_IsRejected()
    {
        string data = Workspace.CopyOf(Workspace.DataDirectory, "bad-magic");
        // A labels file where the images should be: magic 0x00000801 instead of 0x00000803.
        File.Copy(Path.Combine(data, SyntheticFashionMnist.TestLabels), Path.Combine(data, SyntheticFashionMnist.TestImages), overwrite: true);
        Fails(1, "magic number 0x00000801 where 0x00000803", "inr-zoo", "build", "--per-split", "2", "--out", Path.Combine(data, "zoo"), "--data", data);
    }

    [Fact]
    public void ZooBuild_DataSetSmallerThanFashionMnist_IsRejected()
    {
        // The loader checks the real sizes: a data directory with fewer images is not Fashion-MNIST.
        string data = Workspace.NewDirectory("small-data");
        SyntheticFashionMnist.Write(data, trainCount: 60, testCount: 20);
        Fails(1, "holds 60 images, expected 60000", "inr-zoo", "build", "--per-split", "2", "--out", Path.Combine(data, "zoo"), "--data", data);
    }

    // ------------------------------------------------------------------ tickets

    [Fact]
    public void Tickets_ASeedThatIsNotANumber_IsRejected() =>
        Fails(1, "'x' is not a non-negative integer", "tickets", "run", "--quick", "--seeds", "1,x", "--data", Workspace.DataDirectory);

    [Fact]
    public void Tickets_ZeroHeldOutInitializations_IsRejected() =>
        Fails(1, "--held-out must be positive, got 0", "tickets", "run", "--quick", "--held-out", "0", "--data", Workspace.DataDirectory);

    // ------------------------------------------------------------------ zoo build options

    [Fact]
    public void ZooBuild_PerSplitAboveEverySplit_IsRejectedInsteadOfBuildingEverything() =>
        Fails(1, "is larger than every split", "inr-zoo", "build", "--per-split", "999999999", "--out", Path.Combine(Workspace.NewDirectory("huge"), "zoo"), "--data", Workspace.DataDirectory);

    [Fact]
    public void ZooBuild_ZeroSteps_IsRejected() =>
        Fails(1, "--steps must be positive, got 0", "inr-zoo", "build", "--per-split", "2", "--steps", "0", "--out", Path.Combine(Workspace.NewDirectory("steps0"), "zoo"), "--data", Workspace.DataDirectory);

    [Fact]
    public void Train_ZooThatIsAFile_SaysAZooIsADirectory()
    {
        string file = Path.Combine(Workspace.NewDirectory("zoo-file"), "zoo.json");
        File.WriteAllText(file, "{}");
        Fails(1, "is a file; a zoo is a directory", "inr-classify", "train", "--zoo", file, "--epochs", "1", "--out", Workspace.NewDirectory("zoo-file-out"));
    }

    [Fact]
    public void Eval_CheckpointThatIsADirectory_SaysWhichFileToGive() =>
        Fails(1, "is a directory; give the model file", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Workspace.NewDirectory("ckpt-dir"));

    [Fact]
    public void ZooBuild_WithoutPerSplitOrFull_IsRejected() =>
        Fails(1, "exactly one of --per-split N", "inr-zoo", "build", "--out", Path.Combine(Workspace.NewDirectory("nosize"), "zoo"), "--data", Workspace.DataDirectory);

    [Fact]
    public void ZooBuild_BadShardSize_IsRejectedUnderItsOptionName() =>
        Fails(1, "--shard-size must be positive, got 0", "inr-zoo", "build", "--per-split", "2", "--shard-size", "0", "--out", Path.Combine(Workspace.NewDirectory("shard0"), "zoo"));

    [Fact]
    public void Render_ZeroColumns_IsOneLine() =>
        Fails(1, "Need at least one column (got 0).", "inr-zoo", "render", "--zoo", Workspace.Zoo, "--columns", "0", "--out", Path.Combine(Workspace.NewDirectory("render0"), "grid.png"));

    // ------------------------------------------------------------------ zoos and splits

    [Fact]
    public void Eval_MissingZooDirectory_IsRejected() =>
        Fails(1, "does not exist", "inr-classify", "eval", "--zoo", Missing, "--checkpoint", Path.Combine(Workspace.TrainedRun, "model.safetensors"));

    [Fact]
    public void Train_MissingZooDirectory_IsRejected() =>
        Fails(1, "does not exist", "inr-classify", "train", "--zoo", Missing, "--epochs", "1", "--out", Workspace.NewDirectory("train-nozoo"));

    [Fact]
    public void Eval_UnknownSplit_NamesTheSplits() =>
        Fails(1, "The zoo has no split 'nope'; it has train, validation, test.",
            "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Workspace.TrainedRun, "model.safetensors"), "--split", "nope");

    [Fact]
    public void Render_UnknownSplit_NamesTheSplits() =>
        Fails(1, "The zoo has no split 'nope'", "inr-zoo", "render", "--zoo", Workspace.Zoo, "--split", "nope", "--out", Path.Combine(Workspace.NewDirectory("render-nope"), "grid.png"));

    // ------------------------------------------------------------------ checkpoints

    [Fact]
    public void Eval_MissingCheckpoint_SaysHowToMakeOne() =>
        Fails(1, "does not exist. Train one with", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Missing, "model.safetensors"));

    [Fact]
    public void Eval_CheckpointThatIsNotSafetensors_IsRejected() =>
        Fails(1, "is not a valid checkpoint", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Workspace.Zoo, "zoo.json"));

    [Fact]
    public void Eval_TruncatedCheckpoint_IsRejected()
    {
        string model = Path.Combine(Workspace.NewDirectory("truncated"), "model.safetensors");
        byte[] bytes = File.ReadAllBytes(Path.Combine(Workspace.TrainedRun, "model.safetensors"));
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        Fails(1, "is not a valid checkpoint", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", model);
    }

    /// <summary>A safetensors file of another kind (a zoo shard) is named by its format.</summary>
    [Fact]
    public void Eval_SafetensorsFileThatIsNotAModel_SaysWhatItIs() =>
        Fails(1, "but not an INR-classifier checkpoint (metadata 'format' is 'layercompiler-inr-zoo/1'",
            "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Workspace.Zoo, "test", "shard-00000.safetensors"));

    /// <summary>The per-epoch training state has the model file's format but another kind: the error says which file to give.</summary>
    [Fact]
    public void Eval_TrainingCheckpoint_SaysToGiveTheModelFile() =>
        Fails(1, "is a training checkpoint (metadata 'kind' is 'training'), not a model file; give DIR/model.safetensors.",
            "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Workspace.TrainedRun, "training-checkpoint.safetensors"));

    // ------------------------------------------------------------------ train options

    [Fact]
    public void Train_UnknownAugmentation_ListsTheChoices()
    {
        // Rejected by the command-line parser (System.CommandLine): its message, then the usage, on stderr; exit code 1.
        var result = Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--augment", "bogus", "--out", Workspace.NewDirectory("augment-bogus"))
            .ShouldFail(1, "Argument 'bogus' not recognized. Must be one of:");
        Assert.Contains("'no-rotation'", result.Output);
    }

    // ------------------------------------------------------------------ --device

    [Fact]
    public void Train_DeviceCudaWithoutAGpu_SaysWhatWasFound() =>
        Fails(1, "--device cuda: no CUDA device found (ILGPU found: CPU accelerator only", "inr-classify", "train", "--zoo", Workspace.Zoo, "--device", "cuda", "--out", Workspace.NewDirectory("device-cuda"));

    [Fact]
    public void Eval_DeviceCudaWithoutAGpu_SaysWhatWasFound() =>
        Fails(1, "--device cuda: no CUDA device found", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", Path.Combine(Workspace.TrainedRun, "model.safetensors"), "--device", "cuda");

    [Fact]
    public void ZooBuild_DeviceCuda_IsRefusedWithTheReason() =>
        Fails(1, "--device cuda: no CUDA device found", "inr-zoo", "build", "--per-split", "2", "--out", Path.Combine(Workspace.NewDirectory("zoo-cuda"), "zoo"), "--device", "cuda");

    [Fact]
    public void Train_UnknownDevice_IsRejected() =>
        Tool.Run(Workspace.Root, "inr-classify", "train", "--zoo", Workspace.Zoo, "--device", "tpu", "--out", Workspace.NewDirectory("device-tpu"))
            .ShouldFail(1, "--device must be cpu, cuda or auto, got 'tpu'.");

    [Fact]
    public void Train_ZeroEpochs_IsRejected() =>
        Fails(1, "--epochs must be positive, got 0.", "inr-classify", "train", "--zoo", Workspace.Zoo, "--epochs", "0", "--out", Workspace.NewDirectory("epochs0"));

    [Fact]
    public void Train_DamagedTrainingCheckpoint_IsAnError()
    {
        string run = Workspace.CopyOf(Workspace.TrainedRun, "damaged-checkpoint");
        string checkpoint = Path.Combine(run, "training-checkpoint.safetensors");
        File.WriteAllBytes(checkpoint, File.ReadAllBytes(checkpoint)[..5000]);
        Fails(1, "Delete it to start this run from scratch.", Workspace.TrainArguments(run)).ShouldFail(1, $"Cannot resume from '{checkpoint}'");
    }
    /// <summary>A checkpoint whose training history is missing (here: its key renamed in place) is not resumed from.</summary>
    [Fact]
    public void Train_CheckpointWithoutItsHistory_SaysHowToStartOver()
    {
        string run = Workspace.CopyOf(Workspace.TrainedRun, "no-history");
        string checkpoint = Path.Combine(run, "training-checkpoint.safetensors");
        byte[] bytes = File.ReadAllBytes(checkpoint);
        byte[] key = System.Text.Encoding.ASCII.GetBytes("\"user.history\"");
        int at = bytes.AsSpan().IndexOf(key);
        Assert.True(at > 0, "the checkpoint has no user.history metadata");
        System.Text.Encoding.ASCII.GetBytes("\"user.hist0ry\"").CopyTo(bytes, at);   // same length: the file stays valid
        File.WriteAllBytes(checkpoint, bytes);
        Fails(1, "it has no training history (metadata 'user.history'). Delete it to start this run from scratch.", Workspace.TrainArguments(run));
    }

    /// <summary>A model file with a NaN in it (its first data bytes overwritten) is refused, naming the tensor, instead of evaluating to a NaN loss.</summary>
    [Fact]
    public void Eval_CheckpointWithANaN_IsRejected()
    {
        string run = Workspace.CopyOf(Workspace.TrainedRun, "nan-model");
        string model = Path.Combine(run, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(model);
        long dataStart = 8 + BitConverter.ToInt64(bytes, 0);
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, dataStart);
        File.WriteAllBytes(model, bytes);
        Fails(1, "holds a non-finite value (NaN at 0)", "inr-classify", "eval", "--zoo", Workspace.Zoo, "--checkpoint", model);
    }

    // ------------------------------------------------------------------ output paths

    [Fact]
    public void Train_OutputThatIsAFile_IsOneLineAndTheFileIsKept()
    {
        string file = Path.Combine(Workspace.NewDirectory("out-file"), "afile");
        File.WriteAllText(file, "keep");
        Fails(1, $"--out '{file}' is a file, not a directory.", "inr-classify", "train", "--zoo", Workspace.Zoo, "--epochs", "1", "--out", file);
        Assert.Equal("keep", File.ReadAllText(file));
    }

    [Fact]
    public void Render_OutputThatIsADirectory_IsOneLine() =>
        Fails(1, "is a directory; give a file name", "inr-zoo", "render", "--zoo", Workspace.Zoo, "--out", Workspace.NewDirectory("render-dir"));
}

