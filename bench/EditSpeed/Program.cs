using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Data;
using LayerCompiler.Tasks.Editing;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Bench.EditSpeed;
using WeightTasks;

// Usage: EditSpeed profile|profile-reference ZOO [kinds] [trainLimit] [evalLimit]   (profile-reference: the rendering
//        loss through the network's own passes) ; EditSpeed render ZOO (generated network vs MlpInputNetwork kernels)
//   One epoch of each editor's training loop, phase by phase (the Trainer's step: batch fill, editor forward,
//   rendering loss and its gradient, editor backward, optimizer), then the evaluation passes inr-edit makes.
if (args.Length < 2 || args[0] is not ("profile" or "profile-reference" or "render"))
{
    Console.Error.WriteLine("usage: EditSpeed profile|profile-reference ZOO [kinds] [trainLimit] [evalLimit] | EditSpeed render ZOO\n" +
        "  ZOO: a Fashion-MNIST INR zoo, e.g. one built by `WeightTasks inr-zoo build --out runs/fashion-zoo --per-split 1000 --steps 400 --shard-size 250`");
    Environment.Exit(2);
}
string zoo = args[1];
var kinds = (args.Length > 2 ? args[2] : "hidden,pointwise,mlp,all").Split(',');
int trainLimit = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1000;
int evalLimit = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 500;

if (args[0] == "render") { RenderBench.Run(zoo); return; }
var data = FashionMnist.Load();
var network = new Siren2x32x32x1.Network();
var reader = InrEditing.OpenForNetwork(zoo, data, network);
var clock = Stopwatch.StartNew();
var train = InrEditing.Load(reader, data, "train", trainLimit);
var validation = InrEditing.Load(reader, data, "validation", evalLimit);
var test = InrEditing.Load(reader, data, "test", evalLimit);
Console.WriteLine($"load: {clock.Elapsed.TotalMilliseconds:F0} ms ({train.Count}/{validation.Count}/{test.Count})");

foreach (string kind in kinds)
{
    var model = Create(kind, 0);
    model.FitInputs(train.Zoo.Weights);
    var settings = new InrEditing.Settings(1, 32, 1e-3f);
    var options = settings.ToTrainerOptions(train.Count, 0, kind, null);
    var exec = model.Executor(options);
    var objective = new RenderingObjective(network, InrTask.ImageGrid(28, 28), train.Pixels, reference: args[0] == "profile-reference");
    var ds = new InMemoryWeightDataset(train.Zoo.Weights, train.Targets, train.Pixels);
    var order = Rng.ForEpoch(0, 1, 1).Permutation(train.Count);
    var x = new WeightSpaceBatch(train.Zoo.Weights.Space, 32, 1);
    var y = new Tensor(32, train.Pixels);
    double tFill = 0, tFwd = 0, tObj = 0, tBwd = 0, tOpt = 0;
    int steps = train.Count / 32;
    for (int s = 0; s < steps; s++)
    {
        var idx = order.AsSpan(s * 32, 32).ToArray();
        long t0 = Stopwatch.GetTimestamp();
        ds.Fill(idx, x);
        for (int j = 0; j < 32; j++) ds.GetTargets(idx[j], y.Data.AsSpan(j * train.Pixels, train.Pixels));
        long t1 = Stopwatch.GetTimestamp();
        var outputs = model.Forward(x);
        long t2 = Stopwatch.GetTimestamp();
        var (loss, grad) = objective.Compute(outputs, new TrainingTargets(null, y));
        long t3 = Stopwatch.GetTimestamp();
        model.Module.ZeroGrad();
        model.Backward(grad);
        long t4 = Stopwatch.GetTimestamp();
        exec.Optimizer.Step();
        long t5 = Stopwatch.GetTimestamp();
        if (s == 0) continue; // JIT
        tFill += Ms(t0, t1); tFwd += Ms(t1, t2); tObj += Ms(t2, t3); tBwd += Ms(t3, t4); tOpt += Ms(t4, t5);
    }
    int n = (steps - 1) * 32;
    double total = tFill + tFwd + tObj + tBwd + tOpt;
    Console.WriteLine($"{kind,-10} train step per INR (µs): fill {1000 * tFill / n,6:F1}  editor fwd {1000 * tFwd / n,7:F1}  render loss+grad {1000 * tObj / n,7:F1}  editor bwd {1000 * tBwd / n,7:F1}  optimizer {1000 * tOpt / n,6:F1}  total {1000 * total / n,7:F1}");

    // The evaluation inr-edit makes after each epoch (Trainer.Evaluate on validation: forward + loss, which also runs
    // the rendering's backward) and at the end (Predict + RenderMse on validation and test).
    long e0 = Stopwatch.GetTimestamp();
    var pv = model.Predict(validation.Zoo.Weights);
    long e1 = Stopwatch.GetTimestamp();
    InrEditing.RenderMse(network, pv, validation);
    long e2 = Stopwatch.GetTimestamp();
    Console.WriteLine($"{kind,-10} eval per INR (µs): predict {1000 * Ms(e0, e1) / validation.Count:F1}  RenderMse {1000 * Ms(e1, e2) / validation.Count:F1}");
}

static double Ms(long a, long b) => (b - a) * 1000.0 / Stopwatch.Frequency;

static WeightEditor Create(string kind, ulong seed) => kind switch
{
    EditKinds.Hidden => WeightEditor.Equivariant(kind, new HiddenNeuronEditor(seed)),
    EditKinds.All => WeightEditor.Equivariant(kind, new AllNeuronEditor(seed)),
    EditKinds.Pointwise => WeightEditor.Pointwise(HiddenNeuronEditor.CreateWeightSpace(), new[] { 32, 32 }, seed),
    EditKinds.Mlp => WeightEditor.FlattenedMlp(HiddenNeuronEditor.CreateWeightSpace(), new[] { 256 }, seed),
    _ => throw new ArgumentException(kind),
};

