using System;
using System.Linq;
using LayerCompiler.Algebra;

namespace LayerCompiler.Runtime.Transforms;

/// <summary>
/// Lifts raw weights of a dense network under hidden permutations × sign flips (<see cref="Symmetry.SignedHiddenNeuron"/>)
/// to multi-channel features that are exactly invariant to the sign flips and equivariant to the permutations, so
/// that permutation-equivariant layers (<see cref="Symmetry.HiddenNeuron"/>) can follow.
/// </summary>
/// <remarks>
/// <para>Every hidden neuron i of layer ℓ gets a reference vector r(ℓ, i) that changes sign with that neuron alone: its
/// bias b_ℓ[i], its incoming row W_ℓ[i, :] when layer ℓ−1 is the (fixed) input, and its outgoing column W_{ℓ+1}[:, i]
/// when layer ℓ+1 is the (fixed) output. An entry x whose hidden axes are (ℓ₁, i₁), …, (ℓ_k, i_k) flips with
/// s_{i₁}⋯s_{i_k}, so x · r(ℓ₁, i₁) ⊗ ⋯ ⊗ r(ℓ_k, i_k) is invariant (each factor's sign cancels one of x's) and moves
/// with the neurons under permutations. For 2→32→32→1: r = (W1[i,0], W1[i,1], b1[i]) on layer 1 and (b2[j], W3[0,j])
/// on layer 2, so W2[j,i] gets 3·2 = 6 channels, W1 and b1 3, b2 and W3 2, b3 (no hidden axis) itself.</para>
/// <para>Tensors get the largest channel count of any tensor; the remaining channels are zero. Sign flips cancel
/// exactly in IEEE arithmetic ((−a)(−b) = ab), so the invariance is bitwise. The lift loses nothing but the group: from
/// r ⊗ r (contained in the lifted W_ℓ or b_ℓ) each reference vector is recovered up to its sign, and from those every
/// entry, up to the product of its neurons' signs — provided no reference vector is zero.</para>
/// </remarks>
public sealed class SignInvariantLift
{
    /// <summary>The raw weights' space (<see cref="Symmetry.SignedHiddenNeuron"/>).</summary>
    public WeightSpace Input { get; }
    /// <summary>The lifted features' space: the same network under hidden permutations only.</summary>
    public WeightSpace Output { get; }
    /// <summary>Channels of the lifted features.</summary>
    public int Channels { get; }

    private readonly int[] _referenceSize;        // per neuron layer: |r| (0 for the fixed layers)
    private readonly int[] _weightTensor;         // per weight layer ℓ (1..M): index of W_ℓ
    private readonly int[] _biasTensor;           // per weight layer ℓ: index of b_ℓ, or -1
    private readonly int[][] _signedAxes;         // per tensor: positions of its sign-flipped axes

