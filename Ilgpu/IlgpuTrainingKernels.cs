using System;
using ILGPU;
using ILGPU.Runtime;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// The arguments of the equivariant-normalization kernels (<see cref="IlgpuTrainingKernels"/>): a batch in the flat layout
/// (tensors back to back, each <c>[batch, entries, channels]</c>), the per-(network, tensor, channel) statistics and the
/// per-network partial parameter gradients.
/// </summary>
public struct IlgpuNormArgs
{
    public int Batch, Channels, Tensors, Relu;
    /// <summary>Σ of the entries of the tensors before t, t = 0..Tensors (Tensors + 1 values).</summary>
    public ArrayView<int> Prefix;
    public ArrayView<float> X, Y, G, Gx, W, B, Gw, Gb, Mean, InvStd, A, K;
    public ArrayView<double> PartW, PartB;
}

/// <summary>The arguments of the invariant-pooling kernels (tables from <see cref="IlgpuPooling"/>).</summary>
public struct IlgpuPoolArgs
{
    public int Batch, Channels, Tensors, Mean, Max, FeatureCount, MaxFeatureCount, Groups;
    /// <summary>Per tensor (Tensors + 1 values): Σ entries before it.</summary>
    public ArrayView<int> Prefix;
    /// <summary>Per tensor: fixed size, first feature (mean, or max when there is no mean), first max feature within a row, first argmax slot.</summary>
    public ArrayView<int> FixedSize, FeatureOffset, MaxOffset, MaxBase;
    /// <summary>Per group (tensor, fixed index): its tensor, fixed index, and its entries (ascending) in <see cref="Entries"/>[Start..Start+Count].</summary>
    public ArrayView<int> GroupTensor, GroupFixed, GroupStart, GroupCount, Entries;
    /// <summary>Per entry of a tensor (tensor-local index + Prefix): its fixed index.</summary>
    public ArrayView<int> FixedIndex;
    public ArrayView<float> X, Y, G, Gx;
    public ArrayView<int> Argmax;
}

/// <summary>The arguments of the dense (head) kernels: y = x·Wᵀ + b on <c>[rows, in]</c> → <c>[rows, out]</c>.</summary>
public struct IlgpuDenseArgs
{
    public int Rows, In, Out, HasBias;
    public ArrayView<float> X, W, B, Y, Gy, Gx, Gw, Gb;
}

/// <summary>The arguments of the softmax cross-entropy kernels.</summary>
public struct IlgpuLossArgs
{
    public int Batch, Classes;
    public double Smoothing;
    public ArrayView<float> Logits, Grad, Loss;
    public ArrayView<int> Labels;
    public ArrayView<double> RowLoss;
}

/// <summary>The arguments of the AdamW kernel (scalars computed on the host per step, as the CPU <c>Adam</c> does).</summary>
public struct IlgpuAdamArgs
{
    public int Count, AmsGrad, LowWeight;
    public float Shrink, NegStepSize, Bc2Sqrt, Weight, OneMinusWeight, Beta2, OneMinusBeta2, Epsilon;
    public ArrayView<float> P, G, M, V, VMax;
    public ArrayView<int> Decays;
}

/// <summary>The arguments of the gradient-norm clipping kernels.</summary>
public struct IlgpuClipArgs
{
    public int Count, Chunk, Chunks;
    public float MaxNorm;
    public ArrayView<float> G, Scale;
    public ArrayView<double> Partial;
}

/// <summary>
/// The training kernels of the ILGPU device-resident trainer (<see cref="IlgpuStepExecutor"/>), beside the CPU modules
/// they implement: ReLU, <c>EquivariantNorm</c>, <c>InvariantPooling</c>, <c>Linear</c>, <c>SoftmaxCrossEntropy</c>,
/// global-norm clipping and AdamW. One thread per value written; every sum is taken by one thread in a fixed order (no
/// atomics), so the results are bitwise repeatable. Where the CPU module fixes an order (the normalization's double sums,
/// its blocks of 8 in the backward, pooling in entry order, the loss in row order) the kernel uses the same order.
/// </summary>
public static class IlgpuTrainingKernels
{
    // ------------------------------------------------------------------ ReLU (elementwise, may run in place)

    /// <summary>y = x ≤ 0 ? 0 : x.</summary>
    public static void ReluForward(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        y[i] = v <= 0f ? 0f : v;
    }

    /// <summary>gx = y ≤ 0 ? 0 : g, with y the ReLU's output (≤ 0 exactly where its input was); in place when gx = g.</summary>
    public static void ReluBackward(Index1D i, ArrayView<float> y, ArrayView<float> g, ArrayView<float> gx)
    {
        gx[i] = y[i] <= 0f ? 0f : g[i];
    }

