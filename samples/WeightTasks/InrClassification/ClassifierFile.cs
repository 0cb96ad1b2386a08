using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime.Modules;

namespace WeightTasks.InrClassification;

/// <summary>
/// A trained classifier on disk: a model file of the runtime's <see cref="Checkpoint"/> format (kind "model"), with the
/// parameters under <c>model.</c>, the input normalization under <c>extra.normalizer.</c>, and <c>user.</c> metadata saying
/// which model it is (<c>user.model.kind</c>, <c>user.model.variant</c>) and how it was trained.
/// </summary>
internal static class ClassifierFile
{
    private const string NormalizerPrefix = "normalizer.";

    public static void Save(string path, Classifier model, IReadOnlyDictionary<string, string> extraMetadata)
    {
        var extra = model.NormalizationState().ToDictionary(kv => NormalizerPrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var custom = new Dictionary<string, string>(model.Metadata(), StringComparer.Ordinal);
        foreach (var (k, v) in extraMetadata) custom[k] = v;
        var module = model.Module;
        Checkpoint.SaveModel(path, module.StateDict(), module.GetType().FullName ?? module.GetType().Name, new CheckpointInfo { Custom = custom },
            module as EquivariantNetwork, extra);
    }

    /// <summary>Rebuilds the classifier saved at <paramref name="path"/>, with its <c>user.</c> metadata (prefix removed). Errors say what is wrong with the file.</summary>
    public static (Classifier Model, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"Checkpoint '{path}' is a directory; give the model file (DIR/model.safetensors).");
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist. Train one with `inr-classify train --out DIR` (it writes DIR/model.safetensors).", path);
        SafetensorsFile file;
        try { file = SafetensorsFile.Read(path); }
        catch (SafetensorsFormatException e) { throw new InvalidDataException($"'{path}' is not a valid checkpoint: {e.Message}", e); }
        // The header first, for errors that say what the file is instead of listing what it lacks.
        if (!file.Metadata.TryGetValue("format", out var format) || format != Checkpoint.FormatName)
            throw new InvalidDataException($"'{path}' is a safetensors file but not an INR-classifier checkpoint (metadata 'format' is {(format is null ? "missing" : $"'{format}'")}, expected '{Checkpoint.FormatName}').");
        if (file.Metadata.TryGetValue("kind", out var fileKind) && fileKind != "model")
            throw new InvalidDataException($"'{path}' is a {fileKind} checkpoint (metadata 'kind' is '{fileKind}'), not a model file; give DIR/model.safetensors.");
        var contents = Checkpoint.Read(path);
        var meta = contents.Info.Custom;
        if (!meta.TryGetValue("model.kind", out var kind) || !ModelKinds.Names.Contains(kind))
            throw new InvalidDataException($"'{path}': metadata 'user.model.kind' is {(kind is null ? "missing" : $"'{kind}'")}; expected one of {string.Join(", ", ModelKinds.Names)}.");
        foreach (var (name, t) in contents.Model.Concat(contents.Extra))
        {
            int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0) throw new InvalidDataException($"'{path}': tensor '{name}' holds a non-finite value ({t.Data[bad]} at {bad}); the file is damaged or comes from a run that diverged.");
        }
        bool full = meta.TryGetValue("model.variant", out var variant) && variant == "full";
        var model = Classifier.Create(kind, full, 0);
        try { model.Module.LoadStateDict(contents.Model); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"'{path}' does not fit the {kind} ({(full ? "full" : "quick")}) model: {e.Message}", e); }
        model.LoadNormalization(contents.ExtraWithPrefix(NormalizerPrefix));
        return (model, meta);
    }
}
