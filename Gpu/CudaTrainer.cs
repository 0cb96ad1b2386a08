using LayerCompiler.Runtime.Losses;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime;

namespace LayerCompiler.Gpu;

/// <summary>Optimizer and loss settings of a <see cref="CudaTrainer"/> (the defaults are the reference protocol's, as <see cref="TrainerOptions"/>).</summary>
public sealed record CudaTrainerOptions
{
    public float LearningRate { get; init; } = 5e-3f;
    public double WeightDecay { get; init; } = 5e-4;
    public bool AmsGrad { get; init; } = true;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>True (default): AdamW, decay applied to the parameter; false: Adam with L2 added to the gradient.</summary>
    public bool DecoupledWeightDecay { get; init; } = true;
    /// <summary>Decay every parameter (PyTorch's behaviour) instead of skipping those with <see cref="Parameter.Decay"/> = false.</summary>
    public bool DecayAllParameters { get; init; }
    /// <summary>Clip the global gradient norm to this value (null = no clipping).</summary>
    public float? ClipGradNorm { get; init; }
    public float LabelSmoothing { get; init; }
    /// <summary>Largest batch (device buffers are allocated for it).</summary>
    public int MaxBatch { get; init; } = 512;

    /// <summary>The optimizer and loss settings of a CPU <see cref="Trainer"/> run; MaxBatch = its batch size.</summary>
    public static CudaTrainerOptions From(TrainerOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return new()
        {
            LearningRate = o.LearningRate, WeightDecay = o.WeightDecay, AmsGrad = o.AmsGrad, Beta1 = o.Beta1, Beta2 = o.Beta2, Epsilon = o.Epsilon,
            DecayAllParameters = o.DecayAllParameters, ClipGradNorm = o.ClipGradNorm, LabelSmoothing = o.LabelSmoothing, MaxBatch = o.BatchSize,
        };
    }

    public void Validate()
    {
        if (!(LearningRate >= 0) || float.IsInfinity(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be finite and >= 0.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "beta1 must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "beta2 must be in [0, 1).");
        if (!(Epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "eps must be >= 0.");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "Weight decay must be >= 0.");
        if (ClipGradNorm is float c && !(c > 0)) throw new ArgumentOutOfRangeException(nameof(ClipGradNorm), c, "The clipping norm must be positive.");
        if (!(LabelSmoothing >= 0f && LabelSmoothing <= 1f)) throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, "Label smoothing must be in [0, 1].");
        if (MaxBatch < 1) throw new ArgumentOutOfRangeException(nameof(MaxBatch), MaxBatch, "MaxBatch must be at least 1.");
    }
}

/// <summary>What one training step (or an evaluation) returned: the mean loss and how many of the batch's networks were classified correctly.</summary>
public readonly record struct CudaStepResult(float Loss, int Correct, int Batch)
{
    public double Accuracy => Batch == 0 ? 0 : (double)Correct / Batch;
}

/// <summary>
/// Trains an invariant-head <see cref="EquivariantNetwork"/> (classification, softmax cross-entropy) entirely on a CUDA device.
/// The trainer mirrors a CPU model: same <see cref="ModelConfig"/>, the model's parameters copied to the device at
/// construction, copied back on request (<see cref="CopyParametersTo"/>, <see cref="StateDict"/>, for checkpoints).
/// <para>One <see cref="Step"/>: the batch (weights and labels) goes up; on the device: the generated fused CUDA layers
/// (forward, parameter and input gradients), EquivariantNorm, the activation, invariant pooling (mean, max or both, as the
/// model's <see cref="HeadPooling"/>; the max's gradient to the CPU's argmax entry), the dense head (a tiled GEMM
/// kernel), softmax cross-entropy, the backward pass, optional gradient clipping and Adam/AdamW (+AMSGrad) on a flat parameter
/// vector; only the loss and the correct count come back. Parameters, gradients and optimizer moments never leave the
/// device. Kernels: <see cref="CudaTrainingKernels"/> and the model's generated <c>CudaSources</c>.</para>
/// <para>Same arithmetic as the CPU runtime up to float summation order: the norm, pooling, bias gradients, loss and the
/// Adam update are computed operation by operation as on the CPU (double where the CPU uses double, no FMA contraction),
/// the equivariant layers and the dense products sum in another order (≈1e-7 relative). Deterministic: the same inputs give
/// bitwise the same parameters (no atomics). A non-finite loss throws <see cref="NonFiniteLossException"/> and leaves
/// parameters, moments and <see cref="StepCount"/> as they were (the device skips the update itself).</para>
/// <para>Not done on the device: data loading, augmentation and input normalization (apply them to the batch before
/// <see cref="Step"/>), the learning-rate schedule (set <see cref="LearningRate"/> before each step), equivariant heads and
/// regression losses. Not thread-safe.</para>
/// <para>As an <see cref="IStepExecutor"/> it is the GPU half of the runtime's one <see cref="Trainer"/>, which owns the
/// epochs, the schedule, validation, selection and checkpoints: <c>new Trainer(cudaTrainer, options)</c>. Its objective
/// must be the device's (a <see cref="ClassificationObjective"/> with the options' label smoothing).</para>
/// </summary>
public sealed class CudaTrainer : IStepExecutor, IDisposable
{
    private const int Align = 64;   // parameter offsets in the flat vector, in floats (256 bytes)

    private sealed class LayerState
    {
        public required CudaLayerSource Source;
        public required Dictionary<string, int> Kernels;
        public int Cin, Cout;
        public long W, B;                  // offsets of weight and bias in the flat parameter vector
        public long NormW = -1, NormB = -1;
        public int Out;                    // what the layer kernel writes (pre-norm)
        public int Xhat = -1, InvStd = -1; // norm
        public int ActIn;                  // the activation's input
        public int Output;                 // the activation's output = next layer's input
    }