    // ------------------------------------------------------------------ EquivariantNorm

    /// <summary>The statistic slot (network, tensor, channel) of flat value <paramref name="flat"/>.</summary>
    private static int NormSite(int flat, IlgpuNormArgs a)
    {
        int t = 0;
        while (t + 1 < a.Tensors && flat >= a.Batch * a.Channels * a.Prefix[t + 1]) t++;
        int local = flat - a.Batch * a.Channels * a.Prefix[t];
        int ch = local % a.Channels;
        int size = a.Prefix[t + 1] - a.Prefix[t];
        int n = local / a.Channels / size;
        return (n * a.Tensors + t) * a.Channels + ch;
    }

    /// <summary>One thread per (network, tensor, channel): Σx and Σx² in double over the entries in order; mean and 1/std.</summary>
    public static void NormStatistics(Index1D i, IlgpuNormArgs a)
    {
        int c = a.Channels;
        int ch = i % c, r = i / c, t = r % a.Tensors, n = r / a.Tensors;
        int count = a.Prefix[t + 1] - a.Prefix[t];
        long basis = (long)a.Batch * c * a.Prefix[t] + (long)n * count * c + ch;
        double sum = 0, sq = 0;
        for (int e = 0; e < count; e++)
        {
            double v = a.X[basis + (long)e * c];
            sum += v; sq += v * v;
        }
        double m = sum / count;
        double var = Math.Max(0, sq / count - m * m);
        a.InvStd[i] = (float)(1.0 / Math.Sqrt(var + 1e-5f));
        a.Mean[i] = (float)m;
    }

    /// <summary>One thread per value: y = (x − mean)·invStd·w + b, ReLU'd when asked.</summary>
    public static void NormForward(Index1D i, IlgpuNormArgs a)
    {
        int s = NormSite(i, a);
        int p = s % (a.Tensors * a.Channels);
        float z = (a.X[i] - a.Mean[s]) * a.InvStd[s] * a.W[p] + a.B[p];
        a.Y[i] = a.Relu != 0 && z <= 0f ? 0f : z;
    }

    /// <summary>
    /// One thread per (network, tensor, channel): Σĝ·x̂ and Σĝ in blocks of 8 entries (float within a block, double across
    /// blocks, as the CPU module); the per-network partial parameter gradients and the input-gradient scalars a and k.
    /// </summary>
    public static void NormGradientSums(Index1D i, IlgpuNormArgs a)
    {
        int c = a.Channels;
        int ch = i % c, r = i / c, t = r % a.Tensors, n = r / a.Tensors;
        int count = a.Prefix[t + 1] - a.Prefix[t];
        long basis = (long)a.Batch * c * a.Prefix[t] + (long)n * count * c + ch;
        int p = t * c + ch;
        float m = a.Mean[i], s = a.InvStd[i], w = a.W[p], b = a.B[p];
        double pw = 0, pb = 0;
        for (int e0 = 0; e0 < count; e0 += 8)
        {
            int e1 = Math.Min(count, e0 + 8);
            float fp = 0f, fb = 0f;
            for (int e = e0; e < e1; e++)
            {
                long j = basis + (long)e * c;
                float h = (a.X[j] - m) * s;
                float gy = a.G[j];
                if (a.Relu != 0 && h * w + b <= 0f) gy = 0f;
                fp += gy * h; fb += gy;
            }
            pw += fp; pb += fb;
        }
        a.PartW[i] = pw; a.PartB[i] = pb;
        a.A[i] = (float)(w * pb / count);
        a.K[i] = (float)(w * pw / count);
    }

    /// <summary>One thread per value: gx = ((ĝ·w − a) − x̂·k)·invStd (may run in place: gx = g).</summary>
    public static void NormInputGradient(Index1D i, IlgpuNormArgs a)
    {
        int s = NormSite(i, a);
        int p = s % (a.Tensors * a.Channels);
        float inv = a.InvStd[s], w = a.W[p];
        float h = (a.X[i] - a.Mean[s]) * inv;
        float gy = a.G[i];
        if (a.Relu != 0 && h * w + a.B[p] <= 0f) gy = 0f;
        a.Gx[i] = ((gy * w - a.A[s]) - h * a.K[s]) * inv;
    }

