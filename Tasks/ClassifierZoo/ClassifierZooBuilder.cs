using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Zoo;
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace LayerCompiler.Tasks.ClassifierZoo;

/// <summary>Progress of a classifier-zoo build: runs done (kept shards included), network-epochs per second of this process, ETA.</summary>
public sealed record ClassifierZooProgress(int RunsDone, int Runs, double NetworkEpochsPerSecond, TimeSpan? Eta, string? Message);

/// <summary>What a build did.</summary>
public sealed record ClassifierZooBuildResult(ClassifierZooManifest Manifest, int TrainedShards, int KeptShards, int RebuiltShards, double Seconds);

/// <summary>Images as floats (pixels / 255) with their labels: what a zoo trains and tests on.</summary>
public sealed record ClassifierImages(float[] Pixels, int[] Labels, int Count, int InputLength)
{
    public static ClassifierImages From(FashionMnistSplit split, int count)
    {
        if (count > split.Count) throw new ArgumentOutOfRangeException(nameof(count), count, $"The split holds {split.Count} images.");
        var px = new float[count * FashionMnist.PixelsPerImage];
        for (int i = 0; i < count; i++) split.ImageAsFloats(i, px.AsSpan(i * FashionMnist.PixelsPerImage, FashionMnist.PixelsPerImage));
        return new ClassifierImages(px, split.Labels.Take(count).Select(b => (int)b).ToArray(), count, FashionMnist.PixelsPerImage);
    }
}

/// <summary>
/// Builds a classifier zoo shard by shard: the runs of a shard train at once (batched: each generated pass call runs every
/// network of an activation group on its own batch of images, networks in parallel), checkpoints are tested on the test
/// images, and each finished shard is written atomically (safetensors, with the zoo's identity in its metadata). Re-running
/// on the same directory resumes: valid shards are kept, missing or damaged ones are (re)built; a directory holding a zoo
/// built with other settings is refused. Runs whose weights become non-finite stop there: their later checkpoints are not
/// part of the zoo (counted in the manifest).
/// </summary>
public sealed class ClassifierZooBuilder
{
    private readonly ClassifierZooSettings _s;
    private readonly string _dir;
    private readonly ClassifierImages _train, _test;

    public ClassifierZooBuilder(ClassifierZooSettings settings, string directory, ClassifierImages train, ClassifierImages test)
    {
        ArgumentNullException.ThrowIfNull(settings); ArgumentException.ThrowIfNullOrEmpty(directory);
        settings.Validate();
        if (train.Count < settings.TrainPool) throw new ArgumentException($"The zoo trains on {settings.TrainPool} images, {train.Count} given.", nameof(train));
        if (test.Count < settings.TestCount) throw new ArgumentException($"The zoo tests on {settings.TestCount} images, {test.Count} given.", nameof(test));
        _s = settings; _dir = directory; _train = train; _test = test;
    }

    /// <summary>Loads Fashion-MNIST from <paramref name="dataDirectory"/> (null: the Debian package's directory) and builds.</summary>
    public static ClassifierZooBuilder ForFashionMnist(ClassifierZooSettings settings, string directory, string? dataDirectory = null)
    {
        var data = FashionMnist.Load(dataDirectory);
        return new ClassifierZooBuilder(settings, directory, ClassifierImages.From(data.Train, settings.TrainPool), ClassifierImages.From(data.Test, settings.TestCount));
    }

    private int ShardCount => (_s.Runs + _s.RunsPerShard - 1) / _s.RunsPerShard;

