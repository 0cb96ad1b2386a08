using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.Tests.Training;

public class CheckpointTests
{
    private static Sequential Mlp(ulong seed, int hidden = 4, bool extraLayer = false)
    {
        var rng = new Rng(seed);
        return extraLayer
            ? new Sequential(new Linear(3, hidden, rng), new ReLU(), new Linear(hidden, 2, rng), new ReLU(), new Linear(2, 2, rng))
            : new Sequential(new Linear(3, hidden, rng), new ReLU(), new Linear(hidden, 2, rng));
    }

    private static (Tensor X, Tensor Y) Data()
    {
        var rng = new Rng(99);
        var x = new Tensor(16, 3);
        var y = new Tensor(16, 2);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (float)rng.Normal();
        for (int i = 0; i < y.Length; i++) y.Data[i] = (float)rng.Normal();
        return (x, y);
    }

    private static void Steps(Sequential net, Optimizer opt, int steps)
    {
        var (x, y) = Data();
        var mse = new MeanSquaredError();
        for (int s = 0; s < steps; s++)
        {
            opt.ZeroGrad();
            var (_, g) = mse.Compute(net.Forward(x), y);
            net.Backward(g);
            opt.Step();
        }
    }

    private static AdamW Opt(Module m) => new(m.Parameters(), 1e-2f, weightDecay: 1e-3, amsgrad: true);