    /// <summary>One thread per parameter (tensor, channel): the networks' partial gradients added in network order into gw and gb.</summary>
    public static void NormParameterGradient(Index1D j, IlgpuNormArgs a)
    {
        int tc = a.Tensors * a.Channels;
        float gw = a.Gw[j], gb = a.Gb[j];
        for (int n = 0; n < a.Batch; n++)
        {
            gw += (float)a.PartW[n * tc + j];
            gb += (float)a.PartB[n * tc + j];
        }
        a.Gw[j] = gw; a.Gb[j] = gb;
    }

    // ------------------------------------------------------------------ InvariantPooling

    /// <summary>
    /// One thread per (network, group = tensor and fixed index, channel): the mean over the group's entries in entry order,
    /// and the maximum (the first entry holding it wins; NaN and −∞ as the CPU rule) with its entry.
    /// </summary>
    public static void PoolForward(Index1D i, IlgpuPoolArgs a)
    {
        int c = a.Channels;
        int ch = i % c, r = i / c, g = r % a.Groups, n = r / a.Groups;
        int t = a.GroupTensor[g], f = a.GroupFixed[g];
        int size = a.Prefix[t + 1] - a.Prefix[t];
        int fixedSize = a.FixedSize[t];
        long basis = (long)a.Batch * c * a.Prefix[t] + (long)n * size * c + ch;
        int start = a.GroupStart[g], count = a.GroupCount[g];
        long row = (long)n * a.FeatureCount;
        if (a.Mean != 0)
        {
            float sum = 0f;
            for (int k = 0; k < count; k++) sum += a.X[basis + (long)a.Entries[start + k] * c];
            float scale = (float)fixedSize / size;
            a.Y[row + a.FeatureOffset[t] + f * c + ch] = sum * scale;
        }
        if (a.Max != 0)
        {
            float max = float.NegativeInfinity;
            int arg = -1;
            for (int k = 0; k < count; k++)
            {
                int e = a.Entries[start + k];
                float v = a.X[basis + (long)e * c];
                if (v > max || arg < 0) { max = v; arg = e; }
            }
            a.Y[row + a.MaxOffset[t] + f * c + ch] = max;
            a.Argmax[(long)n * a.MaxFeatureCount + a.MaxBase[t] + f * c + ch] = arg;
        }
    }

    /// <summary>One thread per input value: the mean's share of its feature's gradient, plus the max's when this entry was the argmax.</summary>
    public static void PoolBackward(Index1D i, IlgpuPoolArgs a)
    {
        int c = a.Channels;
        int t = 0;
        while (t + 1 < a.Tensors && i >= a.Batch * c * a.Prefix[t + 1]) t++;
        int local = i - a.Batch * c * a.Prefix[t];
        int ch = local % c, ne = local / c;
        int size = a.Prefix[t + 1] - a.Prefix[t];
        int n = ne / size, e = ne % size;
        int f = a.FixedIndex[a.Prefix[t] + e];
        long row = (long)n * a.FeatureCount;
        float gx = 0f;
        if (a.Mean != 0)
        {
            float scale = (float)a.FixedSize[t] / size;
            gx = a.G[row + a.FeatureOffset[t] + f * c + ch] * scale;
        }
        if (a.Max != 0 && a.Argmax[(long)n * a.MaxFeatureCount + a.MaxBase[t] + f * c + ch] == e)
            gx += a.G[row + a.MaxOffset[t] + f * c + ch];
        a.Gx[i] = gx;
    }

    // ------------------------------------------------------------------ Linear (head)

    /// <summary>One thread per output value: y[r, o] = Σ_i x[r, i]·w[o, i] (i in order) + b[o].</summary>
    public static void DenseForward(Index1D idx, IlgpuDenseArgs a)
    {
        int r = idx / a.Out, o = idx % a.Out;
        float d = 0f;
        for (int k = 0; k < a.In; k++) d += a.X[r * a.In + k] * a.W[o * a.In + k];
        if (a.HasBias != 0) d += a.B[o];
        a.Y[idx] = d;
    }

    /// <summary>One thread per input value: gx[r, i] = Σ_o gy[r, o]·w[o, i] (o in order).</summary>
    public static void DenseBackwardInput(Index1D idx, IlgpuDenseArgs a)
    {
        int r = idx / a.In, k = idx % a.In;
        float d = 0f;
        for (int o = 0; o < a.Out; o++) d += a.Gy[r * a.Out + o] * a.W[o * a.In + k];
        a.Gx[idx] = d;
    }

