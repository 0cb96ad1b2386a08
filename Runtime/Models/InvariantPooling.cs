using System;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Models;

/// <summary>
/// The invariant head's features: every tensor averaged over its permuted axes, keeping its fixed
/// axes and channels. Hidden-neuron symmetry: C·(2M − 3 + d0 + 2·dM) features; all-neuron: 2M·C.
/// Feature order: tensor by tensor, then (fixed indices..., channel).
/// </summary>
public sealed class InvariantPooling
{
    private readonly global::LayerCompiler.Algebra.WeightSpace _space;
    private readonly int[][] _fixedIndex; // per tensor: wide fixed index of every grid entry
    private readonly int[] _featureOffset;
    public int Channels { get; }
    public int FeatureCount { get; }
    private WeightSpaceBatch? _grad;

    public InvariantPooling(global::LayerCompiler.Algebra.WeightSpace space, int channels)
    {
        _space = space; Channels = channels;
        _fixedIndex = new int[space.Tensors.Count][];
        _featureOffset = new int[space.Tensors.Count];
        int f = 0;
        for (int t = 0; t < space.Tensors.Count; t++)
        {
            var wt = space.Tensors[t];
            _featureOffset[t] = f;
            f += wt.FixedSize * channels;
            var map = new int[wt.Size];
            var idx = new int[wt.Axes.Length];
            for (int e = 0; e < wt.Size; e++)
            {
                int r = e;
                for (int a = wt.Axes.Length - 1; a >= 0; a--) { idx[a] = r % wt.Axes[a].Size; r /= wt.Axes[a].Size; }
                int fi = 0;
                foreach (int a in wt.FixedAxes) fi = fi * wt.Axes[a].Size + idx[a];
                map[e] = fi;
            }
            _fixedIndex[t] = map;
        }
        FeatureCount = f;
    }

    public Tensor Forward(WeightSpaceBatch x)
    {
        var y = new Tensor(x.Batch, FeatureCount);
        int c = Channels;
        for (int n = 0; n < x.Batch; n++)
            for (int t = 0; t < _space.Tensors.Count; t++)
            {
                var wt = _space.Tensors[t];
                float scale = (float)wt.FixedSize / wt.Size; // 1 / (grid positions)
                var xs = x.Tensors[t].Data.AsSpan(n * wt.Size * c, wt.Size * c);
                var ys = y.Data.AsSpan(n * FeatureCount + _featureOffset[t], wt.FixedSize * c);
                for (int e = 0; e < wt.Size; e++)
                {
                    int o = _fixedIndex[t][e] * c;
                    for (int ch = 0; ch < c; ch++) ys[o + ch] += xs[e * c + ch];
                }
                for (int i = 0; i < ys.Length; i++) ys[i] *= scale;
            }
        return y;
    }

    public WeightSpaceBatch Backward(Tensor gradOutput)
    {
        int batch = gradOutput.Shape[0], c = Channels;
        if (_grad == null || _grad.Batch != batch) _grad = new WeightSpaceBatch(_space, batch, c);
        for (int n = 0; n < batch; n++)
            for (int t = 0; t < _space.Tensors.Count; t++)
            {
                var wt = _space.Tensors[t];
                float scale = (float)wt.FixedSize / wt.Size;
                var gs = gradOutput.Data.AsSpan(n * FeatureCount + _featureOffset[t], wt.FixedSize * c);
                var gx = _grad.Tensors[t].Data.AsSpan(n * wt.Size * c, wt.Size * c);
                for (int e = 0; e < wt.Size; e++)
                {
                    int o = _fixedIndex[t][e] * c;
                    for (int ch = 0; ch < c; ch++) gx[e * c + ch] = gs[o + ch] * scale;
                }
            }
        return _grad;
    }
}