    private sealed class HeadOp
    {
        public bool IsLinear;
        public int ActivationCode;
        public int In, Out;
        public long W = -1, B = -1;
        public int Output;                 // [batch, Out]
    }

    private readonly ITrainingDevice _dev;
    private readonly EquivariantNetwork _model;
    private readonly (string Name, Parameter Parameter, long Offset)[] _params;
    private readonly long _paramWords;
    private readonly int _entries, _tensors, _features, _groups, _classes, _activation, _poolMode;
    private readonly bool _normRelu;
    private readonly LayerState[] _layers;
    private readonly HeadOp[] _head;
    private readonly int _kZero, _kActF, _kActB, _kNormF, _kNormB, _kNormG, _kPoolF, _kPoolB, _kGemm, _kBiasG, _kXent, _kSumSq, _kClip, _kAdam;
    private readonly int _bParams, _bGrads, _bM, _bV, _bVmax = -1, _bDecay;
    private readonly int _bInput, _bLabels, _bScratch, _bG0, _bG1, _bPartW = -1, _bPartB = -1, _bNormMeta = -1;
    private readonly int _bPoolMeta, _bGroups, _bEntries, _bFixedIndex, _bFeatures, _bArgmax = -1, _bHg0, _bHg1, _bRowLoss, _bResult;
    private readonly int _bClipPartial = -1, _bClipCoef = -1, _bClipNorm = -1;
    private readonly float[] _result = new float[4];
    private float _learningRate;
    private bool _disposed;

    /// <summary>
    /// Copies <paramref name="model"/>'s parameters to <paramref name="device"/> and compiles the kernels (NVRTC; cached on disk).
    /// <paramref name="layerSources"/> is the model's generated <c>CudaSources.ForChannels</c>.
    /// </summary>
    public CudaTrainer(CudaDevice device, EquivariantNetwork model, Func<int, int, CudaLayerSource> layerSources, CudaTrainerOptions? options = null)
        : this(new CudaTrainingDevice(device ?? throw new ArgumentNullException(nameof(device))), model, layerSources, options, ownsDevice: true)
    {
    }

