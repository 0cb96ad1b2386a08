using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Gpu;

/// <summary>Where an INR's fit on the device stands (the fit kernel's status codes).</summary>
public enum CudaInrFitStatus
{
    /// <summary>Still fitting.</summary>
    Running = 0,
    /// <summary>Stopped early: its MSE reached <see cref="InrFitSettings.StopMse"/>.</summary>
    Stopped = 1,
    /// <summary>Took <see cref="InrFitSettings.MaxSteps"/> Adam steps.</summary>
    MaxSteps = 2,
    /// <summary>Its MSE was NaN or infinite (the CPU fitter stops there too, not "stopped").</summary>
    NotFinite = 3,
}

/// <summary>One INR's state on the device: Adam steps taken, status, and the last MSE evaluated (that of the final parameters once done).</summary>
public readonly record struct CudaInrFitState(int Steps, CudaInrFitStatus Status, double Mse)
{
    public bool Done => Status != CudaInrFitStatus.Running;
    /// <summary>The CPU fitter's result for a finished INR.</summary>
    public InrFitResult ToResult() => new(Mse, Steps, Status == CudaInrFitStatus.Stopped);
}

/// <summary>Timing of a fit of many INRs on the device (see <see cref="CudaInrFitter.MeasureThroughput"/>).</summary>
/// <param name="Inrs">INRs fitted.</param>
/// <param name="AdamSteps">Adam steps taken, summed over the INRs.</param>
/// <param name="Iterations">Fitting iterations launched (evaluations of the loss, ≤ MaxSteps + 1).</param>
/// <param name="Launches">Kernel launches (each followed by a status read).</param>
/// <param name="Seconds">Wall time from the first launch until every INR was done and its status read (host clock).</param>
/// <param name="DeviceSeconds">The same span measured with CUDA events.</param>
public readonly record struct InrFitThroughput(int Inrs, long AdamSteps, int Iterations, int Launches, double Seconds, double DeviceSeconds)
{
    /// <summary>Adam steps (INR-steps) per second of wall time.</summary>
    public double InrStepsPerSecond => AdamSteps / Seconds;
    /// <summary>Whole INR fits per second of wall time.</summary>
    public double InrsPerSecond => Inrs / Seconds;

    public override string ToString() =>
        FormattableString.Invariant($"{Inrs} INRs, {AdamSteps} Adam steps in {Seconds:F3} s ({InrStepsPerSecond:E3} INR-steps/s, {InrsPerSecond:F1} INRs/s; device {DeviceSeconds:F3} s, {Launches} launches)");
}

/// <summary>
/// Device memory of a batch of INRs being fitted: parameters <c>[count, ParameterCount]</c>, Adam moments, targets
/// <c>[count, TargetLength]</c>, per-INR loss (doubles) and state (Adam steps, status). Dispose before the device.
/// </summary>
public sealed class CudaInrFitBatch : IDisposable
{
    public int Count { get; }
    public CudaBuffer Parameters { get; }
    public CudaBuffer AdamM { get; }
    public CudaBuffer AdamV { get; }
    public CudaBuffer Targets { get; }
    /// <summary>Device gradient scratch (empty when the kernel sums gradients in shared memory).</summary>
    public CudaBuffer GradientScratch { get; }
    /// <summary>One double per INR (2 floats).</summary>
    public CudaBuffer Loss { get; }
    /// <summary>Two ints per INR: Adam steps taken, <see cref="CudaInrFitStatus"/>.</summary>
    public CudaBuffer State { get; }

    internal CudaInrFitBatch(CudaDevice device, CudaInputNetworkSource network, int count, int targetLength)
    {
        Count = count;
        var made = new System.Collections.Generic.List<CudaBuffer>();
        CudaBuffer A(long n) { var b = device.Allocate(n); made.Add(b); return b; }
        try
        {
            long p = (long)count * network.ParameterCount;
            Parameters = A(p); AdamM = A(p); AdamV = A(p);
            Targets = A((long)count * targetLength);
            GradientScratch = A(network.FitScratchFloats(count));
            Loss = A(2L * count); State = A(2L * count);
        }
        catch
        {
            foreach (var b in made) b.Dispose();
            throw;
        }
    }

