using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LayerCompiler.Runtime.Training;

/// <summary>What happened in one epoch. Metric values are null without a metric (<see cref="TrainingHistory.MetricName"/>); validation numbers are null without validation data.</summary>
public sealed record EpochMetrics
{
    /// <summary>1-based epoch number.</summary>
    public int Epoch { get; init; }
    /// <summary>Optimizer steps taken by the end of the epoch.</summary>
    public long Step { get; init; }
    /// <summary>Mean training loss over the epoch's batches (weighted by batch size), on augmented inputs.</summary>
    public double TrainLoss { get; init; }
    /// <summary>The trainer's metric over the epoch's (augmented) training batches, as the model was at each step.</summary>
    public double? TrainMetric { get; init; }
    public double? ValidationLoss { get; init; }
    public double? ValidationMetric { get; init; }
    /// <summary>Learning rate of the epoch's last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Wall-clock seconds the epoch took (including validation and checkpointing).</summary>
    public double Seconds { get; init; }
    /// <summary>Whether this epoch improved the selection metric.</summary>
    public bool IsBest { get; init; }
}

/// <summary>
/// Per-epoch metrics of a run, with the best epoch under the selection metric. <see cref="ToCsv"/> gives a table for
/// plots; <see cref="ToJson"/>/<see cref="FromJson"/> store it in checkpoints.
/// </summary>
public sealed class TrainingHistory
{
    private readonly List<EpochMetrics> _epochs = new();

    public IReadOnlyList<EpochMetrics> Epochs => _epochs;
    /// <summary>1-based epoch with the best selection metric (null without validation data).</summary>
    public int? BestEpoch { get; set; }
    public double? BestMetric { get; set; }
    public string SelectionMetric { get; set; } = "";
    /// <summary>Name of the metric in <see cref="EpochMetrics.TrainMetric"/> and <see cref="EpochMetrics.ValidationMetric"/> (null: none).</summary>
    public string? MetricName { get; set; }

    public void Add(EpochMetrics metrics) => _epochs.Add(metrics ?? throw new ArgumentNullException(nameof(metrics)));

    public EpochMetrics? Last => _epochs.Count > 0 ? _epochs[^1] : null;

    /// <summary>CSV with a header: epoch, step, train_loss, train_{metric}, val_loss, val_{metric}, lr, seconds, best (empty cells for missing values).</summary>
    public string ToCsv()
    {
        string m = MetricName ?? "metric";
        var sb = new StringBuilder($"epoch,step,train_loss,train_{m},val_loss,val_{m},lr,seconds,best\n");
        foreach (var e in _epochs)
            sb.Append(string.Create(CultureInfo.InvariantCulture,
                $"{e.Epoch},{e.Step},{e.TrainLoss:R},{F(e.TrainMetric)},{F(e.ValidationLoss)},{F(e.ValidationMetric)},{e.LearningRate:R},{e.Seconds:0.###},{(e.IsBest ? 1 : 0)}\n"));
        return sb.ToString();

        static string F(double? v) => v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : "";
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private sealed record Dto(List<EpochMetrics> Epochs, int? BestEpoch, double? BestMetric, string SelectionMetric, string? MetricName);

    public string ToJson() => JsonSerializer.Serialize(new Dto(_epochs, BestEpoch, BestMetric, SelectionMetric, MetricName), Json);

    public static TrainingHistory FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var dto = JsonSerializer.Deserialize<Dto>(json, Json) ?? throw new FormatException("The training history JSON is empty.");
        var h = new TrainingHistory { BestEpoch = dto.BestEpoch, BestMetric = dto.BestMetric, SelectionMetric = dto.SelectionMetric ?? "", MetricName = dto.MetricName };
        foreach (var e in dto.Epochs ?? new List<EpochMetrics>()) h.Add(e);
        return h;
    }

    public override string ToString() =>
        $"{_epochs.Count} epoch(s){(BestEpoch is int b ? $", best epoch {b} ({SelectionMetric} {BestMetric?.ToString("G4", CultureInfo.InvariantCulture)})" : "")}";
}

/// <summary>Whether a progress report is about a step or the end of an epoch.</summary>
public enum ProgressKind
{
    Step,
    EpochEnd,
}

/// <summary>
/// A progress report for a progress bar: where the run is, the latest loss, speed and estimated time left.
/// </summary>
public sealed record TrainingProgress
{
    public ProgressKind Kind { get; init; }
    /// <summary>1-based current epoch.</summary>
    public int Epoch { get; init; }
    public int Epochs { get; init; }
    /// <summary>Optimizer steps taken so far (over the whole run, including before a resume).</summary>
    public long Step { get; init; }
    public long TotalSteps { get; init; }
    /// <summary>Steps taken in the current epoch.</summary>
    public int StepInEpoch { get; init; }
    public int StepsPerEpoch { get; init; }
    /// <summary>Loss of the latest batch.</summary>
    public double Loss { get; init; }
    /// <summary>Mean loss of the current epoch so far.</summary>
    public double EpochLoss { get; init; }
    public double LearningRate { get; init; }
    /// <summary>Steps per second since this process started (or resumed) the run.</summary>
    public double StepsPerSecond { get; init; }
    /// <summary>Estimated time to the end of training (null until the rate is known).</summary>
    public TimeSpan? Eta { get; init; }
    /// <summary>The epoch's metrics, on <see cref="ProgressKind.EpochEnd"/> reports.</summary>
    public EpochMetrics? Metrics { get; init; }

    /// <summary>Fraction of the run done, in [0, 1].</summary>
    public double Fraction => TotalSteps > 0 ? Math.Min(1.0, (double)Step / TotalSteps) : 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"epoch {Epoch}/{Epochs} step {Step}/{TotalSteps} loss {Loss:0.0000} (epoch {EpochLoss:0.0000}) lr {LearningRate:G3} {StepsPerSecond:0.0} steps/s ETA {(Eta is TimeSpan t ? FormatSpan(t) : "?")}");

    /// <summary>h:mm:ss (hours not wrapped at a day).</summary>
    public static string FormatSpan(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}");
}
