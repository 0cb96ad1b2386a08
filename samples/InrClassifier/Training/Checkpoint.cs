using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.IO;

namespace InrClassifier.Training;

/// <summary>
/// A trained classifier on disk: safetensors with the model's state dict under <c>model.</c>, the input
/// normalization under <c>normalizer.</c>, and metadata saying which model it is and how it was trained.
/// </summary>
internal static class Checkpoint
{
    public const string Format = "inr-classifier-checkpoint/1";

    public static void Save(string path, Classifier model, IReadOnlyDictionary<string, string> extraMetadata)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in model.Module.StateDict()) tensors["model." + k] = v;
        foreach (var (k, v) in model.NormalizationState()) tensors["normalizer." + k] = v;
        var meta = new Dictionary<string, string>(model.Metadata(), StringComparer.Ordinal) { ["format"] = Format };
        foreach (var (k, v) in extraMetadata) meta[k] = v;
        SafetensorsWriter.Write(path, tensors, meta);
    }

    /// <summary>Rebuilds the classifier saved at <paramref name="path"/>. Errors say what is wrong with the file.</summary>
    public static (Classifier Model, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"Checkpoint '{path}' is a directory; give the model file (DIR/model.safetensors).");
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist. Train one with `train --out DIR` (it writes DIR/model.safetensors).", path);
        SafetensorsFile file;
        try { file = SafetensorsFile.Read(path); }
        catch (SafetensorsFormatException e) { throw new InvalidDataException($"'{path}' is not a valid checkpoint: {e.Message}", e); }
        if (!file.Metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"'{path}' is a safetensors file but not an InrClassifier checkpoint (metadata 'format' is {(format is null ? "missing" : $"'{format}'")}, expected '{Format}').");
        if (!file.Metadata.TryGetValue("model.kind", out var kind) || !ModelKinds.Names.Contains(kind))
            throw new InvalidDataException($"'{path}': metadata 'model.kind' is {(kind is null ? "missing" : $"'{kind}'")}; expected one of {string.Join(", ", ModelKinds.Names)}.");
        bool full = file.Metadata.TryGetValue("model.variant", out var variant) && variant == "full";
        var model = Classifier.Create(kind, full, 0);
        var all = file.ReadAllFloat32();
        var state = all.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value, StringComparer.Ordinal);
        try { model.Module.LoadStateDict(state); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"'{path}' does not fit the {kind} ({(full ? "full" : "quick")}) model: {e.Message}", e); }
        foreach (var (name, t) in all)
        {
            int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0) throw new InvalidDataException($"'{path}': tensor '{name}' holds a non-finite value ({t.Data[bad]} at {bad}); the file is damaged or comes from a run that diverged.");
        }
        model.LoadNormalization(all.Where(kv => kv.Key.StartsWith("normalizer.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["normalizer.".Length..], kv => kv.Value, StringComparer.Ordinal));
        return (model, file.Metadata);
    }
}
