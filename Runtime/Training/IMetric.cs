using LayerCompiler.Runtime.Losses;

namespace LayerCompiler.Runtime.Training;

/// <summary>
/// A number a <see cref="Trainer"/> reports per epoch (on training and validation batches) and can select the best
/// epoch by. Batches are added one by one, so a metric over the whole set (a rank correlation such as Kendall's τ)
/// keeps what it needs and computes at the end.
/// </summary>
public interface IMetric
{
    string Name { get; }
    bool HigherIsBetter { get; }
    IMetricAccumulator Start();
}

/// <summary>One pass of a <see cref="IMetric"/> over a set of batches.</summary>
public interface IMetricAccumulator
{
    /// <summary>Takes a batch's outputs (valid only during the call) and targets.</summary>
    void Add(Tensor outputs, TrainingTargets targets);
    double Result { get; }
}

/// <summary>Top-1 accuracy of class logits (ties go to the lowest class, as <see cref="Metrics.ArgMax"/>).</summary>
public sealed class AccuracyMetric : IMetric
{
    public static AccuracyMetric Instance { get; } = new();
    public string Name => "accuracy";
    public bool HigherIsBetter => true;
    public IMetricAccumulator Start() => new Accumulator();

    private sealed class Accumulator : IMetricAccumulator
    {
        private long _correct, _seen;
        public void Add(Tensor outputs, TrainingTargets targets)
        {
            var labels = targets.RequireLabels("accuracy");
            var predicted = Metrics.ArgMax(outputs);
            for (int i = 0; i < labels.Length; i++) if (predicted[i] == labels[i]) _correct++;
            _seen += labels.Length;
        }
        public double Result => _seen == 0 ? double.NaN : (double)_correct / _seen;
    }
}