    public ClassifierZooBuildResult Build(IProgress<ClassifierZooProgress>? progress = null, CancellationToken cancellation = default)
    {
        OutputPaths.CreateDirectory(_dir, "The classifier zoo directory");
        var identity = _s.Identity();
        string manifestPath = Path.Combine(_dir, ClassifierZooFormat.ManifestFile);
        ClassifierZooManifest? existing = null;
        if (File.Exists(manifestPath))
        {
            existing = ClassifierZooManifest.Load(manifestPath);
            var diffs = ClassifierZooManifest.Differences(identity, existing.Identity);
            if (diffs.Count > 0)
                throw new InvalidOperationException($"'{_dir}' holds a classifier zoo built with other settings; refusing to mix them:\n  - {string.Join("\n  - ", diffs)}\nUse another directory, or delete this one to rebuild.");
        }
        var shards = new ClassifierZooShardInfo[ShardCount];
        for (int k = 0; k < shards.Length; k++)
            shards[k] = existing?.Shards.FirstOrDefault(x => x.Shard == k && x.Complete) ?? new ClassifierZooShardInfo(k, ClassifierZooFormat.ShardFileName(k), k * _s.RunsPerShard, Math.Min(_s.RunsPerShard, _s.Runs - k * _s.RunsPerShard), 0, 0, false);
        new ClassifierZooManifest(identity, shards, null).Save(manifestPath);

        var sw = Stopwatch.StartNew();
        int trained = 0, kept = 0, rebuilt = 0, runsDone = 0, runsTrainedHere = 0;
        for (int k = 0; k < shards.Length; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            var sh = shards[k];
            string path = Path.Combine(_dir, sh.File);
            if (File.Exists(path))
            {
                string? problem = ClassifierZooReader.ValidateShard(path, identity, k, sh.FirstRun, sh.RunCount, out int checkpoints);
                if (problem is null)
                {
                    kept++; runsDone += sh.RunCount;
                    shards[k] = sh with { Checkpoints = checkpoints, Complete = true };
                    Report($"kept {sh.File}");
                    continue;
                }
                rebuilt++;
                Report($"rebuilding {sh.File}: {problem}");
            }
            var (count, diverged) = TrainShard(sh, identity, path, cancellation, epochsDone => Report(null, epochsDone));
            trained++; runsDone += sh.RunCount; runsTrainedHere += sh.RunCount;
            shards[k] = sh with { Checkpoints = count, DivergedRuns = diverged, Complete = true };
            new ClassifierZooManifest(identity, shards, null).Save(manifestPath);
            Report($"wrote {sh.File} ({count} checkpoints, {diverged} runs diverged)");
        }
        // Complete: the accuracy histogram over every checkpoint.
        var data = ClassifierZooReader.Read(_dir, _s);
        var manifest = new ClassifierZooManifest(identity, shards, AccuracyHistogram.Of(data.TestAccuracy));
        manifest.Save(manifestPath);
        return new ClassifierZooBuildResult(manifest, trained, kept, rebuilt, sw.Elapsed.TotalSeconds);

        void Report(string? message, double partialRuns = 0)
        {
            if (progress is null) return;
            double seconds = sw.Elapsed.TotalSeconds;
            double epochs = (runsTrainedHere + partialRuns) * _s.CheckpointEpochs.Max();
            double rate = seconds > 0 ? epochs / seconds : 0;
            double remaining = (_s.Runs - runsDone - partialRuns) * _s.CheckpointEpochs.Max();
            progress.Report(new ClassifierZooProgress(runsDone, _s.Runs, rate, rate > 0 ? TimeSpan.FromSeconds(remaining / rate) : null, message));
        }
    }

    /// <summary>A run during training: the zoo's bookkeeping around the trainer's network.</summary>
    private sealed class RunState
    {
        public required int Run;
        public required RunHyperparameters Hp;
        public required BatchedClassifierRun Net;
    }

    private sealed record Checkpoint(int Run, int Epoch, int Step, float[] Weights, float TestAccuracy, float TrainLoss, RunHyperparameters Hp);