    internal CudaTrainer(ITrainingDevice dev, EquivariantNetwork model, Func<int, int, CudaLayerSource> layerSources, CudaTrainerOptions? options, bool ownsDevice = true)
    {
        ArgumentNullException.ThrowIfNull(dev);
        _dev = dev;
        try
        {
            ArgumentNullException.ThrowIfNull(model);
            ArgumentNullException.ThrowIfNull(layerSources);
            options ??= new CudaTrainerOptions();
            options.Validate();
            if (model.Head == null || model.Pooling == null)
                throw new NotSupportedException("CudaTrainer trains models with an invariant head (pooling + dense classifier); this model has an equivariant head.");
            _poolMode = CudaTrainingKernels.PoolingCode(model.Config.Pooling);   // NotSupportedException for a pooling without a kernel
            _model = model;
            Options = options;
            _learningRate = options.LearningRate;
            var config = model.Config;
            var space = model.Space;
            int maxBatch = options.MaxBatch;
            _tensors = space.Tensors.Count;
            _entries = space.Tensors.Sum(t => t.Size);
            _activation = config.Activation switch
            {
                Activation.ReLU => CudaTrainingKernels.ReluCode,
                Activation.GELU => CudaTrainingKernels.GeluCode,
                _ => -1,
            };
            // A ReLU after a normalization runs inside the normalization's kernels (as on the CPU).
            _normRelu = config.Normalize && config.Activation == Activation.ReLU;

            // ---- parameters: one flat vector in NamedParameters order, each parameter at a 256-byte boundary.
            var named = model.NamedParameters().ToList();
            _params = new (string, Parameter, long)[named.Count];
            long off = 0;
            var offsets = new Dictionary<Parameter, long>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < named.Count; i++)
            {
                _params[i] = (named[i].Name, named[i].Parameter, off);
                offsets[named[i].Parameter] = off;
                off += (named[i].Parameter.Length + Align - 1) / Align * Align;
            }
            _paramWords = Math.Max(off, Align);
            if (_paramWords > int.MaxValue) throw new NotSupportedException($"The model has {_paramWords} parameters; the kernels index at most {int.MaxValue}.");

            var modules = new Dictionary<CudaLayerSource, Dictionary<string, int>>(ReferenceEqualityComparer.Instance);
            int depth = config.Channels.Length;
            _layers = new LayerState[depth];
            int maxC = 1;
            long maxScratch = 1;
            for (int i = 0; i < depth; i++)
            {
                var layer = model.Layers[i];
                var src = layerSources(layer.Plan.InChannels, layer.Plan.OutChannels) ?? throw new ArgumentException($"No CUDA layer for {layer.Plan.InChannels} → {layer.Plan.OutChannels} channels.", nameof(layerSources));
                CudaEquivariantKernel.CheckCompatible(src, layer.Plan);
                if (maxBatch > src.MaxBatch) throw new ArgumentOutOfRangeException(nameof(options), maxBatch, $"MaxBatch {maxBatch} exceeds the {src.InChannels} → {src.OutChannels} CUDA layer's limit of {src.MaxBatch} networks.");
                if (!modules.TryGetValue(src, out var kernels)) modules[src] = kernels = new Dictionary<string, int>(StringComparer.Ordinal);
                _layers[i] = new LayerState { Source = src, Kernels = kernels, Cin = src.InChannels, Cout = src.OutChannels, W = offsets[layer.Weight], B = offsets[layer.Bias] };
                if (config.Normalize) { _layers[i].NormW = offsets[model.Norms[i].Weight]; _layers[i].NormB = offsets[model.Norms[i].Bias]; }
                maxC = Math.Max(maxC, src.OutChannels);
                maxScratch = Math.Max(maxScratch, src.ScratchFloats(maxBatch));
            }
            long actWords = (long)maxBatch * _entries * maxC;
            if (actWords > int.MaxValue) throw new NotSupportedException($"A batch of {maxBatch} networks with {maxC} channels needs {actWords} floats per feature buffer; the kernels index at most {int.MaxValue}. Lower MaxBatch.");

            // ---- head: Linear / ReLU / GELU layers.
            var ops = new List<HeadOp>();
            int width = model.Pooling.FeatureCount, maxWidth = width;
            foreach (var l in model.Head.Layers)
            {
                HeadOp op = l switch
                {
                    Linear lin when lin.InFeatures == width => new HeadOp { IsLinear = true, In = lin.InFeatures, Out = lin.OutFeatures, W = offsets[lin.Weight], B = lin.Bias is null ? -1 : offsets[lin.Bias] },
                    ReLU => new HeadOp { ActivationCode = CudaTrainingKernels.ReluCode, In = width, Out = width },
                    GELU => new HeadOp { ActivationCode = CudaTrainingKernels.GeluCode, In = width, Out = width },
                    _ => throw new NotSupportedException($"CudaTrainer supports heads of Linear, ReLU and GELU layers; got {l}."),
                };
                width = op.Out;
                maxWidth = Math.Max(maxWidth, width);
                ops.Add(op);
            }
            if (ops.Count == 0 || !ops[^1].IsLinear) throw new NotSupportedException("The head must end with a Linear layer (the class logits).");
            _head = ops.ToArray();
            _classes = width;
            if (_params.Any(p => !offsets.ContainsKey(p.Parameter))) throw new NotSupportedException("The model has parameters CudaTrainer does not know.");

            // ---- modules (compiled once everything is known to fit)
            int train = _dev.LoadModule(CudaTrainingKernels.Source, CudaTrainingKernels.KernelNames, CudaTrainingKernels.CompileOptions);
            _kZero = _dev.Kernel(train, CudaTrainingKernels.Zero);
            _kActF = _dev.Kernel(train, CudaTrainingKernels.ActivationForward);
            _kActB = _dev.Kernel(train, CudaTrainingKernels.ActivationBackward);
            _kNormF = _dev.Kernel(train, CudaTrainingKernels.NormForward);
            _kNormB = _dev.Kernel(train, CudaTrainingKernels.NormBackward);
            _kNormG = _dev.Kernel(train, CudaTrainingKernels.NormParameterGradient);
            _kPoolF = _dev.Kernel(train, CudaTrainingKernels.PoolForward);
            _kPoolB = _dev.Kernel(train, CudaTrainingKernels.PoolBackward);
            _kGemm = _dev.Kernel(train, CudaTrainingKernels.Gemm);
            _kBiasG = _dev.Kernel(train, CudaTrainingKernels.BiasGradient);
            _kXent = _dev.Kernel(train, CudaTrainingKernels.SoftmaxCrossEntropy);
            _kSumSq = _dev.Kernel(train, CudaTrainingKernels.SumOfSquares);
            _kClip = _dev.Kernel(train, CudaTrainingKernels.ClipCoefficient);
            _kAdam = _dev.Kernel(train, CudaTrainingKernels.Adam);

            foreach (var (src, kernels) in modules)
            {
                int m = _dev.LoadModule(src.Source, src.KernelNames, null);
                foreach (string k in src.KernelNames) kernels[k] = _dev.Kernel(m, k);
            }

            // ---- buffers
            _bParams = _dev.Allocate(_paramWords);
            _bGrads = _dev.Allocate(_paramWords);
            _bM = _dev.Allocate(_paramWords);
            _bV = _dev.Allocate(_paramWords);
            if (options.AmsGrad) _bVmax = _dev.Allocate(_paramWords);
            _bDecay = _dev.Allocate(_paramWords);
            var decay = new float[_paramWords];
            foreach (var (_, p, o) in _params)
                if (options.DecayAllParameters || p.Decay) Array.Fill(decay, 1f, (int)o, p.Length);
            _dev.Upload(_bDecay, decay);
            UploadParameters(model);
            ZeroOptimizerState();

            _bInput = _dev.Allocate((long)maxBatch * _entries);
            _bLabels = _dev.Allocate(maxBatch);
            _bScratch = _dev.Allocate(maxScratch);
            _bG0 = _dev.Allocate(actWords);
            _bG1 = _dev.Allocate(actWords);
            int zShared = -1;
            for (int i = 0; i < depth; i++)
            {
                var L = _layers[i];
                long words = (long)maxBatch * _entries * L.Cout;
                if (config.Normalize)
                {
                    if (zShared < 0) zShared = _dev.Allocate(actWords);
                    L.Out = zShared;
                    L.Xhat = _dev.Allocate(words);
                    L.InvStd = _dev.Allocate((long)maxBatch * _tensors * L.Cout);
                    L.ActIn = _dev.Allocate(words);
                }
                else L.ActIn = L.Out = _dev.Allocate(words);
                // With the ReLU fused into the normalization, the normalization writes the layer's output itself.
                L.Output = _activation < 0 || _normRelu ? L.ActIn : _dev.Allocate(words);
            }
            if (config.Normalize)
            {
                _bPartW = _dev.Allocate((long)maxBatch * _tensors * maxC);
                _bPartB = _dev.Allocate((long)maxBatch * _tensors * maxC);
                _bNormMeta = UploadInts(NormMeta(space));
            }

            int cLast = _layers[^1].Cout;
            var pool = PoolingTables.Build(space, cLast, config.Pooling);
            _features = pool.Features;
            _groups = pool.Groups.Length / 3;
            if (_features != model.Pooling.FeatureCount) throw new InvalidOperationException($"Pooling has {model.Pooling.FeatureCount} features, the tables {_features}.");
            _bPoolMeta = UploadInts(pool.Meta);
            _bGroups = UploadInts(pool.Groups);
            _bEntries = UploadInts(pool.Entries);
            _bFixedIndex = UploadInts(pool.FixedIndex);
            _bFeatures = _dev.Allocate((long)maxBatch * _features);
            // Max pooling: the forward pass records each maximum's entry (ints, one per feature) for the backward pass.
            if (_poolMode != CudaTrainingKernels.PoolMeanCode) _bArgmax = _dev.Allocate((long)maxBatch * _features);
            foreach (var op in _head) op.Output = _dev.Allocate((long)maxBatch * op.Out);
            _bHg0 = _dev.Allocate((long)maxBatch * maxWidth);
            _bHg1 = _dev.Allocate((long)maxBatch * maxWidth);
            _bRowLoss = _dev.Allocate(2L * maxBatch);
            _bResult = _dev.Allocate(4);
            if (options.ClipGradNorm is not null)
            {
                _bClipPartial = _dev.Allocate(2L * CudaTrainingKernels.MaxSumBlocks);
                _bClipCoef = _dev.Allocate(1);
                _bClipNorm = _dev.Allocate(2);
            }
            _dev.Synchronize();
        }
        catch
        {
            if (ownsDevice) _dev.Dispose();
            throw;
        }
        _ownsDevice = ownsDevice;
    }

