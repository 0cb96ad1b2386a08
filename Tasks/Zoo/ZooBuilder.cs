using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>Options of a zoo build.</summary>
public sealed record ZooBuildOptions
{
    /// <summary>Zoo directory (created if missing).</summary>
    public required string Directory { get; init; }
    /// <summary>Zoo seed: every INR's initialization derives from (seed, split, item index).</summary>
    public ulong Seed { get; init; }
    public int ShardSize { get; init; } = 1000;
    public InrFitSettings Fit { get; init; } = InrFitProtocols.FashionMnist;
    /// <summary>Worker threads (-1 = all cores).</summary>
    public int MaxThreads { get; init; } = -1;
    /// <summary>When set, only the first K items of every split are built (small zoos).</summary>
    public int? PerSplitLimit { get; init; }
    /// <summary>Per-split overrides of <see cref="PerSplitLimit"/>.</summary>
    public IReadOnlyDictionary<string, int>? SplitLimits { get; init; }
    /// <summary>Splits to build (default: all of the task's); others are not part of the zoo.</summary>
    public IReadOnlyList<string>? Splits { get; init; }
    /// <summary>What fits the INRs (null: the CPU <see cref="InrFitter"/> on <see cref="MaxThreads"/> threads). The zoo's
    /// format is the same either way; each shard and the manifest's split statistics record the device.</summary>
    public ZooFitterFactory? Fitter { get; init; }
}

/// <summary>Progress of a build: INRs done (reused shards included), throughput of this run, and an ETA.</summary>
public sealed record ZooProgress(string Split, int Done, int Total, int Fitted, double InrsPerSecond, double InrStepsPerSecond, TimeSpan? Eta, string? Message = null)
{
    public double Fraction => Total == 0 ? 1 : (double)Done / Total;
}

/// <summary>What a build did.</summary>
public sealed record ZooBuildResult(ZooManifest Manifest, int FittedInrs, int ReusedShards, int RebuiltShards, int FittedShards, long TotalSteps, double Seconds)
{
    public double InrStepsPerSecond => Seconds > 0 ? TotalSteps / Seconds : double.NaN;
}

/// <summary>
/// Builds a zoo: for every split, INRs are fitted shard by shard (INRs within a shard in parallel) and each
/// finished shard is written atomically. Re-running on the same directory resumes: shards that exist and are
/// valid for this zoo (same identity, positions and item indices) are kept; missing, partial or corrupt ones
/// are (re)built. A directory holding a zoo with a different identity is refused.
/// </summary>
public sealed class ZooBuilder
{
    private readonly InrTask _task;
    private readonly MlpInputNetwork _network;
    private readonly ZooBuildOptions _options;
    private readonly IReadOnlyDictionary<string, string> _identity;
    private readonly List<string> _splits;

