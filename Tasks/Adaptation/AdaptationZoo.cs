using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tasks.ClassifierZoo;
using ZooSeeds = LayerCompiler.Tasks.Zoo.ZooSeeds;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>Progress of a zoo build: classifiers done (kept shards included), classifier steps per second of this process, ETA.</summary>
public sealed record AdaptationZooProgress(int Done, int Total, double StepsPerSecond, TimeSpan? Eta, string? Message);

/// <summary>
/// The zoo of binary classifiers: classifier i = pair k = i / ClassifiersPerPair, trained on the source pool; its weights, pair,
/// and accuracies on the held-out images of its pair, clean (source) and corrupted (target).
/// </summary>
public sealed class AdaptationZoo
{
    public const string FormatName = "layercompiler-adaptation-zoo-v1";
    public const string ManifestFile = "adaptation-zoo.json";
    public static string ShardFile(int pair) => $"pair-{pair:D2}.safetensors";

    private AdaptationZoo(WeightSpaceBatch weights, ClassPair[] pairs, float[] source, float[] target, float[] loss)
    {
        Weights = weights; Pairs = pairs; SourceAccuracy = source; TargetAccuracy = target; TrainLoss = loss;
    }

    /// <summary>Every classifier's weights (the binary CNN's weight space).</summary>
    public WeightSpaceBatch Weights { get; }
    public ClassPair[] Pairs { get; }
    public float[] SourceAccuracy { get; }
    public float[] TargetAccuracy { get; }
    /// <summary>Mean training loss over each classifier's steps.</summary>
    public float[] TrainLoss { get; }
    public int Count => Pairs.Length;

    /// <summary>
    /// Builds the zoo in <paramref name="directory"/> shard by shard (one shard per pair, written atomically), keeping valid
    /// shards of an earlier build with the same settings: an interrupted build resumes. A directory holding a classifier zoo
    /// of the 10-class task, or an adaptation zoo of other settings, is refused with what differs.
    /// </summary>
    public static AdaptationZoo BuildOrLoad(string directory, AdaptationSettings s, ClassifierImages sourcePool, ClassifierImages heldSource, ClassifierImages heldTarget,
        IProgress<AdaptationZooProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory); ArgumentNullException.ThrowIfNull(s);
        s.Validate();
        var identity = s.ZooIdentity();
        CheckDirectory(directory, identity);
        OutputPaths.CreateDirectory(directory, "The adaptation zoo directory");
        AtomicFile.WriteAllBytes(Path.Combine(directory, ManifestFile), JsonSerializer.SerializeToUtf8Bytes(identity, new JsonSerializerOptions { WriteIndented = true }));
        var pass = ClassifierPass.ForBinaryCnn();
        var space = pass.Space;
        int per = checked((int)space.Dimension), m = s.ClassifiersPerPair, n = s.Classifiers;
        var pairs = BinaryTasks.DrawPairs(s.ZooSeed, s.Pairs);
        var weights = new WeightSpaceBatch(space, n, 1);
        var src = new float[n]; var tgt = new float[n]; var loss = new float[n];
        var sw = Stopwatch.StartNew();
        long stepsHere = 0; int done = 0, trainedHere = 0;
        var flat = new float[per];
        for (int k = 0; k < pairs.Length; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            string path = Path.Combine(directory, ShardFile(k));
            if (File.Exists(path))
            {
                var (problem, file) = TryRead(path, identity, k, pairs[k], m, per);
                if (problem is null)
                {
                    var w = file!.GetFloat32("weights");
                    for (int j = 0; j < m; j++) ClassifierZooBuilder.Scatter(w.Data.AsSpan(j * per, per), weights, k * m + j);
                    file.GetFloat32("source_accuracy").Data.CopyTo(src, k * m);
                    file.GetFloat32("target_accuracy").Data.CopyTo(tgt, k * m);
                    file.GetFloat32("train_loss").Data.CopyTo(loss, k * m);
                    done += m;
                    continue;
                }
                Report($"rebuilding {ShardFile(k)}: {problem}");
            }
            // Train the pair's classifiers at once (one batched pass call per step).
            var init = new WeightSpaceBatch(space, m, 1);
            var ids = Enumerable.Range(k * m, m).ToArray();
            for (int j = 0; j < m; j++) { BinaryTasks.InitializeDefault(space, flat, new Rng(ZooSeeds.ForItem(s.ZooSeed, "adaptation-init", ids[j]))); ClassifierZooBuilder.Scatter(flat, init, j); }
            var shardPairs = Enumerable.Repeat(pairs[k], m).ToArray();
            var (trained, meanLoss) = BinaryTasks.Train(pass, init, shardPairs, ids, sourcePool, s.ClassifierSteps, s.BatchSize, p => new Adam(new[] { p }, s.ClassifierLearningRate),
                s.ZooSeed, "adaptation-data", count => { stepsHere += count; if (stepsHere % (16 * m) == 0) Report(null); });
            var a = BinaryTasks.Accuracy(pass, trained, shardPairs, heldSource);
            var b = BinaryTasks.Accuracy(pass, trained, shardPairs, heldTarget);
            Write(path, identity, k, pairs[k], trained, a, b, meanLoss);
            for (int j = 0; j < m; j++)
            {
                ClassifierZooBuilder.Gather(trained, j, flat); ClassifierZooBuilder.Scatter(flat, weights, k * m + j);
                src[k * m + j] = a[j]; tgt[k * m + j] = b[j]; loss[k * m + j] = (float)meanLoss[j];
            }
            done += m; trainedHere += m;
            Report(string.Create(CultureInfo.InvariantCulture, $"pair {pairs[k]}: source accuracy {a.Average():P1}, target {b.Average():P1}"));
        }
        return new AdaptationZoo(weights, Enumerable.Range(0, n).Select(i => pairs[i / m]).ToArray(), src, tgt, loss);

