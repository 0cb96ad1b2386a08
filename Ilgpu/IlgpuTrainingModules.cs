using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Runtime;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// The stateless training kernels (<see cref="IlgpuTrainingKernels"/>) loaded once on a device: ReLU, the dense head,
/// softmax cross-entropy, gradient clipping and AdamW on device views. Every call is asynchronous on the accelerator's
/// default stream.
/// </summary>
public sealed class IlgpuTrainingOps
{
    public IlgpuDevice Device { get; }
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> _relu;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _reluBack;
    private readonly Action<AcceleratorStream, Index1D, IlgpuDenseArgs> _denseF, _denseBx, _denseBw;
    private readonly Action<AcceleratorStream, Index1D, IlgpuLossArgs> _ceRows, _ceTotal;
    private readonly Action<AcceleratorStream, Index1D, IlgpuClipArgs> _clipPartial, _clipScale, _clipApply;
    private readonly Action<AcceleratorStream, Index1D, IlgpuAdamArgs> _adam;

    /// <summary>Gradients per thread in the clipping norm's first pass.</summary>
    public const int ClipChunk = 4096;

    public IlgpuTrainingOps(IlgpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        var acc = device.Accelerator;
        _relu = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(IlgpuTrainingKernels.ReluForward);
        _reluBack = acc.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IlgpuTrainingKernels.ReluBackward);
        _denseF = acc.LoadAutoGroupedKernel<Index1D, IlgpuDenseArgs>(IlgpuTrainingKernels.DenseForward);
        _denseBx = acc.LoadAutoGroupedKernel<Index1D, IlgpuDenseArgs>(IlgpuTrainingKernels.DenseBackwardInput);
        _denseBw = acc.LoadAutoGroupedKernel<Index1D, IlgpuDenseArgs>(IlgpuTrainingKernels.DenseBackwardWeight);
        _ceRows = acc.LoadAutoGroupedKernel<Index1D, IlgpuLossArgs>(IlgpuTrainingKernels.CrossEntropyRows);
        _ceTotal = acc.LoadAutoGroupedKernel<Index1D, IlgpuLossArgs>(IlgpuTrainingKernels.CrossEntropyTotal);
        _clipPartial = acc.LoadAutoGroupedKernel<Index1D, IlgpuClipArgs>(IlgpuTrainingKernels.ClipPartial);
        _clipScale = acc.LoadAutoGroupedKernel<Index1D, IlgpuClipArgs>(IlgpuTrainingKernels.ClipScale);
        _clipApply = acc.LoadAutoGroupedKernel<Index1D, IlgpuClipArgs>(IlgpuTrainingKernels.ClipApply);
        _adam = acc.LoadAutoGroupedKernel<Index1D, IlgpuAdamArgs>(IlgpuTrainingKernels.AdamW);
    }

    private AcceleratorStream Stream => Device.Accelerator.DefaultStream;

    private static void Same(ArrayView<float> a, ArrayView<float> b, string what)
    {
        if (a.Length != b.Length) throw new ArgumentException($"{what}: the views hold {a.Length} and {b.Length} floats; they must be the same length.");
    }

    /// <summary>y = ReLU(x) (y may be x).</summary>
    public void Relu(ArrayView<float> x, ArrayView<float> y)
    {
        Same(x, y, nameof(Relu));
        if (x.Length > 0) _relu(Stream, (int)x.Length, x, y);
    }

    /// <summary>gx = y ≤ 0 ? 0 : g, y the ReLU's output (gx may be g).</summary>
    public void ReluBackward(ArrayView<float> y, ArrayView<float> g, ArrayView<float> gx)
    {
        Same(y, g, nameof(ReluBackward)); Same(y, gx, nameof(ReluBackward));
        if (y.Length > 0) _reluBack(Stream, (int)y.Length, y, g, gx);
    }

    private static IlgpuDenseArgs Dense(int rows, int inF, int outF, ArrayView<float> w, ArrayView<float>? b)
    {
        if (rows < 1 || inF < 1 || outF < 1) throw new ArgumentException($"A dense layer needs rows, in and out ≥ 1; got {rows}, {inF}, {outF}.");
        if (w.Length != (long)inF * outF) throw new ArgumentException($"The weight holds {w.Length} floats; a {inF} → {outF} layer has {(long)inF * outF}.");
        if (b is { } bv && bv.Length != outF) throw new ArgumentException($"The bias holds {bv.Length} floats; expected {outF}.");
        return new IlgpuDenseArgs { Rows = rows, In = inF, Out = outF, W = w, B = b ?? default, HasBias = b.HasValue ? 1 : 0 };
    }

    /// <summary>y[rows, out] = x[rows, in]·Wᵀ + b (Linear's forward).</summary>
    public void LinearForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float>? b, ArrayView<float> y, int rows, int inF, int outF)
    {
        var a = Dense(rows, inF, outF, w, b);
        if (x.Length != (long)rows * inF || y.Length != (long)rows * outF) throw new ArgumentException($"LinearForward: x must hold {rows}×{inF} and y {rows}×{outF} floats.");
        a.X = x; a.Y = y;
        _denseF(Stream, rows * outF, a);
    }

    /// <summary>Linear's backward: gw (and gb) ADDED to; gx overwritten when <paramref name="gx"/> is given.</summary>
    public void LinearBackward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> gy, ArrayView<float>? gx, ArrayView<float> gw, ArrayView<float>? gb, int rows, int inF, int outF)
    {
        var a = Dense(rows, inF, outF, w, gb);
        if (x.Length != (long)rows * inF || gy.Length != (long)rows * outF || gw.Length != w.Length)
            throw new ArgumentException($"LinearBackward: x must hold {rows}×{inF}, gy {rows}×{outF} and gw {inF}×{outF} floats.");
        a.X = x; a.Gy = gy; a.Gw = gw; a.Gb = gb ?? default;
        if (gx is { } gxv)
        {
            if (gxv.Length != (long)rows * inF) throw new ArgumentException($"LinearBackward: gx must hold {rows}×{inF} floats.");
            a.Gx = gxv;
            _denseBx(Stream, rows * inF, a);
        }
        _denseBw(Stream, outF * inF, a);
    }

    /// <summary>
    /// Softmax cross-entropy (label smoothing ε): <paramref name="loss"/>[0] = the batch's mean loss, <paramref name="grad"/> =
    /// d loss / d logits. <paramref name="rowLoss"/> is scratch of ≥ batch doubles.
    /// </summary>
    public void CrossEntropy(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> grad, ArrayView<double> rowLoss, ArrayView<float> loss,
        int batch, int classes, float smoothing)
    {
        if (batch < 1 || classes < 1) throw new ArgumentException($"Cross-entropy needs batch and classes ≥ 1; got {batch}, {classes}.");
        if (logits.Length != (long)batch * classes || grad.Length != logits.Length || labels.Length != batch || rowLoss.Length < batch || loss.Length < 1)
            throw new ArgumentException($"CrossEntropy: logits and grad must hold {batch}×{classes} floats, labels {batch} ints, rowLoss ≥ {batch}, loss ≥ 1.");
        var a = new IlgpuLossArgs { Batch = batch, Classes = classes, Smoothing = smoothing, Logits = logits, Grad = grad, Loss = loss, Labels = labels, RowLoss = rowLoss };
        _ceRows(Stream, batch, a);
        _ceTotal(Stream, 1, a);
    }

    /// <summary>Doubles of scratch <see cref="ClipGradNorm"/> needs for <paramref name="count"/> gradients.</summary>
    public static int ClipScratch(int count) => Math.Max(1, (count + ClipChunk - 1) / ClipChunk);

    /// <summary>
    /// Scales the gradients so that their global L2 norm is at most <paramref name="maxNorm"/> (the CPU
    /// <c>GradientClipping.ClipGradNorm</c> rule; the norm in double, chunks in order). <paramref name="scale"/>[0] gets the
    /// factor applied, [1] the norm before clipping.
    /// </summary>
    public void ClipGradNorm(ArrayView<float> grads, float maxNorm, ArrayView<double> partial, ArrayView<float> scale)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The clipping norm must be positive.");
        int count = (int)grads.Length, chunks = ClipScratch(count);
        if (partial.Length < chunks || scale.Length < 2) throw new ArgumentException($"ClipGradNorm: partial must hold ≥ {chunks} doubles and scale ≥ 2 floats.");
        var a = new IlgpuClipArgs { Count = count, Chunk = ClipChunk, Chunks = chunks, MaxNorm = maxNorm, G = grads, Partial = partial, Scale = scale };
        _clipPartial(Stream, chunks, a);
        _clipScale(Stream, 1, a);
        if (count > 0) _clipApply(Stream, count, a);
    }

    /// <summary>
    /// One AdamW (or AMSGrad) step of every element, <paramref name="step"/> = 1 on the first step, with the CPU <c>Adam</c>'s
    /// host-side scalars: decoupled decay param *= 1 − lr·wd where <paramref name="decays"/> ≠ 0.
    /// </summary>
    public void AdamW(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, ArrayView<float> vMax, ArrayView<int> decays,
        float learningRate, int step, double beta1, double beta2, double eps, double weightDecay, bool amsgrad)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "Steps count from 1.");
        Same(p, g, nameof(AdamW)); Same(p, m, nameof(AdamW)); Same(p, v, nameof(AdamW));
        if (amsgrad) Same(p, vMax, nameof(AdamW));
        if (decays.Length != p.Length) throw new ArgumentException($"AdamW: the decay mask holds {decays.Length} values for {p.Length} parameters.");
        double lr = learningRate;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        float w = (float)(1 - beta1);
        var a = new IlgpuAdamArgs
        {
            Count = (int)p.Length, AmsGrad = amsgrad ? 1 : 0, LowWeight = Math.Abs(w) < 0.5f ? 1 : 0,
            Shrink = weightDecay != 0 ? (float)(1 - lr * weightDecay) : 1f,
            NegStepSize = (float)-(lr / bc1), Bc2Sqrt = (float)Math.Sqrt(bc2), Weight = w, OneMinusWeight = (float)beta1,
            Beta2 = (float)beta2, OneMinusBeta2 = (float)(1 - beta2), Epsilon = (float)eps,
            P = p, G = g, M = m, V = v, VMax = amsgrad ? vMax : default, Decays = decays,
        };
        if (p.Length > 0) _adam(Stream, (int)p.Length, a);
    }
}