    private readonly bool _ownsDevice;

    public CudaTrainerOptions Options { get; }
    /// <summary>The CPU model this trainer mirrors (its parameters change only through <see cref="CopyParametersTo"/>).</summary>
    public EquivariantNetwork Model => _model;
    /// <summary>Optimizer steps taken (as <see cref="Optimizer.StepCount"/>).</summary>
    public int StepCount { get; private set; }
    /// <summary>Classes (the head's outputs).</summary>
    public int Classes => _classes;
    /// <summary>Invariant features the pooling produces.</summary>
    public int FeatureCount => _features;
    /// <summary>Floats in the device's flat parameter vector (parameters padded to 64-float boundaries).</summary>
    public long FlatParameterLength => _paramWords;
    /// <summary>Device memory held, in bytes (for a <see cref="CudaDevice"/>).</summary>
    public long DeviceBytes => (_dev as CudaTrainingDevice)?.AllocatedBytes ?? 0;

    /// <summary>
    /// Called after each kernel launch on a CUDA device with the kernel's name (e.g. to record an event per kernel for a
    /// timing breakdown); launches are on the legacy default stream.
    /// </summary>
    public Action<string>? LaunchObserver
    {
        get => (_dev as CudaTrainingDevice)?.LaunchObserver;
        set { if (_dev is CudaTrainingDevice d) d.LaunchObserver = value; }
    }

    /// <summary>The learning rate of the next step (set it from a schedule before each <see cref="Step"/>).</summary>
    public float LearningRate
    {
        get => _learningRate;
        set
        {
            if (!(value >= 0f) || float.IsInfinity(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "The learning rate must be finite and >= 0.");
            _learningRate = value;
        }
    }

    // ---------------------------------------------------------------- steps

    /// <summary>
    /// One training step on a batch (1 channel, already augmented and normalized): zero gradients, forward, softmax
    /// cross-entropy against <paramref name="labels"/>, backward, clipping (if set), Adam/AdamW. Returns the batch's mean loss
    /// (as <see cref="SoftmaxCrossEntropy"/>) and correct count; throws <see cref="NonFiniteLossException"/> (nothing updated)
    /// when the loss is NaN or infinite.
    /// </summary>
    public CudaStepResult Step(WeightSpaceBatch input, int[] labels)
    {
        int n = UploadBatch(input, labels);
        Launch(_kZero, CudaTrainingKernels.ElementwiseBlocks(_paramWords), TrainingArg.I((int)_paramWords), TrainingArg.P(_bGrads));
        Forward(n);
        Loss(n);
        Backward(n);
        if (Options.ClipGradNorm is float clip)
        {
            int parts = CudaTrainingKernels.SumBlocks(_paramWords);
            Launch(_kSumSq, parts, TrainingArg.I((int)_paramWords), TrainingArg.P(_bGrads), TrainingArg.P(_bClipPartial));
            Launch(_kClip, 1, TrainingArg.I(parts), TrainingArg.P(_bClipPartial), TrainingArg.F(clip), TrainingArg.P(_bClipCoef), TrainingArg.P(_bClipNorm));
        }
        AdamStep(StepCount + 1);
        var r = ReadResult(n);
        LossGuard.Check(r.Loss, StepCount + 1);   // the device skipped the update
        StepCount++;
        return r;
    }

    /// <summary>Loss and correct count of a batch without training (no gradients, no update).</summary>
    public CudaStepResult Evaluate(WeightSpaceBatch input, int[] labels)
    {
        int n = UploadBatch(input, labels);
        Forward(n);
        Loss(n);
        return ReadResult(n);
    }

    /// <summary>The logits [batch, Classes] of a batch (as the CPU model's <see cref="EquivariantNetwork.Forward"/>).</summary>
    public Tensor Forward(WeightSpaceBatch input)
    {
        int n = UploadBatch(input, null);
        Forward(n);
        var y = new Tensor(n, _classes);
        _dev.Download(_head[^1].Output, y.Data);
        return y;
    }

    private int UploadBatch(WeightSpaceBatch input, int[]? labels)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(input);
        if (input.Channels != 1) throw new ArgumentException($"The input must have 1 channel (raw weights), got {input.Channels}.", nameof(input));
        if (input.Tensors.Length != _tensors) throw new ArgumentException($"The input has {input.Tensors.Length} tensors; the model's weight space has {_tensors}.", nameof(input));
        int n = input.Batch;
        if (n < 1 || n > Options.MaxBatch) throw new ArgumentOutOfRangeException(nameof(input), n, $"Batches of 1 to {Options.MaxBatch} networks (CudaTrainerOptions.MaxBatch).");
        for (int t = 0; t < _tensors; t++)
            if (input.Tensors[t].Length != (long)n * _model.Space.Tensors[t].Size)
                throw new ArgumentException($"Tensor {_model.Space.Tensors[t].Name} holds {input.Tensors[t].Length} values, expected {(long)n * _model.Space.Tensors[t].Size}.", nameof(input));
        if (labels != null)
        {
            if (labels.Length != n) throw new ArgumentException($"{labels.Length} labels for a batch of {n} networks.", nameof(labels));
            for (int i = 0; i < n; i++)
                if ((uint)labels[i] >= (uint)_classes)
                    throw new ArgumentOutOfRangeException(nameof(labels), $"Label {labels[i]} at row {i} is outside [0, {_classes}).");
        }
        long o = 0;
        foreach (var t in input.Tensors) { _dev.Upload(_bInput, t.Data, o); o += t.Length; }
        if (labels != null) _dev.Upload(_bLabels, MemoryMarshal.Cast<int, float>(labels.AsSpan()));
        return n;
    }

