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

/// <summary><c>inr-edit train</c>: edit Fashion-MNIST INRs' weights so that they render the dilated image (NFN §5.4).</summary>
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
        return new Command("inr-edit", "Edit INRs through their weights: learn a weight → weight map so that an INR renders its dilated image.") { train };
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
