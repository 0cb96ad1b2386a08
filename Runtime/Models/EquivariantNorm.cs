using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using LayerCompiler.Runtime.WeightSpace;

namespace LayerCompiler.Runtime.Models;

/// <summary>
/// Equivariant per-channel normalization: for each network, tensor and channel, the entries are
/// standardized by their own mean and variance (statistics over all entries are invariant to
/// permutations, so the map stays equivariant), then scaled and shifted by a learned value per tensor
/// and channel (<c>weight</c> starts at 1, <c>bias</c> at 0).
/// </summary>
public sealed class EquivariantNorm : Module
{
    public const float Epsilon = 1e-5f;
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    private readonly int _tensors, _channels;
    private WeightSpaceBatch? _xhat, _output, _grad;
    private float[] _invStd = Array.Empty<float>();

    public EquivariantNorm(int tensors, int channels)
    {
        _tensors = tensors; _channels = channels;
        Weight = new Parameter(tensors, channels) { Decay = false };
        Bias = new Parameter(tensors, channels) { Decay = false };
        Array.Fill(Weight.Data, 1f);
    }

    protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", Weight), ("bias", Bias) };

    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        if (x.Channels != _channels || x.Tensors.Length != _tensors) throw new ArgumentException($"EquivariantNorm expects {_tensors} tensors of {_channels} channels.");
        if (_output == null || _output.Batch != x.Batch)
        {
            _output = new WeightSpaceBatch(x.Space, x.Batch, _channels);
            _xhat = new WeightSpaceBatch(x.Space, x.Batch, _channels);
            _invStd = new float[x.Batch * _tensors * _channels];
        }
        var xhat = _xhat!; var y = _output;
        int c = _channels;
        Parallel.For(0, x.Batch, n =>
        {
            Span<double> sum = stackalloc double[c];
            Span<double> sq = stackalloc double[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = x.Tensors[t].Length / x.Batch;
                var xs = x.Tensors[t].Data.AsSpan(n * size, size);
                var hs = xhat.Tensors[t].Data.AsSpan(n * size, size);
                var ys = y.Tensors[t].Data.AsSpan(n * size, size);
                sum.Clear(); sq.Clear();
                for (int i = 0; i < size; i++) { double v = xs[i]; sum[i % c] += v; sq[i % c] += v * v; }
                int count = size / c;
                for (int ch = 0; ch < c; ch++)
                {
                    double mean = sum[ch] / count;
                    double var = Math.Max(0, sq[ch] / count - mean * mean);
                    _invStd[(n * _tensors + t) * c + ch] = (float)(1.0 / Math.Sqrt(var + Epsilon));
                }
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    float mean = (float)(sum[ch] / count);
                    float h = (xs[i] - mean) * _invStd[(n * _tensors + t) * c + ch];
                    hs[i] = h;
                    ys[i] = h * Weight.Data[t * c + ch] + Bias.Data[t * c + ch];
                }
            }
        });
        return y;
    }

    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        var xhat = _xhat ?? throw new InvalidOperationException("Backward called before Forward.");
        int c = _channels, batch = xhat.Batch;
        if (_grad == null || _grad.Batch != batch) _grad = new WeightSpaceBatch(xhat.Space, batch, c);
        var g = _grad;
        // Per-network partial parameter gradients, summed in network order (deterministic).
        var partW = new double[batch, _tensors * c];
        var partB = new double[batch, _tensors * c];
        Parallel.For(0, batch, n =>
        {
            Span<double> sg = stackalloc double[c];
            Span<double> sgh = stackalloc double[c];
            for (int t = 0; t < _tensors; t++)
            {
                int size = xhat.Tensors[t].Length / batch;
                var hs = xhat.Tensors[t].Data.AsSpan(n * size, size);
                var gys = gradOutput.Tensors[t].Data.AsSpan(n * size, size);
                var gxs = g.Tensors[t].Data.AsSpan(n * size, size);
                sg.Clear(); sgh.Clear();
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    double gh = gys[i] * Weight.Data[t * c + ch];
                    sg[ch] += gh; sgh[ch] += gh * hs[i];
                    partW[n, t * c + ch] += gys[i] * hs[i];
                    partB[n, t * c + ch] += gys[i];
                }
                int count = size / c;
                for (int i = 0; i < size; i++)
                {
                    int ch = i % c;
                    double gh = gys[i] * Weight.Data[t * c + ch];
                    gxs[i] = (float)(_invStd[(n * _tensors + t) * c + ch] * (gh - sg[ch] / count - hs[i] * sgh[ch] / count));
                }
            }
        });
        for (int n = 0; n < batch; n++)
            for (int j = 0; j < _tensors * c; j++) { Weight.Grad.Data[j] += (float)partW[n, j]; Bias.Grad.Data[j] += (float)partB[n, j]; }
        return g;
    }
}
