using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Models;
using LayerCompiler.Tasks.Reports;
using LayerCompiler.Tasks.Sine;
using LayerCompiler.Tasks.Zoo;

namespace LayerCompiler.Tasks.Editing;

/// <summary>A zoo split with what editing needs: the INRs, their source images and the dilated targets (each [n, 784]).</summary>
public sealed record EditingSplit(ZooSplit Zoo, float[] Originals, float[] Targets, int Pixels)
{
    public int Count => Zoo.Count;
}

/// <summary>One trained editor: pixel MSE of the edited INRs' renderings against the dilated images.</summary>
public sealed record EditingRun(string Model, ulong Seed, double TestMse, double ValidationMse, double Gamma, int BestEpoch, int Epochs);

/// <summary>
/// INR editing (NFN §5.4) on a Fashion-MNIST INR zoo: learn U' = U + γ·F(U) so that the rendering of U' on the zoo's 28×28
/// grid matches the 3×3 grey-scale dilation of the INR's source image, trained through the SIREN's forward and weight gradient.
/// </summary>
public static class InrEditing
{
    /// <summary>Training settings (Adam-style AdamW without decay by default, warmup then cosine, selection on validation MSE).</summary>
    public sealed record Settings(int Epochs, int BatchSize, float LearningRate, double WeightDecay = 0)
    {
        public TrainerOptions ToTrainerOptions(int trainCount, ulong seed, string kind, string? checkpoint) =>
            new RegressionTraining(Epochs, BatchSize, LearningRate, WeightDecay).ToTrainerOptions(trainCount, seed, $"task=inr-edit-dilate model={kind}", checkpoint) with { AmsGrad = false };
    }

    /// <summary>
    /// Opens a zoo of INRs of Fashion-MNIST images and checks that <paramref name="data"/> holds its source images; anything
    /// else (a sine-wave zoo, a zoo of other images, other source files) is refused saying what it is and what to build.
    /// </summary>
    public static ZooReader OpenImageZoo(string directory, FashionMnist data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var reader = OpenImageZoo(directory);
        var m = reader.Manifest;
        foreach (var (key, count) in new[] { ("task.source_train_count", data.Train.Count), ("task.source_test_count", data.Test.Count) })
            if (m.Identity.GetValueOrDefault(key) != count.ToString(CultureInfo.InvariantCulture))
                throw new ArgumentException($"The zoo in '{directory}' was built from source files with {key.Split('.')[1].Replace('_', ' ')} {m.Identity.GetValueOrDefault(key, "?")}; the data given has {count}: pass the Fashion-MNIST files the zoo was built from (--data).");
        return reader;
    }

    /// <summary>Opens a zoo and checks that it is a zoo of Fashion-MNIST INRs (it records each INR's source image).</summary>
    public static ZooReader OpenImageZoo(string directory)
    {
        var reader = ZooReader.Open(directory);
        var m = reader.Manifest;
        if (m.IndexTensorName != ZooFormat.ImageIndexTensor || !m.Identity.ContainsKey("task.image_size"))
            throw new ArgumentException($"The zoo in '{directory}' is a {m.TaskName} zoo: its INRs record no source images, so there is nothing to edit them towards. " +
                "inr-edit needs a Fashion-MNIST zoo: `inr-zoo build --out DIR --per-split N`.");
        if (m.TaskName != "fashion-mnist" || m.Identity["task.image_size"] != "28x28")
            throw new ArgumentException($"The zoo in '{directory}' holds INRs of {m.TaskName} images ({m.Identity["task.image_size"]}); inr-edit reads Fashion-MNIST 28×28 source images.");
        if (reader.Architecture.Widths[0] != 2 || reader.Architecture.Widths[^1] != 1)
            throw new InvalidDataException($"The zoo in '{directory}' holds {reader.Architecture.Describe()} networks; image INRs map 2 → 1.");
        return reader;
    }

    /// <summary>Loads a split with its source images and their dilations (train and validation INRs come from the training images).</summary>
    public static EditingSplit Load(ZooReader reader, FashionMnist data, string split, int? limit = null)
    {
        var zs = reader.Load(split, limit: limit);
        var source = split == "test" ? data.Test : data.Train;
        const int pixels = FashionMnist.PixelsPerImage;
        var originals = new float[zs.Count * pixels];
        var targets = new float[zs.Count * pixels];
        for (int i = 0; i < zs.Count; i++)
        {
            long index = zs.ItemIndex[i];
            if (index < 0 || index >= source.Count)
                throw new InvalidDataException($"INR {i} of split '{split}' records source image {index}, outside the {source.Count} images of the {(split == "test" ? "test" : "training")} file.");
            source.ImageAsFloats((int)index, originals.AsSpan(i * pixels, pixels));
            Dilation.Dilate3x3(originals.AsSpan(i * pixels, pixels), FashionMnist.Rows, FashionMnist.Cols, targets.AsSpan(i * pixels, pixels));
        }
        return new EditingSplit(zs, originals, targets, pixels);
    }

