using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler;
using LayerCompiler.Tasks.Editing;
using WeightTasks.InrClassification;

namespace WeightTasks.Verbs;

/// <summary><c>inr-edit train | eval</c>: edit Fashion-MNIST INRs' weights so that they render the dilated image (NFN §5.4).</summary>
internal static class InrEditVerbs
{
    public static Command Create()
    {
        var modelsOption = new Option<string>("--models") { Description = "Comma-separated: hidden (hidden-neuron equivariant), all (all-neuron equivariant), pointwise (one MLP per weight entry), mlp (MLP on flattened weights).", DefaultValueFactory = _ => string.Join(",", EditKinds.Names) };
        var seedsOption = new Option<string?>("--seeds") { Description = "Comma-separated seeds (quick default 0; --full 0,1,2)." };
        var epochsOption = new Option<int?>("--epochs") { Description = "Epochs (quick default 10, --full 50)." };
        var batchOption = new Option<int>("--batch") { Description = "Batch size (NFN: 32).", DefaultValueFactory = _ => 32 };
        var lrOption = new Option<float>("--lr") { Description = "Learning rate (NFN: Adam 1e-3; here AdamW without decay, one warmup epoch, then cosine).", DefaultValueFactory = _ => 1e-3f };
        var limitOption = new Option<int?>("--limit") { Description = "Use only the first N training INRs (quick default 1000)." };
        var evalLimitOption = new Option<int?>("--eval-limit") { Description = "Use only the first N validation and test INRs (quick default 500)." };
        var outOption = new Option<string>("--out") { Description = "Directory for one sub-directory per run, results.md/json, test-edits.png and report.html.", DefaultValueFactory = _ => "runs/inr-edit" };
        var train = new Command("train", "Train editors that dilate the image an INR renders (U' = U + γ·F(U), pixel MSE through the SIREN), every model × seed (runs resume); test MSE and a picture of the edits.")
        {
            Cli.Zoo, modelsOption, seedsOption, epochsOption, batchOption, lrOption, limitOption, evalLimitOption, outOption, Cli.Full, Cli.Data, Cli.Device,
        };
        train.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            Cli.CpuOnlyDevice(r, "inr-edit train");
            bool full = r.GetValue(Cli.Full);
            var kinds = ResultsTable.ParseList(r.GetValue(modelsOption)!, "--models", s => EditKinds.Names.Contains(s) ? s : throw new ArgumentException($"--models: unknown model '{s}'; choose from {string.Join(", ", EditKinds.Names)}."));
            var seeds = SineVerbs.ParseSeeds(r.GetValue(seedsOption) ?? (full ? "0,1,2" : "0"));
            int? limit = r.GetValue(limitOption) ?? (full ? null : 1000), evalLimit = r.GetValue(evalLimitOption) ?? (full ? null : 500);
            if (limit is <= 0 || evalLimit is <= 0) throw new ArgumentException("--limit and --eval-limit must be positive.");
            var settings = new InrEditing.Settings(r.GetValue(epochsOption) ?? (full ? 50 : 10), r.GetValue(batchOption), r.GetValue(lrOption));
            string zoo = r.GetValue(Cli.Zoo)!, outDir = r.GetValue(outOption)!;
            // The zoo first: a zoo without source images is refused before the data set is looked for.
            InrEditing.OpenImageZoo(zoo);
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            Ui.Step(string.Create(CultureInfo.InvariantCulture, $"INR editing (dilation) on '{zoo}': models {string.Join(", ", kinds)}; seeds {string.Join(", ", seeds)}; {settings.Epochs} epochs, batch {settings.BatchSize}, lr {settings.LearningRate:G3}"));
            var runs = InrEditing.Study(zoo, data, kinds, seeds, CreateEditor, new Siren2x32x32x1.Network(), settings, outDir, limit, evalLimit, Ui.Info, _ => SineVerbs.EpochLines(settings.Epochs), ct);
            foreach (var s in InrEditing.Summarize(runs))
                Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{EditKinds.Describe(s.Model),-44} TEST MSE {s.Mean:F4} ± {s.Std:F4} ({s.Seeds} seed(s))"));
            Ui.Info($"  results: {Path.Combine(outDir, "results.md")}, picture: {Path.Combine(outDir, "test-edits.png")}, report: {Path.Combine(outDir, "report.html")}");
            return 0;
        })));
        // ---------------------------------------------------------------- eval
        var checkpointOption = new Option<string>("--checkpoint") { Description = "Comma-separated editors: RUN/model.safetensors files written by train, or their run directories (RUN). The first is the editor, any further ones are baselines.", Required = true };
        var evalLimit = new Option<int?>("--limit") { Description = "Use only the first N test INRs (default: the whole test split)." };
        var columnsOption = new Option<int>("--columns") { Description = "Test INRs in the picture (columns of the PNG grid).", DefaultValueFactory = _ => 8 };
        var evalOut = new Option<string>("--out") { Description = "Directory for eval.md/json, eval-edits.png and eval-report.html.", DefaultValueFactory = _ => "runs/inr-edit-eval" };
        var eval = new Command("eval", "Evaluate trained editors on a zoo's test split: pixel MSE of each edited INR's rendering against the dilated image (and the unedited INRs'), a PNG grid original / target / edited, and a report.")
        {
            Cli.Zoo, checkpointOption, evalLimit, columnsOption, evalOut, Cli.Data,
        };
        eval.SetAction((ParseResult r, CancellationToken ct) => System.Threading.Tasks.Task.FromResult(Cli.Run(() =>
        {
            var checkpoints = ResultsTable.ParseList(r.GetValue(checkpointOption)!, "--checkpoint", s => s);
            int? limit = r.GetValue(evalLimit);
            int columns = r.GetValue(columnsOption);
            if (limit is <= 0) throw new ArgumentException($"--limit must be positive, got {limit}.");
            if (columns <= 0) throw new ArgumentException($"--columns must be positive, got {columns}.");
            string zoo = r.GetValue(Cli.Zoo)!, outDir = r.GetValue(evalOut)!;
            // The zoo and the checkpoints first: a zoo without source images or a file that is no editor is refused before the data set is looked for.
            InrEditing.OpenImageZoo(zoo);
            foreach (string c in checkpoints) EditorFile.Load(c, CreateEditor, HiddenNeuronEditor.CreateWeightSpace().Dimension);
            var data = Jobs.LoadData(r.GetValue(Cli.Data), tryInstall: false);
            if (data is null) return Jobs.MissingData;
            Ui.Step($"INR editing (dilation): evaluating {string.Join(", ", checkpoints)} on the test split of '{zoo}'");
            var e = InrEditing.Evaluate(zoo, data, checkpoints, CreateEditor, new Siren2x32x32x1.Network(), outDir, limit, columns, Ui.Info);
            Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{"unedited INRs",-44} TEST MSE {e.UneditedTestMse:F4}"));
            foreach (var x in e.Editors)
                Ui.Good(string.Create(CultureInfo.InvariantCulture, $"{x.Label + ": " + x.Model,-44} TEST MSE {x.TestMse:F4}"));
            Ui.Info($"  results: {Path.Combine(outDir, "eval.md")}, picture: {Path.Combine(outDir, "eval-edits.png")}, report: {Path.Combine(outDir, "eval-report.html")}");
            return 0;
        })));

        return new Command("inr-edit", "Edit INRs through their weights: learn a weight → weight map so that an INR renders its dilated image.") { train, eval };
    }

    private static WeightEditor CreateEditor(string kind, ulong seed) => kind switch
    {
        EditKinds.Hidden => WeightEditor.Equivariant(kind, new HiddenNeuronEditor(seed)),
        EditKinds.All => WeightEditor.Equivariant(kind, new AllNeuronEditor(seed)),
        EditKinds.Pointwise => WeightEditor.Pointwise(HiddenNeuronEditor.CreateWeightSpace(), new[] { 32, 32 }, seed),
        EditKinds.Mlp => WeightEditor.FlattenedMlp(HiddenNeuronEditor.CreateWeightSpace(), new[] { 256 }, seed),
        _ => throw new ArgumentException($"Unknown model '{kind}'; choose from {string.Join(", ", EditKinds.Names)}."),
    };
}