    private CudaStepResult ReadResult(int n)
    {
        _dev.Download(_bResult, _result);
        var d = MemoryMarshal.Cast<float, double>(_result.AsSpan());
        return new CudaStepResult((float)d[0], (int)d[1], n);
    }

    private void Forward(int n)
    {
        var cfg = _model.Config;
        int x = _bInput;
        foreach (var L in _layers)
        {
            RunLayer(L, CudaLayerPass.Forward, n, x, -1, _bParams, L.W, _bParams, L.B, L.Out, -1, -1, -1, -1);
            if (cfg.Normalize)
                Launch(_kNormF, (long)n * _tensors, TrainingArg.I(n), TrainingArg.I(_tensors), TrainingArg.I(L.Cout), TrainingArg.P(_bNormMeta),
                    TrainingArg.P(L.Out), TrainingArg.P(_bParams, L.NormW), TrainingArg.P(_bParams, L.NormB), TrainingArg.I(_normRelu ? 1 : 0),
                    TrainingArg.P(L.Xhat), TrainingArg.P(L.ActIn), TrainingArg.P(L.InvStd));
            if (_activation >= 0 && !_normRelu)
            {
                long count = (long)n * _entries * L.Cout;
                Launch(_kActF, CudaTrainingKernels.ElementwiseBlocks(count), TrainingArg.I((int)count), TrainingArg.I(_activation), TrainingArg.P(L.ActIn), TrainingArg.P(L.Output));
            }
            x = L.Output;
        }
        int c = _layers[^1].Cout;
        Launch(_kPoolF, CudaTrainingKernels.ElementwiseBlocks((long)n * _groups * c), TrainingArg.I(n), TrainingArg.I(c), TrainingArg.I(_features), TrainingArg.I(_groups),
            TrainingArg.I(_poolMode), TrainingArg.P(_bPoolMeta), TrainingArg.P(_bGroups), TrainingArg.P(_bEntries), TrainingArg.P(x), TrainingArg.P(_bFeatures), Ptr(_bArgmax, 0));
        int h = _bFeatures;
        foreach (var op in _head)
        {
            if (op.IsLinear)
                Launch(_kGemm, CudaTrainingKernels.GemmBlocks(n, op.Out), TrainingArg.I(n), TrainingArg.I(op.Out), TrainingArg.I(op.In),
                    TrainingArg.P(h), TrainingArg.I(0), TrainingArg.P(_bParams, op.W), TrainingArg.I(1),
                    op.B < 0 ? TrainingArg.Null : TrainingArg.P(_bParams, op.B), TrainingArg.P(op.Output), TrainingArg.I(0));
            else
                Launch(_kActF, CudaTrainingKernels.ElementwiseBlocks((long)n * op.Out), TrainingArg.I(n * op.Out), TrainingArg.I(op.ActivationCode), TrainingArg.P(h), TrainingArg.P(op.Output));
            h = op.Output;
        }
    }

    private void Loss(int n) =>
        Launch(_kXent, 1, TrainingArg.I(n), TrainingArg.I(_classes), TrainingArg.D(Options.LabelSmoothing), TrainingArg.P(_head[^1].Output),
            TrainingArg.P(_bLabels), TrainingArg.P(_bHg0), TrainingArg.P(_bRowLoss), TrainingArg.P(_bResult));

