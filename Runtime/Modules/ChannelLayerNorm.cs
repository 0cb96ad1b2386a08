using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.Modules;

/// <summary>
/// LayerNorm of weight-space features over the channel axis (PyTorch: <c>nn.LayerNorm(channels)</c> applied to the
/// channels-last batch): every entry of every tensor is standardized over its own channels, then scaled and shifted by
/// a learned value per channel (<c>weight</c> starts at 1, <c>bias</c> at 0), shared by every tensor. It acts on each
/// entry alone with the same parameters everywhere, so it commutes with every permutation of every neuron layer
/// (hidden or not). Not odd (the shift), so under sign flips it belongs after a sign-invariant lift.
/// Math: <see cref="LayerNormKernels"/>. Parameter gradients are summed per network and the networks' sums added in
/// order: bitwise the same for any thread count.
/// </summary>
public sealed class ChannelLayerNorm : Module
{
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public int Channels { get; }
    private WeightSpaceBatch? _input, _output, _grad;
    private float[][] _mean = Array.Empty<float[]>(), _invStd = Array.Empty<float[]>();

    public ChannelLayerNorm(int channels)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "ChannelLayerNorm needs at least one channel.");
        Channels = channels;
        Weight = new Parameter(channels) { Decay = false };
        Bias = new Parameter(channels) { Decay = false };
        Array.Fill(Weight.Data, 1f);
    }

    protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", Weight), ("bias", Bias) };

    /// <summary>The normalized batch (a buffer of this module). The input must not change before <see cref="Backward"/>.</summary>
    public WeightSpaceBatch Forward(WeightSpaceBatch x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Channels != Channels) throw new ArgumentException($"ChannelLayerNorm({Channels}) got a batch of {x.Channels} channels.", nameof(x));
        if (_output == null || _output.Batch != x.Batch || !ReferenceEquals(_output.Space, x.Space))
        {
            _output = new WeightSpaceBatch(x.Space, x.Batch, Channels);
            _mean = Array.ConvertAll(x.Tensors, t => new float[t.Length / Channels]);
            _invStd = Array.ConvertAll(x.Tensors, t => new float[t.Length / Channels]);
        }
        _input = x;
        var y = _output;
        int c = Channels;
        Parallel.For(0, x.Batch, n =>
        {
            for (int t = 0; t < x.Tensors.Length; t++)
            {
                int rows = x.Tensors[t].Length / c / x.Batch;
                LayerNormKernels.Forward(x.Tensors[t].Data.AsSpan(n * rows * c, rows * c), rows, c, Weight.Data, Bias.Data,
                    y.Tensors[t].Data.AsSpan(n * rows * c, rows * c), _mean[t].AsSpan(n * rows, rows), _invStd[t].AsSpan(n * rows, rows));
            }
        });
        return y;
    }

    /// <summary>Adds the parameter gradients and returns the input gradient (a buffer of this module).</summary>
    public WeightSpaceBatch Backward(WeightSpaceBatch gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        var x = _input ?? throw new InvalidOperationException("ChannelLayerNorm.Backward was called before Forward.");
        if (gradOutput.Batch != x.Batch || gradOutput.Channels != Channels || gradOutput.Tensors.Length != x.Tensors.Length)
            throw new ArgumentException("ChannelLayerNorm.Backward: the gradient does not have the shape of the last Forward's output.", nameof(gradOutput));
        if (_grad == null || _grad.Batch != x.Batch || !ReferenceEquals(_grad.Space, x.Space)) _grad = new WeightSpaceBatch(x.Space, x.Batch, Channels);
        var gx = _grad;
        int c = Channels;
        var partW = new double[x.Batch * c];
        var partB = new double[x.Batch * c];
        Parallel.For(0, x.Batch, n =>
        {
            var gw = partW.AsSpan(n * c, c);
            var gb = partB.AsSpan(n * c, c);
            for (int t = 0; t < x.Tensors.Length; t++)
            {
                int rows = x.Tensors[t].Length / c / x.Batch;
                var span = (n * rows * c, rows * c);
                LayerNormKernels.Backward(x.Tensors[t].Data.AsSpan(span.Item1, span.Item2), gradOutput.Tensors[t].Data.AsSpan(span.Item1, span.Item2),
                    rows, c, Weight.Data, _mean[t].AsSpan(n * rows, rows), _invStd[t].AsSpan(n * rows, rows), gx.Tensors[t].Data.AsSpan(span.Item1, span.Item2), gw, gb);
            }
        });
        for (int k = 0; k < c; k++)
        {
            double sw = 0, sb = 0;
            for (int n = 0; n < x.Batch; n++) { sw += partW[n * c + k]; sb += partB[n * c + k]; }
            Weight.Grad.Data[k] += (float)sw;
            Bias.Grad.Data[k] += (float)sb;
        }
        return gx;
    }

    public override string ToString() => $"ChannelLayerNorm({Channels})";
}
