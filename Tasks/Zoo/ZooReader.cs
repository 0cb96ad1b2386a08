using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Runtime;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>A zoo split in memory.</summary>
public sealed class ZooSplit
{
    internal ZooSplit(string name, WeightSpaceBatch weights, int[]? labels, float[]? targets, int targetWidth, float[] psnr, long[] steps, long[] itemIndex)
    {
        Name = name; Weights = weights; Labels = labels; Targets = targets; TargetWidth = targetWidth; Psnr = psnr; Steps = steps; ItemIndex = itemIndex;
    }

    public string Name { get; }
    public int Count => Weights.Batch;
    /// <summary>Raw INR weights, 1 channel, over the space the split was loaded with.</summary>
    public WeightSpaceBatch Weights { get; }
    /// <summary>Class per INR (null for tasks without labels).</summary>
    public int[]? Labels { get; }
    /// <summary>Regression targets [Count, TargetWidth] (null when none).</summary>
    public float[]? Targets { get; }
    public int TargetWidth { get; }
    public float[] Psnr { get; }
    public long[] Steps { get; }
    /// <summary>Index of each INR's item in the source data (e.g. the image index).</summary>
    public long[] ItemIndex { get; }
}

/// <summary>
/// Opens a zoo directory and loads splits into memory, validating the manifest and every shard against it
/// (identity metadata, positions, tensor names, dtypes and shapes). Every problem is an
/// <see cref="InvalidDataException"/> naming the file and what is wrong.
/// </summary>
public sealed class ZooReader
{
    private ZooReader(string directory, ZooManifest manifest) { Directory = directory; Manifest = manifest; }

    public string Directory { get; }
    public ZooManifest Manifest { get; }
    public ZooArchitecture Architecture => Manifest.Architecture;
    public IReadOnlyList<string> SplitNames => Manifest.Splits.Select(s => s.Name).ToArray();

    /// <summary>Opens a zoo; throws <see cref="DirectoryNotFoundException"/> / <see cref="FileNotFoundException"/> when there is none.</summary>
    public static ZooReader Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (File.Exists(directory))
            throw new ArgumentException($"'{directory}' is a file; a zoo is a directory (the one `inr-zoo build --out DIR` wrote, holding {ZooFormat.ManifestFile}).");
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Zoo directory '{directory}' does not exist. Build a zoo first (ZooBuilder, or the sample's `inr-zoo build --out {directory}`).");
        string manifest = Path.Combine(directory, ZooFormat.ManifestFile);
        if (!File.Exists(manifest))
            throw new FileNotFoundException($"'{directory}' is not a zoo: it has no {ZooFormat.ManifestFile}. Build a zoo into it first (ZooBuilder, or the sample's `inr-zoo build --out {directory}`).", manifest);
        return new ZooReader(directory, ZooManifest.Load(manifest));
    }

    /// <summary>The input network the zoo's INRs are instances of.</summary>
    public MlpInputNetwork CreateNetwork(Symmetry symmetry = Symmetry.HiddenNeuron) => Architecture.CreateNetwork(symmetry);