    private void Backward(int n)
    {
        var cfg = _model.Config;
        // Head, from the logits' gradient (in Hg0) back to the features' gradient.
        int g = _bHg0, other = _bHg1;
        for (int j = _head.Length - 1; j >= 0; j--)
        {
            var op = _head[j];
            int input = j == 0 ? _bFeatures : _head[j - 1].Output;
            if (op.IsLinear)
            {
                // dW += dYᵀ·X, db += Σ rows dY, dX = dY·W.
                Launch(_kGemm, CudaTrainingKernels.GemmBlocks(op.Out, op.In), TrainingArg.I(op.Out), TrainingArg.I(op.In), TrainingArg.I(n),
                    TrainingArg.P(g), TrainingArg.I(1), TrainingArg.P(input), TrainingArg.I(0), TrainingArg.Null, TrainingArg.P(_bGrads, op.W), TrainingArg.I(1));
                if (op.B >= 0)
                    Launch(_kBiasG, CudaTrainingKernels.ElementwiseBlocks(op.Out), TrainingArg.I(n), TrainingArg.I(op.Out), TrainingArg.P(g), TrainingArg.P(_bGrads, op.B));
                Launch(_kGemm, CudaTrainingKernels.GemmBlocks(n, op.In), TrainingArg.I(n), TrainingArg.I(op.In), TrainingArg.I(op.Out),
                    TrainingArg.P(g), TrainingArg.I(0), TrainingArg.P(_bParams, op.W), TrainingArg.I(0), TrainingArg.Null, TrainingArg.P(other), TrainingArg.I(0));
                (g, other) = (other, g);
            }
            else
                Launch(_kActB, CudaTrainingKernels.ElementwiseBlocks((long)n * op.Out), TrainingArg.I(n * op.Out), TrainingArg.I(op.ActivationCode),
                    TrainingArg.P(input), TrainingArg.P(g), TrainingArg.P(g));
        }
        int c = _layers[^1].Cout;
        long last = (long)n * _entries * c;
        int ga = _bG0, gb = _bG1;
        Launch(_kPoolB, CudaTrainingKernels.ElementwiseBlocks(last), TrainingArg.I(n), TrainingArg.I(c), TrainingArg.I(_features), TrainingArg.I(_tensors),
            TrainingArg.I(_poolMode), TrainingArg.P(_bPoolMeta), TrainingArg.P(_bFixedIndex), Ptr(_bArgmax, 0), TrainingArg.P(g), TrainingArg.P(ga));
        for (int i = _layers.Length - 1; i >= 0; i--)
        {
            var L = _layers[i];
            long count = (long)n * _entries * L.Cout;
            if (_activation >= 0 && !_normRelu)
                Launch(_kActB, CudaTrainingKernels.ElementwiseBlocks(count), TrainingArg.I((int)count), TrainingArg.I(_activation), TrainingArg.P(L.ActIn), TrainingArg.P(ga), TrainingArg.P(ga));
            if (cfg.Normalize)
            {
                Launch(_kNormB, (long)n * _tensors, TrainingArg.I(n), TrainingArg.I(_tensors), TrainingArg.I(L.Cout), TrainingArg.P(_bNormMeta),
                    TrainingArg.P(L.Xhat), TrainingArg.P(_bParams, L.NormW), TrainingArg.P(L.InvStd), TrainingArg.I(_normRelu ? 1 : 0), TrainingArg.P(L.Output),
                    TrainingArg.P(ga), TrainingArg.P(ga),
                    TrainingArg.P(_bPartW), TrainingArg.P(_bPartB));
                int tc = _tensors * L.Cout;
                Launch(_kNormG, CudaTrainingKernels.ElementwiseBlocks(tc), TrainingArg.I(n), TrainingArg.I(tc), TrainingArg.P(_bPartW), TrainingArg.P(_bPartB),
                    TrainingArg.P(_bGrads, L.NormW), TrainingArg.P(_bGrads, L.NormB));
            }
            int x = i == 0 ? _bInput : _layers[i - 1].Output;
            RunLayer(L, CudaLayerPass.ParameterGradient, n, x, ga, _bParams, L.W, -1, -1, -1, _bGrads, L.W, _bGrads, L.B);
            if (i > 0)
            {
                RunLayer(L, CudaLayerPass.InputGradient, n, x, ga, _bParams, L.W, -1, -1, gb, -1, -1, -1, -1);
                (ga, gb) = (gb, ga);
            }
        }
    }

    private void AdamStep(int step)
    {
        var a = AdamScalars.For(Options, _learningRate, step);
        Launch(_kAdam, CudaTrainingKernels.ElementwiseBlocks(_paramWords), TrainingArg.I((int)_paramWords), TrainingArg.P(_bParams), TrainingArg.P(_bGrads),
            TrainingArg.P(_bM), TrainingArg.P(_bV), _bVmax < 0 ? TrainingArg.Null : TrainingArg.P(_bVmax), TrainingArg.P(_bDecay),
            _bClipCoef < 0 ? TrainingArg.Null : TrainingArg.P(_bClipCoef), TrainingArg.P(_bResult),
            TrainingArg.F(a.Shrink), TrainingArg.F(a.L2), TrainingArg.F(a.NegStep), TrainingArg.F(a.Bc2Sqrt), TrainingArg.F(a.W), TrainingArg.F(a.OneMinusW),
            TrainingArg.I(a.LowWeight ? 1 : 0), TrainingArg.F(a.B2), TrainingArg.F(a.OneMinusB2), TrainingArg.F(a.Eps));
    }

    private void RunLayer(LayerState L, CudaLayerPass pass, int n, int x, int g, int w, long wOff, int b, long bOff, int y, int gw, long gwOff, int gb, long gbOff)
    {
        foreach (var (step, blocks) in L.Source.Launches(pass, n))
            _dev.Launch(L.Kernels[step.Kernel], blocks, L.Source.BlockSize, [TrainingArg.I(n), Ptr(x, 0), Ptr(g, 0), Ptr(w, wOff), Ptr(b, bOff), Ptr(y, 0), Ptr(gw, gwOff), Ptr(gb, gbOff), TrainingArg.P(_bScratch)]);
    }

    private static TrainingArg Ptr(int buffer, long offset) => buffer < 0 ? TrainingArg.Null : TrainingArg.P(buffer, offset);

    private void Launch(int kernel, long blocks, params TrainingArg[] args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _dev.Launch(kernel, blocks, CudaTrainingKernels.BlockSize, args);
    }

    private int UploadInts(int[] data)
    {
        int b = _dev.Allocate(Math.Max(1, data.Length));
        if (data.Length > 0) _dev.Upload(b, MemoryMarshal.Cast<int, float>(data.AsSpan()));
        return b;
    }

    /// <summary>The metadata of <c>lct_norm_fwd</c>/<c>lct_norm_bwd</c>: entries per network of each tensor, then each tensor's first entry.</summary>
    internal static int[] NormMeta(Algebra.WeightSpace space)
    {
        int tensors = space.Tensors.Count;
        var meta = new int[2 * tensors];
        int s = 0;
        for (int t = 0; t < tensors; t++) { meta[t] = space.Tensors[t].Size; meta[tensors + t] = s; s += space.Tensors[t].Size; }
        return meta;
    }

    // ---------------------------------------------------------------- IStepExecutor (driven by Trainer)

    /// <summary>The device network has no layer that behaves differently in training and evaluation (no dropout), so modes are equal.</summary>
    void IStepExecutor.SetTraining(bool training) { }

