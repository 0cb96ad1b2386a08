using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tests.Generated;

namespace LayerCompiler.Gpu.Tests;

/// <summary>2 → 64 → 64 → 1: too many weights for shared memory next to a tile of 8 points, so its kernels read the
/// weights from device memory and sum the gradient there (the other code path of the generated CUDA).</summary>
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f)]
[Dense(2, 64)]
[Dense(64, 64)]
[Dense(64, 1)]
public partial class Siren2x64x64x1 { }

/// <summary>An input network's generated C# pass and its generated CUDA, with test data.</summary>
public sealed record InrCase(string Name, Func<IInputNetwork> Cpu, CudaInputNetworkSource Cuda, bool Siren)
{
    public override string ToString() => Name;

    public static IEnumerable<InrCase> All() => new[]
    {
        new InrCase("SIREN 2-32-32-1 (ω0 = 30, +0.5)", () => new Siren2x32x32x1.Network(), Siren2x32x32x1.NetworkCuda.Info, true),
        new InrCase("SIREN 2-64-64-1 (weights in device memory)", () => new Siren2x64x64x1.Network(), Siren2x64x64x1.NetworkCuda.Info, true),
        new InrCase("ReLU depth 5, one layer without bias", () => new Mlp5.Network(), Mlp5.NetworkCuda.Info, false),
        new InrCase("tanh 3-4-4-2", () => new TanhNet.Network(), TanhNet.NetworkCuda.Info, false),
    };

    /// <summary>Flat parameters [batch, P]: SIREN initialization for sine networks, N(0, 1/fan_in) otherwise.</summary>
    public float[] Parameters(int batch, ulong seed)
    {
        var net = Cuda.CreateCpuNetwork();
        var flat = new float[batch * net.ParameterCount];
        var rng = new Rng(seed);
        for (int n = 0; n < batch; n++)
        {
            var p = flat.AsSpan(n * net.ParameterCount, net.ParameterCount);
            if (Siren) SirenInit.Initialize(net, p, rng);
            else
                for (int l = 0; l < net.Depth; l++)
                {
                    int fan = net.Widths[l], size = net.Widths[l] * net.Widths[l + 1];
                    for (int i = 0; i < size; i++) p[Cuda.WeightOffset(l) + i] = (float)(rng.Normal() / Math.Sqrt(fan));
                    if (Cuda.BiasOffset(l) >= 0)
                        for (int i = 0; i < net.Widths[l + 1]; i++) p[Cuda.BiasOffset(l) + i] = (float)(0.1 * rng.Normal());
                }
        }
        return flat;
    }

    public static float[] Points(int count, int width, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[count * width];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(2 * rng.NextDouble() - 1);
        return x;
    }

    /// <summary>Smooth "images" in [0, 1] at the points (one per network and output): 0.5 + 0.4·sin(a·x + φ)·cos(b·y).</summary>
    public static float[] Targets(float[] points, int pointCount, int inputWidth, int outputWidth, int batch, ulong seed)
    {
        var rng = new Rng(seed);
        var t = new float[batch * pointCount * outputWidth];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outputWidth; o++)
            {
                double a = 1 + 3 * rng.NextDouble(), b = 1 + 3 * rng.NextDouble(), phi = 6.28 * rng.NextDouble();
                for (int p = 0; p < pointCount; p++)
                {
                    double x = points[p * inputWidth], y = inputWidth > 1 ? points[p * inputWidth + 1] : 0;
                    t[(n * pointCount + p) * outputWidth + o] = (float)(0.5 + 0.4 * Math.Sin(a * x + phi) * Math.Cos(b * y));
                }
            }
        return t;
    }

    /// <summary>The generated C# network's outputs, MSE per network and MSE gradient (flat [batch, P]).</summary>
    public (float[] Outputs, double[] Mse, float[] Gradient) CpuReference(float[] parameters, int batch, float[] points, int pointCount, float[] targets)
    {
        var net = Cpu();
        var weights = new WeightSpaceBatch(net.Space, batch, 1);
        Cuda.Unflatten(parameters, weights);
        int dM = net.OutputWidth, per = pointCount * dM;
        var y = new float[batch * per];
        net.Forward(weights, points, pointCount, y);
        var mse = new double[batch];
        var gy = new float[y.Length];
        float scale = 2f / per;
        for (int n = 0; n < batch; n++)
        {
            double s = 0;
            for (int i = n * per; i < (n + 1) * per; i++)
            {
                float e = y[i] - targets[i];
                s += (double)e * e;
                gy[i] = scale * e;
            }
            mse[n] = s / per;
        }
        var g = new WeightSpaceBatch(net.Space, batch, 1);
        net.Backward(weights, points, pointCount, gy, g);
        return (y, mse, Cuda.Flatten(g));
    }

    /// <summary>Relative difference of two MSE vectors (max over entries).</summary>
    public static double MseError(double[] a, double[] b) => a.Zip(b, (x, y) => Math.Abs(x - y) / Math.Max(Math.Abs(y), 1e-30)).Max();
}
