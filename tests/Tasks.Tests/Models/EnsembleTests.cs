using LayerCompiler.Tasks.Models;

namespace LayerCompiler.Tasks.Tests.Models;

/// <summary>The ensemble by mean softmax probabilities: worked examples by hand, agreement with one model, bad input.</summary>
public class EnsembleTests
{
    [Fact]
    public void MeanProbabilities_TwoMembersThatDisagree_PickTheClassWithTheLargerMeanProbability()
    {
        // Row 0: member A is sure of class 0 (logits 4, 0, 0), member B mildly prefers class 1 (0, 1, 0).
        // softmax A = (e^4, 1, 1) / (e^4 + 2); softmax B = (1, e, 1) / (e + 2). Mean for class 0 ≈ (0.9647 + 0.2119) / 2 wins.
        // Row 1: A prefers 2 mildly (0, 0, 0.5), B prefers 1 strongly (0, 3, 0): class 1 wins the mean.
        var a = new float[] { 4, 0, 0, 0, 0, 0.5f };
        var b = new float[] { 0, 1, 0, 0, 3, 0 };

        var mean = Ensemble.MeanProbabilities(new[] { a, b }, 3);

        double e4 = Math.Exp(4), e = Math.E, e3 = Math.Exp(3), eh = Math.Exp(0.5);
        double[] expected =
        {
            (e4 / (e4 + 2) + 1 / (e + 2)) / 2, (1 / (e4 + 2) + e / (e + 2)) / 2, (1 / (e4 + 2) + 1 / (e + 2)) / 2,
            (1 / (2 + eh) + 1 / (e3 + 2)) / 2, (1 / (2 + eh) + e3 / (e3 + 2)) / 2, (eh / (2 + eh) + 1 / (e3 + 2)) / 2,
        };
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], mean[i], 12);
        Assert.Equal(new[] { 0, 1 }, Ensemble.Predict(mean, 3));
        Assert.Equal(0.5, Ensemble.Accuracy(Ensemble.Predict(mean, 3), new[] { 0, 2 }));
    }

    [Fact]
    public void MeanProbabilities_VotesOfTheMajorityCanLoseToOneConfidentMember()
    {
        // Two members lean to class 1 by a little, one is certain of class 0: averaging probabilities (not votes) picks 0.
        var lean = new float[] { 0, 0.2f };
        var sure = new float[] { 10, 0 };

        var mean = Ensemble.MeanProbabilities(new[] { lean, lean, sure }, 2);

        Assert.Equal(new[] { 0 }, Ensemble.Predict(mean, 2));
        Assert.Equal(1.0, mean[0] + mean[1], 12);
    }

    [Fact]
    public void OneMember_PredictsTheArgMaxOfItsLogits_AndLargeLogitsStayFinite()
    {
        var rng = new Random(5);
        var logits = new float[40 * 10];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(rng.NextDouble() * 2000 - 1000);

        var mean = Ensemble.MeanProbabilities(new[] { logits }, 10);

        Assert.All(mean, p => Assert.True(double.IsFinite(p) && p >= 0 && p <= 1));
        var argmax = Runtime.Losses.Metrics.ArgMax(new Runtime.Tensor(logits, new[] { 40, 10 }));
        Assert.Equal(argmax, Ensemble.Predict(mean, 10));
    }

    [Fact]
    public void BadInput_IsRefusedNamingTheMember()
    {
        Assert.Contains("at least one member", Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities(Array.Empty<float[]>(), 3)).Message);
        Assert.Contains("Member 1 has 3 logits, member 0 has 6",
            Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities(new[] { new float[6], new float[3] }, 3)).Message);
        Assert.Contains("Member 0 has a non-finite logit (NaN) in row 1",
            Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities(new[] { new float[] { 0, 0, 0, float.NaN } }, 2)).Message);
        Assert.Contains("not a multiple of 4 classes", Assert.Throws<ArgumentException>(() => Ensemble.MeanProbabilities(new[] { new float[6] }, 4)).Message);
        Assert.Contains("2 predictions for 3 labels", Assert.Throws<ArgumentException>(() => Ensemble.Accuracy(new[] { 0, 1 }, new[] { 0, 1, 2 })).Message);
    }
}
