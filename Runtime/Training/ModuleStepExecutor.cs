using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;

namespace LayerCompiler.Runtime.Training;

/// <summary>
/// The CPU <see cref="IStepExecutor"/>: a <see cref="Module"/> with its optimizer. The model is seen through two
/// functions (weight-space batch → outputs, output gradient → parameter gradients), so an equivariant network and a
/// model on features computed from the weights (a baseline MLP) train alike.
/// </summary>
public sealed class ModuleStepExecutor : IStepExecutor
{
    private readonly Func<WeightSpaceBatch, Tensor> _forward;
    private readonly Action<Tensor> _backward;
    private readonly Parameter[] _parameters;

    /// <param name="module">Owns the parameters, the train/eval mode and the state dict.</param>
    /// <param name="forward">Outputs of the module for a batch (may overwrite the batch).</param>
    /// <param name="backward">Accumulates parameter gradients for the last <paramref name="forward"/>.</param>
    /// <param name="optimizer">Steps the module's parameters.</param>
    /// <param name="clipGradNorm">Clip the global gradient norm to this before each step (null: no clipping).</param>
    public ModuleStepExecutor(Module module, Func<WeightSpaceBatch, Tensor> forward, Action<Tensor> backward, Optimizer optimizer, float? clipGradNorm = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(backward);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (clipGradNorm is float c && !(c > 0)) throw new ArgumentOutOfRangeException(nameof(clipGradNorm), c, "The clipping norm must be positive.");
        Module = module; Optimizer = optimizer; ClipGradNorm = clipGradNorm;
        _forward = forward; _backward = backward;
        _parameters = module.Parameters().ToArray();
    }

    /// <summary>An invariant-head equivariant network with the AdamW (or Adam-with-L2) settings of <paramref name="options"/>.</summary>
    public static ModuleStepExecutor For(EquivariantNetwork network, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        if (network.Head == null) throw new ArgumentException("The trainer needs a model with an invariant head (Forward/Backward); this one has an equivariant head.", nameof(network));
        return new ModuleStepExecutor(network, network.Forward, network.BackwardParameters, options.CreateOptimizer(network), options.ClipGradNorm);
    }

    public Module Module { get; }
    public Optimizer Optimizer { get; }
    public float? ClipGradNorm { get; }

    public void SetTraining(bool training) => Module.Train(training);

    public float LearningRate { get => Optimizer.LearningRate; set => Optimizer.LearningRate = value; }

    public int StepCount => Optimizer.StepCount;

    public StepResult Step(WeightSpaceBatch inputs, TrainingTargets targets, ITrainingObjective objective)
    {
        ArgumentNullException.ThrowIfNull(objective);
        var outputs = _forward(inputs);
        var (loss, grad) = objective.Compute(outputs, targets);
        LossGuard.Check(loss, Optimizer.StepCount + 1);
        Module.ZeroGrad();
        _backward(grad);
        if (ClipGradNorm is float clip) GradientClipping.ClipGradNorm(_parameters, clip);
        Optimizer.Step();
        return new StepResult(loss, outputs);
    }

    public Tensor Forward(WeightSpaceBatch inputs) => _forward(inputs);

    public Dictionary<string, Tensor> StateDict() => Module.StateDict();
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state) => Module.LoadStateDict(state);
    public Dictionary<string, Tensor> OptimizerStateDict() => Optimizer.StateDict();
    public void LoadOptimizerStateDict(IReadOnlyDictionary<string, Tensor> state) => Optimizer.LoadStateDict(state);
}