    /// <summary>Copies the current parameters to the host (synchronous).</summary>
    public void ReadParameters(Span<float> destination) => Parameters.CopyTo(destination);

    /// <summary>Every INR's state (synchronous).</summary>
    public CudaInrFitState[] ReadStates()
    {
        var st = new float[2 * Count];
        State.CopyTo(st);
        var ints = MemoryMarshal.Cast<float, int>(st);
        var loss = CudaInputNetwork.ReadDoubles(Loss, Count);
        var result = new CudaInrFitState[Count];
        for (int i = 0; i < Count; i++) result[i] = new CudaInrFitState(ints[2 * i], (CudaInrFitStatus)ints[2 * i + 1], loss[i]);
        return result;
    }

    public void Dispose()
    {
        foreach (var b in new[] { Parameters, AdamM, AdamV, Targets, GradientScratch, Loss, State }) b?.Dispose();
    }
}

/// <summary>
/// Fits many INRs at once on a CUDA device with the generated fused fitting kernel of their architecture
/// (<c>Arch.NetworkCuda</c>): full-batch MSE at shared points, each INR with its own Adam (torch.optim.Adam, no weight
/// decay) and its own early stop, exactly the rules of the CPU <see cref="InrFitter"/>: at most MaxSteps Adam steps,
/// frozen as soon as its MSE is ≤ StopMse (or not finite). One thread block fits one INR; weights, Adam moments and
/// targets stay in device memory; the kernel applies the stopping rules itself and the host only polls the per-INR
/// state between launches of <see cref="StepsPerLaunch"/> iterations.
/// <para>Differences from the CPU fitter: float sums in another order (the forward, gradient and loss agree to float
/// rounding, ~1e-6 relative), so trajectories agree closely for tens of steps and drift apart slowly after that, like
/// any two float implementations of a chaotic optimization; an INR whose MSE lands within rounding of StopMse may stop
/// one step earlier or later. The Adam update itself is rounded operation by operation as on the CPU.</para>
/// </summary>
public sealed class CudaInrFitter : IDisposable
{
    private readonly CudaKernel _fit;
    private readonly CudaBuffer _points, _adam;
    private readonly KernelArgs _args = new(20);
    private readonly float _b1, _c1, _b2, _c2, _eps;
    private bool _disposed;

