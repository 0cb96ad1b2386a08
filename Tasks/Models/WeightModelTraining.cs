using System;
using System.IO;
using System.Threading;
using LayerCompiler.Runtime.Training;

namespace LayerCompiler.Tasks.Models;

/// <summary>
/// Runs the runtime's one <see cref="Trainer"/> for a task: continues from <see cref="TrainerOptions.CheckpointPath"/> when it
/// exists (a finished run only loads its best epoch), otherwise trains from scratch; a checkpoint of another run is refused
/// with both settings and what to do.
/// </summary>
public static class WeightModelTraining
{
    public static TrainingHistory FitOrResume(Trainer trainer, IWeightDataset train, IWeightDataset? validation, IProgress<TrainingProgress>? progress,
        CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        if (trainer.Options.CheckpointPath is string path && File.Exists(path))
        {
            try { return trainer.Resume(path, train, validation, progress, cancellation); }
            catch (CheckpointMismatchException e)
            {
                throw new InvalidOperationException(e.Message + "\nUse another output directory, or delete that file to start this run from scratch.", e);
            }
        }
        return trainer.Fit(train, validation, progress, cancellation);
    }

    /// <summary>Reports synchronously on the training thread (System.Progress would post to the thread pool, out of order).</summary>
    public sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