/// <summary>
/// <c>EquivariantNorm</c> on the device for one weight space and channel count: forward (optionally with the ReLU in the
/// same pass) and backward, the CPU module's arithmetic (double sums in entry order; blocks of 8 in the backward; the
/// networks' partial parameter gradients added in network order). Holds its statistics between forward and backward.
/// </summary>
public sealed class IlgpuNorm : IDisposable
{
    public IlgpuDevice Device { get; }
    public int Tensors { get; }
    public int Channels { get; }
    /// <summary>Entries per network (Σ over the tensors of their entries).</summary>
    public int Entries { get; }
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _prefix;
    private readonly Action<AcceleratorStream, Index1D, IlgpuNormArgs> _stats, _forward, _sums, _input, _params;
    private MemoryBuffer1D<float, Stride1D.Dense>? _mean, _inv, _a, _k;
    private MemoryBuffer1D<double, Stride1D.Dense>? _pw, _pb;
    private int _batch;
    private bool _relu, _ran;

    public IlgpuNorm(IlgpuDevice device, global::LayerCompiler.Algebra.WeightSpace space, int channels)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(space);
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "At least one channel.");
        Device = device; Tensors = space.Tensors.Count; Channels = channels;
        var prefix = new int[Tensors + 1];
        for (int t = 0; t < Tensors; t++) prefix[t + 1] = prefix[t] + space.Tensors[t].Size;
        Entries = prefix[Tensors];
        var acc = device.Accelerator;
        _prefix = acc.Allocate1D(prefix);
        _stats = acc.LoadAutoGroupedKernel<Index1D, IlgpuNormArgs>(IlgpuTrainingKernels.NormStatistics);
        _forward = acc.LoadAutoGroupedKernel<Index1D, IlgpuNormArgs>(IlgpuTrainingKernels.NormForward);
        _sums = acc.LoadAutoGroupedKernel<Index1D, IlgpuNormArgs>(IlgpuTrainingKernels.NormGradientSums);
        _input = acc.LoadAutoGroupedKernel<Index1D, IlgpuNormArgs>(IlgpuTrainingKernels.NormInputGradient);
        _params = acc.LoadAutoGroupedKernel<Index1D, IlgpuNormArgs>(IlgpuTrainingKernels.NormParameterGradient);
    }

    /// <summary>Whether the last forward applied the ReLU (its backward then differentiates it too).</summary>
    public bool AppliedRelu => _relu;

    private IlgpuNormArgs Args(int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A batch holds at least one network.");
        long stats = (long)batch * Tensors * Channels;
        var acc = Device.Accelerator;
        if (_mean == null || _mean.Length < stats)
        {
            _mean?.Dispose(); _inv?.Dispose(); _a?.Dispose(); _k?.Dispose(); _pw?.Dispose(); _pb?.Dispose();
            _mean = acc.Allocate1D<float>(stats); _inv = acc.Allocate1D<float>(stats);
            _a = acc.Allocate1D<float>(stats); _k = acc.Allocate1D<float>(stats);
            _pw = acc.Allocate1D<double>(stats); _pb = acc.Allocate1D<double>(stats);
        }
        return new IlgpuNormArgs
        {
            Batch = batch, Channels = Channels, Tensors = Tensors, Prefix = _prefix.View,
            Mean = _mean.View.SubView(0, stats), InvStd = _inv!.View.SubView(0, stats), A = _a!.View.SubView(0, stats), K = _k!.View.SubView(0, stats),
            PartW = _pw!.View.SubView(0, stats), PartB = _pb!.View.SubView(0, stats),
        };
    }

    private void Check(ArrayView<float> v, long expected, string name)
    {
        if (v.Length != expected) throw new ArgumentException($"EquivariantNorm on the device: {name} holds {v.Length} floats; {_batch} networks × {Entries} entries × {Channels} channels is {expected}.", name);
    }

    /// <summary>y = norm(x) (ReLU'd when <paramref name="relu"/>); x must not change before <see cref="Backward"/>.</summary>
    public void Forward(ArrayView<float> w, ArrayView<float> b, ArrayView<float> x, ArrayView<float> y, int batch, bool relu)
    {
        var a = Args(batch);
        _batch = batch;
        long values = (long)batch * Entries * Channels;
        Check(x, values, nameof(x)); Check(y, values, nameof(y));
        if (w.Length != Tensors * Channels || b.Length != Tensors * Channels) throw new ArgumentException($"EquivariantNorm on the device: weight and bias must hold {Tensors}×{Channels} floats.");
        a.X = x; a.Y = y; a.W = w; a.B = b; a.Relu = relu ? 1 : 0;
        var s = Device.Accelerator.DefaultStream;
        _stats(s, batch * Tensors * Channels, a);
        _forward(s, (int)values, a);
        _relu = relu; _ran = true;
    }

    /// <summary>Gradients of weight and bias ADDED to gw, gb; gx = the input gradient (may be g).</summary>
    public void Backward(ArrayView<float> w, ArrayView<float> b, ArrayView<float> x, ArrayView<float> g, ArrayView<float> gx, ArrayView<float> gw, ArrayView<float> gb, int batch)
    {
        if (!_ran || batch != _batch) throw new InvalidOperationException("EquivariantNorm on the device: Backward needs the Forward of the same batch first.");
        var a = Args(batch);
        long values = (long)batch * Entries * Channels;
        Check(x, values, nameof(x)); Check(g, values, nameof(g)); Check(gx, values, nameof(gx));
        if (gw.Length != Tensors * Channels || gb.Length != Tensors * Channels) throw new ArgumentException($"EquivariantNorm on the device: gradients must hold {Tensors}×{Channels} floats.");
        a.X = x; a.G = g; a.Gx = gx; a.W = w; a.B = b; a.Gw = gw; a.Gb = gb; a.Relu = _relu ? 1 : 0;
        var s = Device.Accelerator.DefaultStream;
        _sums(s, batch * Tensors * Channels, a);
        _params(s, Tensors * Channels, a);
        _input(s, (int)values, a);
    }

    public void Dispose()
    {
        _prefix.Dispose();
        _mean?.Dispose(); _inv?.Dispose(); _a?.Dispose(); _k?.Dispose(); _pw?.Dispose(); _pb?.Dispose();
    }
}

