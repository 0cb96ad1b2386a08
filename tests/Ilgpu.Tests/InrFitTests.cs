using System;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// <see cref="IlgpuInrFitter"/> (INR fitting on the accelerator: generated forward and weight gradient, MSE step, Adam)
/// against the CPU <see cref="InrFitter"/>: parameters after N steps ≤ 1e-4 relative, the same steps and early stops,
/// bitwise repeatable, independent of batching and of how often the host reads the states. Small shapes (ILGPU's CPU
/// accelerator is an emulator): a few INRs at 20 points.
/// </summary>
public class InrFitTests
{
    private const int Points = 20, Count = 3;

    private static MlpInputNetwork SirenCpu() =>
        new(Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.Sine, 30f, 0.5f);

    private static MlpInputNetwork Mlp5Cpu() => new(Mlp5.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.ReLU);

    private static float[] GridPoints(int count)
    {
        var p = new float[count * 2];
        for (int i = 0; i < count; i++) { p[2 * i] = -1f + 2f * (i % 5) / 4f; p[2 * i + 1] = -1f + 2f * (i / 5) / 4f; }
        return p;
    }

    private static float[] Targets(float[] points, int count, int outputs)
    {
        var t = new float[Count * count * outputs];
        for (int n = 0; n < Count; n++)
            for (int p = 0; p < count; p++)
                for (int j = 0; j < outputs; j++)
                    t[(n * count + p) * outputs + j] = 0.5f + 0.3f * MathF.Sin((n + 1) * points[2 * p] + j) * MathF.Cos(2f * points[2 * p + 1] - n);
        return t;
    }

    private static float[] Init(MlpInputNetwork net, bool siren)
    {
        var w = new float[Count * net.ParameterCount];
        if (siren)
            for (int n = 0; n < Count; n++) SirenInit.Initialize(net, w.AsSpan(n * net.ParameterCount, net.ParameterCount), new Rng((ulong)(100 + n)));
        else w = TestUtil.RandomVector(w.Length, 41, 0.5);
        return w;
    }

    private static (InrFitResult[] Results, float[] Params) Cpu(MlpInputNetwork net, float[] points, float[] init, float[] targets, InrFitSettings s)
    {
        var w = (float[])init.Clone();
        var r = new InrFitter(net, points, Points, s).FitMany(w, targets, Count, maxThreads: 1);
        return (r, w);
    }

    private static (InrFitResult[] Results, float[] Params) Device(IlgpuInrFitter fitter, float[] init, float[] targets)
    {
        var w = (float[])init.Clone();
        var r = fitter.FitMany(w, targets, Count);
        return (r, w);
    }

