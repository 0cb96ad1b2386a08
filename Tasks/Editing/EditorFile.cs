using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Modules;

namespace LayerCompiler.Tasks.Editing;

/// <summary>
/// A trained INR editor on disk: a model file of the runtime's <see cref="Checkpoint"/> format (kind "model"): γ and F under
/// <c>model.</c>, the per-entry input normalization under <c>extra.normalizer.</c>, and <c>user.</c> metadata saying what it
/// is (<c>user.task</c> = <see cref="TaskName"/>, <c>user.editor.kind</c>) and which INRs it edits (<c>user.inr.architecture</c>,
/// <c>user.inr.weights</c>). <c>inr-edit train</c> writes one per run as <c>RUN/model.safetensors</c>; <c>inr-edit eval</c> reads it.
/// </summary>
public static class EditorFile
{
    public const string FileName = "model.safetensors";
    public const string TaskName = "inr-edit-dilate";
    private const string NormalizerPrefix = "normalizer.";

    /// <summary>Writes <paramref name="editor"/> (fitted) atomically, recording that it edits INRs of <paramref name="architecture"/>.</summary>
    public static void Save(string path, WeightEditor editor, string architecture, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        ArgumentNullException.ThrowIfNull(editor);
        var custom = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["task"] = TaskName,
            ["editor.kind"] = editor.Kind,
            ["editor.description"] = EditKinds.Describe(editor.Kind),
            ["editor.parameters"] = editor.Module.ParameterCount().ToString(CultureInfo.InvariantCulture),
            ["inr.architecture"] = architecture,
            ["inr.weights"] = editor.Space.Dimension.ToString(CultureInfo.InvariantCulture),
        };
        if (extraMetadata != null) foreach (var (k, v) in extraMetadata) custom[k] = v;
        var extra = editor.NormalizationState().ToDictionary(kv => NormalizerPrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
        Checkpoint.SaveModel(path, editor.Module.StateDict(), editor.Module.GetType().FullName ?? editor.Module.GetType().Name,
            new CheckpointInfo { Custom = custom }, null, extra);
    }

    /// <summary>The model file a path names: the path itself, or <c>PATH/model.safetensors</c> for a run directory.</summary>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            string inside = Path.Combine(path, FileName);
            if (File.Exists(inside)) return inside;
            var runs = Directory.Exists(path) ? Directory.GetDirectories(path).Where(d => File.Exists(Path.Combine(d, FileName))).Select(Path.GetFileName).ToList() : new();
            throw new FileNotFoundException(runs.Count > 0
                ? $"'{path}' holds no {FileName} of its own; it is a study directory: give one run, e.g. {Path.Combine(path, runs[0]!)} (runs: {string.Join(", ", runs)})."
                : $"'{path}' holds no {FileName}. Train an editor with `inr-edit train --out DIR` (it writes DIR/KIND-seedN/{FileName}).", inside);
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"Editor checkpoint '{path}' does not exist. Train one with `inr-edit train --out DIR` (it writes DIR/KIND-seedN/{FileName}).", path);
        return path;
    }

    /// <summary>
    /// Rebuilds the editor saved at <paramref name="path"/> (a file or a run directory) with <paramref name="createEditor"/>
    /// (kind, seed → an untrained editor of that kind, built for <paramref name="weights"/> INR weights), and its <c>user.</c>
    /// metadata. A file that is not an editor, or an editor of other INRs, is refused with what it is.
    /// </summary>
    public static (WeightEditor Editor, IReadOnlyDictionary<string, string> Metadata) Load(string path, Func<string, ulong, WeightEditor> createEditor, long weights)
    {
        ArgumentNullException.ThrowIfNull(createEditor);
        path = Resolve(path);
        SafetensorsFile file;
        try { file = SafetensorsFile.Read(path); }
        catch (SafetensorsFormatException e) { throw new InvalidDataException($"'{path}' is not a valid checkpoint: {e.Message}", e); }
        if (!file.Metadata.TryGetValue("format", out var format) || format != Checkpoint.FormatName)
            throw new InvalidDataException($"'{path}' is a safetensors file but not a LayerCompiler checkpoint (metadata 'format' is {(format is null ? "missing" : $"'{format}'")}, expected '{Checkpoint.FormatName}').");
        if (file.Metadata.TryGetValue("kind", out var fileKind) && fileKind != "model")
            throw new InvalidDataException($"'{path}' is a {fileKind} checkpoint, not a model file: give RUN/{FileName} (written when `inr-edit train` finishes a run).");
        var contents = Checkpoint.Read(path);
        var meta = contents.Info.Custom;
        if (!meta.TryGetValue("task", out var task) || task != TaskName)
        {
            string what = task is not null ? $"a '{task}' model" : meta.TryGetValue("model.kind", out var k) ? $"an INR classifier ('{k}', from inr-classify)" : $"a {file.Metadata.GetValueOrDefault("model_type", "model")} without a task";
            throw new InvalidDataException($"'{path}' is {what}, not an INR editor (metadata 'user.task' should be '{TaskName}'). Give a model file written by `inr-edit train`.");
        }
        if (!meta.TryGetValue("editor.kind", out var kind) || !EditKinds.Names.Contains(kind))
            throw new InvalidDataException($"'{path}': metadata 'user.editor.kind' is {(kind is null ? "missing" : $"'{kind}'")}; expected one of {string.Join(", ", EditKinds.Names)}.");
        string arch = meta.GetValueOrDefault("inr.architecture", "?");
        if (!meta.TryGetValue("inr.weights", out var w) || w != weights.ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"'{path}' is a {kind} editor of {arch} INRs ({w ?? "?"} weights); this tool edits INRs of {weights} weights.");
        foreach (var (name, t) in contents.Model.Concat(contents.Extra))
        {
            int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0) throw new InvalidDataException($"'{path}': tensor '{name}' holds a non-finite value ({t.Data[bad]} at {bad}); the file is damaged or comes from a run that diverged.");
        }
        var editor = createEditor(kind, 0);
        try { editor.Module.LoadStateDict(contents.Model); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"'{path}' does not fit the {kind} editor: {e.Message}", e); }
        try { editor.LoadNormalization(contents.ExtraWithPrefix(NormalizerPrefix)); }
        catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
        return (editor, meta);
    }
}