    StepResult IStepExecutor.Step(WeightSpaceBatch inputs, TrainingTargets targets, ITrainingObjective objective)
    {
        ArgumentNullException.ThrowIfNull(objective);
        if (objective is not ClassificationObjective { LabelSmoothing: var smoothing } || smoothing != Options.LabelSmoothing)
            throw new NotSupportedException(
                $"The CUDA trainer computes softmax cross-entropy with label smoothing {Options.LabelSmoothing} on the device; the objective '{objective.Name}' is not that. Use a ClassificationObjective({Options.LabelSmoothing}) or the CPU executor.");
        var r = Step(inputs, targets.RequireLabels("The CUDA trainer"));
        // The step leaves the forward pass's logits in place (the backward pass writes other buffers).
        var logits = new Tensor(r.Batch, _classes);
        _dev.Download(_head[^1].Output, logits.Data);
        return new StepResult(r.Loss, logits);
    }

    /// <summary>Uploads a state dict with the CPU model's keys (the CPU mirror <see cref="Model"/> takes the values too).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _model.LoadStateDict(state);
        UploadParameters(_model);
    }

    // ---------------------------------------------------------------- parameters and state

    /// <summary>Uploads <paramref name="model"/>'s parameters (a model of the same architecture, e.g. one loaded from a checkpoint).</summary>
    public void LoadParameters(EquivariantNetwork model)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        UploadParameters(model);
    }

    private void UploadParameters(EquivariantNetwork model)
    {
        var flat = new float[_paramWords];
        var theirs = Matching(model);
        for (int i = 0; i < _params.Length; i++) theirs[i].Data.CopyTo(flat, _params[i].Offset);
        _dev.Upload(_bParams, flat);
    }

    /// <summary>Copies the device's parameters into <paramref name="model"/> (default: <see cref="Model"/>); synchronous.</summary>
    public void CopyParametersTo(EquivariantNetwork? model = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var flat = new float[_paramWords];
        _dev.Download(_bParams, flat);
        var theirs = Matching(model ?? _model);
        for (int i = 0; i < _params.Length; i++) flat.AsSpan((int)_params[i].Offset, theirs[i].Length).CopyTo(theirs[i].Data);
    }

    /// <summary>Copies the gradients of the last step (before clipping) into each parameter's <see cref="Parameter.Grad"/> of <paramref name="model"/>.</summary>
    public void CopyGradientsTo(EquivariantNetwork? model = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var flat = new float[_paramWords];
        _dev.Download(_bGrads, flat);
        var theirs = Matching(model ?? _model);
        for (int i = 0; i < _params.Length; i++) flat.AsSpan((int)_params[i].Offset, theirs[i].Length).CopyTo(theirs[i].Grad.Data);
    }

    /// <summary>A copy of the device's parameters keyed as the CPU model's <see cref="Module.StateDict"/> (for checkpoints).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var flat = new float[_paramWords];
        _dev.Download(_bParams, flat);
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p, o) in _params) d[name] = new Tensor(flat.AsSpan((int)o, p.Length).ToArray(), p.Shape);
        return d;
    }

    private Parameter[] Matching(EquivariantNetwork model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var theirs = model.NamedParameters().ToList();
        var problems = new List<string>();
        if (theirs.Count != _params.Length) problems.Add($"{theirs.Count} parameters instead of {_params.Length}");
        for (int i = 0; i < Math.Min(theirs.Count, _params.Length); i++)
            if (theirs[i].Name != _params[i].Name || !theirs[i].Parameter.Shape.AsSpan().SequenceEqual(_params[i].Parameter.Shape))
                problems.Add($"parameter {i} is '{theirs[i].Name}' [{string.Join(", ", theirs[i].Parameter.Shape)}], expected '{_params[i].Name}' [{string.Join(", ", _params[i].Parameter.Shape)}]");
        if (problems.Count > 0) throw new ArgumentException($"The model does not match the trainer's architecture: {string.Join("; ", problems)}.", nameof(model));
        return theirs.Select(t => t.Parameter).ToArray();
    }

    private string[] StateBuffers => Options.AmsGrad ? new[] { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" } : new[] { "exp_avg", "exp_avg_sq" };

    private int StateBuffer(string name) => name switch { "exp_avg" => _bM, "exp_avg_sq" => _bV, _ => _bVmax };

    /// <summary>
    /// The optimizer state in the keys and layout of the CPU optimizer's <see cref="Optimizer.StateDict"/> (an <see cref="AdamW"/>
    /// over <c>Model.Parameters()</c>: <c>state.{i}.exp_avg</c>, <c>exp_avg_sq</c>, <c>max_exp_avg_sq</c> with AMSGrad,
    /// <c>step</c>, <c>lr</c>), so checkpoints move between the CPU and the device.
    /// </summary>
    public Dictionary<string, Tensor> OptimizerStateDict()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var flat = new float[_paramWords];
        foreach (string name in StateBuffers)
        {
            _dev.Download(StateBuffer(name), flat);
            for (int i = 0; i < _params.Length; i++)
            {
                var p = _params[i];
                d[string.Create(CultureInfo.InvariantCulture, $"state.{i}.{name}")] = new Tensor(flat.AsSpan((int)p.Offset, p.Parameter.Length).ToArray(), p.Parameter.Shape);
            }
        }
        d["step"] = new Tensor(new float[] { StepCount & 0xFFFFFF, StepCount >> 24 }, 2);
        d["lr"] = new Tensor(new float[] { LearningRate }, 1);
        return d;
    }

    /// <summary>Restores state saved by <see cref="OptimizerStateDict"/> (or by the CPU optimizer); nothing changes unless everything matches.</summary>
    public void LoadOptimizerStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(state);
        var problems = new List<string>();
        var known = new HashSet<string>(StringComparer.Ordinal) { "step", "lr" };
        foreach (string name in StateBuffers)
            for (int i = 0; i < _params.Length; i++)
            {
                string key = string.Create(CultureInfo.InvariantCulture, $"state.{i}.{name}");
                known.Add(key);
                if (!state.TryGetValue(key, out var t)) problems.Add($"missing '{key}'");
                else if (t is null || !t.Shape.AsSpan().SequenceEqual(_params[i].Parameter.Shape)) problems.Add($"shape mismatch for '{key}'");
            }
        int step = 0;
        if (!state.TryGetValue("step", out var st) || st is null || st.Length != 2) problems.Add("missing or mis-shaped 'step'");
        else
        {
            float lo = st.Data[0], hi = st.Data[1];
            if (!(lo >= 0 && lo < (1 << 24) && lo == MathF.Floor(lo) && hi >= 0 && hi < 128 && hi == MathF.Floor(hi))) problems.Add("'step' is not a step count");
            else step = (int)lo | ((int)hi << 24);
        }
        float lr = 0;
        if (!state.TryGetValue("lr", out var lrT) || lrT is null || lrT.Length != 1 || !(lrT.Data[0] >= 0) || float.IsInfinity(lrT.Data[0])) problems.Add("missing or invalid 'lr'");
        else lr = lrT.Data[0];
        foreach (var key in state.Keys.OrderBy(k => k, StringComparer.Ordinal))
            if (!known.Contains(key)) problems.Add($"unexpected '{key}'");
        if (problems.Count > 0)
        {
            var sb = new StringBuilder($"The optimizer state does not match this CudaTrainer ({problems.Count} problem(s)):");
            foreach (var p in problems) sb.Append("\n  - ").Append(p);
            throw new InvalidOperationException(sb.ToString());
        }
        var flat = new float[_paramWords];
        foreach (string name in StateBuffers)
        {
            Array.Clear(flat);
            for (int i = 0; i < _params.Length; i++)
                state[string.Create(CultureInfo.InvariantCulture, $"state.{i}.{name}")].Data.CopyTo(flat, _params[i].Offset);
            _dev.Upload(StateBuffer(name), flat);
        }
        StepCount = step;
        LearningRate = lr;
    }

    private void ZeroOptimizerState()
    {
        var zeros = new float[_paramWords];
        _dev.Upload(_bGrads, zeros);
        _dev.Upload(_bM, zeros);
        _dev.Upload(_bV, zeros);
        if (_bVmax >= 0) _dev.Upload(_bVmax, zeros);
    }

    /// <summary>Waits until the device has finished every step queued so far.</summary>
    public void Synchronize() => _dev.Synchronize();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsDevice) _dev.Dispose();
    }
}

