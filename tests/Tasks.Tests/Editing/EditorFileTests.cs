using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Models;
using Space = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Tasks.Tests.Editing;

/// <summary>Editor model files (what `inr-edit eval` reads) and the weight models' saved input views.</summary>
public class EditorFileTests
{
    private static Space ImageSpace(int hidden = 5) =>
        Space.FromLayers(new[] { LayerDeclaration.Dense(2, hidden), LayerDeclaration.Dense(hidden, hidden), LayerDeclaration.Dense(hidden, 1) }, Symmetry.HiddenNeuron);

    private static Func<string, ulong, WeightEditor> Factory(Space space) => (kind, seed) => kind switch
    {
        EditKinds.Hidden => WeightEditor.Equivariant(kind, EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 3 }, Activation.GELU, HeadKind.Equivariant, 1), space, seed)),
        EditKinds.Pointwise => WeightEditor.Pointwise(space, new[] { 4 }, seed),
        EditKinds.Mlp => WeightEditor.FlattenedMlp(space, new[] { 6 }, seed),
        _ => throw new ArgumentException(kind),
    };

    /// <summary>A fitted editor whose γ and parameters differ from a fresh one's (so a load that kept the fresh ones fails).</summary>
    private static WeightEditor Trained(Space space, string kind)
    {
        var editor = Factory(space)(kind, 7);
        editor.FitInputs(TestUtil.Random(space, 6, 1, 11));
        foreach (var (_, p) in editor.Module.NamedParameters()) for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] += 0.05f * (i % 3 + 1);
        return editor;
    }

    [Theory]
    [InlineData(EditKinds.Hidden)]
    [InlineData(EditKinds.Pointwise)]
    [InlineData(EditKinds.Mlp)]
    public void AnEditorSavedAndLoadedEditsBitwiseLikeTheOriginal(string kind)
    {
        using var dir = new TempDirectory();
        var space = ImageSpace();
        var editor = Trained(space, kind);
        string run = Path.Combine(dir.Path, $"{kind}-seed7");
        Directory.CreateDirectory(run);
        EditorFile.Save(Path.Combine(run, EditorFile.FileName), editor, "2-5-5-1 test INRs");
        // The run directory names its model file.
        var (loaded, meta) = EditorFile.Load(run, Factory(space), space.Dimension);
        Assert.Equal(kind, loaded.Kind);
        Assert.Equal("2-5-5-1 test INRs", meta["inr.architecture"]);
        Assert.Equal(editor.Gamma, loaded.Gamma);
        var x = TestUtil.Random(space, 3, 1, 12);
        Assert.Equal(editor.Predict(x).Data, loaded.Predict(x).Data);
        // A fresh editor of the same kind edits differently: the load restored something.
        var fresh = Factory(space)(kind, 0);
        fresh.FitInputs(TestUtil.Random(space, 6, 1, 11));
        Assert.NotEqual(editor.Predict(x).Data, fresh.Predict(x).Data);
    }

    [Fact]
    public void FilesThatAreNoEditorOfTheseInrsAreRefusedSayingWhatTheyAre()
    {
        using var dir = new TempDirectory();
        var space = ImageSpace();
        // An editor of INRs with another hidden width: another architecture.
        string other = dir.File("other.safetensors");
        EditorFile.Save(other, Trained(ImageSpace(hidden: 4), EditKinds.Mlp), "2-4-4-1 test INRs");
        var e = Assert.Throws<InvalidDataException>(() => EditorFile.Load(other, Factory(space), space.Dimension));
        Assert.Contains("mlp editor of 2-4-4-1 test INRs", e.Message);
        Assert.Contains($"{space.Dimension} weights", e.Message);
        // A classifier's model file (what inr-classify writes).
        string classifier = dir.File("classifier.safetensors");
        var model = new FeatureWeightModel(FeatureWeightModel.Statistics, space, new[] { 4 }, 10, 1);
        Checkpoint.SaveModel(classifier, model.Module.StateDict(), "Sequential", new CheckpointInfo { Custom = new Dictionary<string, string> { ["model.kind"] = "stats" } });
        e = Assert.Throws<InvalidDataException>(() => EditorFile.Load(classifier, Factory(space), space.Dimension));
        Assert.Contains("INR classifier ('stats'", e.Message);
        Assert.Contains("not an INR editor", e.Message);
        // A training checkpoint, a file that is no checkpoint, a missing file, a directory without a model.
        string training = dir.File("training.safetensors");
        Checkpoint.Save(training, model.Module, null, new CheckpointInfo());
        Assert.Contains("training checkpoint", Assert.Throws<InvalidDataException>(() => EditorFile.Load(training, Factory(space), space.Dimension)).Message);
        File.WriteAllText(dir.File("junk.safetensors"), "not a safetensors file");
        Assert.Contains("not a valid checkpoint", Assert.Throws<InvalidDataException>(() => EditorFile.Load(dir.File("junk.safetensors"), Factory(space), space.Dimension)).Message);
        Assert.Contains("inr-edit train", Assert.Throws<FileNotFoundException>(() => EditorFile.Load(dir.File("missing.safetensors"), Factory(space), space.Dimension)).Message);
        Directory.CreateDirectory(Path.Combine(dir.Path, "empty"));
        Assert.Contains("holds no model.safetensors", Assert.Throws<FileNotFoundException>(() => EditorFile.Load(Path.Combine(dir.Path, "empty"), Factory(space), space.Dimension)).Message);
    }

    [Fact]
    public void WeightModelsRestoreTheirInputViewFromTheSavedTensors()
    {
        var space = ImageSpace();
        var train = TestUtil.Random(space, 8, 1, 21);
        var x = TestUtil.Random(space, 3, 1, 22);
        foreach (var (a, b) in new (WeightModel, WeightModel)[]
        {
            (new FeatureWeightModel(FeatureWeightModel.Statistics, space, new[] { 4 }, 2, 1), new FeatureWeightModel(FeatureWeightModel.Statistics, space, new[] { 4 }, 2, 1)),
            (new FeatureWeightModel(FeatureWeightModel.Flattened, space, new[] { 4 }, 2, 1), new FeatureWeightModel(FeatureWeightModel.Flattened, space, new[] { 4 }, 2, 1)),
            (Invariant(space), Invariant(space)),
        })
        {
            a.FitInputs(train);
            b.LoadNormalization(a.NormalizationState());
            Assert.Equal(a.Predict(x).Data, b.Predict(x).Data);
        }
        Assert.Throws<InvalidOperationException>(() => Invariant(space).Predict(x));
        var stats = new FeatureWeightModel(FeatureWeightModel.Statistics, space, new[] { 4 }, 2, 1);
        var flat = new FeatureWeightModel(FeatureWeightModel.Flattened, space, new[] { 4 }, 2, 1);
        flat.FitInputs(train);
        Assert.Contains("reads", Assert.Throws<InvalidDataException>(() => stats.LoadNormalization(flat.NormalizationState())).Message);
    }

    private static EquivariantWeightModel Invariant(Space space) =>
        new("hidden", EquivariantNetwork.CreateInterpreted(new ModelConfig(Symmetry.HiddenNeuron, new[] { 3 }, Activation.ReLU, HeadKind.Invariant, 2), space, 3));
}