    public ZooBuilder(InrTask task, MlpInputNetwork network, ZooBuildOptions options)
    {
        ArgumentNullException.ThrowIfNull(task); ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Directory);
        options.Fit.Validate();
        if (options.ShardSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.ShardSize, "ShardSize must be positive.");
        if (options.PerSplitLimit is < 0) throw new ArgumentOutOfRangeException(nameof(options), options.PerSplitLimit, "PerSplitLimit must be >= 0.");
        if (network.Activation != InputActivation.Sine)
            throw new ArgumentException($"Zoos are SIREN zoos (initialized by SirenInit); the network's activation is {network.Activation}.", nameof(network));
        if (network.InputWidth != task.InputWidth || network.OutputWidth != task.OutputWidth)
            throw new ArgumentException($"Task {task.Name} has {task.InputWidth} → {task.OutputWidth} signals, the network maps {network.InputWidth} → {network.OutputWidth}.", nameof(network));
        _task = task; _network = network; _options = options;
        _splits = (options.Splits ?? task.SplitNames).ToList();
        foreach (var s in _splits) { task.CheckSplit(s); ZooFormat.CheckSplitName(s); }
        if (_splits.Distinct().Count() != _splits.Count) throw new ArgumentException("A split is listed twice.", nameof(options));
        // A limit above every split would silently build the whole corpus (hours, for a typo): that must be asked for.
        if (options.PerSplitLimit is int limit && _splits.Count > 0 && _splits.All(sp => task.Count(sp) < limit))
        {
            string largest = _splits.OrderByDescending(task.Count).First();
            throw new ArgumentException($"The per-split limit {limit} (--per-split) is larger than every split (the largest, '{largest}', has {task.Count(largest)} items): " +
                "it would build the whole corpus; ask for that with no limit (--full) instead.", nameof(options));
        }
        _identity = BuildIdentity();
    }

    /// <summary>Metadata shared by the manifest and every shard.</summary>
    public IReadOnlyDictionary<string, string> Identity => _identity;

    /// <summary>Items that will be built for <paramref name="split"/> (after limits).</summary>
    public int PlannedCount(string split)
    {
        int available = _task.Count(split);
        int? limit = _options.SplitLimits != null && _options.SplitLimits.TryGetValue(split, out int l) ? l : _options.PerSplitLimit;
        return limit is int k ? Math.Min(k, available) : available;
    }

    private IReadOnlyDictionary<string, string> BuildIdentity()
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [ZooFormat.FormatKey] = ZooFormat.FormatName,
            [ZooFormat.SeedKey] = _options.Seed.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.ShardSizeKey] = _options.ShardSize.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.ClassesKey] = _task.ClassCount.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.TargetWidthKey] = _task.RegressionWidth.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.IndexTensorKey] = _task.IndexTensorName,
            ["init"] = "siren: sine layers U(+-sqrt(6/fan_in)/omega0), biases 0; last layer U(+-1/sqrt(fan_in)); seed per INR from (zoo seed, split, item index)",
        };
        foreach (var (k, v) in _task.Describe()) d["task." + k] = v;
        foreach (var (k, v) in ZooArchitecture.Of(_network).ToMetadata()) d[k] = v;
        foreach (var (k, v) in _options.Fit.ToMetadata()) d[k] = v;
        foreach (var s in _splits) d[$"split.{s}.count"] = PlannedCount(s).ToString(CultureInfo.InvariantCulture);
        return d;
    }

    private Dictionary<string, string> ShardMetadata(string split, int shard, int first, int count)
    {
        var d = new Dictionary<string, string>(_identity, StringComparer.Ordinal)
        {
            [ZooFormat.SplitKey] = split,
            [ZooFormat.ShardKey] = shard.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.FirstKey] = first.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.CountKey] = count.ToString(CultureInfo.InvariantCulture),
            [ZooFormat.SplitCountKey] = PlannedCount(split).ToString(CultureInfo.InvariantCulture),
        };
        return d;
    }

    /// <summary>Builds (or resumes) the zoo. Cancelling keeps every shard finished so far.</summary>
    public ZooBuildResult Build(IProgress<ZooProgress>? progress = null, CancellationToken cancellation = default)
    {
        string dir = _options.Directory;
        OutputPaths.CreateDirectory(dir, "The zoo directory");
        string manifestPath = Path.Combine(dir, ZooFormat.ManifestFile);
        ZooManifest? existing = null;
        if (File.Exists(manifestPath))
        {
            try { existing = ZooManifest.Load(manifestPath); }
            catch (InvalidDataException e) { throw new InvalidOperationException($"'{dir}' holds an unreadable zoo manifest ({e.Message}); delete the directory or pick another one.", e); }
            var diffs = ZooManifest.Differences(_identity, existing.Identity);
            diffs.AddRange(existing.Identity.Keys.Where(k => !_identity.ContainsKey(k)).Select(k => $"'{k}' is not part of this build"));
            if (diffs.Count > 0)
                throw new InvalidOperationException($"'{dir}' holds a different zoo; refusing to mix INRs built with other settings:\n  - {string.Join("\n  - ", diffs)}\nUse another directory, or delete this one to rebuild.");
        }

        var plans = _splits.Select(s => (Split: s, Count: PlannedCount(s), Shards: Plan(s))).ToList();
        int total = plans.Sum(p => p.Count);
        // Splits the existing manifest (same identity, checked above) records as complete keep that record until they
        // are checked again below, so re-running a finished build never marks it incomplete on disk: each save then
        // writes the same bytes, which ZooManifest.Save skips.
        var splitInfos = plans.Select(p => existing?.Splits.FirstOrDefault(e => e.Name == p.Split && e.Complete && e.Count == p.Count)
            ?? new ZooSplitInfo(p.Split, p.Count, false, p.Shards, null)).ToList();
        new ZooManifest(_identity, splitInfos).Save(manifestPath);

        var sw = Stopwatch.StartNew();
        int done = 0, fittedInrs = 0, reused = 0, rebuilt = 0, fittedShards = 0;
        long steps = 0;
        double fitSeconds = 0;
        using var fitter = _options.Fitter is { } factory
            ? factory(_network, _task.Points, _task.PointCount, _options.Fit)
            : new CpuZooFitter(new InrFitter(_network, _task.Points, _task.PointCount, _options.Fit), _options.MaxThreads);
        var reportLock = new object();
        long lastReport = 0;

        void Report(string split, string? message, bool force)
        {
            if (progress is null) return;
            lock (reportLock)
            {
                long now = sw.ElapsedMilliseconds;
                if (!force && now - lastReport < 250) return;
                lastReport = now;
                double elapsed = Math.Max(1e-9, CurrentFitSeconds());
                double rate = fittedInrs > 0 ? fittedInrs / elapsed : 0;
                double stepRate = fittedInrs > 0 ? Interlocked.Read(ref steps) / elapsed : 0;
                TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : null;
                progress.Report(new ZooProgress(split, done, total, fittedInrs, rate, stepRate, eta, message));
            }
        }
        Stopwatch? shardWatch = null;
        double CurrentFitSeconds() => fitSeconds + (shardWatch?.Elapsed.TotalSeconds ?? 0);

        for (int si = 0; si < plans.Count; si++)
        {
            var (split, count, shards) = plans[si];
            Directory.CreateDirectory(Path.Combine(dir, split));
            int fittedBefore = fittedShards;
            var psnr = new List<float>(count);
            var stepList = new List<long>(count);
            var devices = new SortedSet<string>(StringComparer.Ordinal);
            double splitSeconds = 0;
            for (int k = 0; k < shards.Count; k++)
            {
                cancellation.ThrowIfCancellationRequested();
                var sh = shards[k];
                string path = Path.Combine(dir, sh.File);
                var meta = ShardMetadata(split, k, sh.First, sh.Count);
                var expectedIndex = Enumerable.Range(sh.First, sh.Count).Select(p => _task.ItemIndex(split, p)).ToArray();
                if (File.Exists(path))
                {
                    string? problem = ZooReader.ValidateShard(path, meta, expectedIndex, _network.Space, _task.ClassCount, _task.RegressionWidth, _task.IndexTensorName, out var shardPsnr, out var shardSteps, out double seconds, out string? shardDevice);
                    if (problem is null)
                    {
                        reused++;
                        done += sh.Count;
                        psnr.AddRange(shardPsnr!); stepList.AddRange(shardSteps!);
                        splitSeconds += seconds;
                        devices.Add(shardDevice!);
                        Report(split, $"kept {sh.File} ({sh.Count} INRs, already complete)", true);
                        continue;
                    }
                    rebuilt++;
                    Report(split, $"rebuilding {sh.File}: {problem}", true);
                }
                shardWatch = Stopwatch.StartNew();
                var (results, seconds2) = FitShard(fitter, split, sh, meta, path, cancellation, (r) =>
                {
                    Interlocked.Increment(ref done);
                    Interlocked.Increment(ref fittedInrs);
                    Interlocked.Add(ref steps, r.Steps);
                    Report(split, null, false);
                });
                shardWatch = null;
                fitSeconds += seconds2;
                splitSeconds += seconds2;
                fittedShards++;
                devices.Add(fitter.Device);
                psnr.AddRange(results.Select(r => (float)r.Psnr)); stepList.AddRange(results.Select(r => (long)r.Steps));
                Report(split, $"wrote {sh.File}", true);
            }
            // Every shard reused: the recorded statistics stand (recomputing them from the shards' rounded per-shard
            // times would change the throughput figures in the last digits and rewrite zoo.json for nothing).
            var recorded = existing?.Splits.FirstOrDefault(e => e.Name == split && e.Complete && e.Count == count);
            splitInfos[si] = fittedShards == fittedBefore && recorded != null
                ? recorded
                : new ZooSplitInfo(split, count, true, shards, ZooSplitStats.From(psnr, stepList, _options.Fit.StopMse, splitSeconds, string.Join(" + ", devices)));
            new ZooManifest(_identity, splitInfos).Save(manifestPath);
        }
        var manifest = new ZooManifest(_identity, splitInfos);
        return new ZooBuildResult(manifest, fittedInrs, reused, rebuilt, fittedShards, steps, fitSeconds);
    }

    private List<ZooShardInfo> Plan(string split)
    {
        int count = PlannedCount(split), size = _options.ShardSize;
        var list = new List<ZooShardInfo>();
        for (int first = 0, k = 0; first < count; first += size, k++)
            list.Add(new ZooShardInfo(ZooFormat.ShardFileName(split, k), first, Math.Min(size, count - first)));
        return list;
    }

    private (InrFitResult[] Results, double Seconds) FitShard(IZooFitter fitter, string split, ZooShardInfo sh, Dictionary<string, string> meta, string path,
        CancellationToken cancellation, Action<InrFitResult> onFitted)
    {
        int n = sh.Count, p = _network.ParameterCount, tl = _task.PointCount * _network.OutputWidth;
        var parameters = new float[n * p];
        var targets = new float[n * tl];
        var index = new long[n];
        for (int i = 0; i < n; i++)
        {
            int position = sh.First + i;
            index[i] = _task.ItemIndex(split, position);
            SirenInit.Initialize(_network, parameters.AsSpan(i * p, p), new Rng(ZooSeeds.ForItem(_options.Seed, split, index[i])));
            _task.Target(split, position, targets.AsSpan(i * tl, tl));
        }
        var sw = Stopwatch.StartNew();
        var results = fitter.FitMany(parameters, targets, n, (_, r) => onFitted(r), cancellation);
        double seconds = sw.Elapsed.TotalSeconds;

        var tensors = new Dictionary<string, SafetensorsRawTensor>(StringComparer.Ordinal);
        var space = _network.Space;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            var data = new float[n * wt.Size];
            int off = _network.TensorOffset(t);
            for (int i = 0; i < n; i++) Array.Copy(parameters, i * p + off, data, i * wt.Size, wt.Size);
            tensors[wt.Name] = SafetensorsRawTensor.FromTensor(new Tensor(data, new[] { n }.Concat(wt.Shape).ToArray()));
        }
        tensors[ZooFormat.PsnrTensor] = SafetensorsRawTensor.FromTensor(new Tensor(results.Select(r => (float)r.Psnr).ToArray(), n));
        tensors[ZooFormat.StepsTensor] = SafetensorsRawTensor.FromInt64(results.Select(r => (long)r.Steps).ToArray(), n);
        tensors[_task.IndexTensorName] = SafetensorsRawTensor.FromInt64(index, n);
        if (_task.ClassCount > 0)
            tensors[ZooFormat.LabelsTensor] = SafetensorsRawTensor.FromInt64(Enumerable.Range(sh.First, n).Select(pos => _task.Label(split, pos)).ToArray(), n);
        if (_task.RegressionWidth > 0)
        {
            int w = _task.RegressionWidth;
            var reg = new float[n * w];
            for (int i = 0; i < n; i++) _task.Regression(split, sh.First + i, reg.AsSpan(i * w, w));
            tensors[ZooFormat.TargetsTensor] = SafetensorsRawTensor.FromTensor(new Tensor(reg, n, w));
        }
        var fullMeta = new Dictionary<string, string>(meta, StringComparer.Ordinal)
        {
            [ZooFormat.FitSecondsKey] = ZooFormat.Invariant(seconds),
            [ZooFormat.TotalStepsKey] = ZooFormat.Invariant(results.Sum(r => (long)r.Steps)),
            [ZooFormat.FitDeviceKey] = fitter.Device,
        };
        SafetensorsWriter.Write(path, tensors, fullMeta);
        return (results, seconds);
    }
}