/// <summary>The scalars of one Adam/AdamW step (<c>lct_adam</c>'s float arguments), computed exactly as <see cref="Adam"/> computes them.</summary>
internal readonly record struct AdamScalars(float Shrink, float L2, float NegStep, float Bc2Sqrt, float W, float OneMinusW, bool LowWeight, float B2, float OneMinusB2, float Eps)
{
    public static AdamScalars For(CudaTrainerOptions o, float learningRate, int step)
    {
        double lr = learningRate;
        bool wd = o.WeightDecay != 0;
        double bc1 = 1 - Math.Pow(o.Beta1, step), bc2 = 1 - Math.Pow(o.Beta2, step);
        float w = (float)(1 - o.Beta1);
        return new AdamScalars(
            Shrink: wd && o.DecoupledWeightDecay ? (float)(1 - lr * o.WeightDecay) : 1f,
            L2: wd && !o.DecoupledWeightDecay ? (float)o.WeightDecay : 0f,
            NegStep: (float)-(lr / bc1),
            Bc2Sqrt: (float)Math.Sqrt(bc2),
            W: w, OneMinusW: (float)o.Beta1, LowWeight: Math.Abs(w) < 0.5f,
            B2: (float)o.Beta2, OneMinusB2: (float)(1 - o.Beta2), Eps: (float)o.Epsilon);
    }
}

/// <summary>
/// The tables of <c>lct_pool_fwd</c>/<c>lct_pool_bwd</c> for a weight space, channel count and pooling, in <see cref="InvariantPooling"/>'s
/// feature order (tensor by tensor, then mean before max, then fixed index, then channel): <see cref="Meta"/> per tensor [first
/// entry, entries, fixed size, first feature]; <see cref="Groups"/> per (tensor, fixed index) [tensor, fixed index, start in
/// <see cref="Entries"/>]; <see cref="Entries"/> each group's entries ascending; <see cref="FixedIndex"/> every entry's fixed index.
/// </summary>
internal sealed record PoolingTables(int[] Meta, int[] Groups, int[] Entries, int[] FixedIndex, int Features)
{
    public static PoolingTables Build(Algebra.WeightSpace space, int channels, HeadPooling pooling)
    {
        if (!Enum.IsDefined(pooling)) throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Unknown pooling.");
        int per = pooling == HeadPooling.MeanAndMax ? 2 : 1;   // feature blocks per tensor
        int tensors = space.Tensors.Count;
        var meta = new int[4 * tensors];
        var fixedIndex = new int[space.Tensors.Sum(t => t.Size)];
        var groups = new List<int>();
        var entries = new List<int>();
        int start = 0, feat = 0;
        for (int t = 0; t < tensors; t++)
        {
            var wt = space.Tensors[t];
            var map = RowMajor.FixedIndexMap(wt);
            meta[4 * t] = start; meta[4 * t + 1] = wt.Size; meta[4 * t + 2] = wt.FixedSize; meta[4 * t + 3] = feat;
            Array.Copy(map, 0, fixedIndex, start, map.Length);
            for (int fi = 0; fi < wt.FixedSize; fi++)
            {
                groups.Add(t); groups.Add(fi); groups.Add(entries.Count);
                for (int e = 0; e < map.Length; e++) if (map[e] == fi) entries.Add(e);
            }
            start += wt.Size;
            feat += per * wt.FixedSize * channels;
        }
        return new PoolingTables(meta, groups.ToArray(), entries.ToArray(), fixedIndex, feat);
    }
}
