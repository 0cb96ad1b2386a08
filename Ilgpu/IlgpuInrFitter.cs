using System;
using System.Diagnostics;
using System.Threading;
using ILGPU;
using ILGPU.Runtime;
using LayerCompiler.Runtime.InputNetworks;

namespace LayerCompiler.Ilgpu;

/// <summary>The one argument (after the index) of the fitting kernels of <see cref="IlgpuInrFitter"/>.</summary>
public struct IlgpuInrFitArgs
{
    public int PointCount;
    public int OutputWidth;
    public int ParameterCount;
    public int MaxSteps;
    /// <summary>Points per float partial sum of the MSE (<see cref="MlpInputNetwork.TilePoints"/>, as the CPU fitter sums).</summary>
    public int TilePoints;
    public double StopMse;
    /// <summary>2 / (points × outputs): d MSE / d output = Scale · (output − target).</summary>
    public float Scale;
    public float Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Epsilon;
    /// <summary>[batch, points, outputs]: the outputs (after Forward), overwritten with the MSE's output gradient.</summary>
    public ArrayView<float> Out;
    public ArrayView<float> Targets;
    /// <summary>[batch, ParameterCount] each.</summary>
    public ArrayView<float> Params, Grad, M, V;
    /// <summary>[2 (MaxSteps + 1)]: per Adam step t, (float)(−lr / (1 − β1ᵗ)) and (float)(1 / √(1 − β2ᵗ)).</summary>
    public ArrayView<float> AdamTable;
    /// <summary>[batch]: Adam steps taken, status (<see cref="IlgpuInrFitStatus"/>), the last MSE evaluated.</summary>
    public ArrayView<int> Steps, Status;
    public ArrayView<double> Loss;
}

/// <summary>Per-INR state of a fit on the device (<c>Status</c>).</summary>
public enum IlgpuInrFitStatus
{
    Running = 0,
    /// <summary>MSE ≤ StopMse (early stop).</summary>
    Stopped = 1,
    /// <summary>MaxSteps Adam steps taken.</summary>
    MaxSteps = 2,
    /// <summary>The MSE is not finite.</summary>
    NotFinite = 3,
}

/// <summary>A throughput measurement of <see cref="IlgpuInrFitter"/>.</summary>
/// <param name="Launches">Kernel launches.</param>
public readonly record struct IlgpuInrFitThroughput(int Inrs, long AdamSteps, int Iterations, long Launches, double Seconds)
{
    public double InrStepsPerSecond => AdamSteps / Seconds;
    public double InrsPerSecond => Inrs / Seconds;
}