    public SignInvariantLift(WeightSpace input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.HasSigns) throw new ArgumentException($"The lift needs a weight space with sign flips (Symmetry.SignedHiddenNeuron), got {input.Symmetry}.", nameof(input));
        if (input.Declarations.Count == 0 || input.Declarations.Any(d => d.Kind != LayerKind.Dense))
            throw new ArgumentException("The sign-invariant lift is defined for dense networks (MLPs, SIRENs) only; this weight space has convolutions.", nameof(input));
        Input = input;
        Output = WeightSpace.FromLayers(input.Declarations, Symmetry.HiddenNeuron);
        int m = input.Depth;
        _weightTensor = new int[m + 1];
        _biasTensor = new int[m + 1];
        for (int l = 1; l <= m; l++)
        {
            _weightTensor[l] = input.Tensors.Single(t => t.LayerNumber == l && !t.IsBias).Index;
            _biasTensor[l] = input.Tensors.SingleOrDefault(t => t.LayerNumber == l && t.IsBias)?.Index ?? -1;
        }
        _signedAxes = input.Tensors.Select(t => Enumerable.Range(0, t.Axes.Length).Where(a => !t.Axes[a].IsKernel && input.Layers[t.Axes[a].Layer].Signed).ToArray()).ToArray();
        _referenceSize = SignReferences.Sizes(input);
        if (SignReferences.FirstLayerWithoutReference(input) is int bare and > 0)
            throw new ArgumentException($"Hidden layer {bare} has no sign-odd reference (no bias and no fixed neighbour layer); declare its Dense layer with Bias = true.", nameof(input));
        long channels = SignReferences.Channels(input);
        if (channels > SignReferences.MaxChannels) throw new ArgumentException($"The lift would need {channels} channels; it is meant for narrow input and output layers.", nameof(input));
        Channels = (int)channels;
    }

    /// <summary>Size of the reference vector of a hidden neuron layer (0 for the fixed input and output layers).</summary>
    public int ReferenceSize(int layer) => _referenceSize[layer];

    /// <summary>Lifts a batch of raw weights (1 channel) on <see cref="Input"/>'s space.</summary>
    public WeightSpaceBatch Forward(WeightSpaceBatch weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Channels != 1) throw new ArgumentException($"The lift takes raw weights (1 channel), got {weights.Channels} channels.", nameof(weights));
        if (weights.Space.Tensors.Count != Input.Tensors.Count || !weights.Space.Tensors.Select(t => t.Shape).Zip(Input.Tensors.Select(t => t.Shape)).All(p => p.First.AsSpan().SequenceEqual(p.Second)))
            throw new ArgumentException("The weights are not of the lift's architecture.", nameof(weights));
        int m = Input.Depth;
        var output = new WeightSpaceBatch(Output, weights.Batch, Channels);
        var reference = new float[m + 1][];
        for (int n = 0; n < weights.Batch; n++)
        {
            // r(ℓ, i) for every hidden neuron, [width × |r|].
            for (int l = 1; l < m; l++)
            {
                int width = Input.Layers[l].Width, size = _referenceSize[l];
                var r = reference[l] = new float[width * size];
                var d = Input.Declarations[l - 1];
                for (int i = 0; i < width; i++)
                {
                    int k = i * size;
                    if (d.Bias) r[k++] = weights.Tensors[_biasTensor[l]].Data[n * width + i];
                    if (l == 1)
                    {
                        var w = weights.Tensors[_weightTensor[l]].Data;
                        for (int j = 0; j < d.In; j++) r[k++] = w[(n * width + i) * d.In + j];
                    }
                    if (l + 1 == m)
                    {
                        var w = weights.Tensors[_weightTensor[l + 1]].Data;
                        int outs = Input.Declarations[l].Out;
                        for (int o = 0; o < outs; o++) r[k++] = w[(n * outs + o) * width + i];
                    }
                }
            }
            for (int t = 0; t < Input.Tensors.Count; t++)
            {
                var wt = Input.Tensors[t];
                var x = weights.Tensors[t].Data;
                var y = output.Tensors[t].Data;
                var hidden = _signedAxes[t];
                var idx = new int[wt.Axes.Length];
                for (int e = 0; e < wt.Size; e++)
                {
                    RowMajor.Unravel(e, wt.Shape, idx);
                    float v = x[n * wt.Size + e];
                    var dst = y.AsSpan((n * wt.Size + e) * Channels, Channels);
                    // x · r(axis 1) ⊗ r(axis 2) ⊗ …, channels in row-major order over the hidden axes' reference entries.
                    int count = 1;
                    dst[0] = v;
                    foreach (int a in hidden)
                    {
                        int layer = wt.Axes[a].Layer, size = _referenceSize[layer];
                        var r = reference[layer].AsSpan(idx[a] * size, size);
                        for (int c = count - 1; c >= 0; c--)
                            for (int q = size - 1; q >= 0; q--) dst[c * size + q] = dst[c] * r[q];
                        count *= size;
                    }
                }
            }
        }
        return output;
    }
}