    /// <summary>
    /// Loads a split (the first <paramref name="limit"/> INRs when given). With <paramref name="space"/> (e.g. a
    /// generated model's <c>CreateWeightSpace()</c>) the batch is over that space, which must have the zoo's tensor
    /// shapes; otherwise over the zoo architecture's space under the hidden-neuron symmetry.
    /// </summary>
    public ZooSplit Load(string split, global::LayerCompiler.Algebra.WeightSpace? space = null, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(split);
        var info = Manifest.Split(split);
        if (!info.Complete)
            throw new InvalidDataException($"Split '{split}' of the zoo in '{Directory}' is incomplete (its build was interrupted); resume the build before loading it.");
        var zooSpace = Architecture.CreateSpace();
        space ??= zooSpace;
        CheckSpace(space, zooSpace);
        int count = limit is int l ? Math.Min(Math.Max(0, l), info.Count) : info.Count;
        if (count == 0) throw new InvalidDataException($"Split '{split}' of the zoo in '{Directory}' holds no INRs{(limit is not null ? " within the limit" : "")}.");
        if (info.Shards.Sum(s => s.Count) != info.Count)
            throw new InvalidDataException($"{ZooFormat.ManifestFile}: split '{split}' lists shards holding {info.Shards.Sum(s => s.Count)} INRs but a count of {info.Count}.");

        var batch = new WeightSpaceBatch(space, count, 1);
        int classes = Manifest.ClassCount, tw = Manifest.TargetWidth;
        var labels = classes > 0 ? new int[count] : null;
        var targets = tw > 0 ? new float[count * tw] : null;
        var psnr = new float[count];
        var steps = new long[count];
        var index = new long[count];
        int shardNumber = 0;
        foreach (var sh in info.Shards)
        {
            if (sh.First >= count) break;
            string path = Path.Combine(Directory, sh.File);
            if (!File.Exists(path)) throw new InvalidDataException($"Shard '{path}' listed in {ZooFormat.ManifestFile} is missing.");
            var expected = new Dictionary<string, string>(Manifest.Identity, StringComparer.Ordinal)
            {
                [ZooFormat.SplitKey] = split,
                [ZooFormat.ShardKey] = shardNumber.ToString(CultureInfo.InvariantCulture),
                [ZooFormat.FirstKey] = sh.First.ToString(CultureInfo.InvariantCulture),
                [ZooFormat.CountKey] = sh.Count.ToString(CultureInfo.InvariantCulture),
            };
            shardNumber++;
            var file = ReadShard(path, expected, zooSpace, classes, tw, Manifest.IndexTensorName, out string? problem);
            if (file is null) throw new InvalidDataException($"Shard '{path}' is not valid: {problem}.");
            int take = Math.Min(sh.Count, count - sh.First);
            for (int t = 0; t < zooSpace.Tensors.Count; t++)
            {
                var wt = zooSpace.Tensors[t];
                var src = file.GetFloat32(wt.Name).Data;
                // A NaN or ∞ weight (a damaged file, or an INR whose fit diverged) would only surface later as a NaN
                // training loss with the wrong advice; name it here.
                int bad = Array.FindIndex(src, 0, take * wt.Size, v => !float.IsFinite(v));
                if (bad >= 0)
                    throw new InvalidDataException($"Shard '{path}': INR {sh.First + bad / wt.Size} of split '{split}' has a non-finite weight ({src[bad]} in {wt.Name}); " +
                        "delete the shard and run the same zoo build again to refit it.");
                Array.Copy(src, 0, batch.Tensors[t].Data, (long)sh.First * wt.Size, (long)take * wt.Size);
            }
            Array.Copy(file.GetFloat32(ZooFormat.PsnrTensor).Data, 0, psnr, sh.First, take);
            Array.Copy(file.GetInt64(ZooFormat.StepsTensor), 0, steps, sh.First, take);
            Array.Copy(file.GetInt64(Manifest.IndexTensorName), 0, index, sh.First, take);
            if (labels != null)
            {
                var lab = file.GetInt64(ZooFormat.LabelsTensor);
                for (int i = 0; i < take; i++)
                {
                    if (lab[i] < 0 || lab[i] >= classes) throw new InvalidDataException($"Shard '{path}': label {lab[i]} of INR {i} is outside 0..{classes - 1}.");
                    labels[sh.First + i] = (int)lab[i];
                }
            }
            if (targets != null) Array.Copy(file.GetFloat32(ZooFormat.TargetsTensor).Data, 0, targets, (long)sh.First * tw, (long)take * tw);
        }
        return new ZooSplit(split, batch, labels, targets, tw, psnr, steps, index);
    }

    private void CheckSpace(global::LayerCompiler.Algebra.WeightSpace space, global::LayerCompiler.Algebra.WeightSpace zooSpace)
    {
        bool same = space.Tensors.Count == zooSpace.Tensors.Count;
        for (int t = 0; same && t < zooSpace.Tensors.Count; t++) same = space.Tensors[t].Shape.AsSpan().SequenceEqual(zooSpace.Tensors[t].Shape);
        if (!same)
            throw new ArgumentException(
                $"The zoo in '{Directory}' holds {Architecture.Describe()} networks [{string.Join(", ", zooSpace.Tensors.Select(t => $"{t.Name}[{string.Join("x", t.Shape)}]"))}], " +
                $"but the requested weight space has [{string.Join(", ", space.Tensors.Select(t => $"{t.Name}[{string.Join("x", t.Shape)}]"))}].", nameof(space));
    }