        void Report(string? message)
        {
            if (progress is null) return;
            double sec = sw.Elapsed.TotalSeconds, rate = sec > 0 ? stepsHere / sec : 0;
            double left = (double)(n - done) * s.ClassifierSteps - (stepsHere - (double)trainedHere * s.ClassifierSteps);
            progress.Report(new AdaptationZooProgress(done, n, rate, rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, left) / rate) : null, message));
        }
    }

    /// <summary>Refuses a directory that holds something else: a 10-class classifier zoo, or an adaptation zoo built with other settings.</summary>
    public static void CheckDirectory(string directory, IReadOnlyDictionary<string, string> identity)
    {
        string classifierZoo = Path.Combine(directory, ClassifierZooFormat.ManifestFile);
        if (File.Exists(classifierZoo))
            throw new InvalidDataException($"{classifierZoo}: this directory holds a classifier zoo of the 10-class task ({ClassifierZooFormat.FormatName}); domain adaptation needs its own zoo of " +
                "binary classifiers (two classes each, 2 outputs). Give another --zoo directory (it is built there).");
        string manifest = Path.Combine(directory, ManifestFile);
        if (!File.Exists(manifest)) return;
        SortedDictionary<string, string>? found;
        try { found = JsonSerializer.Deserialize<SortedDictionary<string, string>>(File.ReadAllBytes(manifest)); }
        catch (JsonException e) { throw new InvalidDataException($"{manifest}: not an adaptation zoo manifest ({e.Message}). Delete the directory to rebuild.", e); }
        if (found is null || !found.TryGetValue("format", out var f) || f != FormatName)
            throw new InvalidDataException($"{manifest}: format '{found?.GetValueOrDefault("format")}' is not {FormatName}.");
        var diffs = ClassifierZooManifest.Differences(identity, found);
        if (diffs.Count > 0)
            throw new InvalidOperationException($"'{directory}' holds an adaptation zoo built with other settings; refusing to mix them:\n  - {string.Join("\n  - ", diffs)}\nUse another --zoo directory, or delete this one to rebuild.");
    }

    private static (string? Problem, SafetensorsFile? File) TryRead(string path, IReadOnlyDictionary<string, string> identity, int k, ClassPair pair, int m, int per)
    {
        SafetensorsFile f;
        try { f = SafetensorsFile.Read(path); }
        catch (Exception e) when (e is IOException or FormatException) { return ($"unreadable ({e.Message})", null); }
        var diffs = ClassifierZooManifest.Differences(identity, f.Metadata);
        if (diffs.Count > 0) throw new InvalidOperationException($"{path}: built with other settings than this zoo:\n  - {string.Join("\n  - ", diffs)}\nDelete it to rebuild.");
        if (f.Metadata.GetValueOrDefault("pair") != pair.ToString() || f.Metadata.GetValueOrDefault("shard") != k.ToString(CultureInfo.InvariantCulture))
            return ($"holds pair {f.Metadata.GetValueOrDefault("pair")} (shard {f.Metadata.GetValueOrDefault("shard")}), expected {pair} (shard {k})", null);
        foreach (var (name, len) in new[] { ("weights", (long)m * per), ("source_accuracy", m), ("target_accuracy", m), ("train_loss", m) })
            if (!f.Contains(name) || f.GetEntry(name).ElementCount != len) return ($"tensor '{name}' missing or not {len} values", null);
        return (null, f);
    }

    private static void Write(string path, IReadOnlyDictionary<string, string> identity, int k, ClassPair pair, WeightSpaceBatch w, float[] src, float[] tgt, double[] loss)
    {
        var flat = Baselines.WeightFeatures.Flattened(w);
        var meta = new Dictionary<string, string>(identity, StringComparer.Ordinal) { ["pair"] = pair.ToString(), ["shard"] = k.ToString(CultureInfo.InvariantCulture) };
        SafetensorsWriter.Write(path, new Dictionary<string, SafetensorsRawTensor>(StringComparer.Ordinal)
        {
            ["weights"] = SafetensorsRawTensor.FromTensor(flat),
            ["source_accuracy"] = SafetensorsRawTensor.FromTensor(new Tensor(src, src.Length)),
            ["target_accuracy"] = SafetensorsRawTensor.FromTensor(new Tensor(tgt, tgt.Length)),
            ["train_loss"] = SafetensorsRawTensor.FromTensor(new Tensor(loss.Select(x => (float)x).ToArray(), loss.Length)),
        }, meta);
    }
}
