using LayerCompiler.Runtime;
namespace LayerCompiler.TestSupport;

/// <summary>
/// A float64 image classifier written directly from the definition (no im2col, no shared code with the generator):
/// valid strided convolutions, a hidden activation, global average pooling, dense layers, linear logits, an optional mask
/// on the last layer's inputs. The geometry is typed in by each test, not read from generated code.
/// </summary>
public sealed class ClassifierReference64
{
    public sealed record Layer(bool Conv, int In, int Out, int KH = 1, int KW = 1, int Stride = 1, bool Bias = true);

    private readonly IReadOnlyList<Layer> _layers;
    private readonly InputActivation _act;
    private readonly int _c, _h, _w;

    public ClassifierReference64(IReadOnlyList<Layer> layers, InputActivation activation, int channels, int height, int width)
    {
        _layers = layers; _act = activation; _c = channels; _h = height; _w = width;
    }

    private double Act(double z) => _act switch { InputActivation.Tanh => Math.Tanh(z), InputActivation.ReLU => Math.Max(0, z), _ => throw new NotSupportedException(_act.ToString()) };

    /// <summary>Weights of network n as float64 arrays, one per tensor (W then b per layer, in state-dict order).</summary>
    public static double[][] Weights(WeightSpaceBatch b, int n) =>
        b.Tensors.Select((t, i) => { int size = b.Space.Tensors[i].Size; return t.Data.Skip(n * size).Take(size).Select(v => (double)v).ToArray(); }).ToArray();

    /// <summary>Logits of one image (image laid out channels, rows, columns); mask (or null) scales the last layer's inputs.</summary>
    public double[] Logits(double[][] w, ReadOnlySpan<float> image, ReadOnlySpan<float> mask)
    {
        int c = _c, h = _h, wd = _w;
        var a = new double[c * h * wd];
        for (int i = 0; i < a.Length; i++) a[i] = image[i];
        int t = 0;
        bool pooled = false;
        for (int l = 0; l < _layers.Count; l++)
        {
            var L = _layers[l];
            var W = w[t++];
            double[]? B = L.Bias ? w[t++] : null;
            bool last = l == _layers.Count - 1;
            if (L.Conv)
            {
                int oh = (h - L.KH) / L.Stride + 1, ow = (wd - L.KW) / L.Stride + 1;
                var z = new double[L.Out * oh * ow];
                for (int o = 0; o < L.Out; o++)
                    for (int y = 0; y < oh; y++)
                        for (int x = 0; x < ow; x++)
                        {
                            double s = B?[o] ?? 0;
                            for (int i = 0; i < L.In; i++)
                                for (int ky = 0; ky < L.KH; ky++)
                                    for (int kx = 0; kx < L.KW; kx++)
                                        s += W[((o * L.In + i) * L.KH + ky) * L.KW + kx] * a[(i * h + y * L.Stride + ky) * wd + x * L.Stride + kx];
                            z[(o * oh + y) * ow + x] = Act(s);
                        }
                a = z; c = L.Out; h = oh; wd = ow;
                continue;
            }
            if (!pooled && l > 0 && _layers[l - 1].Conv)
            {
                var f = new double[c];
                for (int ch = 0; ch < c; ch++) { double s = 0; for (int p = 0; p < h * wd; p++) s += a[ch * h * wd + p]; f[ch] = s / (h * wd); }
                a = f; pooled = true;
            }
            if (last && !mask.IsEmpty) for (int i = 0; i < a.Length; i++) a[i] *= mask[i];
            var zz = new double[L.Out];
            for (int o = 0; o < L.Out; o++)
            {
                double s = B?[o] ?? 0;
                for (int i = 0; i < L.In; i++) s += W[o * L.In + i] * a[i];
                zz[o] = last ? s : Act(s);
            }
            a = zz;
        }
        return a;
    }
}
