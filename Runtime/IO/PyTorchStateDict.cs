using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// Converts between PyTorch-style state dicts of input networks (e.g. <c>seq.0.weight</c> (out, in),
/// <c>seq.0.bias</c> (out)) and <see cref="WeightSpaceBatch"/>es of raw weights (1 channel).
/// </summary>
/// <remarks>
/// <para>Orientation: the weight space uses PyTorch's, so no transposes: a dense weight is (out, in), a conv
/// weight (out, in, kh, kw), a bias (out).</para>
/// <para>A file holds either ONE network (each tensor has exactly the weight tensor's shape) or MANY networks
/// (every tensor has a leading batch dimension N: [N, out, in], [N, out]). Which one is detected from the ranks;
/// every tensor must agree. Any dtype that <see cref="SafetensorsFile.GetFloat32"/> converts is accepted.</para>
/// <para>Keys come from a <see cref="PyTorchKeyPattern"/> (default <see cref="PyTorchKeyPattern.Sequential"/> with
/// prefix <c>seq</c>). Other keys in the file are ignored unless <c>strict</c> is set. Problems (missing keys,
/// wrong shapes, inconsistent batch sizes) are all listed in one <see cref="InvalidDataException"/>, each naming
/// the key, the expected and the actual shape.</para>
/// </remarks>
public static class PyTorchStateDict
{
    /// <summary>Reads the networks of a safetensors state dict for the architecture <paramref name="space"/>.</summary>
    public static WeightSpaceBatch Read(string path, global::LayerCompiler.Algebra.WeightSpace space, PyTorchKeyPattern? pattern = null, bool strict = false)
    {
        var file = SafetensorsFile.Read(path);
        return Read(file, space, pattern, strict, $"'{path}'");
    }

    /// <summary>Reads the networks of an already opened safetensors file.</summary>
    public static WeightSpaceBatch Read(SafetensorsFile file, global::LayerCompiler.Algebra.WeightSpace space, PyTorchKeyPattern? pattern = null, bool strict = false) =>
        Read(file, space, pattern, strict, "the file");

