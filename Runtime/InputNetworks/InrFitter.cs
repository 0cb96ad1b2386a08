using LayerCompiler.Runtime.Transforms;
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading;
using System.Threading.Tasks;
using LayerCompiler.Runtime.Kernels;

namespace LayerCompiler.Runtime.InputNetworks;

/// <summary>The outcome of fitting one INR.</summary>
/// <param name="Mse">MSE of the final (returned) parameters.</param>
/// <param name="Steps">Adam steps taken.</param>
/// <param name="Stopped">Whether it stopped early at the threshold.</param>
public readonly record struct InrFitResult(double Mse, int Steps, bool Stopped)
{
    public double Psnr => InputNetworks.Psnr.FromMse(Mse);
}

/// <summary>
/// Fits many INRs at once to their own targets at shared points: each INR has its own Adam state and
/// stops (freezes) when its MSE reaches the threshold. INRs are independent, so each one runs all its
/// steps on one thread with its parameters and scratch hot in cache; INRs are spread over threads.
/// A result depends only on the INR's initial parameters and targets, never on threads or batching.
/// </summary>
public sealed class InrFitter
{
    private readonly float[] _points;

    public InrFitter(MlpInputNetwork network, float[] points, int pointCount, InrFitSettings settings)
    {
        ArgumentNullException.ThrowIfNull(network); ArgumentNullException.ThrowIfNull(points); ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (pointCount <= 0 || points.Length < (long)pointCount * network.InputWidth)
            throw new ArgumentException($"Need {pointCount} points × {network.InputWidth} coordinates, got {points.Length} floats.", nameof(points));
        Network = network; _points = points; PointCount = pointCount; Settings = settings;
    }

    public MlpInputNetwork Network { get; }
    public int PointCount { get; }
    public InrFitSettings Settings { get; }
    /// <summary>Floats of target per INR (points × outputs).</summary>
    public int TargetLength => PointCount * Network.OutputWidth;

    /// <summary>Per-thread memory for <see cref="Fit"/>.</summary>
    public sealed class Scratch
    {
        internal readonly MlpInputNetwork.Workspace Workspace;
        internal readonly float[] Grad, M, V;
        internal Scratch(MlpInputNetwork net)
        {
            Workspace = net.CreateWorkspace();
            Grad = new float[net.ParameterCount]; M = new float[net.ParameterCount]; V = new float[net.ParameterCount];
        }
    }

    public Scratch CreateScratch() => new(Network);

    /// <summary>Fits one INR in place, starting from <paramref name="parameters"/> (a flat vector, see <see cref="MlpInputNetwork"/>).</summary>
    public InrFitResult Fit(Span<float> parameters, ReadOnlySpan<float> targets, Scratch scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        if (targets.Length != TargetLength)
            throw new ArgumentException($"An INR's targets are {PointCount} points × {Network.OutputWidth} outputs = {TargetLength} floats, got {targets.Length}.", nameof(targets));
        var s = Settings;
        Array.Clear(scratch.M); Array.Clear(scratch.V);
        for (int step = 0; ; step++)
        {
            bool last = step == s.MaxSteps;
            double mse = Network.MseAndGradient(parameters, _points, PointCount, targets, last ? Span<float>.Empty : scratch.Grad, scratch.Workspace);
            if (!double.IsFinite(mse)) return new InrFitResult(mse, step, false);
            if (mse <= s.StopMse) return new InrFitResult(mse, step, true);
            if (last) return new InrFitResult(mse, step, false);
            AdamStep(parameters, scratch.Grad, scratch.M, scratch.V, step + 1);
        }
    }

    /// <summary>
    /// Fits <paramref name="count"/> INRs: parameters <c>[count, ParameterCount]</c> (initialized, updated in place),
    /// targets <c>[count, TargetLength]</c>. <paramref name="onFitted"/> is called (from worker threads) as each finishes.
    /// </summary>
    public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, int maxThreads = -1, Action<int, InrFitResult>? onFitted = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(parameters); ArgumentNullException.ThrowIfNull(targets);
        int p = Network.ParameterCount, tl = TargetLength;
        if (parameters.Length < (long)count * p) throw new ArgumentException($"parameters hold {parameters.Length} floats, {count} INRs need {(long)count * p}.", nameof(parameters));
        if (targets.Length < (long)count * tl) throw new ArgumentException($"targets hold {targets.Length} floats, {count} INRs need {(long)count * tl}.", nameof(targets));
        var results = new InrFitResult[count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads <= 0 ? -1 : maxThreads, CancellationToken = cancellation };
        Parallel.For(0, count, options, CreateScratch, (i, _, scratch) =>
        {
            results[i] = Fit(parameters.AsSpan(i * p, p), targets.AsSpan(i * tl, tl), scratch);
            onFitted?.Invoke(i, results[i]);
            return scratch;
        }, _ => { });
        return results;
    }

    /// <summary>torch.optim.Adam's update (no weight decay), scalars in float64 as PyTorch computes them.</summary>
    private void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int step)
    {
        var s = Settings;
        double bc1 = 1 - Math.Pow(s.Beta1, step), bc2 = 1 - Math.Pow(s.Beta2, step);
        float negStep = (float)(-s.LearningRate / bc1), invBc2Sqrt = (float)(1 / Math.Sqrt(bc2)), eps = (float)s.Epsilon;
        float b1 = (float)s.Beta1, c1 = (float)(1 - s.Beta1), b2 = (float)s.Beta2, c2 = (float)(1 - s.Beta2);
        int n = p.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float vr = ref MemoryMarshal.GetReference(v);
        if (Vector256.IsHardwareAccelerated)
        {
            var vb1 = Vector256.Create(b1); var vc1 = Vector256.Create(c1); var vb2 = Vector256.Create(b2); var vc2 = Vector256.Create(c2);
            var vns = Vector256.Create(negStep); var vib = Vector256.Create(invBc2Sqrt); var veps = Vector256.Create(eps);
            for (; i + 8 <= n; i += 8)
            {
                var gi = Vector256.LoadUnsafe(ref gr, (nuint)i);
                var mi = vb1 * Vector256.LoadUnsafe(ref mr, (nuint)i) + vc1 * gi;
                var vi = vb2 * Vector256.LoadUnsafe(ref vr, (nuint)i) + vc2 * gi * gi;
                mi.StoreUnsafe(ref mr, (nuint)i); vi.StoreUnsafe(ref vr, (nuint)i);
                var denom = Vector256.Sqrt(vi) * vib + veps;
                (Vector256.LoadUnsafe(ref pr, (nuint)i) + vns * mi / denom).StoreUnsafe(ref pr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float gi = Unsafe.Add(ref gr, i);
            float mi = b1 * Unsafe.Add(ref mr, i) + c1 * gi;
            float vi = b2 * Unsafe.Add(ref vr, i) + c2 * gi * gi;
            Unsafe.Add(ref mr, i) = mi; Unsafe.Add(ref vr, i) = vi;
            Unsafe.Add(ref pr, i) += negStep * mi / (MathF.Sqrt(vi) * invBc2Sqrt + eps);
        }
    }
}
