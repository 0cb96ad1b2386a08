using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Descriptive fields of a checkpoint, stored as strings in the safetensors metadata (see <see cref="Checkpoint"/>).
/// </summary>
public sealed record CheckpointInfo
{
    /// <summary>Number of completed epochs when the checkpoint was written.</summary>
    public int Epoch { get; init; }

    /// <summary>Number of optimizer steps taken when the checkpoint was written.</summary>
    public long Step { get; init; }

    /// <summary>Best validation metric so far (null when there is none).</summary>
    public double? BestMetric { get; init; }

    /// <summary>Epoch (1-based) at which <see cref="BestMetric"/> was reached.</summary>
    public int? BestEpoch { get; init; }

    /// <summary>Free-form description of the run's configuration (e.g. the training options).</summary>
    public string? Config { get; init; }

    /// <summary>Seed of the run.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Further string entries, stored with the prefix <c>user.</c>.</summary>
    public IReadOnlyDictionary<string, string> Custom { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>What <see cref="Checkpoint.Load"/> and <see cref="Checkpoint.Read"/> return besides the restored state.</summary>
public sealed class CheckpointContents
{
    internal CheckpointContents(CheckpointInfo info, int formatVersion, IReadOnlyDictionary<string, string> metadata,
        Dictionary<string, Tensor> model, Dictionary<string, Tensor> optimizer, Dictionary<string, Tensor> extra)
    {
        Info = info; FormatVersion = formatVersion; Metadata = metadata; Model = model; Optimizer = optimizer; Extra = extra;
    }

    public CheckpointInfo Info { get; }
    public int FormatVersion { get; }

    /// <summary>The raw safetensors metadata, every key.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The model's state dict (keys without the <c>model.</c> prefix).</summary>
    public IReadOnlyDictionary<string, Tensor> Model { get; }

    /// <summary>The optimizer's state dict (keys without the <c>optimizer.</c> prefix); empty when none was saved.</summary>
    public IReadOnlyDictionary<string, Tensor> Optimizer { get; }

    /// <summary>Extra tensors (keys without the <c>extra.</c> prefix), e.g. the best model so far or normalizer statistics.</summary>
    public IReadOnlyDictionary<string, Tensor> Extra { get; }

    /// <summary>Extra tensors whose key starts with <paramref name="prefix"/>, with the prefix removed.</summary>
    public Dictionary<string, Tensor> ExtraWithPrefix(string prefix)
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in Extra) if (k.StartsWith(prefix, StringComparison.Ordinal)) d[k.Substring(prefix.Length)] = v;
        return d;
    }
}

/// <summary>
/// Training checkpoints as ONE safetensors file, written atomically (an exception or crash mid-save leaves the
/// previous file intact; see <see cref="AtomicFile"/>).
/// </summary>
/// <remarks>
/// <para>Layout: model parameters under <c>model.&lt;name&gt;</c> (the <see cref="Module.StateDict"/> keys),
/// optimizer state under <c>optimizer.&lt;key&gt;</c> (the <see cref="Optimizer.StateDict"/> keys), caller-supplied
/// tensors under <c>extra.&lt;key&gt;</c>. All float32.</para>
/// <para>Metadata (strings): <c>format</c> = <see cref="FormatName"/>, <c>format_version</c>, <c>kind</c>
/// (<c>training</c> or <c>model</c>), <c>epoch</c>, <c>step</c>, <c>best_metric</c> and <c>best_epoch</c> (when set),
/// <c>config</c>, <c>seed</c>, <c>model_type</c>, <c>model_config</c> and <c>weight_space</c> (for an
/// <see cref="EquivariantNetwork"/>), <c>optimizer_type</c>, and <c>user.&lt;key&gt;</c> for
/// <see cref="CheckpointInfo.Custom"/>. Numbers use the invariant culture; doubles round-trip ("R").</para>
/// <para>Loading checks everything before changing anything: the format, the model's configuration and weight
/// space (equal parameter shapes do not prove equal architectures: basis counts do not depend on widths ≥ 2),
/// the model's state dict and the optimizer's state dict. Every problem found is listed in one
/// <see cref="InvalidDataException"/>; on failure neither the model nor the optimizer is modified.</para>
/// </remarks>
public static class Checkpoint
{
    public const string FormatName = "layercompiler.checkpoint";
    public const int CurrentFormatVersion = 1;
    public const string ModelPrefix = "model.";
    public const string OptimizerPrefix = "optimizer.";
    public const string ExtraPrefix = "extra.";
    private const string UserPrefix = "user.";

