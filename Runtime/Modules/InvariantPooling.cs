using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Transforms;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// The invariant head's features: every tensor pooled over its permuted axes (mean, maximum, or both),
/// keeping its fixed axes and channels. Hidden-neuron symmetry: C·(2M − 3 + d0 + 2·dM) features per
/// pooling; all-neuron: 2M·C. Feature order: tensor by tensor, then (pooling: mean before max), then
/// (fixed indices..., channel).
/// </summary>
/// <remarks>
/// The maximum's gradient goes to the first grid position (in memory order) holding the maximum, so
/// forward and backward are deterministic; ties are measure-zero for trained features.
/// </remarks>
public sealed class InvariantPooling
{
    private readonly global::LayerCompiler.Algebra.WeightSpace _space;
    private readonly int[][] _fixedIndex; // per tensor: wide fixed index of every grid entry
    private readonly int[] _featureOffset;
    public int Channels { get; }
    public HeadPooling Pooling { get; }
    public int FeatureCount { get; }
    private WeightSpaceBatch? _grad;
    private int[]? _argmax; // [batch, max features]: grid position of each maximum
    private readonly bool _mean, _max;

    public InvariantPooling(global::LayerCompiler.Algebra.WeightSpace space, int channels, HeadPooling pooling = HeadPooling.Mean)
    {
        if (!Enum.IsDefined(pooling)) throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Unknown pooling.");
        _space = space; Channels = channels; Pooling = pooling;
        _mean = pooling != HeadPooling.Max;
        _max = pooling != HeadPooling.Mean;
        int per = (_mean ? 1 : 0) + (_max ? 1 : 0);
        _fixedIndex = new int[space.Tensors.Count][];
        _featureOffset = new int[space.Tensors.Count];
        int f = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            _featureOffset[t] = f;
            f += per * wt.FixedSize * channels;
            _fixedIndex[t] = RowMajor.FixedIndexMap(wt);
        }
        FeatureCount = f;
    }

    public Tensor Forward(WeightSpaceBatch x)
    {
        var y = new Tensor(x.Batch, FeatureCount);
        if (_max && (_argmax == null || _argmax.Length != x.Batch * MaxFeatureCount)) _argmax = new int[x.Batch * MaxFeatureCount];
        // Networks are independent (each writes its own row): in parallel for large batches, same result.
        if (x.Batch >= ParallelBatch) System.Threading.Tasks.Parallel.For(0, x.Batch, n => ForwardNetwork(n, x, y));
        else for (int n = 0; n < x.Batch; n++) ForwardNetwork(n, x, y);
        return y;
    }

    /// <summary>Batches from this size on are pooled on all cores (a pure streaming pass over the activations).</summary>
    private const int ParallelBatch = 16;

    // Called once per network per step: fully optimized from the first call (tiered compilation would run the
    // first hundreds of networks in unoptimized code with on-stack replacement, several times slower), and never
    // inlined: inlined into the parallel loop's lambda, its profile-guided tier-1 code measured 4× slower
    // (pooling the reference model's batch: 18.7 ms against 4.0 ms with DOTNET_TieredPGO=0).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void ForwardNetwork(int n, WeightSpaceBatch x, Tensor y)
    {
        int c = Channels;
        int maxBase = 0;
        for (int t = 0; t < _space.Tensors.Count; t++)
        {
            var wt = _space.Tensors[t];
            int width = wt.FixedSize * c;
            var xs = x.Tensors[t].Data.AsSpan(n * wt.Size * c, wt.Size * c);
            var ys = y.Data.AsSpan(n * FeatureCount + _featureOffset[t], (_mean && _max ? 2 : 1) * width);
            var map = _fixedIndex[t];
            if (_mean)
            {
                var mean = ys.Slice(0, width);
                float scale = (float)wt.FixedSize / wt.Size; // 1 / (grid positions)
                for (int e = 0; e < wt.Size; e++)
                {
                    int o = map[e] * c, ch = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ch + 8 <= c; ch += 8)
                            (Vector256.Create(mean.Slice(o + ch, 8)) + Vector256.Create(xs.Slice(e * c + ch, 8))).CopyTo(mean.Slice(o + ch, 8));
                    for (; ch < c; ch++) mean[o + ch] += xs[e * c + ch];
                }
                for (int i = 0; i < width; i++) mean[i] *= scale;
            }
            if (_max)
            {
                var max = ys.Slice(_mean ? width : 0, width);
                var arg = _argmax.AsSpan(n * MaxFeatureCount + maxBase, width);
                max.Fill(float.NegativeInfinity);
                arg.Fill(-1);
                for (int e = 0; e < wt.Size; e++)
                {
                    int o = map[e] * c, ch = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        // The scalar rule below, eight channels at a time (so NaN and -∞ inputs behave the same).
                        var ev = Vector256.Create(e);
                        for (; ch + 8 <= c; ch += 8)
                        {
                            var v = Vector256.Create(xs.Slice(e * c + ch, 8));
                            var m = Vector256.Create((ReadOnlySpan<float>)max.Slice(o + ch, 8));
                            var a = Vector256.Create((ReadOnlySpan<int>)arg.Slice(o + ch, 8));
                            var take = Vector256.GreaterThan(v, m).AsInt32() | Vector256.LessThan(a, Vector256<int>.Zero);
                            Vector256.ConditionalSelect(take.AsSingle(), v, m).CopyTo(max.Slice(o + ch, 8));
                            Vector256.ConditionalSelect(take, ev, a).CopyTo(arg.Slice(o + ch, 8));
                        }
                    }
                    for (; ch < c; ch++)
                    {
                        float v = xs[e * c + ch];
                        if (v > max[o + ch] || arg[o + ch] < 0) { max[o + ch] = v; arg[o + ch] = e; }
                    }
                }
            }
            maxBase += width;
        }
    }

    /// <summary>Max-pooled features per network (0 for mean pooling).</summary>
    private int MaxFeatureCount => _max ? FeatureCount / (_mean ? 2 : 1) : 0;

    public WeightSpaceBatch Backward(Tensor gradOutput)
    {
        int batch = gradOutput.Shape[0], c = Channels;
        if (_max && (_argmax == null || _argmax.Length != batch * MaxFeatureCount))
            throw new InvalidOperationException("Backward of max pooling needs the forward of the same batch first.");
        if (_grad == null || _grad.Batch != batch) _grad = new WeightSpaceBatch(_space, batch, c);
        if (batch >= ParallelBatch) System.Threading.Tasks.Parallel.For(0, batch, n => BackwardNetwork(n, gradOutput, _grad));
        else for (int n = 0; n < batch; n++) BackwardNetwork(n, gradOutput, _grad);
        return _grad;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void BackwardNetwork(int n, Tensor gradOutput, WeightSpaceBatch grad)
    {
        int c = Channels;
        int maxBase = 0;
        for (int t = 0; t < _space.Tensors.Count; t++)
        {
            var wt = _space.Tensors[t];
            int width = wt.FixedSize * c;
            var gs = gradOutput.Data.AsSpan(n * FeatureCount + _featureOffset[t], (_mean && _max ? 2 : 1) * width);
            var gx = grad.Tensors[t].Data.AsSpan(n * wt.Size * c, wt.Size * c);
            var map = _fixedIndex[t];
            if (_mean)
            {
                float scale = (float)wt.FixedSize / wt.Size;
                for (int e = 0; e < wt.Size; e++)
                {
                    int o = map[e] * c;
                    for (int ch = 0; ch < c; ch++) gx[e * c + ch] = gs[o + ch] * scale;
                }
            }
            else gx.Clear();
            if (_max)
            {
                var gmax = gs.Slice(_mean ? width : 0, width);
                var arg = _argmax.AsSpan(n * MaxFeatureCount + maxBase, width);
                for (int i = 0; i < width; i++) gx[arg[i] * c + i % c] += gmax[i];
            }
            maxBase += width;
        }
    }
}