    private static WeightSpaceBatch Read(SafetensorsFile file, global::LayerCompiler.Algebra.WeightSpace space, PyTorchKeyPattern? pattern, bool strict, string source)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Convert(space, pattern, strict, source, file.Names.ToList(),
            k => file.Contains(k) ? file.GetEntry(k).ShapeArray() : null, file.GetFloat32);
    }

    /// <summary>Builds the networks from an in-memory state dict.</summary>
    public static WeightSpaceBatch FromTensors(IReadOnlyDictionary<string, Tensor> state, global::LayerCompiler.Algebra.WeightSpace space,
        PyTorchKeyPattern? pattern = null, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        return Convert(space, pattern, strict, "the state dict", state.Keys.ToList(),
            k => state.TryGetValue(k, out var t) && t != null ? (int[])t.Shape.Clone() : null, k => state[k]);
    }

    private static WeightSpaceBatch Convert(global::LayerCompiler.Algebra.WeightSpace space, PyTorchKeyPattern? pattern, bool strict, string source,
        List<string> available, Func<string, int[]?> shapeOf, Func<string, Tensor> load)
    {
        ArgumentNullException.ThrowIfNull(space);
        pattern ??= PyTorchKeyPattern.Sequential();
        var keys = pattern.KeysOf(space);
        var problems = new List<string>();
        int? networks = null;        // N when batched, 1 when single
        bool? batched = null;
        string? firstKey = null;
        for (int i = 0; i < keys.Length; i++)
        {
            var wt = space.Tensors[i];
            string key = keys[i];
            var shape = shapeOf(key);
            string expected = $"{Shape(wt.Shape)} for one network or [N, {string.Join(", ", wt.Shape)}] for N networks";
            if (shape == null)
            {
                problems.Add($"missing '{key}' ({wt.Name}, expected {expected})");
                continue;
            }
            bool thisBatched;
            int n;
            if (shape.Length == wt.Shape.Length && shape.AsSpan().SequenceEqual(wt.Shape)) { thisBatched = false; n = 1; }
            else if (shape.Length == wt.Shape.Length + 1 && shape.AsSpan(1).SequenceEqual(wt.Shape)) { thisBatched = true; n = shape[0]; }
            else
            {
                string hint = "";
                if (shape.Length >= 2 && wt.Shape.Length == 2)
                {
                    var last2 = shape.AsSpan(shape.Length - 2);
                    if (last2[0] == wt.Shape[1] && last2[1] == wt.Shape[0] && wt.Shape[0] != wt.Shape[1])
                        hint = " (transposed? PyTorch's Linear.weight is (out, in), the layout used here)";
                }
                problems.Add($"shape mismatch for '{key}' ({wt.Name}): expected {expected}, got {Shape(shape)}{hint}");
                continue;
            }
            if (batched == null) { batched = thisBatched; networks = n; firstKey = key; }
            else if (batched != thisBatched)
                problems.Add($"'{key}' ({wt.Name}) has shape {Shape(shape)}: {(thisBatched ? "a batch of networks" : "one network")}, but '{firstKey}' holds {(batched.Value ? "a batch" : "one network")}");
            else if (n != networks)
                problems.Add($"'{key}' ({wt.Name}) holds {n} networks, but '{firstKey}' holds {networks}");
        }
        if (networks == 0) problems.Add($"'{firstKey}' holds 0 networks");
        if (strict)
        {
            var used = new HashSet<string>(keys, StringComparer.Ordinal);
            foreach (var k in available.OrderBy(k => k, StringComparer.Ordinal))
                if (!used.Contains(k)) problems.Add($"unexpected '{k}' (no tensor of the architecture maps to it)");
        }
        if (problems.Count > 0)
        {
            var sb = new StringBuilder($"The state dict in {source} does not match the architecture {Checkpoint.DescribeSpace(space)} with keys {pattern} ({problems.Count} problem(s)):");
            foreach (var p in problems) sb.Append("\n  - ").Append(p);
            if (problems.Any(p => p.StartsWith("missing", StringComparison.Ordinal)))
            {
                var shown = available.OrderBy(k => k, StringComparer.Ordinal).Take(40).ToList();
                sb.Append("\n  keys present: ").Append(shown.Count == 0 ? "(none)" : string.Join(", ", shown)).Append(available.Count > shown.Count ? ", ..." : "");
            }
            throw new InvalidDataException(sb.ToString());
        }

        var batch = new WeightSpaceBatch(space, networks!.Value, 1);
        for (int i = 0; i < keys.Length; i++)
        {
            var t = load(keys[i]);
            // [N, axes...] and [N, axes..., 1] have the same memory layout.
            Array.Copy(t.Data, batch.Tensors[i].Data, batch.Tensors[i].Length);
        }
        return batch;
    }

    /// <summary>
    /// The state dict of raw weights (1 channel). <paramref name="batched"/>: true gives a leading batch dimension
    /// ([N, out, in]); false requires a single network and gives the plain shapes; null (default) picks batched
    /// exactly when there is more than one network.
    /// </summary>
    public static Dictionary<string, Tensor> ToTensors(WeightSpaceBatch weights, PyTorchKeyPattern? pattern = null, bool? batched = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Channels != 1) throw new ArgumentException($"Only raw weights (1 channel) form a state dict; the batch has {weights.Channels} channels.", nameof(weights));
        bool b = batched ?? weights.Batch > 1;
        if (!b && weights.Batch != 1)
            throw new ArgumentException($"An unbatched state dict holds one network; the batch has {weights.Batch}. Pass batched: true or pick one network.", nameof(batched));
        pattern ??= PyTorchKeyPattern.Sequential();
        var keys = pattern.KeysOf(weights.Space);
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < keys.Length; i++)
        {
            var wt = weights.Space.Tensors[i];
            int[] shape = b ? new[] { weights.Batch }.Concat(wt.Shape).ToArray() : (int[])wt.Shape.Clone();
            d[keys[i]] = new Tensor((float[])weights.Tensors[i].Data.Clone(), shape);
        }
        return d;
    }

    /// <summary>The state dict (plain shapes, no batch dimension) of network <paramref name="network"/> of the batch.</summary>
    public static Dictionary<string, Tensor> ToTensors(WeightSpaceBatch weights, int network, PyTorchKeyPattern? pattern = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if ((uint)network >= (uint)weights.Batch) throw new ArgumentOutOfRangeException(nameof(network), network, $"The batch holds {weights.Batch} networks.");
        if (weights.Channels != 1) throw new ArgumentException($"Only raw weights (1 channel) form a state dict; the batch has {weights.Channels} channels.", nameof(weights));
        pattern ??= PyTorchKeyPattern.Sequential();
        var keys = pattern.KeysOf(weights.Space);
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < keys.Length; i++)
        {
            var wt = weights.Space.Tensors[i];
            var data = new float[wt.Size];
            Array.Copy(weights.Tensors[i].Data, (long)network * wt.Size, data, 0, wt.Size);
            d[keys[i]] = new Tensor(data, (int[])wt.Shape.Clone());
        }
        return d;
    }

    /// <summary>Writes the networks as a safetensors state dict (atomically); see <see cref="ToTensors(WeightSpaceBatch, PyTorchKeyPattern?, bool?)"/> for <paramref name="batched"/>.</summary>
    public static void Write(string path, WeightSpaceBatch weights, PyTorchKeyPattern? pattern = null, bool? batched = null,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        SafetensorsWriter.Write(path, ToTensors(weights, pattern, batched), metadata);

    private static string Shape(int[] s) => "[" + string.Join(", ", s) + "]";
}