/// <summary>
/// INR fitting on an ILGPU accelerator, the CPU <see cref="InrFitter"/>'s rules per INR: full-batch MSE, torch.optim.Adam
/// (no weight decay), stop when the MSE is ≤ StopMse, after MaxSteps steps, or when it is not finite. Parameters, Adam
/// moments, targets and the per-INR steps, status and MSE stay on the device for the whole fit; the host only reads the
/// states every <see cref="StepsPerCheck"/> iterations (to report finished INRs and to stop once all are done).
/// <para>One iteration is five launches on the accelerator's default stream: the generated <c>Forward</c>, <c>MseStep</c>
/// (one thread per INR: the MSE summed in the CPU fitter's order — float partial sums per 128-point tile and output, added
/// in double —, the stopping rules, the output gradient), the generated <c>PointBackward</c> and <c>ParameterGradient</c>
/// (the weight gradient, each parameter summed over the points in order by one thread), and <c>AdamStep</c> (one thread
/// per parameter, the CPU fitter's float expression; the step scalars from a host table computed as the CPU computes
/// them). No atomics: every sum has a fixed order, so a fit is bitwise repeatable, and an INR's result depends only on its
/// own initial parameters and targets, not on the batch it is fitted in.</para>
/// </summary>
public sealed class IlgpuInrFitter : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _points, _adamTable;
    private readonly Action<AcceleratorStream, Index1D, IlgpuInrFitArgs> _mseStep, _adamStep;
    private readonly bool _ownsNetwork;

    /// <param name="network">The generated network (<c>Arch.IlgpuNetwork.Create(device)</c>).</param>
    /// <param name="points">[pointCount, inputs], shared by every INR.</param>
    /// <param name="ownsNetwork">Dispose <paramref name="network"/> with the fitter.</param>
    public IlgpuInrFitter(IlgpuInputNetwork network, float[] points, int pointCount, InrFitSettings settings, bool ownsNetwork = false)
    {
        ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(points); ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (pointCount <= 0 || points.Length < (long)pointCount * network.Source.InputWidth)
            throw new ArgumentException($"Need {pointCount} points × {network.Source.InputWidth} coordinates, got {points.Length} floats.", nameof(points));
        Network = network; PointCount = pointCount; Settings = settings; _ownsNetwork = ownsNetwork;
        var acc = network.Device.Accelerator;
        _points = acc.Allocate1D(points.AsSpan(0, pointCount * network.Source.InputWidth).ToArray());
        _adamTable = acc.Allocate1D(AdamTable(settings));
        _mseStep = acc.LoadAutoGroupedKernel<Index1D, IlgpuInrFitArgs>(MseStep);
        _adamStep = acc.LoadAutoGroupedKernel<Index1D, IlgpuInrFitArgs>(AdamStep);
        MaxInrsPerBatch = (int)Math.Clamp(int.MaxValue / FloatsPerInr, 1, 1 << 16);
    }

    public IlgpuInputNetwork Network { get; }
    public IlgpuDevice Device => Network.Device;
    public int PointCount { get; }
    public InrFitSettings Settings { get; }
    public int ParameterCount => Network.Source.ParameterCount;
    /// <summary>Floats of target per INR (points × outputs).</summary>
    public int TargetLength => PointCount * Network.Source.OutputWidth;
    /// <summary>Iterations between reads of the per-INR states (finished INRs are reported, and the fit ends once all are done).</summary>
    public int StepsPerCheck { get; set; } = 50;
    // The largest per-INR extent of a 32-bit kernel index: backward scratch, outputs, parameters.
    private long FloatsPerInr => Math.Max((long)PointCount * Math.Max(Network.Source.ScratchPerPoint, Network.Source.OutputWidth), Network.Source.ParameterCount);

    /// <summary>INRs on the device at once (default: the most whose backward scratch stays below 2^31 floats, at most 65,536).</summary>
    public int MaxInrsPerBatch { get; set; }

    /// <summary>Per Adam step t = 1..MaxSteps: (float)(−lr / (1 − β1ᵗ)) and (float)(1 / √(1 − β2ᵗ)), as <see cref="InrFitter"/> computes them.</summary>
    public static float[] AdamTable(InrFitSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var table = new float[2 * (s.MaxSteps + 1)];
        for (int t = 1; t <= s.MaxSteps; t++)
        {
            double bc1 = 1 - Math.Pow(s.Beta1, t), bc2 = 1 - Math.Pow(s.Beta2, t);
            table[2 * t] = (float)(-s.LearningRate / bc1);
            table[2 * t + 1] = (float)(1 / Math.Sqrt(bc2));
        }
        return table;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless the generated ILGPU network computes the same function as
    /// <paramref name="cpu"/> (sizes, then the outputs of a probe parameter vector at the first points, ≤ 1e-4 relative):
    /// a zoo fitted on the device must be the zoo the CPU would fit.
    /// </summary>
    public void CheckMatches(MlpInputNetwork cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        var s = Network.Source;
        if (cpu.ParameterCount != s.ParameterCount || cpu.InputWidth != s.InputWidth || cpu.OutputWidth != s.OutputWidth)
            throw new ArgumentException($"The ILGPU network ({s.InputWidth} → {s.OutputWidth}, {s.ParameterCount} parameters) is not the fitted network ({cpu.InputWidth} → {cpu.OutputWidth}, {cpu.ParameterCount} parameters).", nameof(cpu));
        int points = Math.Min(PointCount, 16);
        var probe = new float[cpu.ParameterCount];
        var rng = new Random(12345);
        for (int i = 0; i < probe.Length; i++) probe[i] = (float)(rng.NextDouble() - 0.5) * 0.2f;
        var expected = new float[points * cpu.OutputWidth];
        var hostPoints = _points.View.SubView(0, points * s.InputWidth).GetAsArray1D();
        cpu.ForwardNetwork(probe, hostPoints, points, expected, cpu.CreateWorkspace());
        var acc = Device.Accelerator;
        using var p = acc.Allocate1D(probe);
        using var y = acc.Allocate1D<float>(expected.Length);
        Network.Forward(p.View, _points.View, y.View, 1, points);
        var actual = y.GetAsArray1D();
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { num = Math.Max(num, Math.Abs(actual[i] - expected[i])); den = Math.Max(den, Math.Abs(expected[i])); }
        if (!(num <= 1e-4 * Math.Max(den, 1e-6)))
            throw new ArgumentException($"The ILGPU network does not compute the fitted network's function (activation, ω0 or output offset differ: max |Δ| {num:G3} at outputs up to {den:G3}).", nameof(cpu));
    }

    /// <summary>
    /// Fits <paramref name="count"/> INRs: parameters <c>[count, ParameterCount]</c> (initialized, updated in place), targets
    /// <c>[count, TargetLength]</c>; the same contract and results as <see cref="InrFitter.FitMany"/>. <paramref name="onFitted"/>
    /// is called on this thread as INRs finish (seen every <see cref="StepsPerCheck"/> iterations). Cancellation is checked
    /// between checks; the parameters are then left as they were passed in for the batch in flight.
    /// </summary>
    public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted = null, CancellationToken cancellation = default)
        => FitMany(parameters, targets, count, onFitted, cancellation, out _);

    private InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted, CancellationToken cancellation, out (int Iterations, long Launches) work)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(targets);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The INR count must be >= 0.");
        int p = ParameterCount, tl = TargetLength;
        if (parameters.Length < (long)count * p) throw new ArgumentException($"parameters hold {parameters.Length} floats, {count} INRs need {(long)count * p}.", nameof(parameters));
        if (targets.Length < (long)count * tl) throw new ArgumentException($"targets hold {targets.Length} floats, {count} INRs need {(long)count * tl}.", nameof(targets));
        if (StepsPerCheck < 1) throw new InvalidOperationException($"StepsPerCheck must be positive, got {StepsPerCheck}.");
        if (MaxInrsPerBatch < 1 || MaxInrsPerBatch * FloatsPerInr > int.MaxValue)
            throw new InvalidOperationException($"MaxInrsPerBatch must be in [1, {int.MaxValue / FloatsPerInr}] (32-bit indices over {FloatsPerInr} floats per INR), got {MaxInrsPerBatch}.");
        var results = new InrFitResult[count];
        work = (0, 0);
        for (int first = 0; first < count; first += MaxInrsPerBatch)
        {
            int n = Math.Min(MaxInrsPerBatch, count - first);
            var (iterations, launches) = FitBatch(parameters.AsSpan(first * p, n * p), targets.AsSpan(first * tl, n * tl), n, results.AsSpan(first, n),
                onFitted is null ? null : (i, r) => onFitted(first + i, r), cancellation);
            work = (Math.Max(work.Iterations, iterations), work.Launches + launches);
        }
        return results;
    }

    /// <summary>
    /// Fits <paramref name="count"/> INRs for exactly <c>MaxSteps</c> steps each (use settings with StopMse = 0) on a copy of
    /// the parameters, after one untimed warm-up fit of the first min(count, 64) INRs (ILGPU compiles its kernels on first
    /// launch): INR-steps/s and INRs/s, host wall clock around launches and state reads.
    /// </summary>
    public IlgpuInrFitThroughput MeasureThroughput(float[] parameters, float[] targets, int count)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        int warm = Math.Min(count, 64);
        FitMany(parameters.AsSpan(0, warm * ParameterCount).ToArray(), targets, warm);
        var copy = parameters.AsSpan(0, count * ParameterCount).ToArray();
        var sw = Stopwatch.StartNew();
        var results = FitMany(copy, targets, count, null, default, out var work);
        double seconds = sw.Elapsed.TotalSeconds;
        long steps = 0;
        foreach (var r in results) steps += r.Steps;
        return new IlgpuInrFitThroughput(count, steps, work.Iterations, work.Launches, seconds);
    }

    private (int Iterations, long Launches) FitBatch(Span<float> parameters, ReadOnlySpan<float> targets, int n, Span<InrFitResult> results,
        Action<int, InrFitResult>? onFitted, CancellationToken cancellation)
    {
        if (n == 0) return (0, 0);
        var acc = Device.Accelerator;
        var stream = acc.DefaultStream;
        var s = Settings;
        int p = ParameterCount, outs = Network.Source.OutputWidth;
        using var prm = acc.Allocate1D(parameters.ToArray());
        using var tgt = acc.Allocate1D(targets.ToArray());
        using var grad = acc.Allocate1D<float>((long)n * p);
        using var m = acc.Allocate1D<float>((long)n * p);
        using var v = acc.Allocate1D<float>((long)n * p);
        using var y = acc.Allocate1D<float>((long)n * PointCount * outs);
        using var steps = acc.Allocate1D<int>(n);
        using var status = acc.Allocate1D<int>(n);
        using var loss = acc.Allocate1D<double>(n);
        m.MemSetToZero(stream); v.MemSetToZero(stream); steps.MemSetToZero(stream); status.MemSetToZero(stream);
        var a = new IlgpuInrFitArgs
        {
            PointCount = PointCount, OutputWidth = outs, ParameterCount = p, MaxSteps = s.MaxSteps, TilePoints = MlpInputNetwork.TilePoints,
            StopMse = s.StopMse, Scale = 2f / (PointCount * outs),
            Beta1 = (float)s.Beta1, OneMinusBeta1 = (float)(1 - s.Beta1), Beta2 = (float)s.Beta2, OneMinusBeta2 = (float)(1 - s.Beta2), Epsilon = (float)s.Epsilon,
            Out = y.View, Targets = tgt.View, Params = prm.View, Grad = grad.View, M = m.View, V = v.View, AdamTable = _adamTable.View,
            Steps = steps.View, Status = status.View, Loss = loss.View,
        };
        var done = new bool[n];
        int remaining = n, iterations = 0;
        long launches = 0;
        // Every INR still running after iteration t has taken t Adam steps, so all are done after MaxSteps + 1 iterations.
        for (int it = 0; it <= s.MaxSteps && remaining > 0; it++)
        {
            Network.Forward(prm.View, _points.View, y.View, n, PointCount);
            _mseStep(stream, n, a);
            launches += 2;
            if (it < s.MaxSteps)
            {
                Network.Backward(prm.View, _points.View, y.View, grad.View, n, PointCount);
                _adamStep(stream, n * p, a);
                launches += 3;
            }
            iterations++;
            if ((it + 1) % StepsPerCheck == 0 || it == s.MaxSteps)
            {
                remaining = Collect(status, steps, loss, done, results, onFitted);
                if (remaining > 0) cancellation.ThrowIfCancellationRequested();
            }
        }
        stream.Synchronize();
        if (remaining > 0) throw new InvalidOperationException($"{remaining} INRs were still running after {s.MaxSteps + 1} iterations (a fitting kernel did not run).");
        prm.GetAsArray1D().CopyTo(parameters);
        return (iterations, launches);
    }

    private static int Collect(MemoryBuffer1D<int, Stride1D.Dense> status, MemoryBuffer1D<int, Stride1D.Dense> steps, MemoryBuffer1D<double, Stride1D.Dense> loss,
        bool[] done, Span<InrFitResult> results, Action<int, InrFitResult>? onFitted)
    {
        var st = status.GetAsArray1D();
        var sp = steps.GetAsArray1D();
        var ls = loss.GetAsArray1D();
        int remaining = 0;
        for (int i = 0; i < done.Length; i++)
        {
            if (done[i]) continue;
            if (st[i] == (int)IlgpuInrFitStatus.Running) { remaining++; continue; }
            done[i] = true;
            results[i] = new InrFitResult(ls[i], sp[i], st[i] == (int)IlgpuInrFitStatus.Stopped);
            onFitted?.Invoke(i, results[i]);
        }
        return remaining;
    }

    /// <summary>One thread per running INR: its MSE (the CPU fitter's summation order), the stopping rules, and the output gradient in place of the outputs.</summary>
    public static void MseStep(Index1D index, IlgpuInrFitArgs a)
    {
        int n = index.X;
        if (a.Status[n] != 0) return;
        int d = a.OutputWidth, pc = a.PointCount, b = n * pc * d;
        double sum = 0;
        for (int p0 = 0; p0 < pc; p0 += a.TilePoints)
        {
            int count = Math.Min(a.TilePoints, pc - p0);
            for (int j = 0; j < d; j++)
            {
                float tileSum = 0f;
                for (int t = 0; t < count; t++)
                {
                    int k = b + (p0 + t) * d + j;
                    float e = a.Out[k] - a.Targets[k];
                    tileSum += e * e;
                    a.Out[k] = a.Scale * e;
                }
                sum += tileSum;
            }
        }
        double mse = sum / ((double)pc * d);
        a.Loss[n] = mse;
        int steps = a.Steps[n];
        // Finite as comparisons (NaN fails both, ±∞ one): no IsFinite intrinsic needed on the device.
        if (!(mse >= -double.MaxValue && mse <= double.MaxValue)) a.Status[n] = (int)IlgpuInrFitStatus.NotFinite;
        else if (mse <= a.StopMse) a.Status[n] = (int)IlgpuInrFitStatus.Stopped;
        else if (steps == a.MaxSteps) a.Status[n] = (int)IlgpuInrFitStatus.MaxSteps;
        else a.Steps[n] = steps + 1;
    }

    /// <summary>One thread per (INR, parameter): Adam step t = Steps[n] (already counted by MseStep) of a running INR, as the CPU fitter writes it.</summary>
    public static void AdamStep(Index1D index, IlgpuInrFitArgs a)
    {
        int i = index.X, n = i / a.ParameterCount;
        if (a.Status[n] != 0) return;
        int t = a.Steps[n];
        float negStep = a.AdamTable[2 * t], invBc2Sqrt = a.AdamTable[2 * t + 1];
        float g = a.Grad[i];
        float mi = a.Beta1 * a.M[i] + a.OneMinusBeta1 * g;
        float vi = a.Beta2 * a.V[i] + a.OneMinusBeta2 * g * g;
        a.M[i] = mi; a.V[i] = vi;
        a.Params[i] += negStep * mi / (MathF.Sqrt(vi) * invBc2Sqrt + a.Epsilon);
    }

    public void Dispose()
    {
        _points.Dispose(); _adamTable.Dispose();
        if (_ownsNetwork) Network.Dispose();
    }
}
