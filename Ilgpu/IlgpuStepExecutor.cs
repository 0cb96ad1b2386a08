using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Training;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// The device-resident <see cref="IStepExecutor"/> for ILGPU: a whole invariant-head <see cref="EquivariantNetwork"/>
/// (built with its generated <c>(IlgpuDevice, seed)</c> constructor) trained on the accelerator by the runtime's one
/// <see cref="Trainer"/>. Parameters, gradients and the AdamW moments live on the device in one flat buffer each (the
/// model's <c>Parameters()</c> order); a step uploads its batch and labels once, runs the equivariant layers
/// (<see cref="IlgpuEquivariantKernel"/>), <see cref="IlgpuNorm"/>, ReLU, <see cref="IlgpuPooling"/>, the Linear/ReLU head,
/// softmax cross-entropy, optional global-norm clipping and AdamW as kernels, and reads back only the loss and the logits
/// (batch × classes floats, for the trainer's accuracy). Parameters come back to the CPU model only in
/// <see cref="StateDict"/> (checkpoints, best-epoch selection) and <see cref="SyncToModel"/>.
/// </summary>
/// <remarks>
/// The same schedule as the CPU model: ReLU fused into the layer (no normalization) or into the normalization, the last
/// activation's backward as its own pass, no input gradient for the first layer. Deterministic: no atomics; every sum has
/// a fixed order. Supported: invariant heads of Linear and ReLU layers, ReLU or no activation, mean / max / mean-and-max
/// pooling, normalization, cross-entropy with label smoothing, AdamW (AMSGrad, decay mask, clipping). Anything else is
/// refused at construction with <see cref="NotSupportedException"/> (<see cref="WhyUnsupported"/> says why beforehand).
/// </remarks>
public sealed class IlgpuStepExecutor : IStepExecutor, IDisposable
{
    private readonly IlgpuDevice _device;
    private readonly IlgpuTrainingOps _ops;
    private readonly EquivariantNetwork _model;
    private readonly TrainerOptions _options;
    private readonly AdamW _cpuOptimizer;   // the learning rate, state-dict keys and their validation
    private readonly Func<WeightSpaceBatch, WeightSpaceBatch>? _prepare;
    private readonly Parameter[] _parameters;
    private readonly Dictionary<Parameter, int> _offset = new(ReferenceEqualityComparer.Instance);
    private readonly int _paramCount, _entries, _classes;
    private readonly IlgpuEquivariantKernel[] _layers;
    private readonly IlgpuNorm[] _norms;
    private readonly IlgpuPooling _pooling;
    private readonly (Linear? Linear, int In, int Out)[] _head;
    private readonly bool _relu, _normalize, _fuseIntoLayer;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _p, _g, _m, _v, _vmax, _scale, _loss;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _decays;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _clipPartial;
    private readonly List<IDisposable> _perBatch = new();
    private int _capacity;
    private MemoryBuffer1D<float, Stride1D.Dense> _x0 = null!, _dlogits = null!, _g1 = null!, _g2 = null!, _feats = null!, _dfeats = null!;
    private MemoryBuffer1D<float, Stride1D.Dense>[] _z = Array.Empty<MemoryBuffer1D<float, Stride1D.Dense>>(), _a = Array.Empty<MemoryBuffer1D<float, Stride1D.Dense>>();
    private MemoryBuffer1D<float, Stride1D.Dense>[] _headOut = Array.Empty<MemoryBuffer1D<float, Stride1D.Dense>>(), _headGin = Array.Empty<MemoryBuffer1D<float, Stride1D.Dense>>();
    private MemoryBuffer1D<int, Stride1D.Dense> _labels = null!;
    private MemoryBuffer1D<double, Stride1D.Dense> _rowLoss = null!;
    private int _step;