    /// <summary>One thread per weight: gw[o, i] += Σ_r gy[r, o]·x[r, i] (rows in order); the thread i = 0 of each o also adds Σ_r gy[r, o] to gb[o].</summary>
    public static void DenseBackwardWeight(Index1D idx, IlgpuDenseArgs a)
    {
        int o = idx / a.In, k = idx % a.In;
        float acc = a.Gw[idx];
        for (int r = 0; r < a.Rows; r++) acc += a.Gy[r * a.Out + o] * a.X[r * a.In + k];
        a.Gw[idx] = acc;
        if (k == 0 && a.HasBias != 0)
        {
            float sum = 0f;
            for (int r = 0; r < a.Rows; r++) sum += a.Gy[r * a.Out + o];
            a.Gb[o] += sum;
        }
    }

    // ------------------------------------------------------------------ softmax cross-entropy

    /// <summary>One thread per row: log-sum-exp around the row maximum in double, the row's loss and the logits' gradient (÷ batch).</summary>
    public static void CrossEntropyRows(Index1D b, IlgpuLossArgs a)
    {
        int classes = a.Classes, o = b * classes, label = a.Labels[b];
        double eps = a.Smoothing, offTarget = eps / classes, onTarget = 1.0 - eps + offTarget, invBatch = 1.0 / a.Batch;
        double max = double.NegativeInfinity;
        for (int c = 0; c < classes; c++) max = Math.Max(max, a.Logits[o + c]);
        double sumExp = 0, sumZ = 0;
        for (int c = 0; c < classes; c++) { sumExp += Math.Exp(a.Logits[o + c] - max); sumZ += a.Logits[o + c]; }
        double logZ = max + Math.Log(sumExp);
        a.RowLoss[b] = logZ - (1.0 - eps) * a.Logits[o + label] - offTarget * sumZ;
        for (int c = 0; c < classes; c++)
        {
            double p = Math.Exp(a.Logits[o + c] - logZ);
            double target = c == label ? onTarget : offTarget;
            a.Grad[o + c] = (float)((p - target) * invBatch);
        }
    }

    /// <summary>One thread: the rows' losses added in row order, ÷ batch.</summary>
    public static void CrossEntropyTotal(Index1D i, IlgpuLossArgs a)
    {
        double total = 0;
        for (int b = 0; b < a.Batch; b++) total += a.RowLoss[b];
        a.Loss[0] = (float)(total * (1.0 / a.Batch));
    }

    // ------------------------------------------------------------------ clipping and AdamW

    /// <summary>One thread per chunk of gradients: Σg² in double, in order.</summary>
    public static void ClipPartial(Index1D k, IlgpuClipArgs a)
    {
        int start = k * a.Chunk, end = Math.Min(a.Count, start + a.Chunk);
        double s = 0;
        for (int j = start; j < end; j++) { double v = a.G[j]; s += v * v; }
        a.Partial[k] = s;
    }

    /// <summary>One thread: the chunks' sums in order; the scale min(1, maxNorm / (norm + 1e-6)) (NaN spreads, as the CPU rule).</summary>
    public static void ClipScale(Index1D i, IlgpuClipArgs a)
    {
        double s = 0;
        for (int k = 0; k < a.Chunks; k++) s += a.Partial[k];
        double norm = Math.Sqrt(s);
        double coef = a.MaxNorm / (norm + 1e-6);
        a.Scale[0] = coef >= 1 ? 1f : (float)coef;
        a.Scale[1] = (float)norm;
    }

    /// <summary>One thread per gradient: g *= scale.</summary>
    public static void ClipApply(Index1D j, IlgpuClipArgs a)
    {
        float s = a.Scale[0];
        if (!(s == 1f)) a.G[j] *= s;
    }

    /// <summary>One thread per parameter element: the CPU <c>Adam.Update</c> rule (decoupled decay where <c>Decays</c>).</summary>
    public static void AdamW(Index1D j, IlgpuAdamArgs a)
    {
        float pj = a.P[j];
        if (a.Decays[j] != 0 && a.Shrink != 1f) pj *= a.Shrink;
        float gj = a.G[j];
        float mOld = a.M[j];
        float mj = a.LowWeight != 0 ? mOld + a.Weight * (gj - mOld) : gj - (gj - mOld) * a.OneMinusWeight;
        a.M[j] = mj;
        float vj = a.V[j] * a.Beta2 + a.OneMinusBeta2 * gj * gj;
        a.V[j] = vj;
        if (a.AmsGrad != 0)
        {
            vj = Math.Max(a.VMax[j], vj);
            a.VMax[j] = vj;
        }
        float denom = MathF.Sqrt(vj) / a.Bc2Sqrt + a.Epsilon;
        a.P[j] = pj + a.NegStepSize * mj / denom;
    }
}
