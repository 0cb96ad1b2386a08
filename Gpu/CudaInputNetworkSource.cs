using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime;

namespace LayerCompiler.Gpu;

/// <summary>
/// What the generator emits for an input network on CUDA (<c>Arch.NetworkCuda.Info</c>): the CUDA C source of its kernels
/// and the numbers needed to launch them.
/// <para>Device data layout: parameters are one flat vector per network, <c>[batch, ParameterCount]</c>, the weight-space
/// tensors in order (W1 (out, in) row-major, b1, W2, ...: the flat order of <see cref="MlpInputNetwork"/> and the CPU
/// <c>InrFitter</c>); points <c>[pointCount, InputWidth]</c>; outputs and targets <c>[batch, pointCount, OutputWidth]</c>.</para>
/// <para>Kernels (all blocks of <see cref="BlockSize"/> threads, one-dimensional grids):
/// <c>lc_inr_forward(int batch, int pointCount, int chunks, const float* points, const float* params, float* out)</c> on
/// <see cref="ForwardBlocks"/> blocks;
/// <c>lc_inr_mse_grad(int batch, int pointCount, const float* points, const float* params, const float* targets, float* grad, double* loss)</c>
/// and <c>lc_inr_fit(...)</c> (see <see cref="CudaInrFitter"/>) on one block per network.</para>
/// </summary>
public sealed class CudaInputNetworkSource
{
    public const string ForwardKernel = "lc_inr_forward";
    public const string GradientKernel = "lc_inr_mse_grad";
    public const string FitKernel = "lc_inr_fit";

    /// <summary>The kernels <see cref="CudaDevice.Compile"/> looks up.</summary>
    public static IReadOnlyList<string> KernelNames { get; } = new[] { ForwardKernel, GradientKernel, FitKernel };

    private readonly int[] _widths;
    private readonly bool[] _biases;
    private readonly int[] _weightOffsets, _biasOffsets;