    /// <param name="device">The accelerator the model's equivariant layers were built on.</param>
    /// <param name="model">Built with the generated <c>(IlgpuDevice, seed)</c> constructor; its parameters are copied to the device now.</param>
    /// <param name="options">The optimizer settings (AdamW, AMSGrad, weight decay and mask, clipping), as <see cref="TrainerOptions.CreateOptimizer"/>.</param>
    /// <param name="prepareInput">Applied on the host to every batch before it is uploaded (e.g. the input normalization); may work in place.</param>
    public IlgpuStepExecutor(IlgpuDevice device, EquivariantNetwork model, TrainerOptions options, Func<WeightSpaceBatch, WeightSpaceBatch>? prepareInput = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (WhyUnsupported(device, model, options) is string why) throw new NotSupportedException(why);
        _device = device; _model = model; _options = options; _prepare = prepareInput;
        _ops = new IlgpuTrainingOps(device);
        _cpuOptimizer = options.CreateOptimizer(model);
        _parameters = model.Parameters().ToArray();
        foreach (var p in _parameters) { _offset[p] = _paramCount; _paramCount = checked(_paramCount + p.Length); }
        var config = model.Config;
        _relu = config.Activation == Activation.ReLU;
        _normalize = config.Normalize;
        _fuseIntoLayer = _relu && !_normalize;
        _layers = model.Layers.Select(l => (IlgpuEquivariantKernel)l.Kernel).ToArray();
        _entries = model.Space.Tensors.Sum(t => t.Size);
        _norms = _normalize ? config.Channels.Select(c => new IlgpuNorm(device, model.Space, c)).ToArray() : Array.Empty<IlgpuNorm>();
        _pooling = new IlgpuPooling(device, model.Space, config.Channels[^1], config.Pooling);
        var head = new List<(Linear?, int, int)>();
        int width = _pooling.FeatureCount;
        foreach (var layer in model.Head!.Layers)
        {
            if (layer is Linear lin) { head.Add((lin, lin.InFeatures, lin.OutFeatures)); width = lin.OutFeatures; }
            else head.Add((null, width, width));
        }
        _head = head.ToArray();
        _classes = width;

        var acc = device.Accelerator;
        int n = Math.Max(1, _paramCount);
        _p = acc.Allocate1D<float>(n); _g = acc.Allocate1D<float>(n); _m = acc.Allocate1D<float>(n); _v = acc.Allocate1D<float>(n);
        _vmax = acc.Allocate1D<float>(options.AmsGrad ? n : 1);
        _m.MemSetToZero(); _v.MemSetToZero(); _vmax.MemSetToZero(); _g.MemSetToZero();
        var decays = new int[n];
        foreach (var p in _parameters)
            if (options.WeightDecay != 0 && (options.DecayAllParameters || p.Decay)) Array.Fill(decays, 1, _offset[p], p.Length);
        _decays = acc.Allocate1D(decays);
        _clipPartial = acc.Allocate1D<double>(IlgpuTrainingOps.ClipScratch(_paramCount));
        _scale = acc.Allocate1D<float>(2);
        _loss = acc.Allocate1D<float>(1);
        UploadParameters();
    }

    /// <summary>
    /// Why <paramref name="model"/> cannot train on the device with these options (one line naming the module or setting),
    /// or null when it can.
    /// </summary>
    public static string? WhyUnsupported(IlgpuDevice device, EquivariantNetwork model, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        const string who = "The ILGPU device trainer";
        if (model.Head == null || model.Pooling == null) return $"{who} trains models with an invariant head (pooling + dense layers); this model has an equivariant head.";
        if (model.Config.Activation is not (Activation.ReLU or Activation.None))
            return $"{who} has no kernel for the {model.Config.Activation} activation (ReLU or none only).";
        for (int i = 0; i < model.Layers.Count; i++)
        {
            if (model.Layers[i].Kernel is not IlgpuEquivariantKernel k)
                return $"{who} needs the model's equivariant layers on the accelerator (the generated (IlgpuDevice, seed) constructor); layer {i} runs {model.Layers[i].Kernel.GetType().Name}.";
            if (!ReferenceEquals(k.Device, device)) return $"{who}: layer {i} was built on another ILGPU device.";
        }
        foreach (var layer in model.Head.Layers)
            if (layer is not (Linear or ReLU)) return $"{who} supports heads of Linear and ReLU layers; this head has {layer}.";
        if (model.Head.Layers.Count == 0 || model.Head.Layers[^1] is not Linear) return $"{who} needs a head that ends with a Linear layer (the logits).";
        if (options.Task != TrainingTask.Classification) return $"{who} trains classifiers (softmax cross-entropy); the task is {options.Task}.";
        return null;
    }

