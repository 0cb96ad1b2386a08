using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Tasks.ClassifierZoo;
using ZooSeeds = LayerCompiler.Tasks.Zoo.ZooSeeds;

namespace LayerCompiler.Tasks.Adaptation;

/// <summary>A binary task: two Fashion-MNIST classes, <see cref="A"/> &lt; <see cref="B"/>; class A is logit 0, class B logit 1.</summary>
public readonly record struct ClassPair(int A, int B)
{
    public override string ToString() => $"{A}-{B}";

    /// <summary>The binary label of a 10-class label, or an error naming the image if it is neither class.</summary>
    public int BinaryLabel(int label, int image) =>
        label == A ? 0 : label == B ? 1 : throw new ArgumentException($"Image {image} has class {label}; the task {this} holds classes {A} and {B} only.");
}

/// <summary>Helpers shared by the zoo, the fine-tuning reference and the evaluation: pair image sets, initialization, accuracy per pair.</summary>
public static class BinaryTasks
{
    /// <summary>All 45 pairs in a random order drawn from <paramref name="seed"/>; the first <paramref name="count"/>.</summary>
    public static ClassPair[] DrawPairs(ulong seed, int count)
    {
        var all = new List<ClassPair>();
        for (int a = 0; a < 10; a++) for (int b = a + 1; b < 10; b++) all.Add(new ClassPair(a, b));
        var perm = new Rng(ZooSeeds.ForPurpose(seed, "adaptation-pairs")).Permutation(all.Count);
        return perm.Take(count).Select(i => all[i]).ToArray();
    }

    /// <summary>Indices of the images of <paramref name="pair"/>'s two classes in <paramref name="images"/>, in order.</summary>
    public static int[] IndicesOf(ClassifierImages images, ClassPair pair)
    {
        var idx = new List<int>();
        for (int i = 0; i < images.Count; i++) if (images.Labels[i] == pair.A || images.Labels[i] == pair.B) idx.Add(i);
        if (idx.Count == 0) throw new ArgumentException($"No image of class {pair.A} or {pair.B} among the {images.Count} images.");
        return idx.ToArray();
    }

    /// <summary>The images of <paramref name="pair"/> only, labelled 0 (class A) and 1 (class B).</summary>
    public static ClassifierImages Select(ClassifierImages images, ClassPair pair)
    {
        var idx = IndicesOf(images, pair);
        int len = images.InputLength;
        var px = new float[idx.Length * len];
        var labels = new int[idx.Length];
        for (int j = 0; j < idx.Length; j++)
        {
            Array.Copy(images.Pixels, (long)idx[j] * len, px, (long)j * len, len);
            labels[j] = pair.BinaryLabel(images.Labels[idx[j]], idx[j]);
        }
        return new ClassifierImages(px, labels, idx.Length, len);
    }

    /// <summary>PyTorch's default initialization: every weight and bias U(±1/√fan_in), fan_in = the product of the weight's axes after the first.</summary>
    public static void InitializeDefault(Algebra.WeightSpace space, Span<float> flat, Rng rng)
    {
        int o = 0, fanIn = 1;
        foreach (var t in space.Tensors)
        {
            if (!t.IsBias) { fanIn = 1; for (int a = 1; a < t.Shape.Length; a++) fanIn *= t.Shape[a]; }
            float bound = (float)(1 / Math.Sqrt(fanIn));
            for (int k = 0; k < t.Size; k++) flat[o + k] = rng.Uniform(-bound, bound);
            o += t.Size;
        }
    }

    /// <summary>
    /// Accuracy of network n of <paramref name="weights"/> on the images of its own pair <paramref name="pairs"/>[n] in
    /// <paramref name="images"/> (10-class labels; <paramref name="cache"/> keeps each pair's selection between calls).
    /// </summary>
    public static float[] Accuracy(ClassifierPass pass, WeightSpaceBatch weights, IReadOnlyList<ClassPair> pairs, ClassifierImages images,
        Dictionary<ClassPair, ClassifierImages>? cache = null)
    {
        if (pairs.Count != weights.Batch) throw new ArgumentException($"{pairs.Count} pairs for {weights.Batch} networks.", nameof(pairs));
        cache ??= new();
        var acc = new float[weights.Batch];
        int per = checked((int)weights.Space.Dimension);
        var flat = new float[per];
        foreach (var group in Enumerable.Range(0, weights.Batch).GroupBy(n => pairs[n]))
        {
            var members = group.ToArray();
            if (!cache.TryGetValue(group.Key, out var pairImages)) cache[group.Key] = pairImages = Select(images, group.Key);
            var sub = new WeightSpaceBatch(weights.Space, members.Length, 1);
            for (int j = 0; j < members.Length; j++) { ClassifierZooBuilder.Gather(weights, members[j], flat); ClassifierZooBuilder.Scatter(flat, sub, j); }
            var a = ClassifierZooBuilder.TestAccuracy(pass, sub, pairImages, pairImages.Count);
            for (int j = 0; j < members.Length; j++) acc[members[j]] = a[j];
        }
        return acc;
    }

    /// <summary>
    /// <paramref name="steps"/> steps of the networks of <paramref name="weights"/>, each on batches of its own pair's images of
    /// <paramref name="images"/>, with the optimizer <paramref name="optimizer"/> makes; data order from (<paramref name="seed"/>,
    /// <paramref name="purpose"/>, <paramref name="ids"/>[n]). Returns the trained weights (a new batch) and each network's mean loss.
    /// </summary>
    public static (WeightSpaceBatch Weights, double[] MeanLoss) Train(ClassifierPass pass, WeightSpaceBatch weights, IReadOnlyList<ClassPair> pairs, IReadOnlyList<int> ids,
        ClassifierImages images, int steps, int batchSize, Func<Parameter, Runtime.Optim.Optimizer> optimizer, ulong seed, string purpose, Action<int>? onStep = null)
    {
        int n = weights.Batch, per = checked((int)weights.Space.Dimension);
        var result = new WeightSpaceBatch(weights.Space, n, 1);
        var loss = new double[n];
        foreach (var group in Enumerable.Range(0, n).GroupBy(i => pairs[i]))
        {
            var members = group.ToArray();
            var pairImages = Select(images, group.Key);
            var runs = members.Select(i =>
            {
                var flat = new Parameter(per);
                ClassifierZooBuilder.Gather(weights, i, flat.Data);
                return new BatchedClassifierRun(flat, optimizer(flat), new Rng(ZooSeeds.ForItem(seed, purpose, ids[i])), Enumerable.Range(0, pairImages.Count).ToArray());
            }).ToList();
            var trainer = new BatchedClassifierTrainer(pass, runs, pairImages, batchSize);
            for (int s = 0; s < steps; s++) { trainer.Step(); onStep?.Invoke(members.Length); }
            for (int j = 0; j < members.Length; j++)
            {
                if (runs[j].Diverged) throw new InvalidOperationException($"Classifier {ids[members[j]]} (pair {group.Key}) diverged ({purpose}): its weights became non-finite.");
                ClassifierZooBuilder.Scatter(runs[j].Flat.Data, result, members[j]);
                loss[members[j]] = runs[j].MeanLoss;
            }
        }
        return (result, loss);
    }
}