    private (int Checkpoints, int Diverged) TrainShard(ClassifierZooShardInfo sh, SortedDictionary<string, string> identity, string path,
        CancellationToken cancellation, Action<double> onProgress)
    {
        var space = ClassifierPass.SpaceOf(_s.Architecture);
        int B = _s.BatchSize;
        var runs = Enumerable.Range(sh.FirstRun, sh.RunCount).Select(r => NewRun(r, space)).ToList();
        var groups = runs.GroupBy(r => r.Hp.Activation).OrderBy(g => g.Key)
            .Select(g => (Pass: ClassifierPass.For(_s.Architecture, g.Key), Runs: g.ToList())).ToList();
        var checkpoints = new List<Checkpoint>();
        var epochs = new HashSet<int>(_s.CheckpointEpochs);
        int total = _s.TotalSteps, runsBefore = 0;
        foreach (var (pass, members) in groups)
        {
            int n = members.Count;
            var trainer = new BatchedClassifierTrainer(pass, members.Select(r => r.Net).ToList(), _train, B);
            for (int step = 1; step <= total; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                trainer.Step();
                if (step % _s.StepsPerEpoch == 0 && epochs.Contains(step / _s.StepsPerEpoch))
                {
                    var acc = TestAccuracy(pass, trainer.Weights);
                    for (int i = 0; i < n; i++)
                    {
                        var r = members[i];
                        if (r.Net.Diverged) continue;
                        checkpoints.Add(new Checkpoint(r.Run, step / _s.StepsPerEpoch, step, (float[])r.Net.Flat.Data.Clone(), acc[i], (float)r.Net.MeanLoss, r.Hp));
                        r.Net.ResetLoss();
                    }
                }
                if (step % 16 == 0) onProgress(runsBefore + (double)n * step / total);
            }
            runsBefore += n;
        }
        checkpoints = checkpoints.OrderBy(c => c.Run).ThenBy(c => c.Epoch).ToList();
        Write(path, identity, sh, space, checkpoints, runs.Count(r => r.Net.Diverged));
        return (checkpoints.Count, runs.Count(r => r.Net.Diverged));
    }

    private RunState NewRun(int run, Algebra.WeightSpace space)
    {
        var hp = RunHyperparameters.Draw(_s.Seed, run);
        var flat = new Parameter(checked((int)space.Dimension));
        var initRng = new Rng(ZooSeeds.ForItem(_s.Seed, "classifier-init", run));
        int o = 0;
        foreach (var t in space.Tensors)
        {
            for (int k = 0; k < t.Size; k++) flat.Data[o + k] = t.IsBias ? 0f : hp.InitialWeight(initRng);
            o += t.Size;
        }
        var dataRng = new Rng(ZooSeeds.ForItem(_s.Seed, "classifier-data", run));
        var pool = Enumerable.Range(0, _s.TrainPool).ToArray();
        Shuffle(pool, dataRng);
        var subset = pool.Take((int)Math.Ceiling(hp.TrainFraction * _s.TrainPool)).ToArray();
        return new RunState { Run = run, Hp = hp, Net = new BatchedClassifierRun(flat, hp.CreateOptimizer(new[] { flat }), dataRng, subset, hp.Dropout) };
    }

