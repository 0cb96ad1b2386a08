using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Gpu;

/// <summary>Which part of a layer's work a launch step belongs to.</summary>
public enum CudaLayerPass
{
    /// <summary>y = layer(x).</summary>
    Forward = 0,
    /// <summary>Parameter gradients (added into gw, gb); also computes the gradient statistics the input gradient reuses.</summary>
    ParameterGradient = 1,
    /// <summary>The input gradient (transposed map); runs after <see cref="ParameterGradient"/>.</summary>
    InputGradient = 2,
}

/// <summary>
/// One kernel launch of a generated layer. Its grid is one-dimensional:
/// blocks(batch) = Σ_i m_i · ⌈batch · a_i / d_i⌉ + constant, with (m_i, a_i, d_i) the triples of <see cref="GridTerms"/>.
/// The kernel decodes its block index with the same formula, so the two must come from one generator run.
/// </summary>
public sealed class CudaLaunchStep
{
    public string Kernel { get; }
    public CudaLayerPass Pass { get; }
    /// <summary>Triples (multiplier, per-network units, divisor).</summary>
    public IReadOnlyList<long> GridTerms { get; }
    public long ConstantBlocks { get; }

    public CudaLaunchStep(string kernel, CudaLayerPass pass, long[] gridTerms, long constantBlocks = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(kernel);
        ArgumentNullException.ThrowIfNull(gridTerms);
        if (gridTerms.Length % 3 != 0) throw new ArgumentException($"Grid terms of {kernel} must be (multiplier, units, divisor) triples; got {gridTerms.Length} numbers.", nameof(gridTerms));
        for (int i = 0; i < gridTerms.Length; i += 3)
            if (gridTerms[i] < 0 || gridTerms[i + 1] < 0 || gridTerms[i + 2] <= 0)
                throw new ArgumentException($"Grid term {i / 3} of {kernel} is ({gridTerms[i]}, {gridTerms[i + 1]}, {gridTerms[i + 2]}); multipliers and units must be ≥ 0 and divisors > 0.", nameof(gridTerms));
        Kernel = kernel; Pass = pass; GridTerms = gridTerms; ConstantBlocks = constantBlocks;
    }

    /// <summary>Number of blocks for a batch of <paramref name="batch"/> networks (0: nothing to launch).</summary>
    public long Blocks(int batch)
    {
        long blocks = ConstantBlocks;
        for (int i = 0; i < GridTerms.Count; i += 3)
            blocks += GridTerms[i] * CeilDiv(batch * GridTerms[i + 1], GridTerms[i + 2]);
        return blocks;
    }

    internal static long CeilDiv(long a, long b) => (a + b - 1) / b;

    public override string ToString() => $"{Kernel} ({Pass})";
}

/// <summary>
/// Everything the generator emits for one fused layer (Cin → Cout channels) on CUDA: the CUDA C source and how to
/// launch it. Device data layout, shared by every kernel: a weight-space batch is ONE buffer holding the tensors
/// back to back in tensor order, each [batch, axes..., channels] (the order of <c>WeightSpaceBatch.Flatten</c>);
/// weights and biases are the <c>LayerPlan</c> vectors; scratch is <see cref="ScratchFloats"/> floats.
/// Every kernel has the signature
/// <c>(int batch, const float* x, const float* g, const float* w, const float* b, float* y, float* gw, float* gb, float* s)</c>
/// with <c>y</c> the output (forward) or the input gradient (backward), <c>g</c> the output gradient.
/// </summary>
public sealed class CudaLayerSource
{
    public string Source { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public int WeightCount { get; }
    public int BiasCount { get; }
    /// <summary>Entries per network of each tensor (without channels), in tensor order.</summary>
    public IReadOnlyList<int> TensorSizes { get; }
    /// <summary>Threads per block of every kernel.</summary>
    public int BlockSize { get; }
    /// <summary>Scratch floats per network (statistics, partial sums, broadcast terms).</summary>
    public long ScratchFloatsPerNetwork { get; }
    /// <summary>Pairs (networks per chunk, floats per chunk) of the parameter-gradient partial sums.</summary>
    public IReadOnlyList<long> ScratchChunkTerms { get; }
    /// <summary>Largest batch the kernels' 32-bit position indices allow.</summary>
    public int MaxBatch { get; }
    public IReadOnlyList<CudaLaunchStep> Steps { get; }

    public CudaLayerSource(string source, int inChannels, int outChannels, int weightCount, int biasCount, int[] tensorSizes,
        int blockSize, long scratchFloatsPerNetwork, long[] scratchChunkTerms, int maxBatch, CudaLaunchStep[] steps)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentNullException.ThrowIfNull(tensorSizes);
        ArgumentNullException.ThrowIfNull(scratchChunkTerms);
        ArgumentNullException.ThrowIfNull(steps);
        if (scratchChunkTerms.Length % 2 != 0) throw new ArgumentException("Scratch chunk terms must be (networks, floats) pairs.", nameof(scratchChunkTerms));
        for (int i = 0; i < scratchChunkTerms.Length; i += 2)
            if (scratchChunkTerms[i] <= 0 || scratchChunkTerms[i + 1] < 0)
                throw new ArgumentException($"Scratch chunk term {i / 2} is ({scratchChunkTerms[i]}, {scratchChunkTerms[i + 1]}); networks per chunk must be > 0.", nameof(scratchChunkTerms));
        Source = source; InChannels = inChannels; OutChannels = outChannels; WeightCount = weightCount; BiasCount = biasCount;
        TensorSizes = tensorSizes; BlockSize = blockSize; ScratchFloatsPerNetwork = scratchFloatsPerNetwork;
        ScratchChunkTerms = scratchChunkTerms; MaxBatch = maxBatch; Steps = steps;
    }

