using System;
using System.Threading;
using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>
/// What fits a zoo's INRs: the CPU <see cref="InrFitter"/> (<see cref="CpuZooFitter"/>) or a device fitter (the sample's
/// --device wraps LayerCompiler.Ilgpu's IlgpuInrFitter). Same contract as <see cref="InrFitter.FitMany"/>: parameters
/// <c>[count, ParameterCount]</c> updated in place, one <see cref="InrFitResult"/> per INR.
/// </summary>
public interface IZooFitter : IDisposable
{
    /// <summary>Where the INRs are fitted, recorded in every shard and in the manifest ("cpu", or the accelerator).</summary>
    string Device { get; }

    InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted, CancellationToken cancellation);
}

/// <summary>Creates the fitter of a build for the zoo's network, points and settings.</summary>
public delegate IZooFitter ZooFitterFactory(MlpInputNetwork network, float[] points, int pointCount, InrFitSettings settings);

/// <summary>The CPU fitter (<see cref="InrFitter"/>, INRs spread over <c>maxThreads</c> threads).</summary>
public sealed class CpuZooFitter(InrFitter fitter, int maxThreads = -1) : IZooFitter
{
    public string Device => "cpu";

    public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted, CancellationToken cancellation) =>
        fitter.FitMany(parameters, targets, count, maxThreads, onFitted, cancellation);

    public void Dispose() { }
}