    /// <summary>Test accuracy of every network of the batch on the first TestCount test images.</summary>
    public static float[] TestAccuracy(ClassifierPass pass, WeightSpaceBatch weights, ClassifierImages test, int testCount)
    {
        int n = weights.Batch, C = pass.Outputs;
        const int chunk = 250;
        var correct = new long[n];
        var logits = new float[n * chunk * C];
        for (int first = 0; first < testCount; first += chunk)
        {
            int m = Math.Min(chunk, testCount - first);
            var idx = new int[n * m];
            for (int i = 0; i < n; i++) for (int j = 0; j < m; j++) idx[i * m + j] = first + j;
            var lg = m == chunk ? logits : new float[n * m * C];
            pass.Forward(weights, test.Pixels, idx, m, lg, null);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < m; j++)
                {
                    int b = (i * m + j) * C, best = 0;
                    for (int c = 1; c < C; c++) if (lg[b + c] > lg[b + best]) best = c;
                    if (best == test.Labels[first + j]) correct[i]++;
                }
        }
        return correct.Select(c => (float)((double)c / testCount)).ToArray();
    }

    private float[] TestAccuracy(ClassifierPass pass, WeightSpaceBatch weights) => TestAccuracy(pass, weights, _test, _s.TestCount);

    private void Write(string path, SortedDictionary<string, string> identity, ClassifierZooShardInfo sh, Algebra.WeightSpace space, List<Checkpoint> cps, int diverged)
    {
        int n = cps.Count;
        var tensors = new Dictionary<string, SafetensorsRawTensor>(StringComparer.Ordinal);
        int o = 0;
        foreach (var t in space.Tensors)
        {
            var data = new float[n * t.Size];
            for (int i = 0; i < n; i++) Array.Copy(cps[i].Weights, o, data, i * t.Size, t.Size);
            tensors[t.Name] = SafetensorsRawTensor.FromTensor(new Tensor(data, new[] { n }.Concat(t.Shape).ToArray()));
            o += t.Size;
        }
        SafetensorsRawTensor L(Func<Checkpoint, long> f) => SafetensorsRawTensor.FromInt64(cps.Select(f).ToArray(), n);
        SafetensorsRawTensor Fl(Func<Checkpoint, double> f) => SafetensorsRawTensor.FromTensor(new Tensor(cps.Select(c => (float)f(c)).ToArray(), n));
        tensors[ClassifierZooFormat.RunTensor] = L(c => c.Run);
        tensors[ClassifierZooFormat.EpochTensor] = L(c => c.Epoch);
        tensors[ClassifierZooFormat.StepTensor] = L(c => c.Step);
        tensors[ClassifierZooFormat.TestAccuracyTensor] = Fl(c => c.TestAccuracy);
        tensors[ClassifierZooFormat.TrainLossTensor] = Fl(c => c.TrainLoss);
        tensors[ClassifierZooFormat.OptimizerTensor] = L(c => (long)c.Hp.Optimizer);
        tensors[ClassifierZooFormat.ActivationTensor] = L(c => (long)c.Hp.Activation);
        tensors[ClassifierZooFormat.InitTensor] = L(c => (long)c.Hp.Init);
        tensors[ClassifierZooFormat.LearningRateTensor] = Fl(c => c.Hp.LearningRate);
        tensors[ClassifierZooFormat.L2Tensor] = Fl(c => c.Hp.L2);
        tensors[ClassifierZooFormat.InitStdTensor] = Fl(c => c.Hp.InitStd);
        tensors[ClassifierZooFormat.DropoutTensor] = Fl(c => c.Hp.Dropout);
        tensors[ClassifierZooFormat.TrainFractionTensor] = Fl(c => c.Hp.TrainFraction);
        var meta = new Dictionary<string, string>(identity, StringComparer.Ordinal)
        {
            [ClassifierZooFormat.ShardKey] = sh.Shard.ToString(CultureInfo.InvariantCulture),
            [ClassifierZooFormat.FirstRunKey] = sh.FirstRun.ToString(CultureInfo.InvariantCulture),
            [ClassifierZooFormat.RunCountKey] = sh.RunCount.ToString(CultureInfo.InvariantCulture),
            ["diverged_runs"] = diverged.ToString(CultureInfo.InvariantCulture),
        };
        SafetensorsWriter.Write(path, tensors, meta);
    }

    private static void Shuffle(int[] a, Rng rng) => BatchedClassifierTrainer.Shuffle(a, rng);

    /// <summary>Network n's weights (tensor order) from a flat vector into the batch.</summary>
    public static void Scatter(ReadOnlySpan<float> flat, WeightSpaceBatch b, int n)
    {
        int o = 0;
        for (int t = 0; t < b.Tensors.Length; t++)
        {
            int s = b.Space.Tensors[t].Size;
            flat.Slice(o, s).CopyTo(b.Tensors[t].Data.AsSpan(n * s, s));
            o += s;
        }
    }

    /// <summary>Network n's weights (tensor order) from the batch into a flat vector.</summary>
    public static void Gather(WeightSpaceBatch b, int n, Span<float> flat)
    {
        int o = 0;
        for (int t = 0; t < b.Tensors.Length; t++)
        {
            int s = b.Space.Tensors[t].Size;
            b.Tensors[t].Data.AsSpan(n * s, s).CopyTo(flat.Slice(o, s));
            o += s;
        }
    }
}