    public CudaInrFitter(CudaDevice device, CudaInputNetworkSource network, float[] points, int pointCount, InrFitSettings settings, string[]? compileOptions = null)
    {
        ArgumentNullException.ThrowIfNull(device); ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(points); ArgumentNullException.ThrowIfNull(settings);
        network.EnsureSupported();
        settings.Validate();
        if (pointCount <= 0 || points.Length < (long)pointCount * network.InputWidth)
            throw new ArgumentException($"Need {pointCount} points × {network.InputWidth} coordinates, got {points.Length} floats.", nameof(points));
        if ((long)pointCount * network.OutputWidth > int.MaxValue / 2)
            throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "Too many points for the kernels' 32-bit indices.");
        Device = device; Network = network; PointCount = pointCount; Settings = settings;
        Module = device.Compile(network.Source, [.. CudaInputNetworkSource.KernelNames], compileOptions);
        try
        {
            _fit = Module[CudaInputNetworkSource.FitKernel];
            _points = device.Upload(points.AsSpan(0, pointCount * network.InputWidth));
            _adam = device.Upload(AdamTable(settings));
        }
        catch
        {
            _points?.Dispose();
            Module.Dispose();
            throw;
        }
        _b1 = (float)settings.Beta1; _c1 = (float)(1 - settings.Beta1);
        _b2 = (float)settings.Beta2; _c2 = (float)(1 - settings.Beta2);
        _eps = (float)settings.Epsilon;
    }

    public CudaDevice Device { get; }
    public CudaInputNetworkSource Network { get; }
    public CudaModule Module { get; }
    public int PointCount { get; }
    public InrFitSettings Settings { get; }
    public int ParameterCount => Network.ParameterCount;
    /// <summary>Floats of target per INR (points × outputs).</summary>
    public int TargetLength => PointCount * Network.OutputWidth;
    /// <summary>Fitting iterations (loss evaluations) after which every INR is done: MaxSteps + 1.</summary>
    public int IterationsToFinish => Settings.MaxSteps + 1;
    /// <summary>Iterations per kernel launch in <see cref="FitMany"/>; the host reads the INRs' states after each launch.</summary>
    public int StepsPerLaunch { get; set; } = 100;
    /// <summary>Most INRs <see cref="FitMany"/> keeps on the device at once (larger counts are fitted in consecutive batches).</summary>
    public int MaxInrsPerBatch { get; set; } = 1 << 16;

    /// <summary>
    /// The Adam step scalars of steps t = 1..MaxSteps, computed on the host exactly as the CPU fitter computes them:
    /// [2(t−1)] = (float)(−lr / (1 − β1^t)), [2(t−1)+1] = (float)(1 / √(1 − β2^t)).
    /// </summary>
    public static float[] AdamTable(InrFitSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var table = new float[Math.Max(2, 2 * s.MaxSteps)];
        for (int step = 1; step <= s.MaxSteps; step++)
        {
            double bc1 = 1 - Math.Pow(s.Beta1, step), bc2 = 1 - Math.Pow(s.Beta2, step);
            table[2 * (step - 1)] = (float)(-s.LearningRate / bc1);
            table[2 * (step - 1) + 1] = (float)(1 / Math.Sqrt(bc2));
        }
        return table;
    }

    /// <summary>
    /// Uploads <paramref name="count"/> INRs (initial parameters <c>[count, ParameterCount]</c>, targets <c>[count, TargetLength]</c>)
    /// with zero Adam moments and zero steps.
    /// </summary>
    public CudaInrFitBatch Upload(ReadOnlySpan<float> parameters, ReadOnlySpan<float> targets, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one INR is needed.");
        long p = (long)count * ParameterCount, t = (long)count * TargetLength;
        if (parameters.Length < p) throw new ArgumentException($"parameters hold {parameters.Length} floats, {count} INRs need {p}.", nameof(parameters));
        if (targets.Length < t) throw new ArgumentException($"targets hold {targets.Length} floats, {count} INRs need {t}.", nameof(targets));
        var b = new CudaInrFitBatch(Device, Network, count, TargetLength);
        try
        {
            b.Parameters.CopyFrom(parameters[..(int)p]);
            b.Targets.CopyFrom(targets[..(int)t]);
            b.AdamM.Zero(); b.AdamV.Zero(); b.GradientScratch.Zero();
            b.Loss.Zero(); b.State.Zero();
        }
        catch
        {
            b.Dispose();
            throw;
        }
        return b;
    }

    /// <summary>
    /// Queues <paramref name="iterations"/> fitting iterations for every INR of the batch that is still running (asynchronous):
    /// each evaluates the MSE, stops the INR if a rule says so, else takes one Adam step.
    /// </summary>
    public void Run(CudaInrFitBatch batch, int iterations, CudaStream? stream = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        if (iterations == 0) return;
        var s = Settings;
        _args.Clear();
        _args.Add(batch.Count).Add(PointCount).Add(iterations).Add(s.MaxSteps).Add(s.StopMse)
            .Add(_adam).Add(_b1).Add(_c1).Add(_b2).Add(_c2).Add(_eps)
            .Add(_points).Add(batch.Targets).Add(batch.Parameters).Add(batch.AdamM).Add(batch.AdamV)
            .Add(batch.GradientScratch).Add(batch.Loss).Add(batch.State);
        _fit.Launch(batch.Count, Network.BlockSize, _args, stream);
    }

    /// <summary>
    /// Runs a batch until every INR is done, reading the states after each launch of <see cref="StepsPerLaunch"/> iterations;
    /// <paramref name="onDone"/> gets each INR as it finishes. Returns the iterations and launches it took.
    /// </summary>
    public (int Iterations, int Launches) RunToCompletion(CudaInrFitBatch batch, Action<int, CudaInrFitState>? onDone = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (StepsPerLaunch <= 0) throw new InvalidOperationException("StepsPerLaunch must be positive.");
        var reported = new bool[batch.Count];
        int remaining = batch.Count, iterations = 0, launches = 0;
        while (remaining > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            if (iterations >= IterationsToFinish)
                throw new InvalidOperationException($"{remaining} INRs are still running after {iterations} iterations (MaxSteps {Settings.MaxSteps}); the fit kernel did not apply the stopping rules.");
            int it = Math.Min(StepsPerLaunch, IterationsToFinish - iterations);
            Run(batch, it);
            iterations += it;
            launches++;
            var states = batch.ReadStates();
            for (int i = 0; i < states.Length; i++)
            {
                if (reported[i] || !states[i].Done) continue;
                reported[i] = true;
                remaining--;
                onDone?.Invoke(i, states[i]);
            }
        }
        return (iterations, launches);
    }

    /// <summary>
    /// Fits <paramref name="count"/> INRs: parameters <c>[count, ParameterCount]</c> (initialized, updated in place),
    /// targets <c>[count, TargetLength]</c>. <paramref name="onFitted"/> is called as each finishes (on this thread).
    /// The same contract as <see cref="InrFitter.FitMany"/>.
    /// </summary>
    public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(targets);
        int p = ParameterCount, tl = TargetLength;
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The count must be ≥ 0.");
        if (parameters.Length < (long)count * p) throw new ArgumentException($"parameters hold {parameters.Length} floats, {count} INRs need {(long)count * p}.", nameof(parameters));
        if (targets.Length < (long)count * tl) throw new ArgumentException($"targets hold {targets.Length} floats, {count} INRs need {(long)count * tl}.", nameof(targets));
        if (MaxInrsPerBatch <= 0) throw new InvalidOperationException("MaxInrsPerBatch must be positive.");
        var results = new InrFitResult[count];
        for (int start = 0; start < count; start += MaxInrsPerBatch)
        {
            int n = Math.Min(MaxInrsPerBatch, count - start);
            using var batch = Upload(parameters.AsSpan((int)((long)start * p)), targets.AsSpan((int)((long)start * tl)), n);
            int first = start;
            RunToCompletion(batch, (i, st) =>
            {
                results[first + i] = st.ToResult();
                onFitted?.Invoke(first + i, results[first + i]);
            }, cancellation);
            batch.ReadParameters(parameters.AsSpan((int)((long)start * p), (int)((long)n * p)));
        }
        return results;
    }

    /// <summary>
    /// Fits <paramref name="count"/> INRs to completion on the device and times it (upload and download excluded; status reads
    /// between launches included, as in <see cref="FitMany"/>). Parameters are updated in place. For a pure throughput
    /// number use settings with StopMse = 0, so that every INR takes MaxSteps steps.
    /// </summary>
    public InrFitThroughput MeasureThroughput(float[] parameters, float[] targets, int count)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(targets);
        using var batch = Upload(parameters, targets, count);
        using var start = Device.CreateEvent();
        using var end = Device.CreateEvent();
        Device.Synchronize();
        long steps = 0;
        var sw = Stopwatch.StartNew();
        start.Record();
        var (iterations, launches) = RunToCompletion(batch, (_, st) => steps += st.Steps);
        end.Record();
        end.Synchronize();
        double seconds = sw.Elapsed.TotalSeconds;
        double deviceSeconds = CudaEvent.ElapsedMilliseconds(start, end) / 1000.0;
        batch.ReadParameters(parameters.AsSpan(0, count * ParameterCount));
        return new InrFitThroughput(count, steps, iterations, launches, seconds, deviceSeconds);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _points.Dispose();
        _adam.Dispose();
        Module.Dispose();
        _args.Dispose();
    }
}