    private static IWeightDataset Dataset(EditingSplit s) => new InMemoryWeightDataset(s.Zoo.Weights, s.Targets, s.Pixels);

    /// <summary>Pixel MSE of the renderings of <paramref name="weights"/> ([n, P] rows) against the dilated targets.</summary>
    public static double RenderMse(IInputNetwork network, Tensor weights, EditingSplit split)
    {
        // Loss only: no weight gradient (the rendering's backward would be thrown away).
        var objective = new RenderingObjective(network, InrTask.ImageGrid(28, 28), split.Pixels) { GradientWanted = static () => false };
        double total = 0;
        int n = split.Count, p = weights.Shape[1];
        for (int start = 0; start < n; start += 256)
        {
            int count = Math.Min(256, n - start);
            var rows = new Tensor(weights.Data.AsSpan(start * p, count * p).ToArray(), count, p);
            var t = new Tensor(split.Targets.AsSpan(start * split.Pixels, count * split.Pixels).ToArray(), count, split.Pixels);
            total += objective.Compute(rows, new TrainingTargets(null, t)).Loss * (double)count;
        }
        return total / n;
    }

    /// <summary>Trains one editor (resuming from <c>runDir/training-checkpoint.safetensors</c>), evaluates it, writes <c>runDir/result.json</c>.</summary>
    /// <remarks>Also writes the trained editor to <c>runDir/model.safetensors</c> (<see cref="EditorFile"/>), recording
    /// <paramref name="architecture"/> (the zoo's INRs) as what it edits.</remarks>
    public static EditingRun Train(WeightEditor model, IInputNetwork network, EditingSplit train, EditingSplit validation, EditingSplit test, Settings settings, ulong seed,
        string runDir, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, string? architecture = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        new RegressionTraining(settings.Epochs, settings.BatchSize, settings.LearningRate, settings.WeightDecay).Validate();
        model.FitInputs(train.Zoo.Weights);
        OutputPaths.CreateDirectory(runDir, "The run directory");
        var options = settings.ToTrainerOptions(train.Count, seed, model.Kind, Path.Combine(runDir, "training-checkpoint.safetensors"));
        // The validation pass (Trainer.Evaluate, the model in eval mode) needs the loss only: the objective skips the gradient then.
        var objective = new RenderingObjective(network, InrTask.ImageGrid(28, 28), train.Pixels) { GradientWanted = () => model.Module.IsTraining };
        var trainer = new Trainer(model.Executor(options), options, objective);
        var history = WeightModelTraining.FitOrResume(trainer, Dataset(train), Dataset(validation), progress, cancellation);
        var run = new EditingRun(model.Kind, seed, RenderMse(network, model.Predict(test.Zoo.Weights), test), RenderMse(network, model.Predict(validation.Zoo.Weights), validation),
            model.Gamma, history.BestEpoch ?? 0, history.Epochs.Count);
        AtomicFile.WriteAllBytes(Path.Combine(runDir, "result.json"), JsonSerializer.SerializeToUtf8Bytes(run, new JsonSerializerOptions { WriteIndented = true }));
        EditorFile.Save(Path.Combine(runDir, EditorFile.FileName), model, architecture ?? $"{network.InputWidth}-input {network.Activation} network", new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["train.count"] = train.Count.ToString(CultureInfo.InvariantCulture),
            ["train.epochs"] = settings.Epochs.ToString(CultureInfo.InvariantCulture),
            ["best_epoch"] = run.BestEpoch.ToString(CultureInfo.InvariantCulture),
            ["test_mse"] = run.TestMse.ToString("R", CultureInfo.InvariantCulture),
        });
        return run;
    }

    /// <summary>
    /// Every editor kind × seed (one resumable sub-directory each under <paramref name="outDir"/>), then <c>results.md</c>,
    /// <c>results.json</c> and <c>report.html</c> with a PNG grid: per test INR, its rendering, the dilated image, and the
    /// rendering of each model's edit (first seed).
    /// </summary>
    public static IReadOnlyList<EditingRun> Study(string zoo, FashionMnist data, IReadOnlyList<string> kinds, IReadOnlyList<ulong> seeds, Func<string, ulong, WeightEditor> createEditor,
        IInputNetwork network, Settings settings, string outDir, int? trainLimit = null, int? evalLimit = null, Action<string>? log = null,
        Func<string, IProgress<TrainingProgress>?>? progressFor = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(createEditor); ArgumentNullException.ThrowIfNull(network);
        if (kinds.Count == 0 || seeds.Count == 0) throw new ArgumentException("Give at least one model and one seed.");
        var reader = OpenForNetwork(zoo, data, network);
        var train = Load(reader, data, "train", trainLimit);
        var validation = Load(reader, data, "validation", evalLimit);
        var test = Load(reader, data, "test", evalLimit);
        OutputPaths.CreateDirectory(outDir, "--out");
        double unedited = RenderMse(network, Baselines.WeightFeatures.Flattened(test.Zoo.Weights), test);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  {train.Count} train / {validation.Count} validation / {test.Count} test INRs; unedited INRs against the dilated images: test MSE {unedited:F4}"));
        var runs = new List<EditingRun>();
        var edited = new Dictionary<string, Tensor>();
        foreach (string kind in kinds)
            foreach (ulong seed in seeds)
            {
                log?.Invoke($"Run {runs.Count + 1}/{kinds.Count * seeds.Count}: {EditKinds.Describe(kind)}, seed {seed}");
                var model = createEditor(kind, seed);
                var run = Train(model, network, train, validation, test, settings, seed, Path.Combine(outDir, string.Create(CultureInfo.InvariantCulture, $"{kind}-seed{seed}")),
                    progressFor?.Invoke(kind), cancellation, reader.Architecture.Describe());
                log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  test MSE {run.TestMse:F4} (validation {run.ValidationMse:F4}; γ = {run.Gamma:G4}; epoch {run.BestEpoch} of {run.Epochs})"));
                runs.Add(run);
                if (!edited.ContainsKey(kind)) edited[kind] = model.Predict(Subset(test.Zoo.Weights, 8));
                WriteResults(outDir, zoo, reader.Manifest, settings, train.Count, unedited, runs, network, test, edited);
            }
        return runs;
    }

    /// <summary>Opens a Fashion-MNIST zoo (<see cref="OpenImageZoo(string, FashionMnist)"/>) whose INRs <paramref name="network"/> renders.</summary>
    public static ZooReader OpenForNetwork(string zoo, FashionMnist data, IInputNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var reader = OpenImageZoo(zoo, data);
        var arch = reader.Architecture;
        if (arch.Activation != network.Activation || arch.Omega0 != network.Omega0 || arch.OutputOffset != network.OutputOffset || network.InputWidth != arch.Widths[0])
            throw new ArgumentException($"The zoo in '{zoo}' holds {arch.Describe()} INRs; the editors render with a {network.InputWidth}-input {network.Activation} network (ω0 {network.Omega0}, offset {network.OutputOffset}).");
        if (network.Space.Dimension != arch.CreateSpace().Dimension)
            throw new ArgumentException($"The zoo in '{zoo}' holds {arch.Describe()} INRs; the editors are built for networks of {network.Space.Dimension} weights.");
        return reader;
    }

    /// <summary>One evaluated editor: its label (the run directory's name), kind, file, test MSE and γ.</summary>
    public sealed record EditorEvaluation(string Label, string Model, string Checkpoint, double TestMse, double Gamma);

    /// <summary>What <see cref="Evaluate"/> measured: the unedited INRs' test MSE and every editor's.</summary>
    public sealed record Evaluation(string Zoo, int TestCount, double UneditedTestMse, IReadOnlyList<EditorEvaluation> Editors);

    /// <summary>
    /// Evaluates trained editors (<see cref="EditorFile"/>; the first is the editor, any further ones are baselines) on the test
    /// split of <paramref name="zoo"/>: pixel MSE between the rendering of each edited INR and the dilated source image, and the
    /// unedited INRs' MSE. Writes <c>eval.md</c>, <c>eval.json</c>, <c>eval-edits.png</c> (rows: the INRs' renderings, the dilated
    /// images, each editor's edits; one column per test INR) and <c>eval-report.html</c> to <paramref name="outDir"/>.
    /// Every checkpoint is opened and checked before any work: a file that is not an editor, or an editor of other INRs than the
    /// zoo's, is refused with what it is.
    /// </summary>
    public static Evaluation Evaluate(string zoo, FashionMnist data, IReadOnlyList<string> checkpoints, Func<string, ulong, WeightEditor> createEditor, IInputNetwork network,
        string outDir, int? limit = null, int columns = 8, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoints); ArgumentNullException.ThrowIfNull(createEditor);
        if (checkpoints.Count == 0) throw new ArgumentException("Give at least one editor checkpoint.");
        if (limit is <= 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "--limit must be positive.");
        var reader = OpenForNetwork(zoo, data, network);
        string arch = reader.Architecture.Describe();
        var editors = new List<(string Label, string Path, WeightEditor Editor)>();
        foreach (string c in checkpoints)
        {
            string path = EditorFile.Resolve(c);
            var (editor, meta) = EditorFile.Load(path, createEditor, network.Space.Dimension);
            if (meta.GetValueOrDefault("inr.architecture") is string trainedOn && trainedOn != arch)
                throw new ArgumentException($"'{path}' is a {editor.Kind} editor trained on {trainedOn} INRs; the zoo in '{zoo}' holds {arch} INRs.");
            string label = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? editor.Kind;
            if (editors.Any(e => e.Label == label)) label = string.Create(CultureInfo.InvariantCulture, $"{label} ({editors.Count + 1})");
            editors.Add((label, path, editor));
        }
        var test = Load(reader, data, "test", limit);
        OutputPaths.CreateDirectory(outDir, "--out");
        double unedited = RenderMse(network, Baselines.WeightFeatures.Flattened(test.Zoo.Weights), test);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  {test.Count} test INRs; unedited INRs against the dilated images: test MSE {unedited:F4}"));
        var results = new List<EditorEvaluation>();
        var edited = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (label, path, editor) in editors)
        {
            double mse = RenderMse(network, editor.Predict(test.Zoo.Weights), test);
            results.Add(new EditorEvaluation(label, editor.Kind, path, mse, editor.Gamma));
            edited[label] = editor.Predict(Subset(test.Zoo.Weights, columns));
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"  {label}: {EditKinds.Describe(editor.Kind)}, γ = {editor.Gamma:G4}"));
        }
        var evaluation = new Evaluation(zoo, test.Count, unedited, results);
        WriteEvaluation(outDir, reader.Manifest, evaluation, network, test, edited, columns);
        return evaluation;
    }

    private static void WriteEvaluation(string outDir, ZooManifest manifest, Evaluation e, IInputNetwork network, EditingSplit test, IReadOnlyDictionary<string, Tensor> edited, int columns)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder("# INR editing (dilation): evaluation\n\n");
        md.AppendLine(string.Create(inv, $"Zoo: `{e.Zoo}` ({manifest}); {e.TestCount} test INRs. Test MSE: pixel MSE between the rendering of the edited INR (28×28 grid) and the 3×3 dilation of its source image.")).AppendLine();
        md.AppendLine("| editor | model | test MSE | γ | checkpoint |").AppendLine("|---|---|---|---|---|");
        md.AppendLine(string.Create(inv, $"| unedited INRs | — | {e.UneditedTestMse:F4} | — | — |"));
        foreach (var r in e.Editors) md.AppendLine(string.Create(inv, $"| {r.Label} | {EditKinds.Describe(r.Model)} | {r.TestMse:F4} | {r.Gamma:G4} | `{r.Checkpoint}` |"));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "eval.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "eval.json"), JsonSerializer.SerializeToUtf8Bytes(e, new JsonSerializerOptions { WriteIndented = true }));
        var png = Picture(network, test, edited, columns);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "eval-edits.png"), png);
        new HtmlReport("INR editing (dilation): evaluation")
            .AddParagraph(string.Create(inv, $"Trained editors on the test split of zoo '{e.Zoo}' ({e.TestCount} INRs). Unedited INRs: test MSE {e.UneditedTestMse:F4}."))
            .AddTable("Test MSE", new[] { "editor", "model", "test MSE", "γ" },
                e.Editors.Select(r => (IReadOnlyList<string>)new[] { r.Label, EditKinds.Describe(r.Model), r.TestMse.ToString("F4", inv), r.Gamma.ToString("G4", inv) }))
            .AddImage($"Rows: the test INRs' renderings (original); the dilated source images (target); the edits of {string.Join(", ", edited.Keys)}", png, Math.Min(columns, test.Count) * 30 * 3)
            .Write(Path.Combine(outDir, "eval-report.html"));
    }

    private static WeightSpaceBatch Subset(WeightSpaceBatch b, int count)
    {
        count = Math.Min(count, b.Batch);
        var s = new WeightSpaceBatch(b.Space, count, 1);
        for (int t = 0; t < b.Tensors.Length; t++) Array.Copy(b.Tensors[t].Data, s.Tensors[t].Data, s.Tensors[t].Length);
        return s;
    }

    public static IReadOnlyList<(string Model, double Mean, double Std, int Seeds)> Summarize(IReadOnlyList<EditingRun> runs) =>
        runs.GroupBy(r => r.Model).Select(g =>
        {
            double m = g.Average(r => r.TestMse);
            return (g.Key, m, Math.Sqrt(g.Average(r => (r.TestMse - m) * (r.TestMse - m))), g.Count());
        }).ToList();

    /// <summary>Rows of the picture: the INRs' renderings, the dilated source images, then each model's edit; one column per test INR.</summary>
    public static byte[] Picture(IInputNetwork network, EditingSplit test, IReadOnlyDictionary<string, Tensor> edited, int columns)
    {
        columns = Math.Min(columns, test.Count);
        var idx = Enumerable.Range(0, columns).ToArray();
        var images = new List<float[]>();
        images.AddRange(InrRenderer.Render(network, test.Zoo.Weights, idx));
        images.AddRange(idx.Select(i => test.Targets.AsSpan(i * test.Pixels, test.Pixels).ToArray()));
        foreach (var (_, rows) in edited)
            images.AddRange(InrRenderer.Render(network, RenderingObjective.Unflatten(rows, test.Zoo.Weights.Space), idx));
        var grid = Png.GrayGrid(images, 28, 28, columns, 2, padValue: 64);
        return Png.EncodeGray(grid.Pixels, grid.Width, grid.Height);
    }

    private static void WriteResults(string outDir, string zoo, ZooManifest manifest, Settings settings, int trainCount, double unedited, IReadOnlyList<EditingRun> runs,
        IInputNetwork network, EditingSplit test, IReadOnlyDictionary<string, Tensor> edited)
    {
        var inv = CultureInfo.InvariantCulture;
        var summary = Summarize(runs);
        var md = new StringBuilder("# INR editing: dilation (3×3, one iteration)\n\n");
        md.AppendLine(string.Create(inv, $"Zoo: `{zoo}` ({manifest}); {trainCount} training INRs. U' = U + γ·F(U), γ initialized to 0.01; loss: pixel MSE of the rendering (28×28 grid) against the dilated source image. AdamW lr {settings.LearningRate:R}, wd {settings.WeightDecay:R}, batch {settings.BatchSize}, {settings.Epochs} epochs (1 warmup, cosine), selection on validation MSE.")).AppendLine();
        md.AppendLine(string.Create(inv, $"Unedited INRs against the dilated images: test MSE {unedited:F4}.")).AppendLine();
        md.AppendLine("| model | test MSE (mean ± std) | seeds |").AppendLine("|---|---|---|");
        foreach (var s in summary) md.AppendLine(string.Create(inv, $"| {EditKinds.Describe(s.Model)} | {s.Mean:F4} ± {s.Std:F4} | {s.Seeds} |"));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.md"), Encoding.UTF8.GetBytes(md.ToString()));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "results.json"), JsonSerializer.SerializeToUtf8Bytes(new { unedited_test_mse = unedited, runs }, new JsonSerializerOptions { WriteIndented = true }));
        var png = Picture(network, test, edited, 8);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "test-edits.png"), png);
        new HtmlReport("INR editing: dilation")
            .AddParagraph(string.Create(inv, $"Edit the weights of Fashion-MNIST SIRENs (zoo '{zoo}') so that they render the 3×3 dilation of their image. Unedited INRs: test MSE {unedited:F4}."))
            .AddTable("Test MSE", new[] { "model", "mean", "std", "seeds" },
                summary.Select(s => (IReadOnlyList<string>)new[] { EditKinds.Describe(s.Model), s.Mean.ToString("F4", inv), s.Std.ToString("F4", inv), s.Seeds.ToString(inv) }))
            .AddTable("Runs", new[] { "model", "seed", "test MSE", "validation MSE", "γ", "best epoch" },
                runs.Select(r => (IReadOnlyList<string>)new[] { r.Model, r.Seed.ToString(inv), r.TestMse.ToString("F4", inv), r.ValidationMse.ToString("F4", inv), r.Gamma.ToString("G4", inv), $"{r.BestEpoch}/{r.Epochs}" }))
            .AddImage($"Rows: the test INRs' renderings; the dilated source images; the edits of {string.Join(", ", edited.Keys.Select(EditKinds.Describe))} (first seed)", png, 8 * 30 * 3)
            .Write(Path.Combine(outDir, "report.html"));
    }
}