    private static void AssertClose((InrFitResult[] Results, float[] Params) cpu, (InrFitResult[] Results, float[] Params) dev, string what)
    {
        double err = TestUtil.RelativeError(dev.Params, cpu.Params);
        Assert.True(err <= 1e-4, $"{what}: parameters differ by {err:E2} relative");
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(cpu.Results[i].Steps, dev.Results[i].Steps);
            Assert.Equal(cpu.Results[i].Stopped, dev.Results[i].Stopped);
            Assert.True(Math.Abs(dev.Results[i].Mse - cpu.Results[i].Mse) <= 1e-4 * cpu.Results[i].Mse, $"{what}: INR {i} MSE {dev.Results[i].Mse} vs {cpu.Results[i].Mse}");
        }
    }

    private static void AssertBitwise(float[] a, float[] b) =>
        Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));

    [Fact]
    public void SirenStepsMatchTheCpuFitterAndRepeatBitwise()
    {
        var net = SirenCpu();
        var points = GridPoints(Points);
        var targets = Targets(points, Points, 1);
        var init = Init(net, siren: true);
        var s = InrFitProtocols() with { MaxSteps = 6, StopMse = 0 };
        using var fitter = new IlgpuInrFitter(Siren2x32x32x1.IlgpuNetwork.Create(TestDevice.Shared), points, Points, s, ownsNetwork: true);
        fitter.CheckMatches(net);
        var cpu = Cpu(net, points, init, targets, s);
        var dev = Device(fitter, init, targets);
        AssertClose(cpu, dev, "SIREN, 6 steps");
        Assert.All(dev.Results, r => Assert.Equal(6, r.Steps));
        Assert.False(TestUtil.RelativeError(dev.Params, init) < 1e-3, "the parameters moved");

        // Bitwise on repeat, in batches of 2 (a full and a partial batch) and with the states read after every iteration.
        AssertBitwise(dev.Params, Device(fitter, init, targets).Params);
        fitter.MaxInrsPerBatch = 2; fitter.StepsPerCheck = 1;
        var split = Device(fitter, init, targets);
        AssertBitwise(dev.Params, split.Params);
        Assert.Equal(dev.Results, split.Results);
    }

    [Fact]
    public void EarlyStopsAtTheSameStepAsTheCpuFitter()
    {
        var net = SirenCpu();
        var points = GridPoints(Points);
        var targets = Targets(points, Points, 1);
        var init = Init(net, siren: true);
        // INR 0's MSE after k steps (CPU): the first k ≥ 2 with a new minimum, clearly below the earlier ones; a threshold
        // halfway between stops INR 0 at step k, far from rounding.
        var s = InrFitProtocols() with { StopMse = 0 };
        var mse = Enumerable.Range(0, 9).Select(k => Cpu(net, points, init, targets, s with { MaxSteps = k }).Results[0].Mse).ToArray();
        int at = Enumerable.Range(2, 7).First(k => mse[k] < 0.99 * mse.Take(k).Min());
        var stop = s with { MaxSteps = 10, StopMse = (mse[at] + mse.Take(at).Min()) / 2 };
        var cpu = Cpu(net, points, init, targets, stop);
        Assert.True(cpu.Results[0].Stopped && cpu.Results[0].Steps == at, $"CPU: INR 0 stopped at step {at} (steps {cpu.Results[0].Steps})");
        using var fitter = new IlgpuInrFitter(Siren2x32x32x1.IlgpuNetwork.Create(TestDevice.Shared), points, Points, stop, ownsNetwork: true) { StepsPerCheck = 3 };
        var dev = Device(fitter, init, targets);
        AssertClose(cpu, dev, "SIREN, early stop");
        // A stopped INR's parameters are frozen at its stop: bitwise those of an at-step fit on the device, and close to the CPU's.
        using var atStep = new IlgpuInrFitter(fitter.Network, points, Points, s with { MaxSteps = at });
        int p = net.ParameterCount;
        AssertBitwise(dev.Params.AsSpan(0, p).ToArray(), Device(atStep, init, targets).Params.AsSpan(0, p).ToArray());
        var cpuAt = Cpu(net, points, init, targets, s with { MaxSteps = at });
        Assert.True(TestUtil.RelativeError(dev.Params.AsSpan(0, p).ToArray(), cpuAt.Params.AsSpan(0, p).ToArray()) <= 1e-4);
    }

    [Fact]
    public void DeepReluNetworkMatchesTheCpuFitter()
    {
        var net = Mlp5Cpu();
        var points = GridPoints(Points);
        var targets = Targets(points, Points, 2);
        var init = Init(net, siren: false);
        var s = InrFitProtocols() with { MaxSteps = 5, StopMse = 0, LearningRate = 1e-2f };
        using var fitter = new IlgpuInrFitter(Mlp5.IlgpuNetwork.Create(TestDevice.Shared), points, Points, s, ownsNetwork: true);
        fitter.CheckMatches(net);
        var cpu = Cpu(net, points, init, targets, s);
        var dev = Device(fitter, init, targets);
        AssertClose(cpu, dev, "depth-5 ReLU, 5 steps");
        AssertBitwise(dev.Params, Device(fitter, init, targets).Params);
    }

    [Fact]
    public void NonFiniteTargetsStopAtStepZeroWithUntouchedParameters()
    {
        var net = SirenCpu();
        var points = GridPoints(Points);
        var targets = Targets(points, Points, 1);
        targets[Points + 3] = float.NaN;                 // INR 1
        var init = Init(net, siren: true);
        var s = InrFitProtocols() with { MaxSteps = 2, StopMse = 0 };
        using var fitter = new IlgpuInrFitter(Siren2x32x32x1.IlgpuNetwork.Create(TestDevice.Shared), points, Points, s, ownsNetwork: true);
        var cpu = Cpu(net, points, init, targets, s);
        var dev = Device(fitter, init, targets);
        Assert.True(double.IsNaN(dev.Results[1].Mse) && dev.Results[1].Steps == 0 && !dev.Results[1].Stopped, $"INR 1: MSE {dev.Results[1].Mse}, {dev.Results[1].Steps} steps");
        Assert.Equal(cpu.Results[1].Steps, dev.Results[1].Steps);
        int p = net.ParameterCount;
        AssertBitwise(init.AsSpan(p, p).ToArray(), dev.Params.AsSpan(p, p).ToArray());
        Assert.Equal(2, dev.Results[0].Steps);
        Assert.Equal(2, dev.Results[2].Steps);
    }

    [Fact]
    public void MismatchedNetworkAndBadArgumentsAreRefusedWithTheReason()
    {
        var points = GridPoints(Points);
        var s = InrFitProtocols() with { MaxSteps = 1 };
        using var fitter = new IlgpuInrFitter(Siren2x32x32x1.IlgpuNetwork.Create(TestDevice.Shared), points, Points, s, ownsNetwork: true);
        var wrongOmega = new MlpInputNetwork(Siren2x32x32x1.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.Sine, 20f, 0.5f);
        Assert.Contains("does not compute the fitted network's function", Assert.Throws<ArgumentException>(() => fitter.CheckMatches(wrongOmega)).Message);
        Assert.Contains("is not the fitted network", Assert.Throws<ArgumentException>(() => fitter.CheckMatches(Mlp5Cpu())).Message);
        Assert.Contains("2 INRs need", Assert.Throws<ArgumentException>(() => fitter.FitMany(new float[10], new float[2 * Points], 2)).Message);
        Assert.Contains("Need 30 points", Assert.Throws<ArgumentException>(() => new IlgpuInrFitter(fitter.Network, points, 30, s)).Message);
    }

    [Fact]
    public void AdamTableIsTheCpuFittersScalars()
    {
        var s = InrFitProtocols() with { MaxSteps = 3 };
        var t = IlgpuInrFitter.AdamTable(s);
        Assert.Equal(8, t.Length);
        Assert.Equal((float)(-s.LearningRate / (1 - Math.Pow(s.Beta1, 2))), t[4]);
        Assert.Equal((float)(1 / Math.Sqrt(1 - Math.Pow(s.Beta2, 3))), t[7]);
    }

    // The image protocol's Adam (lr 5e-4, β 0.9/0.999, eps 1e-8); each test sets its steps and threshold.
    private static InrFitSettings InrFitProtocols() => new();
}