    public CudaInputNetworkSource(string name, string source, int[] widths, bool[] biases, InputActivation activation, float omega0, float outputOffset,
        int blockSize, int tilePoints, bool sharedWeights, int forwardTilesPerBlock, string unsupportedReason)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(widths);
        ArgumentNullException.ThrowIfNull(biases);
        if (widths.Length < 2 || biases.Length != widths.Length - 1)
            throw new ArgumentException($"Need d_0 … d_M widths and M bias flags; got {widths.Length} widths and {biases.Length} flags.", nameof(biases));
        if (widths.Any(w => w <= 0)) throw new ArgumentException("Widths must be positive.", nameof(widths));
        Name = name; Source = source; _widths = widths; _biases = biases; Activation = activation; Omega0 = omega0; OutputOffset = outputOffset;
        BlockSize = blockSize; TilePoints = tilePoints; SharedWeights = sharedWeights; ForwardTilesPerBlock = forwardTilesPerBlock;
        UnsupportedReason = unsupportedReason ?? "";
        Supported = source.Length > 0;
        if (Supported && (blockSize <= 0 || tilePoints <= 0 || forwardTilesPerBlock <= 0))
            throw new ArgumentException("Block size, tile points and tiles per forward block must be positive.");
        _weightOffsets = new int[Depth];
        _biasOffsets = new int[Depth];
        long p = 0;
        for (int l = 0; l < Depth; l++)
        {
            _weightOffsets[l] = (int)p;
            p += (long)widths[l] * widths[l + 1];
            _biasOffsets[l] = biases[l] ? (int)p : -1;
            if (biases[l]) p += widths[l + 1];
        }
        if (p > int.MaxValue) throw new ArgumentException($"{p} parameters per network do not fit a 32-bit count.", nameof(widths));
        ParameterCount = (int)p;
    }

    /// <summary>The architecture type's name.</summary>
    public string Name { get; }
    /// <summary>The CUDA C (empty when <see cref="Supported"/> is false).</summary>
    public string Source { get; }
    public bool Supported { get; }
    public string UnsupportedReason { get; }
    /// <summary>Neuron-layer widths d_0 … d_M.</summary>
    public IReadOnlyList<int> Widths => _widths;
    /// <summary>Whether layer l (0-based) has a bias.</summary>
    public IReadOnlyList<bool> Biases => _biases;
    public int Depth => _widths.Length - 1;
    public int InputWidth => _widths[0];
    public int OutputWidth => _widths[^1];
    public InputActivation Activation { get; }
    public float Omega0 { get; }
    public float OutputOffset { get; }
    public int BlockSize { get; }
    /// <summary>Points per shared-memory tile.</summary>
    public int TilePoints { get; }
    /// <summary>Whether blocks keep their network's weights and weight gradient in shared memory.</summary>
    public bool SharedWeights { get; }
    public int ForwardTilesPerBlock { get; }
    /// <summary>Scalars in one network's flat parameter vector.</summary>
    public int ParameterCount { get; }

    /// <summary>Offset of W_{l+1} in the flat vector.</summary>
    public int WeightOffset(int layer) => _weightOffsets[layer];
    /// <summary>Offset of b_{l+1} in the flat vector, or -1.</summary>
    public int BiasOffset(int layer) => _biasOffsets[layer];

    /// <summary>Throws <see cref="NotSupportedException"/> with the generator's reason when there are no kernels.</summary>
    public void EnsureSupported()
    {
        if (!Supported) throw new NotSupportedException($"No CUDA kernels were generated for input network {Name}: {UnsupportedReason}");
    }

    /// <summary>Point-tile chunks per network of the forward kernel.</summary>
    public int ForwardChunks(int pointCount)
    {
        EnsureSupported();
        if (pointCount <= 0) throw new ArgumentOutOfRangeException(nameof(pointCount), pointCount, "At least one point is needed.");
        long tiles = (pointCount + (long)TilePoints - 1) / TilePoints;
        return (int)((tiles + ForwardTilesPerBlock - 1) / ForwardTilesPerBlock);
    }

    /// <summary>Blocks of the forward kernel: batch × <see cref="ForwardChunks"/>.</summary>
    public int ForwardBlocks(int batch, int pointCount)
    {
        long blocks = (long)batch * ForwardChunks(pointCount);
        if (batch <= 0 || blocks > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"The forward kernel takes 1 to {int.MaxValue / ForwardChunks(pointCount)} networks at {pointCount} points per launch.");
        return (int)blocks;
    }

    /// <summary>Floats of device gradient scratch the fit kernel needs for a batch (0 when the gradient is summed in shared memory).</summary>
    public long FitScratchFloats(int batch) => SharedWeights ? 0 : (long)batch * ParameterCount;

    /// <summary>A CPU network with the same architecture, activation and output offset (same flat parameter order).</summary>
    public MlpInputNetwork CreateCpuNetwork()
    {
        var decls = Enumerable.Range(0, Depth).Select(l => LayerDeclaration.Dense(_widths[l], _widths[l + 1], _biases[l])).ToList();
        return new MlpInputNetwork(global::LayerCompiler.Algebra.WeightSpace.FromLayers(decls, Symmetry.HiddenNeuron), Activation, Omega0, OutputOffset);
    }

    /// <summary>The flat per-network parameters <c>[batch, ParameterCount]</c> of a 1-channel weight-space batch.</summary>
    public float[] Flatten(WeightSpaceBatch weights)
    {
        CheckBatch(weights);
        var flat = new float[(long)weights.Batch * ParameterCount];
        int offset = 0;
        for (int t = 0; t < weights.Tensors.Length; t++)
        {
            int size = weights.Space.Tensors[t].Size;
            var data = weights.Tensors[t].Data;
            for (int n = 0; n < weights.Batch; n++)
                Array.Copy(data, (long)n * size, flat, (long)n * ParameterCount + offset, size);
            offset += size;
        }
        return flat;
    }

    /// <summary>Writes flat per-network parameters into a 1-channel weight-space batch (the inverse of <see cref="Flatten"/>).</summary>
    public void Unflatten(ReadOnlySpan<float> flat, WeightSpaceBatch weights)
    {
        CheckBatch(weights);
        if (flat.Length < (long)weights.Batch * ParameterCount)
            throw new ArgumentException($"{weights.Batch} networks need {(long)weights.Batch * ParameterCount} floats, got {flat.Length}.", nameof(flat));
        int offset = 0;
        for (int t = 0; t < weights.Tensors.Length; t++)
        {
            int size = weights.Space.Tensors[t].Size;
            var data = weights.Tensors[t].Data;
            for (int n = 0; n < weights.Batch; n++)
                flat.Slice(n * ParameterCount + offset, size).CopyTo(data.AsSpan(n * size, size));
            offset += size;
        }
    }

    private void CheckBatch(WeightSpaceBatch weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Channels != 1) throw new ArgumentException($"Input-network weights have 1 channel, got {weights.Channels}.", nameof(weights));
        var tensors = weights.Space.Tensors;
        bool same = tensors.Sum(t => (long)t.Size) == ParameterCount && tensors.Count == Depth + _biases.Count(b => b);
        for (int l = 0, t = 0; same && l < Depth; l++)
        {
            same = tensors[t].Size == _widths[l] * _widths[l + 1] && !tensors[t].IsBias;
            t++;
            if (_biases[l] && same) { same = tensors[t].IsBias && tensors[t].Size == _widths[l + 1]; t++; }
        }
        if (!same) throw new ArgumentException($"The weights are not over the weight space of {Name} ({string.Join("→", _widths)}).", nameof(weights));
    }

    public override string ToString() => $"CUDA input network {Name} ({string.Join("→", _widths)}, {Activation}{(Supported ? $", tiles of {TilePoints}" : ", unsupported")})";
}
