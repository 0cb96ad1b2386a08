using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tasks.Zoo;
using System;
using System.Collections.Generic;

namespace LayerCompiler.Tasks.ClassifierZoo;

public enum ZooOptimizer { Sgd = 0, Adam = 1, RmsProp = 2 }
public enum ZooInit { Uniform = 0, Normal = 1, TruncatedNormal = 2 }

/// <summary>
/// One training run's hyperparameters, drawn from (zoo seed, run index) alone (so they do not depend on sharding or
/// threads), with the Small CNN Zoo's kind of spread.
/// </summary>
public sealed record RunHyperparameters(ZooOptimizer Optimizer, double LearningRate, double L2, ZooInit Init, double InitStd,
    double Dropout, double TrainFraction, InputActivation Activation)
{
    public const string Description =
        "optimizer uniform over {SGD (no momentum), Adam (0.9, 0.999, 1e-8), RMSprop (alpha 0.99, eps 1e-8)}; lr log-uniform [5e-4, 5e-2]; " +
        "L2 (coupled weight decay on every parameter) log-uniform [1e-8, 1e-2]; init uniform over {uniform, normal, truncated normal (|z| <= 2)} with std log-uniform [1e-3, 0.5] for weights, biases 0; " +
        "dropout uniform [0, 0.5] on the last layer's inputs (inverted); training fraction uniform [0.1, 1]; activation ReLU or tanh with probability 1/2";

    public static RunHyperparameters Draw(ulong zooSeed, int run)
    {
        var rng = new Rng(ZooSeeds.ForItem(zooSeed, "classifier-run", run));
        double LogUniform(double lo, double hi) => Math.Exp(Math.Log(lo) + rng.NextDouble() * (Math.Log(hi) - Math.Log(lo)));
        var opt = (ZooOptimizer)(int)(rng.NextUInt64() % 3);
        double lr = LogUniform(5e-4, 5e-2);
        double l2 = LogUniform(1e-8, 1e-2);
        var init = (ZooInit)(int)(rng.NextUInt64() % 3);
        double std = LogUniform(1e-3, 0.5);
        double dropout = 0.5 * rng.NextDouble();
        double fraction = 0.1 + 0.9 * rng.NextDouble();
        var act = rng.NextUInt64() % 2 == 0 ? InputActivation.ReLU : InputActivation.Tanh;
        return new RunHyperparameters(opt, lr, l2, init, std, dropout, fraction, act);
    }

    /// <summary>The run's optimizer over its parameters (torch.optim conventions, weight decay on every parameter).</summary>
    public Optimizer CreateOptimizer(IEnumerable<Parameter> parameters) => Optimizer switch
    {
        ZooOptimizer.Sgd => new Sgd(parameters, (float)LearningRate, weightDecay: L2) { DecayAllParameters = true },
        ZooOptimizer.Adam => new Adam(parameters, (float)LearningRate, weightDecay: L2) { DecayAllParameters = true },
        ZooOptimizer.RmsProp => new RmsProp(parameters, (float)LearningRate, weightDecay: L2) { DecayAllParameters = true },
        _ => throw new ArgumentOutOfRangeException(nameof(Optimizer), Optimizer, "Unknown optimizer."),
    };

    /// <summary>One initial weight (biases are 0).</summary>
    public float InitialWeight(Rng rng)
    {
        switch (Init)
        {
            case ZooInit.Uniform: return (float)((rng.NextDouble() * 2 - 1) * Math.Sqrt(3) * InitStd);
            case ZooInit.Normal: return (float)(rng.Normal() * InitStd);
            default:
                while (true) { double z = rng.Normal(); if (Math.Abs(z) <= 2) return (float)(z * InitStd); }
        }
    }
}

/// <summary>NFN's split of runs: shuffle the runs with a fixed seed; the second half is test; the first half splits 80/20 into train and validation. All checkpoints of a run share its split.</summary>
public static class ClassifierZooSplits
{
    public const string Train = "train", Validation = "validation", Test = "test";

    /// <summary>The split of every run 0..runs-1.</summary>
    public static string[] Assign(int runs, ulong zooSeed)
    {
        var order = new int[runs];
        for (int i = 0; i < runs; i++) order[i] = i;
        var rng = new Rng(ZooSeeds.ForPurpose(zooSeed, "classifier-zoo splits"));
        for (int i = runs - 1; i > 0; i--) { int j = (int)(rng.NextUInt64() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }
        int half = runs / 2, train = (int)Math.Round(half * 0.8);
        var split = new string[runs];
        for (int k = 0; k < runs; k++) split[order[k]] = k >= half ? Test : k < train ? Train : Validation;
        return split;
    }
}
