using LayerCompiler.Tasks.Sine;

namespace LayerCompiler.Tasks.Tests.Sine;

/// <summary>The SimCLR schedules: the quick warmup-cosine one and the protocol's constant rate (`sine embed --full`).</summary>
public class ContrastiveTrainingTests
{
    [Fact]
    public void TheProtocolScheduleIsAConstantRateAndTheQuickOneWarmsUpForAnEpochThenDecays()
    {
        var protocol = new ContrastiveTraining(500, 512, 5e-3f, 5e-4, Cosine: false).ToTrainerOptions(1000, 0, null);
        Assert.False(protocol.Cosine);
        Assert.Equal(0, protocol.WarmupSteps);
        Assert.Equal(5e-3f, protocol.LearningRate);
        Assert.Equal(5e-4, protocol.WeightDecay);
        Assert.True(protocol.AmsGrad);
        Assert.Equal(512, protocol.BatchSize);

        // The quick schedule is the one the quick results were measured with (the regression's: warmup one epoch, cosine to 1 %).
        var quick = new ContrastiveTraining(30, 128, 5e-3f, 5e-4).ToTrainerOptions(1000, 0, null);
        var regression = new RegressionTraining(30, 128, 5e-3f, 5e-4).ToTrainerOptions(1000, 0, "task=sine-simclr", null);
        Assert.True(quick.Cosine);
        Assert.Equal(8, quick.WarmupSteps);
        Assert.Equal(regression.WarmupSteps, quick.WarmupSteps);
        Assert.Equal(regression.MinLearningRate, quick.MinLearningRate);
        Assert.Equal(regression.Describe(), quick.Describe());
        Assert.NotEqual(quick.Describe(), new ContrastiveTraining(30, 128, 5e-3f, 5e-4, Cosine: false).ToTrainerOptions(1000, 0, null).Describe());
    }
}