    /// <summary>
    /// The CUDA C of a layer and its launches, scheduled from <paramref name="plan"/> at run time by the generator's own
    /// CUDA backend (its planning and printing code is compiled into this assembly too). Generated models call this
    /// instead of carrying the source as string constants: the source grows with the square of the input network's
    /// depth (a block for every ordered pair of tensors), and an assembly's string literals share one heap of about
    /// 16 MB (CS8103). Deterministic: the same plan gives the same text (and hits the same cubin cache entry).
    /// </summary>
    public static CudaLayerSource FromPlan(LayerCompiler.Algebra.LayerPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var e = LayerCompiler.Generator.Emit.CudaKernelEmitter.Emit(LayerCompiler.Generator.Lower.FusedPlan.Lower(plan));
        var steps = e.Steps.Select(s => new CudaLaunchStep(s.Kernel, (CudaLayerPass)s.Pass, s.GridTerms.ToArray(), s.ConstantBlocks)).ToArray();
        return new CudaLayerSource(e.Source, e.Cin, e.Cout, e.WeightCount, e.BiasCount, e.TensorSizes, e.BlockSize,
            e.ScratchPerNetwork, e.ScratchChunkTerms.ToArray(), e.MaxBatch, steps);
    }

    /// <summary>The distinct kernel names, in launch order (what <see cref="CudaDevice.Compile"/> looks up).</summary>
    public string[] KernelNames => Steps.Select(s => s.Kernel).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Entries per network over all tensors (without channels).</summary>
    public long EntriesPerNetwork => TensorSizes.Sum(s => (long)s);

    /// <summary>Floats of an input batch (Cin channels).</summary>
    public long InputLength(int batch) => batch * EntriesPerNetwork * InChannels;

    /// <summary>Floats of an output batch (Cout channels).</summary>
    public long OutputLength(int batch) => batch * EntriesPerNetwork * OutChannels;

    /// <summary>Scratch floats a batch needs (forward and backward share one scratch buffer).</summary>
    public long ScratchFloats(int batch)
    {
        long n = batch * ScratchFloatsPerNetwork;
        for (int i = 0; i < ScratchChunkTerms.Count; i += 2)
            n += CudaLaunchStep.CeilDiv(batch, ScratchChunkTerms[i]) * ScratchChunkTerms[i + 1];
        return n;
    }

    /// <summary>The launches of one pass for a batch, in order, with their block counts (steps with no blocks left out).</summary>
    public IEnumerable<(CudaLaunchStep Step, long Blocks)> Launches(CudaLayerPass pass, int batch)
    {
        CheckBatch(batch);
        foreach (var s in Steps)
        {
            if (s.Pass != pass) continue;
            long blocks = s.Blocks(batch);
            if (blocks > int.MaxValue) throw new ArgumentException($"Kernel {s.Kernel} would need {blocks} blocks for batch {batch}; use a smaller batch.", nameof(batch));
            if (blocks > 0) yield return (s, blocks);
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless 1 ≤ batch ≤ <see cref="MaxBatch"/>.</summary>
    public void CheckBatch(int batch)
    {
        if (batch < 1 || batch > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"The generated {InChannels} → {OutChannels} CUDA layer takes batches of 1 to {MaxBatch} networks; split larger batches.");
    }

    public override string ToString() => $"CUDA layer {InChannels} → {OutChannels} ({Steps.Count} launch steps)";
}