    /// <summary>Writes model, optimizer (optional), metadata and extra tensors to <paramref name="path"/>, atomically.</summary>
    public static void Save(string path, Module model, Optimizer? optimizer, CheckpointInfo info,
        IReadOnlyDictionary<string, Tensor>? extraTensors = null) =>
        Save(path, model, optimizer, info, extraTensors, wrapStream: null);

    /// <summary>As <see cref="Save(string, Module, Optimizer?, CheckpointInfo, IReadOnlyDictionary{string, Tensor}?)"/>;
    /// <paramref name="wrapStream"/> lets tests inject a failing stream.</summary>
    internal static void Save(string path, Module model, Optimizer? optimizer, CheckpointInfo info,
        IReadOnlyDictionary<string, Tensor>? extraTensors, Func<Stream, Stream>? wrapStream)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        var (tensors, metadata) = Build(model, optimizer, info, extraTensors, "training");
        Write(path, tensors, metadata, wrapStream);
    }

    /// <summary>Writes only the model's parameters (keys <c>model.&lt;name&gt;</c>) and descriptive metadata, atomically.</summary>
    public static void SaveModel(string path, Module model, CheckpointInfo? info = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (tensors, metadata) = Build(model, null, info ?? new CheckpointInfo(), null, "model");
        Write(path, tensors, metadata, null);
    }

    /// <summary>
    /// Restores the model's parameters from a file written by <see cref="SaveModel"/> or <see cref="Save(string, Module, Optimizer?, CheckpointInfo, IReadOnlyDictionary{string, Tensor}?)"/>
    /// (the optimizer part is ignored), or from a bare safetensors state dict without checkpoint metadata (every
    /// tensor is then a parameter). Throws <see cref="InvalidDataException"/> listing every mismatch.
    /// </summary>
    public static CheckpointContents LoadModel(string path, Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var file = SafetensorsFile.Read(path);
        CheckpointContents contents;
        if (!file.Metadata.ContainsKey("format"))
        {
            var all = file.ReadAllFloat32();
            contents = new CheckpointContents(new CheckpointInfo(), 0, file.Metadata, all,
                new Dictionary<string, Tensor>(StringComparer.Ordinal), new Dictionary<string, Tensor>(StringComparer.Ordinal));
        }
        else contents = Parse(file, path);
        Restore(path, contents, model, null, requireOptimizer: false);
        return contents;
    }

    /// <summary>
    /// Restores <paramref name="model"/> and, when given, <paramref name="optimizer"/> from a checkpoint written by
    /// <see cref="Save(string, Module, Optimizer?, CheckpointInfo, IReadOnlyDictionary{string, Tensor}?)"/>.
    /// Nothing is changed unless everything matches; otherwise <see cref="InvalidDataException"/> lists every problem.
    /// </summary>
    public static CheckpointContents Load(string path, Module model, Optimizer? optimizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        var contents = Read(path);
        Restore(path, contents, model, optimizer, requireOptimizer: optimizer != null);
        return contents;
    }

    /// <summary>Reads and validates a checkpoint without restoring anything.</summary>
    public static CheckpointContents Read(string path) => Parse(SafetensorsFile.Read(path), path);

    /// <summary>
    /// Writes a checkpoint from state dicts (a model kept off the host, e.g. on a GPU): <paramref name="model"/> as
    /// <see cref="Module.StateDict"/> gives it, <paramref name="optimizer"/> as <see cref="Optimizer.StateDict"/>, atomically.
    /// <paramref name="network"/>, when given, adds its configuration and weight space to the metadata (checked on load).
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> model, string modelType, IReadOnlyDictionary<string, Tensor>? optimizer,
        string? optimizerType, CheckpointInfo info, IReadOnlyDictionary<string, Tensor>? extraTensors = null, EquivariantNetwork? network = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(modelType);
        ArgumentNullException.ThrowIfNull(info);
        var (tensors, metadata) = Build(model, modelType, network, optimizer, optimizerType, info, extraTensors, "training");
        Write(path, tensors, metadata, null);
    }

    /// <summary>As <see cref="SaveModel(string, Module, CheckpointInfo?)"/>, from a state dict, with extra tensors (e.g. input statistics).</summary>
    public static void SaveModel(string path, IReadOnlyDictionary<string, Tensor> model, string modelType, CheckpointInfo? info = null,
        EquivariantNetwork? network = null, IReadOnlyDictionary<string, Tensor>? extraTensors = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(modelType);
        var (tensors, metadata) = Build(model, modelType, network, null, null, info ?? new CheckpointInfo(), extraTensors, "model");
        Write(path, tensors, metadata, null);
    }

    private static (Dictionary<string, Tensor>, Dictionary<string, string>) Build(Module model, Optimizer? optimizer, CheckpointInfo info,
        IReadOnlyDictionary<string, Tensor>? extraTensors, string kind) =>
        // No copies: the writer reads the live buffers synchronously.
        Build(model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Value, StringComparer.Ordinal), model.GetType().FullName ?? model.GetType().Name,
            model as EquivariantNetwork, optimizer?.StateDict(), optimizer?.GetType().Name, info, extraTensors, kind);

    private static (Dictionary<string, Tensor>, Dictionary<string, string>) Build(IReadOnlyDictionary<string, Tensor> model, string modelType, EquivariantNetwork? net,
        IReadOnlyDictionary<string, Tensor>? optimizer, string? optimizerType, CheckpointInfo info, IReadOnlyDictionary<string, Tensor>? extraTensors, string kind)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model) tensors[ModelPrefix + name] = t;
        if (optimizer != null) foreach (var (k, t) in optimizer) tensors[OptimizerPrefix + k] = t;
        if (extraTensors != null)
            foreach (var (k, t) in extraTensors)
            {
                ArgumentNullException.ThrowIfNull(t, $"extraTensors[\"{k}\"]");
                tensors[ExtraPrefix + k] = t;
            }

        var md = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = FormatName,
            ["format_version"] = CurrentFormatVersion.ToString(CultureInfo.InvariantCulture),
            ["kind"] = kind,
            ["epoch"] = info.Epoch.ToString(CultureInfo.InvariantCulture),
            ["step"] = info.Step.ToString(CultureInfo.InvariantCulture),
            ["model_type"] = modelType,
        };
        if (info.BestMetric is double best) md["best_metric"] = best.ToString("R", CultureInfo.InvariantCulture);
        if (info.BestEpoch is int be) md["best_epoch"] = be.ToString(CultureInfo.InvariantCulture);
        if (info.Config != null) md["config"] = info.Config;
        if (info.Seed is ulong seed) md["seed"] = seed.ToString(CultureInfo.InvariantCulture);
        if (net != null)
        {
            md["model_config"] = net.Config.ToString();
            md["weight_space"] = DescribeSpace(net.Space);
        }
        if (optimizer != null && optimizerType != null) md["optimizer_type"] = optimizerType;
        foreach (var (k, v) in info.Custom)
        {
            if (v is null) throw new ArgumentException($"Custom metadata '{k}' is null; metadata values must be strings.", nameof(info));
            md[UserPrefix + k] = v;
        }
        return (tensors, md);
    }

    private static void Write(string path, Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata, Func<Stream, Stream>? wrapStream)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.Write(path, s =>
        {
            var target = wrapStream?.Invoke(s) ?? s;
            SafetensorsWriter.WriteTo(target, tensors, metadata);
            target.Flush();
        });
    }

    /// <summary>A weight space's symmetry and tensors, e.g. <c>HiddenNeuron: W1[32,2] b1[32] W2[1,32] b2[1]</c>.</summary>
    public static string DescribeSpace(global::LayerCompiler.Algebra.WeightSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        var sb = new StringBuilder(space.Symmetry.ToString()).Append(':');
        foreach (var t in space.Tensors) sb.Append(' ').Append(t.Name).Append('[').Append(string.Join(",", t.Shape)).Append(']');
        return sb.ToString();
    }

    private static CheckpointContents Parse(SafetensorsFile file, string path)
    {
        var md = file.Metadata;
        var problems = new List<string>();
        if (!md.TryGetValue("format", out var format) || format != FormatName)
            problems.Add(format == null ? "no 'format' metadata: this is not a LayerCompiler checkpoint" : $"format is '{format}', expected '{FormatName}'");
        int version = 0;
        if (!md.TryGetValue("format_version", out var vs) || !int.TryParse(vs, NumberStyles.None, CultureInfo.InvariantCulture, out version))
            problems.Add($"missing or malformed 'format_version' ({vs ?? "absent"})");
        else if (version > CurrentFormatVersion)
            problems.Add($"format version {version} is newer than this runtime reads ({CurrentFormatVersion})");

        int epoch = ParseInt(md, "epoch", problems) ?? 0;
        long step = ParseLong(md, "step", problems) ?? 0;
        double? best = null;
        if (md.TryGetValue("best_metric", out var bs))
        {
            if (double.TryParse(bs, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)) best = b;
            else problems.Add($"malformed 'best_metric' '{bs}'");
        }
        int? bestEpoch = md.ContainsKey("best_epoch") ? ParseInt(md, "best_epoch", problems) : null;
        if (epoch < 0) problems.Add($"'epoch' is {epoch}, below 0");
        if (step < 0) problems.Add($"'step' is {step}, below 0");
        if (bestEpoch is int be && (be < 0 || be > epoch)) problems.Add($"'best_epoch' is {be}, outside [0, epoch {epoch}]");
        if (best is double bm && double.IsNaN(bm)) problems.Add("'best_metric' is NaN");
        ulong? seed = null;
        if (md.TryGetValue("seed", out var ss))
        {
            if (ulong.TryParse(ss, NumberStyles.None, CultureInfo.InvariantCulture, out var s)) seed = s;
            else problems.Add($"malformed 'seed' '{ss}'");
        }
        if (problems.Count > 0) throw Problems($"'{path}' is not a valid checkpoint", problems);

        var custom = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in md) if (k.StartsWith(UserPrefix, StringComparison.Ordinal)) custom[k.Substring(UserPrefix.Length)] = v;
        var info = new CheckpointInfo
        {
            Epoch = epoch, Step = step, BestMetric = best, BestEpoch = bestEpoch, Seed = seed,
            Config = md.TryGetValue("config", out var cfg) ? cfg : null, Custom = custom,
        };

        var model = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var optimizer = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var extra = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var stray = new List<string>();
        foreach (var e in file.Entries)
        {
            if (e.Name.StartsWith(ModelPrefix, StringComparison.Ordinal)) model[e.Name.Substring(ModelPrefix.Length)] = file.GetFloat32(e.Name);
            else if (e.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) optimizer[e.Name.Substring(OptimizerPrefix.Length)] = file.GetFloat32(e.Name);
            else if (e.Name.StartsWith(ExtraPrefix, StringComparison.Ordinal)) extra[e.Name.Substring(ExtraPrefix.Length)] = file.GetFloat32(e.Name);
            else stray.Add(e.Name);
        }
        if (stray.Count > 0)
            throw Problems($"'{path}' is not a valid checkpoint", stray.Select(s => $"tensor '{s}' has none of the prefixes '{ModelPrefix}', '{OptimizerPrefix}', '{ExtraPrefix}'").ToList());
        return new CheckpointContents(info, version, md, model, optimizer, extra);
    }

    private static void Restore(string path, CheckpointContents c, Module model, Optimizer? optimizer, bool requireOptimizer)
    {
        var problems = new List<string>();
        if (model is EquivariantNetwork net)
        {
            if (c.Metadata.TryGetValue("model_config", out var cfg) && cfg != net.Config.ToString())
                problems.Add($"model configuration differs: checkpoint has '{cfg}', the model is '{net.Config}'");
            string space = DescribeSpace(net.Space);
            if (c.Metadata.TryGetValue("weight_space", out var ws) && ws != space)
                problems.Add($"weight space differs: checkpoint has '{ws}', the model has '{space}'");
        }
        if (requireOptimizer)
        {
            if (c.Optimizer.Count == 0) problems.Add("the checkpoint holds no optimizer state (it was saved without an optimizer)");
            else if (c.Metadata.TryGetValue("optimizer_type", out var ot) && ot != optimizer!.GetType().Name)
                problems.Add($"optimizer type differs: checkpoint has {ot}, the optimizer is {optimizer.GetType().Name}");
        }

        // Both loaders change nothing when they fail; the one that succeeded is rolled back if the other fails.
        var modelBefore = model.StateDict();
        var optimizerBefore = requireOptimizer ? optimizer!.StateDict() : null;
        bool modelLoaded = false, optimizerLoaded = false;
        try { model.LoadStateDict(c.Model); modelLoaded = true; }
        catch (InvalidOperationException e) { problems.Add(e.Message); }
        if (requireOptimizer && c.Optimizer.Count > 0)
        {
            try { optimizer!.LoadStateDict(c.Optimizer); optimizerLoaded = true; }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException) { problems.Add(e.Message); }
        }
        if (problems.Count == 0) return;
        if (modelLoaded) model.LoadStateDict(modelBefore);
        if (optimizerLoaded) optimizer!.LoadStateDict(optimizerBefore!);
        throw Problems($"Checkpoint '{path}' does not match", problems);
    }

    private static InvalidDataException Problems(string title, List<string> problems)
    {
        var sb = new StringBuilder(title).Append(" (").Append(problems.Count).Append(" problem(s)):");
        foreach (var p in problems) sb.Append("\n  - ").Append(p.Replace("\n", "\n    "));
        return new InvalidDataException(sb.ToString());
    }

    private static int? ParseInt(IReadOnlyDictionary<string, string> md, string key, List<string> problems)
    {
        if (!md.TryGetValue(key, out var s)) return null;
        if (int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) return v;
        problems.Add($"malformed '{key}' '{s}'");
        return null;
    }

    private static long? ParseLong(IReadOnlyDictionary<string, string> md, string key, List<string> problems)
    {
        if (!md.TryGetValue(key, out var s)) return null;
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) return v;
        problems.Add($"malformed '{key}' '{s}'");
        return null;
    }
}