    private static void AssertSameState(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys.OrderBy(k => k, StringComparer.Ordinal), b.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in a)
        {
            Assert.Equal(t.Shape, b[k].Shape);
            Assert.True(t.Data.AsSpan().SequenceEqual(b[k].Data), $"'{k}' differs");
        }
    }

    [Fact]
    public void RoundTripRestoresModelOptimizerMetadataAndExtras()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        var opt = Opt(net);
        Steps(net, opt, 3);
        var extra = new Dictionary<string, Tensor> { ["best.0.weight"] = new Tensor(new[] { 1f, 2f, 3f }, 3) };
        var info = new CheckpointInfo
        {
            Epoch = 7, Step = 3, BestMetric = 0.123456789012345, BestEpoch = 5, Config = "lr=0.01 batch=16", Seed = ulong.MaxValue,
            Custom = new Dictionary<string, string> { ["note"] = "héllo", ["history"] = "{\"a\":1}" },
        };
        Checkpoint.Save(path, net, opt, info, extra);
        Assert.Equal(new[] { "ckpt.safetensors" }, dir.Listing());

        var net2 = Mlp(2);
        var opt2 = Opt(net2);
        var c = Checkpoint.Load(path, net2, opt2);
        AssertSameState(net.StateDict(), net2.StateDict());
        AssertSameState(opt.StateDict(), opt2.StateDict());
        Assert.Equal(3, opt2.StepCount);
        Assert.Equal(info.Epoch, c.Info.Epoch);
        Assert.Equal(info.Step, c.Info.Step);
        Assert.Equal(info.BestMetric, c.Info.BestMetric);
        Assert.Equal(info.BestEpoch, c.Info.BestEpoch);
        Assert.Equal(info.Config, c.Info.Config);
        Assert.Equal(info.Seed, c.Info.Seed);
        Assert.Equal("héllo", c.Info.Custom["note"]);
        Assert.Equal("{\"a\":1}", c.Info.Custom["history"]);
        Assert.Equal(Checkpoint.CurrentFormatVersion, c.FormatVersion);
        Assert.Equal(new[] { 1f, 2f, 3f }, c.Extra["best.0.weight"].Data);
        Assert.Equal(new[] { 1f, 2f, 3f }, c.ExtraWithPrefix("best.")["0.weight"].Data);
        Assert.Equal("AdamW", c.Metadata["optimizer_type"]);
    }

    [Fact]
    public void ResumingFromACheckpointContinuesBitwiseLikeAnUninterruptedRun()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        var straight = Mlp(1);
        var straightOpt = Opt(straight);
        Steps(straight, straightOpt, 8);

        var first = Mlp(1);
        var firstOpt = Opt(first);
        Steps(first, firstOpt, 4);
        Checkpoint.Save(path, first, firstOpt, new CheckpointInfo { Step = 4 });

        var resumed = Mlp(777); // different initialization: everything must come from the file
        var resumedOpt = Opt(resumed);
        Checkpoint.Load(path, resumed, resumedOpt);
        Steps(resumed, resumedOpt, 4);

        AssertSameState(straight.StateDict(), resumed.StateDict());
        AssertSameState(straightOpt.StateDict(), resumedOpt.StateDict());
    }

    [Fact]
    public void SaveThatThrowsMidwayLeavesThePreviousCheckpointIntact()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        var opt = Opt(net);
        Checkpoint.Save(path, net, opt, new CheckpointInfo { Epoch = 1 });
        byte[] before = File.ReadAllBytes(path);

        Steps(net, opt, 2);
        var ex = Assert.Throws<IOException>(() =>
            Checkpoint.Save(path, net, opt, new CheckpointInfo { Epoch = 2 }, null, s => new FailingStream(s, failAfter: 200)));
        Assert.Contains("simulated", ex.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { "ckpt.safetensors" }, dir.Listing());
        var fresh = Mlp(5);
        Assert.Equal(1, Checkpoint.Load(path, fresh, Opt(fresh)).Info.Epoch);
    }

    [Fact]
    public void MismatchedModelIsRejectedWithEveryMismatchListedAndNothingChanged()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        var opt = Opt(net);
        Steps(net, opt, 1);
        Checkpoint.Save(path, net, opt, new CheckpointInfo());

        var other = Mlp(2, hidden: 5, extraLayer: true);
        var otherOpt = Opt(other);
        var before = other.StateDict();
        var optBefore = otherOpt.StateDict();
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, other, otherOpt));
        string m = ex.Message;
        // Model: the three mis-shaped tensors and the two missing ones.
        Assert.Contains("shape mismatch for '0.weight': file has [4, 3], model expects [5, 3]", m);
        Assert.Contains("shape mismatch for '0.bias'", m);
        Assert.Contains("shape mismatch for '2.weight': file has [2, 4], model expects [2, 5]", m);
        Assert.Contains("missing '4.weight'", m);
        Assert.Contains("missing '4.bias'", m);
        // Optimizer: its buffers for the missing parameters are reported too.
        Assert.Contains("missing 'state.4.exp_avg'", m);
        Assert.Contains("shape mismatch for 'state.0.exp_avg'", m);
        AssertSameState(before, other.StateDict());
        AssertSameState(optBefore, otherOpt.StateDict());
    }

    [Fact]
    public void MatchingModelWithMismatchedOptimizerChangesNeither()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        var opt = Opt(net);
        Steps(net, opt, 1);
        Checkpoint.Save(path, net, opt, new CheckpointInfo());

        var other = Mlp(2);
        var sgd = new Sgd(other.Parameters(), 0.1f, momentum: 0.9);
        var before = other.StateDict();
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, other, sgd));
        Assert.Contains("optimizer type differs: checkpoint has AdamW, the optimizer is Sgd", ex.Message);
        Assert.Contains("missing 'state.0.momentum_buffer'", ex.Message);
        AssertSameState(before, other.StateDict()); // the model part matched, but was rolled back
        Assert.Equal(0, sgd.StepCount);
    }

    [Fact]
    public void EquivariantNetworkOverADifferentArchitectureIsRejectedEvenWithEqualShapes()
    {
        // Basis counts do not depend on hidden widths >= 2: 2-3-3-1 and 2-4-4-1 give identical parameter shapes.
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        var config = new ModelConfig(Symmetry.HiddenNeuron, new[] { 2 }, Activation.ReLU, HeadKind.Invariant, 3);
        var a = EquivariantNetwork.CreateInterpreted(config, ReferenceMlp.Space(2, 3, 3, 1), 1);
        var b = EquivariantNetwork.CreateInterpreted(config, ReferenceMlp.Space(2, 4, 4, 1), 2);
        Assert.Equal(a.NamedParameters().Select(p => p.Parameter.Shape), b.NamedParameters().Select(p => p.Parameter.Shape));
        Checkpoint.SaveModel(path, a);

        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path, b));
        Assert.Contains("weight space differs: checkpoint has 'HiddenNeuron: W1[3,2] b1[3] W2[3,3] b2[3] W3[1,3] b3[1]'", ex.Message);

        var c = EquivariantNetwork.CreateInterpreted(config with { Outputs = 2 }, ReferenceMlp.Space(2, 3, 3, 1), 3);
        ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(path, c));
        Assert.Contains("model configuration differs", ex.Message);
        Assert.Contains("shape mismatch for 'head.0.weight'", ex.Message);

        var same = EquivariantNetwork.CreateInterpreted(config, ReferenceMlp.Space(2, 3, 3, 1), 4);
        Checkpoint.LoadModel(path, same);
        AssertSameState(a.StateDict(), same.StateDict());
    }

    [Fact]
    public void SaveModelAndLoadModelRoundTripAndAcceptBareStateDictsAndTrainingCheckpoints()
    {
        using var dir = new TempDirectory();
        var net = Mlp(1);
        Checkpoint.SaveModel(dir.File("m.safetensors"), net, new CheckpointInfo { Epoch = 3, BestMetric = 0.5 });
        var copy = Mlp(2);
        var c = Checkpoint.LoadModel(dir.File("m.safetensors"), copy);
        AssertSameState(net.StateDict(), copy.StateDict());
        Assert.Equal("model", c.Metadata["kind"]);
        Assert.Equal(0.5, c.Info.BestMetric);
        Assert.Empty(c.Optimizer);

        SafetensorsWriter.Write(dir.File("bare.safetensors"), net.StateDict());
        var fromBare = Mlp(3);
        Checkpoint.LoadModel(dir.File("bare.safetensors"), fromBare);
        AssertSameState(net.StateDict(), fromBare.StateDict());

        var opt = Opt(net);
        Checkpoint.Save(dir.File("t.safetensors"), net, opt, new CheckpointInfo());
        var fromTraining = Mlp(4);
        Checkpoint.LoadModel(dir.File("t.safetensors"), fromTraining);
        AssertSameState(net.StateDict(), fromTraining.StateDict());

        // A model-only file cannot restore an optimizer.
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir.File("m.safetensors"), Mlp(5), Opt(Mlp(6))));
        Assert.Contains("no optimizer state", ex.Message);
        // A bare state dict is not a training checkpoint.
        ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir.File("bare.safetensors"), Mlp(5), null));
        Assert.Contains("not a LayerCompiler checkpoint", ex.Message);
    }

    /// <summary>Passes writes through until <c>failAfter</c> bytes, then throws (a disk filling up mid-save).</summary>
    private sealed class FailingStream : Stream
    {
        private readonly Stream _inner;
        private long _left;
        public FailingStream(Stream inner, long failAfter) { _inner = inner; _left = failAfter; }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length > _left)
            {
                _inner.Write(buffer[..(int)_left]);
                _inner.Flush();
                throw new IOException("disk full (simulated)");
            }
            _inner.Write(buffer);
            _left -= buffer.Length;
        }
        public override void Flush() => _inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
    /// <summary>Counters out of range (a hand-edited or damaged file) are rejected by name, not resumed from.</summary>
    [Theory]
    [InlineData(-5, 0L, null, "'epoch' is -5")]
    [InlineData(3, -1L, null, "'step' is -1")]
    [InlineData(3, 0L, 4, "'best_epoch' is 4")]
    public void OutOfRangeCountersAreRejected(int epoch, long step, int? bestEpoch, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        Checkpoint.Save(path, net, new AdamW(net.Parameters(), 1e-3f), new CheckpointInfo { Epoch = epoch, Step = step, BestEpoch = bestEpoch, BestMetric = 0.5 });
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ANaNBestMetricIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("ckpt.safetensors");
        var net = Mlp(1);
        Checkpoint.Save(path, net, null, new CheckpointInfo { Epoch = 2, BestEpoch = 1, BestMetric = double.NaN });
        Assert.Contains("'best_metric' is NaN", Assert.Throws<InvalidDataException>(() => Checkpoint.Read(path)).Message);
    }
}