    public IlgpuDevice Device => _device;

    /// <summary>The CPU model whose parameters this executor trains (on the device; see <see cref="SyncToModel"/>).</summary>
    public EquivariantNetwork Model => _model;

    public void SetTraining(bool training) => _model.Train(training);

    public float LearningRate { get => _cpuOptimizer.LearningRate; set => _cpuOptimizer.LearningRate = value; }

    public int StepCount => _step;

    private ArrayView<float> Param(Parameter p) => _p.View.SubView(_offset[p], p.Length);
    private ArrayView<float> Grad(Parameter p) => _g.View.SubView(_offset[p], p.Length);

    private void UploadParameters()
    {
        var flat = new float[Math.Max(1, _paramCount)];
        foreach (var p in _parameters) Array.Copy(p.Data, 0, flat, _offset[p], p.Length);
        _p.View.CopyFromCPU(flat);
    }

    /// <summary>Copies the device's parameters into the CPU model (after this, the model's <c>Forward</c> sees the trained values).</summary>
    public void SyncToModel()
    {
        var flat = new float[Math.Max(1, _paramCount)];
        _p.View.CopyToCPU(flat);
        foreach (var p in _parameters) Array.Copy(flat, _offset[p], p.Data, 0, p.Length);
    }

    private void Reserve(int batch)
    {
        int maxBatch = _layers.Min(l => l.MaxBatch);
        if (batch < 1 || batch > maxBatch) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"A batch must hold 1..{maxBatch} networks.");
        if (batch <= _capacity) return;
        foreach (var d in _perBatch) d.Dispose();
        _perBatch.Clear();
        var acc = _device.Accelerator;
        MemoryBuffer1D<float, Stride1D.Dense> F(long length)
        {
            var b = acc.Allocate1D<float>(Math.Max(1, length));
            _perBatch.Add(b);
            return b;
        }
        var channels = _model.Config.Channels;
        long e = (long)batch * _entries;
        _x0 = F(e);
        _z = channels.Select(c => F(e * c)).ToArray();
        _a = _normalize ? channels.Select(c => F(e * c)).ToArray() : Array.Empty<MemoryBuffer1D<float, Stride1D.Dense>>();
        _g1 = F(e * channels.Max()); _g2 = F(e * channels.Max());
        _feats = F((long)batch * _pooling.FeatureCount); _dfeats = F((long)batch * _pooling.FeatureCount);
        _headOut = _head.Select(h => F((long)batch * h.Out)).ToArray();
        _headGin = _head.Select((h, j) => j == 0 ? _dfeats : F((long)batch * h.In)).ToArray();
        _dlogits = F((long)batch * _classes);
        _labels = acc.Allocate1D<int>(batch); _perBatch.Add(_labels);
        _rowLoss = acc.Allocate1D<double>(batch); _perBatch.Add(_rowLoss);
        _capacity = batch;
    }

    private static ArrayView<float> V(MemoryBuffer1D<float, Stride1D.Dense> b, long length) => b.View.SubView(0, length);

    private int Upload(WeightSpaceBatch inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var x = _prepare != null ? _prepare(inputs) : inputs;
        if (x.Channels != 1) throw new ArgumentException($"Model input must have 1 channel (raw weights), got {x.Channels}.", nameof(inputs));
        var space = _model.Space;
        if (x.Space.Tensors.Count != space.Tensors.Count || x.Space.Dimension != space.Dimension)
            throw new ArgumentException($"Input is over a weight space of {x.Space.Dimension} weights in {x.Space.Tensors.Count} tensors; the model expects {space.Dimension} in {space.Tensors.Count}.", nameof(inputs));
        for (int t = 0; t < space.Tensors.Count; t++)
            if (x.Space.Tensors[t].Size != space.Tensors[t].Size)
                throw new ArgumentException($"Input tensor {t} has {x.Space.Tensors[t].Size} entries; the model's has {space.Tensors[t].Size}.", nameof(inputs));
        int batch = x.Batch;
        Reserve(batch);
        V(_x0, (long)batch * _entries).CopyFromCPU(x.Flatten());
        return batch;
    }

    /// <summary>Trunk, pooling and head on the device; the logits stay in the last head buffer.</summary>
    private ArrayView<float> ForwardOnDevice(int batch)
    {
        var channels = _model.Config.Channels;
        long e = (long)batch * _entries;
        var cur = V(_x0, e);
        for (int i = 0; i < _layers.Length; i++)
        {
            var layer = _model.Layers[i];
            var z = V(_z[i], e * channels[i]);
            _layers[i].Forward(Param(layer.Weight), Param(layer.Bias), cur, z, batch, relu: _fuseIntoLayer);
            if (_normalize)
            {
                var norm = _model.Norms[i];
                var a = V(_a[i], e * channels[i]);
                _norms[i].Forward(Param(norm.Weight), Param(norm.Bias), z, a, batch, relu: _relu);
                cur = a;
            }
            else cur = z;
        }
        var feats = V(_feats, (long)batch * _pooling.FeatureCount);
        _pooling.Forward(cur, feats, batch);
        var h = feats;
        for (int j = 0; j < _head.Length; j++)
        {
            var (lin, inF, outF) = _head[j];
            var y = V(_headOut[j], (long)batch * outF);
            if (lin != null) _ops.LinearForward(h, Param(lin.Weight), lin.Bias is { } b ? Param(b) : null, y, batch, inF, outF);
            else _ops.Relu(h, y);
            h = y;
        }
        return h;
    }

    private void BackwardOnDevice(int batch, ArrayView<float> dlogits)
    {
        var channels = _model.Config.Channels;
        long e = (long)batch * _entries;
        var g = dlogits;
        for (int j = _head.Length - 1; j >= 0; j--)
        {
            var (lin, inF, outF) = _head[j];
            var input = j == 0 ? V(_feats, (long)batch * _pooling.FeatureCount) : V(_headOut[j - 1], (long)batch * inF);
            var gin = V(_headGin[j], (long)batch * inF);
            if (lin != null) _ops.LinearBackward(input, Param(lin.Weight), g, gin, Grad(lin.Weight), lin.Bias is { } b ? Grad(b) : null, batch, inF, outF);
            else _ops.ReluBackward(V(_headOut[j], (long)batch * outF), g, gin);
            g = gin;
        }
        int last = _layers.Length - 1;
        var gcur = V(_g1, e * channels[last]);
        _pooling.Backward(g, gcur, batch);
        var spare = _g2;
        var held = _g1;
        for (int i = last; i >= 0; i--)
        {
            var layer = _model.Layers[i];
            var z = V(_z[i], e * channels[i]);
            if (_fuseIntoLayer && i == last) _ops.ReluBackward(z, gcur, gcur);
            if (_normalize)
            {
                var norm = _model.Norms[i];
                _norms[i].Backward(Param(norm.Weight), Param(norm.Bias), z, gcur, gcur, Grad(norm.Weight), Grad(norm.Bias), batch);
            }
            bool needInput = i > 0;
            var input = i == 0 ? V(_x0, e) : (_normalize ? V(_a[i - 1], e * channels[i - 1]) : V(_z[i - 1], e * channels[i - 1]));
            var gx = needInput ? V(spare, e * channels[i - 1]) : default;
            _layers[i].Backward(Param(layer.Weight), input, gcur, gx, Grad(layer.Weight), Grad(layer.Bias), batch, needInput, reluMaskInput: needInput && _fuseIntoLayer);
            if (!needInput) break;
            gcur = gx;
            (spare, held) = (held, spare);
        }
    }

    public StepResult Step(WeightSpaceBatch inputs, TrainingTargets targets, ITrainingObjective objective)
    {
        ArgumentNullException.ThrowIfNull(objective);
        if (objective is not ClassificationObjective ce)
            throw new NotSupportedException($"The ILGPU device trainer computes softmax cross-entropy on the device; the objective '{objective.Name}' has no device kernel.");
        var labels = targets.RequireLabels(objective.Name);
        if (labels.Length != inputs.Batch) throw new ArgumentException($"{labels.Length} labels for a batch of {inputs.Batch} networks.", nameof(targets));
        for (int b = 0; b < labels.Length; b++)
            if ((uint)labels[b] >= (uint)_classes)
                throw new ArgumentOutOfRangeException(nameof(targets), $"Label {labels[b]} at row {b} is outside [0, {_classes}).");
        int batch = Upload(inputs);
        var labelView = _labels.View.SubView(0, batch);
        labelView.CopyFromCPU(labels);
        var logits = ForwardOnDevice(batch);
        var dlogits = V(_dlogits, (long)batch * _classes);
        _ops.CrossEntropy(logits, labelView, dlogits, _rowLoss.View.SubView(0, batch), _loss.View, batch, _classes, ce.LabelSmoothing);
        var lossHost = new float[1];
        _loss.View.CopyToCPU(lossHost);
        var outputs = new float[batch * _classes];
        logits.CopyToCPU(outputs);
        LossGuard.Check(lossHost[0], _step + 1);
        _g.MemSetToZero();
        BackwardOnDevice(batch, dlogits);
        if (_options.ClipGradNorm is float clip) _ops.ClipGradNorm(_g.View.SubView(0, _paramCount), clip, _clipPartial.View, _scale.View);
        _step++;
        _ops.AdamW(_p.View.SubView(0, _paramCount), _g.View.SubView(0, _paramCount), _m.View.SubView(0, _paramCount), _v.View.SubView(0, _paramCount),
            _options.AmsGrad ? _vmax.View.SubView(0, _paramCount) : _vmax.View, _decays.View.SubView(0, _paramCount),
            LearningRate, _step, _options.Beta1, _options.Beta2, _options.Epsilon, _options.WeightDecay, _options.AmsGrad);
        _device.Accelerator.Synchronize();
        return new StepResult(lossHost[0], new Tensor(outputs, batch, _classes));
    }

    public Tensor Forward(WeightSpaceBatch inputs)
    {
        int batch = Upload(inputs);
        var logits = ForwardOnDevice(batch);
        var outputs = new float[batch * _classes];
        logits.CopyToCPU(outputs);
        return new Tensor(outputs, batch, _classes);
    }

    public Dictionary<string, Tensor> StateDict()
    {
        SyncToModel();
        return _model.StateDict();
    }

    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        _model.LoadStateDict(state);
        UploadParameters();
    }

    private static readonly string[] StateNames = { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" };

    public Dictionary<string, Tensor> OptimizerStateDict()
    {
        int buffers = _options.AmsGrad ? 3 : 2;
        var flats = new[] { _m, _v, _vmax }.Take(buffers).Select(b => { var f = new float[Math.Max(1, _paramCount)]; b.View.SubView(0, f.Length).CopyToCPU(f); return f; }).ToArray();
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < _parameters.Length; i++)
            for (int s = 0; s < buffers; s++)
            {
                var t = new Tensor(_parameters[i].Shape);
                Array.Copy(flats[s], _offset[_parameters[i]], t.Data, 0, t.Length);
                d[string.Create(CultureInfo.InvariantCulture, $"state.{i}.{StateNames[s]}")] = t;
            }
        d["step"] = new Tensor(new float[] { _step & 0xFFFFFF, _step >> 24 }, 2);
        d["lr"] = new Tensor(new float[] { LearningRate }, 1);
        return d;
    }

    public void LoadOptimizerStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        _cpuOptimizer.LoadStateDict(state);   // validates every key and shape, sets the step and the rate
        int buffers = _options.AmsGrad ? 3 : 2;
        var dests = new[] { _m, _v, _vmax };
        for (int s = 0; s < buffers; s++)
        {
            var flat = new float[Math.Max(1, _paramCount)];
            for (int i = 0; i < _parameters.Length; i++)
                Array.Copy(state[string.Create(CultureInfo.InvariantCulture, $"state.{i}.{StateNames[s]}")].Data, 0, flat, _offset[_parameters[i]], _parameters[i].Length);
            dests[s].View.SubView(0, flat.Length).CopyFromCPU(flat);
        }
        _step = _cpuOptimizer.StepCount;
    }

    public void Dispose()
    {
        foreach (var d in _perBatch) d.Dispose();
        foreach (var n in _norms) n.Dispose();
        _pooling.Dispose();
        _p.Dispose(); _g.Dispose(); _m.Dispose(); _v.Dispose(); _vmax.Dispose(); _scale.Dispose(); _loss.Dispose();
        _decays.Dispose(); _clipPartial.Dispose();
    }
}
