using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;

namespace LayerCompiler.Runtime.Tests.Training;

/// <summary>
/// The recipe options of the one trainer that the newer models need: warmup then a constant rate (Cosine = false),
/// and global gradient-norm clipping in the CPU step.
/// </summary>
public class RecipeOptionsTests
{
    /// <summary>Records the rate the trainer sets before each step; steps nothing.</summary>
    private sealed class RecordingExecutor : IStepExecutor
    {
        public List<float> Rates { get; } = new();
        public float LearningRate { get; set; }
        public int StepCount { get; private set; }
        public void SetTraining(bool training) { }
        public StepResult Step(WeightSpaceBatch inputs, TrainingTargets targets, ITrainingObjective objective)
        {
            Rates.Add(LearningRate);
            StepCount++;
            return new StepResult(1f, new Tensor(inputs.Batch, 2));
        }
        public Tensor Forward(WeightSpaceBatch inputs) => new(inputs.Batch, 2);
        public Dictionary<string, Tensor> StateDict() => new();
        public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state) { }
        public Dictionary<string, Tensor> OptimizerStateDict() => new();
        public void LoadOptimizerStateDict(IReadOnlyDictionary<string, Tensor> state) { }
    }

    private static InMemoryWeightDataset Data(int count) =>
        new(ReferenceMlp.Random(ReferenceMlp.Space(2, 3, 1), count, 1), Enumerable.Range(0, count).Select(i => i % 2).ToArray());

    [Fact]
    public void WarmupThenConstantRate()
    {
        var exec = new RecordingExecutor();
        var options = new TrainerOptions { Epochs = 3, BatchSize = 2, LearningRate = 0.3f, WarmupSteps = 4, Cosine = false };
        new Trainer(exec, options).Fit(Data(6));
        // 3 steps per epoch, 9 steps: lr · s / 4 for s < 4, then lr.
        var expected = Enumerable.Range(0, 9).Select(s => s < 4 ? (float)(0.3f * (double)s / 4) : 0.3f).ToArray();
        Assert.Equal(expected, exec.Rates);
    }

    [Fact]
    public void WarmupThenCosineIsTheDefaultSchedule()
    {
        var exec = new RecordingExecutor();
        var options = new TrainerOptions { Epochs = 2, BatchSize = 2, LearningRate = 0.3f, WarmupSteps = 2, MinLearningRate = 0.01f };
        new Trainer(exec, options).Fit(Data(6));
        var schedule = new WarmupCosineSchedule(0.3f, 2, 6, 0.01f);
        Assert.Equal(Enumerable.Range(0, 6).Select(schedule.At).ToArray(), exec.Rates);
        Assert.True(exec.Rates[5] < exec.Rates[3]);
    }

    [Fact]
    public void TheCpuStepClipsTheGlobalGradientNormExactly()
    {
        // SGD with rate 1 and no momentum: the parameter change is minus the (clipped) gradient.
        static (float[] Before, float[] After, float NormBefore) Run(float? clip)
        {
            var net = new Sequential(new Linear(4, 3, new Rng(1)));
            var parameters = net.Parameters().ToArray();
            var before = parameters.SelectMany(p => p.Data).ToArray();
            var x = GradCheck.RandomTensor(new Rng(2), 3f, 5, 4);
            var exec = new ModuleStepExecutor(net, _ => net.Forward(x), g => net.Backward(g), new Sgd(net.Parameters(), 1f), clip);
            var batch = new WeightSpaceBatch(ReferenceMlp.Space(2, 3, 1), 5, 1);
            exec.Step(batch, new TrainingTargets(new[] { 0, 1, 2, 0, 1 }, null), new ClassificationObjective());
            double norm = Math.Sqrt(parameters.Sum(p => p.Grad.Data.Sum(v => (double)v * v)));
            return (before, parameters.SelectMany(p => p.Data).ToArray(), (float)norm);
        }
        var (b0, a0, n0) = Run(null);
        Assert.True(n0 > 0.5f, $"the unclipped gradient norm {n0} is too small for the test");
        const float maxNorm = 0.25f;
        var (b1, a1, _) = Run(maxNorm);
        Assert.Equal(b0, b1);
        double stepNorm = Math.Sqrt(b1.Zip(a1).Sum(p => ((double)p.First - p.Second) * ((double)p.First - p.Second)));
        Assert.Equal(maxNorm, stepNorm, 1e-5);
        // Same direction as the unclipped step, scaled by maxNorm / (norm + 1e-6).
        double scale = maxNorm / (n0 + 1e-6);
        for (int i = 0; i < b0.Length; i++) Assert.Equal((b0[i] - a0[i]) * scale, b1[i] - a1[i], 1e-6);
    }
}
