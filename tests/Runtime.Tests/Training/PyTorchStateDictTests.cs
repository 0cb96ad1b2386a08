using System.Runtime.CompilerServices;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Runtime.Tests.Training;

public class PyTorchStateDictTests
{
    private static string Fixture(string name, [CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "Fixtures", name);

    [Fact]
    public void KeysOfTheBuiltInPatterns()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        Assert.Equal(new[] { "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias" }, PyTorchKeyPattern.Sequential().KeysOf(space));
        Assert.Equal(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }, PyTorchKeyPattern.Sequential("").KeysOf(space));
        Assert.Equal(new[] { "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias" }, PyTorchKeyPattern.Layers().KeysOf(space));
        Assert.Equal(new[] { "net.fc1.w", "net.fc1.b", "net.fc2.w", "net.fc2.b" },
            PyTorchKeyPattern.Template("net.fc{i}.w", "net.fc{i}.b", 1, 1).KeysOf(space));
        Assert.Equal(new[] { "a", "b", "c", "d" }, PyTorchKeyPattern.Explicit(new[] { "a", "b", "c", "d" }).KeysOf(space));
        Assert.Throws<ArgumentException>(() => PyTorchKeyPattern.Explicit(new[] { "a", "a", "c", "d" }).KeysOf(space));
        Assert.Contains("2 keys for 4 tensors", Assert.Throws<ArgumentException>(() => PyTorchKeyPattern.Explicit(new[] { "a", "b" }).KeysOf(space)).Message);
        Assert.Throws<ArgumentException>(() => PyTorchKeyPattern.Explicit(new[] { "a", "b", "c", "d", "e" }).KeysOf(space));
    }

    [Theory]
    [InlineData(1, null)]
    [InlineData(5, null)]
    [InlineData(1, true)]
    public void WriteThenReadRoundTrips(int networks, bool? batched)
    {
        using var dir = new TempDirectory();
        var space = WS.FromLayers(new[] { LayerDeclaration.Dense(2, 4), LayerDeclaration.Dense(4, 3, bias: false), LayerDeclaration.Dense(3, 1) }, Symmetry.HiddenNeuron);
        var w = ReferenceMlp.Random(space, networks, 3);
        foreach (var pattern in new[] { PyTorchKeyPattern.Sequential(), PyTorchKeyPattern.Layers(), PyTorchKeyPattern.Explicit(new[] { "w1", "b1", "w2", "w3", "b3" }) })
        {
            string path = dir.File("nets.safetensors");
            PyTorchStateDict.Write(path, w, pattern, batched);
            var file = SafetensorsFile.Read(path);
            var firstKey = pattern.KeyOf(space.Tensors[0]);
            Assert.Equal(networks > 1 || batched == true ? new[] { networks, 4, 2 } : new[] { 4, 2 }, file.GetEntry(firstKey).ShapeArray());
            var back = PyTorchStateDict.Read(path, space, pattern, strict: true);
            ReferenceMlp.AssertBitwiseEqual(w, back);
        }
    }

    [Fact]
    public void OneNetworkOfABatchAsAPlainStateDict()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        var w = ReferenceMlp.Random(space, 4, 8);
        var one = PyTorchStateDict.ToTensors(w, 2);
        Assert.Equal(new[] { 3, 2 }, one["seq.0.weight"].Shape);
        var back = PyTorchStateDict.FromTensors(one, space);
        Assert.Equal(1, back.Batch);
        for (int t = 0; t < space.Tensors.Count; t++)
            Assert.Equal(w.Tensors[t].Data.AsSpan(2 * space.Tensors[t].Size, space.Tensors[t].Size).ToArray(), back.Tensors[t].Data);
        Assert.Throws<ArgumentException>(() => PyTorchStateDict.ToTensors(w, batched: false));
    }

    [Fact]
    public void ProblemsAreAllListedWithKeyExpectedAndActualShapes()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        var state = new Dictionary<string, Tensor>
        {
            ["seq.0.weight"] = new Tensor(2, 3),           // transposed
            ["seq.0.bias"] = new Tensor(3),
            ["seq.2.weight"] = new Tensor(1, 4),           // wrong width
            ["other.thing"] = new Tensor(1),
        };
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchStateDict.FromTensors(state, space, strict: true));
        string m = ex.Message;
        Assert.Contains("shape mismatch for 'seq.0.weight' (W1): expected [3, 2] for one network or [N, 3, 2] for N networks, got [2, 3] (transposed?", m);
        Assert.Contains("shape mismatch for 'seq.2.weight' (W2): expected [1, 3] for one network or [N, 1, 3] for N networks, got [1, 4]", m);
        Assert.Contains("missing 'seq.2.bias' (b2, expected [1] for one network or [N, 1] for N networks)", m);
        Assert.Contains("unexpected 'other.thing'", m);
        Assert.Contains("keys present: other.thing, seq.0.bias, seq.0.weight, seq.2.weight", m);
        Assert.Contains("(4 problem(s))", m);
        // Without strict, unknown keys are ignored.
        state["seq.0.weight"] = new Tensor(3, 2); state["seq.2.weight"] = new Tensor(1, 3); state["seq.2.bias"] = new Tensor(1);
        Assert.Equal(1, PyTorchStateDict.FromTensors(state, space).Batch);
    }

    [Fact]
    public void InconsistentBatchSizesAreRejected()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        var state = new Dictionary<string, Tensor>
        {
            ["seq.0.weight"] = new Tensor(4, 3, 2),
            ["seq.0.bias"] = new Tensor(5, 3),
            ["seq.2.weight"] = new Tensor(1, 3),
            ["seq.2.bias"] = new Tensor(4, 1),
        };
        var ex = Assert.Throws<InvalidDataException>(() => PyTorchStateDict.FromTensors(state, space));
        Assert.Contains("'seq.0.bias' (b1) holds 5 networks, but 'seq.0.weight' holds 4", ex.Message);
        Assert.Contains("'seq.2.weight' (W2) has shape [1, 3]: one network, but 'seq.0.weight' holds a batch", ex.Message);
    }

    [Fact]
    public void TorchSequentialEvaluatedInTorchEqualsOurReadingOfItsWeights()
    {
        // Fixture written by Fixtures/make_fixture.py: nn.Sequential(Linear(2,3), ReLU, Linear(3,1)) as `self.seq`.
        var space = ReferenceMlp.Space(2, 3, 1);
        var file = SafetensorsFile.Read(Fixture("torch_mlp.safetensors"));
        var w = PyTorchStateDict.Read(file, space);
        Assert.Equal(1, w.Batch);
        var points = file.GetFloat32("points");
        var outputs = file.GetFloat32("outputs");
        int p = points.Shape[0];
        Assert.Equal(25, p);
        for (int i = 0; i < p; i++)
        {
            var y = ReferenceMlp.Run(w, 0, new double[] { points.Data[2 * i], points.Data[2 * i + 1] });
            Assert.Equal(outputs.Data[i], y[0], 1e-5);
        }
        Assert.True(outputs.Data.Distinct().Count() > 10, "the outputs should vary over the points");
    }

    [Fact]
    public void TorchZooWithALeadingBatchDimensionReadsAsManyNetworks()
    {
        var space = ReferenceMlp.Space(2, 3, 1);
        var file = SafetensorsFile.Read(Fixture("torch_mlp_zoo.safetensors"));
        var w = PyTorchStateDict.Read(file, space);
        Assert.Equal(3, w.Batch);
        var points = file.GetFloat32("points");
        var outputs = file.GetFloat32("outputs"); // [3, P, 1]
        int p = points.Shape[0];
        for (int n = 0; n < 3; n++)
            for (int i = 0; i < p; i++)
            {
                var y = ReferenceMlp.Run(w, n, new double[] { points.Data[2 * i], points.Data[2 * i + 1] });
                Assert.Equal(outputs.Data[n * p + i], y[0], 1e-5);
            }
        // Networks written back the same way give the same tensors as torch wrote.
        var again = PyTorchStateDict.ToTensors(w);
        foreach (var (k, t) in again)
        {
            var original = file.GetFloat32(k);
            Assert.Equal(original.Shape, t.Shape);
            Assert.Equal(original.Data, t.Data);
        }
    }
}