    /// <summary>
    /// Parses a shard and checks it against <paramref name="expectedMetadata"/> (every key must match) and the
    /// architecture; returns null with <paramref name="problem"/> set when it is not valid.
    /// </summary>
    internal static SafetensorsFile? ReadShard(string path, IReadOnlyDictionary<string, string> expectedMetadata, global::LayerCompiler.Algebra.WeightSpace space,
        int classes, int targetWidth, string indexTensor, out string? problem)
    {
        SafetensorsFile file;
        try { file = SafetensorsFile.Read(path); }
        catch (SafetensorsFormatException e) { problem = $"unreadable safetensors ({e.Message})"; return null; }
        catch (IOException e) { problem = $"cannot be read ({e.Message})"; return null; }
        var diffs = ZooManifest.Differences(expectedMetadata, file.Metadata);
        if (diffs.Count > 0) { problem = "its metadata does not match this zoo: " + string.Join("; ", diffs.Take(5)) + (diffs.Count > 5 ? $"; and {diffs.Count - 5} more" : ""); return null; }
        if (!int.TryParse(file.Metadata[ZooFormat.CountKey], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n <= 0)
        { problem = $"metadata count '{file.Metadata[ZooFormat.CountKey]}' is not a positive integer"; return null; }

        var expected = new List<(string Name, SafetensorsDType DType, int[] Shape)>();
        foreach (var wt in space.Tensors) expected.Add((wt.Name, SafetensorsDType.F32, new[] { n }.Concat(wt.Shape).ToArray()));
        expected.Add((ZooFormat.PsnrTensor, SafetensorsDType.F32, new[] { n }));
        expected.Add((ZooFormat.StepsTensor, SafetensorsDType.I64, new[] { n }));
        expected.Add((indexTensor, SafetensorsDType.I64, new[] { n }));
        if (classes > 0) expected.Add((ZooFormat.LabelsTensor, SafetensorsDType.I64, new[] { n }));
        if (targetWidth > 0) expected.Add((ZooFormat.TargetsTensor, SafetensorsDType.F32, new[] { n, targetWidth }));
        foreach (var (name, dtype, shape) in expected)
        {
            if (!file.Contains(name)) { problem = $"tensor '{name}' is missing"; return null; }
            var e = file.GetEntry(name);
            if (e.DType != dtype || !e.Shape.SequenceEqual(shape))
            { problem = $"tensor '{name}' is {e.DType}[{string.Join(", ", e.Shape)}], expected {dtype}[{string.Join(", ", shape)}]"; return null; }
        }
        var extra = file.Names.Where(x => !expected.Any(e => e.Name == x)).ToList();
        if (extra.Count > 0) { problem = $"unexpected tensor(s) {string.Join(", ", extra.Select(x => $"'{x}'"))}"; return null; }
        problem = null;
        return file;
    }

    /// <summary>Used by the builder when resuming: null when the shard at <paramref name="path"/> is complete and valid.</summary>
    internal static string? ValidateShard(string path, IReadOnlyDictionary<string, string> expectedMetadata, long[] expectedIndex, global::LayerCompiler.Algebra.WeightSpace space,
        int classes, int targetWidth, string indexTensor, out float[]? psnr, out long[]? steps, out double fitSeconds, out string? fitDevice)
    {
        psnr = null; steps = null; fitSeconds = 0; fitDevice = null;
        var file = ReadShard(path, expectedMetadata, space, classes, targetWidth, indexTensor, out string? problem);
        if (file is null) return problem;
        var index = file.GetInt64(indexTensor);
        if (!index.SequenceEqual(expectedIndex)) return $"its {indexTensor} values are not the items of this shard";
        psnr = file.GetFloat32(ZooFormat.PsnrTensor).Data;
        steps = file.GetInt64(ZooFormat.StepsTensor);
        if (file.Metadata.TryGetValue(ZooFormat.FitSecondsKey, out var s)) double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out fitSeconds);
        // Shards written before the device was recorded were fitted on the CPU.
        fitDevice = file.Metadata.TryGetValue(ZooFormat.FitDeviceKey, out var d) ? d : "cpu";
        return null;
    }
}
