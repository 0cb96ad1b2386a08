using System.Collections.Generic;

namespace LayerCompiler.Runtime.Training;

/// <summary>What one training step returned: the batch's mean loss and the model's outputs for it (read before the next call).</summary>
public readonly record struct StepResult(float Loss, Tensor Outputs);

/// <summary>
/// The per-batch half of training: forward, objective, backward and the optimizer step, on whatever device holds the
/// model. <see cref="Trainer"/> owns everything around it (data order, augmentation, normalization, schedule,
/// validation, selection, checkpoints, progress), so a backend plugs in here instead of copying the loop:
/// <see cref="ModuleStepExecutor"/> runs on the CPU; the CUDA backend's <c>CudaTrainer</c> runs on a GPU.
/// </summary>
/// <remarks>
/// State dicts use the keys of the CPU model's <c>StateDict()</c> and the CPU optimizer's <c>StateDict()</c>, so a
/// checkpoint written by one executor resumes on another.
/// </remarks>
public interface IStepExecutor
{
    /// <summary>Training (true) or evaluation (false) mode of the model.</summary>
    void SetTraining(bool training);

    /// <summary>The learning rate of the next step; the trainer sets it from the schedule before every step.</summary>
    float LearningRate { get; set; }

    /// <summary>Optimizer steps taken (restored by <see cref="LoadOptimizerStateDict"/>).</summary>
    int StepCount { get; }

    /// <summary>
    /// One step on a prepared batch (augmented and normalized): forward, <paramref name="objective"/>, a non-finite loss
    /// throws <see cref="LayerCompiler.Runtime.Optim.NonFiniteLossException"/> before anything changes, backward,
    /// optimizer step.
    /// </summary>
    StepResult Step(WeightSpaceBatch inputs, TrainingTargets targets, ITrainingObjective objective);

    /// <summary>The model's outputs for a batch, without gradients (for validation).</summary>
    Tensor Forward(WeightSpaceBatch inputs);

    Dictionary<string, Tensor> StateDict();
    void LoadStateDict(IReadOnlyDictionary<string, Tensor> state);
    Dictionary<string, Tensor> OptimizerStateDict();
    void LoadOptimizerStateDict(IReadOnlyDictionary<string, Tensor> state);
}