/// <summary>
/// <c>InvariantPooling</c> on the device (mean, max, or both; same feature order as the CPU module): one thread per feature
/// sums or scans its entries in entry order; the max keeps its entry for the backward (the first entry holding the maximum).
/// </summary>
public sealed class IlgpuPooling : IDisposable
{
    public IlgpuDevice Device { get; }
    public int Channels { get; }
    public HeadPooling Pooling { get; }
    public int FeatureCount { get; }
    public int Entries { get; }
    private readonly int _tensors, _groups, _maxFeatures;
    private readonly bool _mean, _max;
    private readonly List<MemoryBuffer1D<int, Stride1D.Dense>> _tables = new();
    private readonly IlgpuPoolArgs _template;
    private readonly Action<AcceleratorStream, Index1D, IlgpuPoolArgs> _forward, _backward;
    private MemoryBuffer1D<int, Stride1D.Dense>? _argmax;
    private int _batch = -1;

    public IlgpuPooling(IlgpuDevice device, global::LayerCompiler.Algebra.WeightSpace space, int channels, HeadPooling pooling)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(space);
        if (!Enum.IsDefined(pooling)) throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Unknown pooling.");
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "At least one channel.");
        Device = device; Channels = channels; Pooling = pooling;
        _mean = pooling != HeadPooling.Max; _max = pooling != HeadPooling.Mean;
        int per = (_mean ? 1 : 0) + (_max ? 1 : 0);
        _tensors = space.Tensors.Count;
        var prefix = new int[_tensors + 1];
        var fixedSize = new int[_tensors];
        var featureOffset = new int[_tensors];
        var maxOffset = new int[_tensors];
        var maxBase = new int[_tensors];
        var groupTensor = new List<int>(); var groupFixed = new List<int>(); var groupStart = new List<int>(); var groupCount = new List<int>();
        var entries = new List<int>();
        var fixedIndex = new List<int>();
        int f = 0, mb = 0;
        for (int t = 0; t < _tensors; t++)
        {
            var wt = space.Tensors[t];
            prefix[t + 1] = prefix[t] + wt.Size;
            fixedSize[t] = wt.FixedSize;
            int width = wt.FixedSize * channels;
            featureOffset[t] = f;
            maxOffset[t] = f + (_mean ? width : 0);
            maxBase[t] = mb;
            f += per * width;
            if (_max) mb += width;
            var map = RowMajor.FixedIndexMap(wt);
            fixedIndex.AddRange(map);
            for (int fi = 0; fi < wt.FixedSize; fi++)
            {
                groupTensor.Add(t); groupFixed.Add(fi); groupStart.Add(entries.Count);
                int count = 0;
                for (int e = 0; e < map.Length; e++) if (map[e] == fi) { entries.Add(e); count++; }
                groupCount.Add(count);
            }
        }
        FeatureCount = f; _maxFeatures = mb; _groups = groupTensor.Count; Entries = prefix[_tensors];
        var acc = device.Accelerator;
        ArrayView<int> Table(int[] data)
        {
            var buffer = acc.Allocate1D(data.Length == 0 ? new int[1] : data);
            _tables.Add(buffer);
            return buffer.View;
        }
        _template = new IlgpuPoolArgs
        {
            Channels = channels, Tensors = _tensors, Mean = _mean ? 1 : 0, Max = _max ? 1 : 0, FeatureCount = FeatureCount, MaxFeatureCount = _maxFeatures,
            Groups = _groups, Prefix = Table(prefix), FixedSize = Table(fixedSize), FeatureOffset = Table(featureOffset), MaxOffset = Table(maxOffset),
            MaxBase = Table(maxBase), GroupTensor = Table(groupTensor.ToArray()), GroupFixed = Table(groupFixed.ToArray()), GroupStart = Table(groupStart.ToArray()),
            GroupCount = Table(groupCount.ToArray()), Entries = Table(entries.ToArray()), FixedIndex = Table(fixedIndex.ToArray()),
        };
        _forward = acc.LoadAutoGroupedKernel<Index1D, IlgpuPoolArgs>(IlgpuTrainingKernels.PoolForward);
        _backward = acc.LoadAutoGroupedKernel<Index1D, IlgpuPoolArgs>(IlgpuTrainingKernels.PoolBackward);
    }

    /// <summary>Features y [batch, FeatureCount] of x (the flat batch, <see cref="Channels"/> channels).</summary>
    public void Forward(ArrayView<float> x, ArrayView<float> y, int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A batch holds at least one network.");
        if (x.Length != (long)batch * Entries * Channels) throw new ArgumentException($"Pooling on the device: x holds {x.Length} floats; {batch} networks × {Entries} entries × {Channels} channels is {(long)batch * Entries * Channels}.", nameof(x));
        if (y.Length != (long)batch * FeatureCount) throw new ArgumentException($"Pooling on the device: y holds {y.Length} floats; expected {batch} × {FeatureCount}.", nameof(y));
        long slots = Math.Max(1, (long)batch * _maxFeatures);
        if (_argmax == null || _argmax.Length < slots) { _argmax?.Dispose(); _argmax = Device.Accelerator.Allocate1D<int>(slots); }
        var a = _template;
        a.Batch = batch; a.X = x; a.Y = y; a.Argmax = _argmax.View;
        _forward(Device.Accelerator.DefaultStream, batch * _groups * Channels, a);
        _batch = batch;
    }

    /// <summary>gx (the flat batch, overwritten) from the features' gradient g [batch, FeatureCount].</summary>
    public void Backward(ArrayView<float> g, ArrayView<float> gx, int batch)
    {
        if (batch != _batch) throw new InvalidOperationException("Pooling on the device: Backward needs the Forward of the same batch first.");
        if (g.Length != (long)batch * FeatureCount) throw new ArgumentException($"Pooling on the device: g holds {g.Length} floats; expected {batch} × {FeatureCount}.", nameof(g));
        if (gx.Length != (long)batch * Entries * Channels) throw new ArgumentException($"Pooling on the device: gx holds {gx.Length} floats; expected {(long)batch * Entries * Channels}.", nameof(gx));
        var a = _template;
        a.Batch = batch; a.G = g; a.Gx = gx; a.Argmax = _argmax!.View;
        _backward(Device.Accelerator.DefaultStream, (int)gx.Length, a);
    }

    public void Dispose()
    {
        foreach (var t in _tables) t.Dispose();
        _argmax?.Dispose();
    }
}
