using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.IO;
using System.Collections.Generic;

namespace LayerCompiler.Gpu;

/// <summary>
/// The CUDA C of everything a training step needs besides the generated equivariant layers: activations, EquivariantNorm,
/// invariant pooling, the dense head (a tiled GEMM and the bias gradient), softmax cross-entropy, the gradient norm for
/// clipping and the Adam/AdamW update. One self-contained source (no headers), compiled once per device by NVRTC with
/// <see cref="CompileOptions"/> (<c>--fmad=false</c>: every float and double operation is rounded on its own, as the CPU
/// runtime rounds it, so the kernels that mirror a CPU module operation by operation give the same bits).
/// <para>Every kernel runs blocks of <see cref="BlockSize"/> threads on a one-dimensional grid; element-wise kernels loop
/// with a grid stride, so any grid size is correct. Deterministic: no atomics; every reduction has a fixed order that
/// depends only on the sizes. Signatures, layouts and the CPU code each kernel mirrors are documented in the source.</para>
/// </summary>
public static class CudaTrainingKernels
{
    /// <summary>Threads per block of every kernel.</summary>
    public const int BlockSize = 256;

    /// <summary>Rows and columns of the GEMM kernel's output tile (one tile per block).</summary>
    public const int GemmTile = 16;

    /// <summary>NVRTC options the source is compiled with.</summary>
    public static IReadOnlyList<string> CompileOptions { get; } = new[] { "--fmad=false" };

    public const string Zero = "lct_zero";
    public const string ActivationForward = "lct_act_fwd";
    public const string ActivationBackward = "lct_act_bwd";
    public const string NormForward = "lct_norm_fwd";
    public const string NormBackward = "lct_norm_bwd";
    public const string NormParameterGradient = "lct_norm_param_grad";
    public const string PoolForward = "lct_pool_fwd";
    public const string PoolBackward = "lct_pool_bwd";
    public const string Gemm = "lct_gemm";
    public const string BiasGradient = "lct_bias_grad";
    public const string SoftmaxCrossEntropy = "lct_softmax_xent";
    public const string SumOfSquares = "lct_sumsq";
    public const string ClipCoefficient = "lct_clip_coef";
    public const string Adam = "lct_adam";

    /// <summary>Every kernel of <see cref="Source"/>.</summary>
    public static IReadOnlyList<string> KernelNames { get; } = new[]
    {
        Zero, ActivationForward, ActivationBackward, NormForward, NormBackward, NormParameterGradient, PoolForward, PoolBackward,
        Gemm, BiasGradient, SoftmaxCrossEntropy, SumOfSquares, ClipCoefficient, Adam,
    };

    /// <summary>Activation codes of <c>lct_act_fwd</c>/<c>lct_act_bwd</c>.</summary>
    public const int ReluCode = 0, GeluCode = 1;

    /// <summary>Pooling modes of <c>lct_pool_fwd</c>/<c>lct_pool_bwd</c>: mean, max, mean and max (features in that order).</summary>
    public const int PoolMeanCode = 0, PoolMaxCode = 1, PoolMeanAndMaxCode = 2;

    /// <summary>The <c>lct_pool_fwd</c>/<c>lct_pool_bwd</c> mode of a head pooling.</summary>
    public static int PoolingCode(HeadPooling pooling) => pooling switch
    {
        HeadPooling.Mean => PoolMeanCode,
        HeadPooling.Max => PoolMaxCode,
        HeadPooling.MeanAndMax => PoolMeanAndMaxCode,
        _ => throw new System.NotSupportedException($"The device pools by the mean, the maximum or both; pooling {pooling} has no kernel."),
    };

    /// <summary>Most blocks an element-wise kernel is launched with (it loops with a grid stride beyond).</summary>
    public const int MaxElementwiseBlocks = 1 << 20;

    /// <summary>Most blocks of <c>lct_sumsq</c> (the number of partial sums <c>lct_clip_coef</c> adds in order).</summary>
    public const int MaxSumBlocks = 1024;

    /// <summary>Blocks of an element-wise kernel over <paramref name="n"/> elements.</summary>
    public static int ElementwiseBlocks(long n) => (int)System.Math.Clamp((n + BlockSize - 1) / BlockSize, 1, MaxElementwiseBlocks);

    /// <summary>Blocks (= partial sums) of <c>lct_sumsq</c> over <paramref name="n"/> elements: depends only on n, so the sum order is fixed.</summary>
    public static int SumBlocks(long n) => (int)System.Math.Clamp((n + BlockSize * 8L - 1) / (BlockSize * 8L), 1, MaxSumBlocks);

    /// <summary>Blocks of <c>lct_gemm</c> for an M × N output.</summary>
    public static int GemmBlocks(int m, int n) => ((m + GemmTile - 1) / GemmTile) * ((n + GemmTile - 1) / GemmTile);

    public const string Source = """
// LayerCompiler runtime: training kernels (activation, EquivariantNorm, invariant pooling, dense head, softmax
// cross-entropy, gradient clipping, Adam/AdamW). Self-contained: no headers. Blocks of 256 threads, 1-D grids.
// Compiled with --fmad=false: no contraction into FMAs, so each operation rounds as on the CPU runtime.
// Deterministic: no atomics; every reduction has a fixed order that depends only on the sizes.
#define LCT_THREADS 256
#define LCT_LOOP(i, n) for (long long i = (long long)blockIdx.x * LCT_THREADS + threadIdx.x; i < (long long)(n); \
    i += (long long)gridDim.x * LCT_THREADS)

// p[0, n) = 0.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_zero(int n, float* p)
{
    LCT_LOOP(i, n) p[i] = 0.0f;
}

// y = act(x) element-wise; kind 0 = ReLU (x <= 0 ? 0 : x, NaN stays NaN), 1 = exact GELU x·Φ(x) in double
// (Runtime/Nn/Activations.cs). y may be x.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_act_fwd(int n, int kind, const float* x, float* y)
{
    LCT_LOOP(i, n)
    {
        const float v = x[i];
        if (kind == 0) y[i] = v <= 0.0f ? 0.0f : v;
        else
        {
            const double d = (double)v;
            y[i] = (float)(0.5 * d * (1.0 + erf(d * 0.7071067811865476)));
        }
    }
}

// gx = g · act'(x), x the forward INPUT; ReLU: x <= 0 ? 0 : g; GELU: g · (Φ(x) + x φ(x)) in double. gx may be g.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_act_bwd(int n, int kind, const float* x, const float* g, float* gx)
{
    LCT_LOOP(i, n)
    {
        const float v = x[i];
        if (kind == 0) gx[i] = v <= 0.0f ? 0.0f : g[i];
        else
        {
            const double d = (double)v;
            const double der = 0.5 * (1.0 + erf(d * 0.7071067811865476)) + d * 0.3989422804014327 * exp(-0.5 * d * d);
            gx[i] = (float)((double)g[i] * der);
        }
    }
}

// EquivariantNorm forward (Runtime/Models/EquivariantNorm.cs). A batch buffer holds the tensors back to back, tensor t
// as [batch, entries_t, C]; meta = [entries_0 .. entries_{T-1}, first entry of each tensor (prefix sums)].
// One block per (network n, tensor t) = blockIdx.x = n·T + t. Per channel: mean and variance over the entries in
// double (each thread sums a strided share, the shares are added in lane order), invStd = (float)(1/√(var + 1e-5f));
// xhat = (x − (float)mean)·invStd, y = xhat·w[t, c] + b[t, c], then y ≤ 0 → 0 when relu is set (the ReLU fused into the
// normalization, as EquivariantNorm.Forward(x, relu: true)); invstd[(n·T + t)·C + c] kept for the backward pass.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_norm_fwd(int batch, int tensors, int C, const int* meta,
    const float* x, const float* w, const float* b, int relu, float* xhat, float* y, float* invstd)
{
    __shared__ double s1[LCT_THREADS], s2[LCT_THREADS];
    __shared__ float smean[LCT_THREADS], sinv[LCT_THREADS];
    const int n = blockIdx.x / tensors, t = blockIdx.x % tensors;
    const int size = meta[t];
    const long long base = (long long)batch * C * meta[tensors + t] + (long long)n * size * C;
    const int tid = threadIdx.x;
    for (int c0 = 0; c0 < C; c0 += LCT_THREADS)
    {
        const int cc = C - c0 < LCT_THREADS ? C - c0 : LCT_THREADS;
        const int lanes = LCT_THREADS / cc;
        const int c = tid % cc, k = tid / cc;
        const bool active = k < lanes;
        double a = 0.0, q = 0.0;
        if (active)
            for (int e = k; e < size; e += lanes)
            {
                const double v = (double)x[base + (long long)e * C + c0 + c];
                a += v;
                q += v * v;
            }
        s1[tid] = a;
        s2[tid] = q;
        __syncthreads();
        if (k == 0)
        {
            double sum = 0.0, sq = 0.0;
            for (int l = 0; l < lanes; ++l) { sum += s1[l * cc + c]; sq += s2[l * cc + c]; }
            const double mean = sum / size;
            double var = sq / size - mean * mean;
            if (var < 0.0) var = 0.0;
            const float inv = (float)(1.0 / sqrt(var + (double)1e-5f));
            smean[c] = (float)mean;
            sinv[c] = inv;
            invstd[((long long)n * tensors + t) * C + c0 + c] = inv;
        }
        __syncthreads();
        if (active)
        {
            const float mean = smean[c], inv = sinv[c];
            const float wt = w[t * C + c0 + c], bt = b[t * C + c0 + c];
            for (int e = k; e < size; e += lanes)
            {
                const long long i = base + (long long)e * C + c0 + c;
                const float h = (x[i] - mean) * inv;
                xhat[i] = h;
                const float z = h * wt + bt;
                y[i] = relu && z <= 0.0f ? 0.0f : z;
            }
        }
        __syncthreads();
    }
}

// EquivariantNorm backward: gx = invStd·(gh − Σgh/count − xhat·Σ(gh·xhat)/count) with gh = gy·w (double sums), and per
// network the parameter-gradient partials partW[(n·T + t)·C + c] = (float)Σ gy·xhat, partB = (float)Σ gy (double sums),
// which lct_norm_param_grad adds over networks in order. Grid and layout as lct_norm_fwd. With relu set, gy is first
// zeroed where the forward's output y is ≤ 0 (the fused ReLU's backward). gx may be gy (each element is read before its
// own thread writes it, after every sum is complete).
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_norm_bwd(int batch, int tensors, int C, const int* meta,
    const float* xhat, const float* w, const float* invstd, int relu, const float* y, const float* gy, float* gx, float* partW, float* partB)
{
    __shared__ double s1[LCT_THREADS], s2[LCT_THREADS], s3[LCT_THREADS], s4[LCT_THREADS];
    __shared__ double ssg[LCT_THREADS], ssgh[LCT_THREADS];
    const int n = blockIdx.x / tensors, t = blockIdx.x % tensors;
    const int size = meta[t];
    const long long base = (long long)batch * C * meta[tensors + t] + (long long)n * size * C;
    const int tid = threadIdx.x;
    for (int c0 = 0; c0 < C; c0 += LCT_THREADS)
    {
        const int cc = C - c0 < LCT_THREADS ? C - c0 : LCT_THREADS;
        const int lanes = LCT_THREADS / cc;
        const int c = tid % cc, k = tid / cc;
        const bool active = k < lanes;
        const float wt = w[t * C + c0 + c];
        double sg = 0.0, sgh = 0.0, pw = 0.0, pb = 0.0;
        if (active)
            for (int e = k; e < size; e += lanes)
            {
                const long long i = base + (long long)e * C + c0 + c;
                const float gv = relu && y[i] <= 0.0f ? 0.0f : gy[i], h = xhat[i];
                const double gh = (double)(gv * wt);
                sg += gh;
                sgh += gh * (double)h;
                pw += (double)(gv * h);
                pb += (double)gv;
            }
        s1[tid] = sg; s2[tid] = sgh; s3[tid] = pw; s4[tid] = pb;
        __syncthreads();
        if (k == 0)
        {
            double a = 0.0, bq = 0.0, cw = 0.0, cb = 0.0;
            for (int l = 0; l < lanes; ++l)
            {
                const int j = l * cc + c;
                a += s1[j]; bq += s2[j]; cw += s3[j]; cb += s4[j];
            }
            ssg[c] = a;
            ssgh[c] = bq;
            const long long o = ((long long)n * tensors + t) * C + c0 + c;
            partW[o] = (float)cw;
            partB[o] = (float)cb;
        }
        __syncthreads();
        if (active)
        {
            const double inv = (double)invstd[((long long)n * tensors + t) * C + c0 + c];
            const double msg = ssg[c], msgh = ssgh[c];
            for (int e = k; e < size; e += lanes)
            {
                const long long i = base + (long long)e * C + c0 + c;
                const float gv = relu && y[i] <= 0.0f ? 0.0f : gy[i];
                const double gh = (double)(gv * wt);
                gx[i] = (float)(inv * (gh - msg / size - (double)xhat[i] * msgh / size));
            }
        }
        __syncthreads();
    }
}

// gw[j] += partW[0, j] + partW[1, j] + ... (float, networks in order; likewise gb), j < tc = T·C.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_norm_param_grad(int batch, int tc, const float* partW, const float* partB,
    float* gw, float* gb)
{
    LCT_LOOP(j, tc)
    {
        float aw = gw[j], ab = gb[j];
        for (int n = 0; n < batch; ++n)
        {
            aw += partW[(long long)n * tc + j];
            ab += partB[(long long)n * tc + j];
        }
        gw[j] = aw;
        gb[j] = ab;
    }
}

// Invariant pooling forward (Runtime/Models/InvariantPooling.cs). mode 0 = mean, 1 = max, 2 = mean and max. Each tensor's
// features are [mean block][max block] (the blocks present), each block (fixed index, channel), fixed·C wide.
// Mean: (Σ over the tensor's entries with that fixed index, in entry order, of x) · (fixed / entries). Max: the first of
// those entries (in entry order) seeds the maximum, a later one replaces it only when strictly greater; as the CPU rule
// `v > max || no entry yet`, ties and NaN keep the earlier entry (a leading NaN stays). argmax[n·F + max feature] = that
// entry's index in its tensor, for lct_pool_bwd; argmax is not touched (may be null) in mode 0. meta = per tensor 4 ints
// [first entry, entries, fixed size, first feature]; groupTab = per (tensor, fixed index) group 3 ints [tensor, fixed
// index, start in the entry list]; entries = the entries of each group, ascending. One thread per (n, group, channel).
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_pool_fwd(int batch, int C, int F, int groups, int mode, const int* meta,
    const int* groupTab, const int* entries, const float* x, float* y, int* argmax)
{
    const long long total = (long long)batch * groups * C;
    LCT_LOOP(i, total)
    {
        const int ch = (int)(i % C);
        const long long r = i / C;
        const int g = (int)(r % groups), n = (int)(r / groups);
        const int t = groupTab[3 * g], fi = groupTab[3 * g + 1], list = groupTab[3 * g + 2];
        const int start = meta[4 * t], size = meta[4 * t + 1], fixed = meta[4 * t + 2], feat = meta[4 * t + 3];
        const int count = size / fixed;
        const long long base = (long long)batch * C * start + (long long)n * size * C + ch;
        const long long o = (long long)n * F + feat + fi * C + ch;
        if (mode != 1)
        {
            float s = 0.0f;
            for (int k = 0; k < count; ++k) s += x[base + (long long)entries[list + k] * C];
            y[o] = s * ((float)fixed / (float)size);
        }
        if (mode != 0)
        {
            int arg = entries[list];
            float mx = x[base + (long long)arg * C];
            for (int k = 1; k < count; ++k)
            {
                const int e = entries[list + k];
                const float v = x[base + (long long)e * C];
                if (v > mx) { mx = v; arg = e; }
            }
            const long long om = o + (mode == 2 ? (long long)fixed * C : 0);
            y[om] = mx;
            argmax[om] = arg;
        }
    }
}

// Invariant pooling backward, one thread per element of the batch buffer (each writes only its own element: no atomics):
// gx[entry] = (mode != 1 ? gy[its mean feature] · (fixed / entries) : 0) + (entry is its max feature's argmax ? gy[that max
// feature] : nothing), added in this order as InvariantPooling.Backward (mean written, or cleared, then the max added).
// fixedIndex[first entry of t + e] = the fixed index of entry e of tensor t; mode and argmax as written by lct_pool_fwd.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_pool_bwd(int batch, int C, int F, int tensors, int mode, const int* meta,
    const int* fixedIndex, const int* argmax, const float* gy, float* gx)
{
    const long long total = (long long)batch * C * (meta[4 * (tensors - 1)] + meta[4 * (tensors - 1) + 1]);
    LCT_LOOP(i, total)
    {
        int t = 0;
        while (t + 1 < tensors && i >= (long long)batch * C * meta[4 * (t + 1)]) ++t;
        const int start = meta[4 * t], size = meta[4 * t + 1], fixed = meta[4 * t + 2], feat = meta[4 * t + 3];
        const long long local = i - (long long)batch * C * start;
        const long long per = (long long)size * C;
        const int n = (int)(local / per), rem = (int)(local % per);
        const int e = rem / C, ch = rem % C;
        const long long f = (long long)n * F + feat + fixedIndex[start + e] * C + ch;
        float v = 0.0f;
        if (mode != 1) v = gy[f] * ((float)fixed / (float)size);
        if (mode != 0)
        {
            const long long fm = f + (mode == 2 ? (long long)fixed * C : 0);
            if (argmax[fm] == e) v = v + gy[fm];
        }
        gx[i] = v;
    }
}

// Cm[M, N] = (accumulate ? Cm : 0) + (Σ_k A(m, k)·B(k, n) + bias[n]), summed in k order in float.
// A(m, k) = transA ? A[k·M + m] : A[m·K + k];  B(k, n) = transB ? B[n·K + k] : B[k·N + n];  bias may be null.
// One 16 × 16 output tile per block (blockIdx.x = tileRow · ⌈N/16⌉ + tileCol), k staged in shared memory 16 at a time.
// Linear forward: Y = X·Wᵀ + b (transB); input gradient: dX = dY·W; weight gradient: dW += dYᵀ·X (transA, accumulate).
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_gemm(int M, int N, int K, const float* A, int transA,
    const float* B, int transB, const float* bias, float* Cm, int accumulate)
{
    __shared__ float As[16][17], Bs[16][17];
    const int tilesN = (N + 15) / 16;
    const int m0 = (blockIdx.x / tilesN) * 16, n0 = (blockIdx.x % tilesN) * 16;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += 16)
    {
        // Consecutive threads read consecutive addresses in either layout.
        if (transA) { const int am = m0 + tx, ak = k0 + ty; As[tx][ty] = am < M && ak < K ? A[(long long)ak * M + am] : 0.0f; }
        else { const int am = m0 + ty, ak = k0 + tx; As[ty][tx] = am < M && ak < K ? A[(long long)am * K + ak] : 0.0f; }
        if (transB) { const int bk = k0 + tx, bn = n0 + ty; Bs[tx][ty] = bk < K && bn < N ? B[(long long)bn * K + bk] : 0.0f; }
        else { const int bk = k0 + ty, bn = n0 + tx; Bs[ty][tx] = bk < K && bn < N ? B[(long long)bk * N + bn] : 0.0f; }
        __syncthreads();
        const int kn = K - k0 < 16 ? K - k0 : 16;
        for (int kk = 0; kk < kn; ++kk) acc += As[ty][kk] * Bs[kk][tx];
        __syncthreads();
    }
    const int m = m0 + ty, n = n0 + tx;
    if (m < M && n < N)
    {
        const long long o = (long long)m * N + n;
        float v = acc;
        if (bias != nullptr) v += bias[n];
        Cm[o] = accumulate ? Cm[o] + v : v;
    }
}

// db[o] += dy[0, o] + dy[1, o] + ... (rows in order, float; DenseKernels.BiasBackward).
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_bias_grad(int rows, int cols, const float* dy, float* db)
{
    LCT_LOOP(o, cols)
    {
        float s = dy[o];
        for (int r = 1; r < rows; ++r) s += dy[(long long)r * cols + o];
        db[o] += s;
    }
}

// Softmax cross-entropy with label smoothing, mean over the batch (Runtime/Losses/SoftmaxCrossEntropy.cs), in double
// around the row maximum; grad = (softmax − target)/batch. One block: rows strided over the threads, then thread 0 adds
// the row losses in row order: result[0] = mean loss, result[1] = rows whose first arg-max equals the label
// (Metrics.ArgMax: NaN never wins over a number). rowLoss: batch doubles of scratch.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_softmax_xent(int batch, int classes, double smoothing,
    const float* z, const int* labels, float* grad, double* rowLoss, double* result)
{
    __shared__ int correct[LCT_THREADS];
    const double off = smoothing / classes, on = 1.0 - smoothing + off, invBatch = 1.0 / batch;
    int mine = 0;
    for (int r = threadIdx.x; r < batch; r += LCT_THREADS)
    {
        const float* zr = z + (long long)r * classes;
        double mx = (double)zr[0];
        for (int c = 1; c < classes; ++c)
        {
            const double v = (double)zr[c];
            if (v > mx || v != v) mx = v;
        }
        double sumExp = 0.0, sumZ = 0.0;
        for (int c = 0; c < classes; ++c)
        {
            sumExp += exp((double)zr[c] - mx);
            sumZ += (double)zr[c];
        }
        const double logZ = mx + log(sumExp);
        const int label = labels[r];
        rowLoss[r] = logZ - (1.0 - smoothing) * (double)zr[label] - off * sumZ;
        for (int c = 0; c < classes; ++c)
        {
            const double p = exp((double)zr[c] - logZ);
            const double target = c == label ? on : off;
            grad[(long long)r * classes + c] = (float)((p - target) * invBatch);
        }
        int best = 0;
        for (int c = 1; c < classes; ++c)
            if (zr[c] > zr[best] || (zr[best] != zr[best] && zr[c] == zr[c])) best = c;
        if (best == label) ++mine;
    }
    correct[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0)
    {
        double total = 0.0;
        int right = 0;
        for (int r = 0; r < batch; ++r) total += rowLoss[r];
        for (int t = 0; t < LCT_THREADS; ++t) right += correct[t];
        result[0] = total * invBatch;
        result[1] = (double)right;
    }
}

// partial[blockIdx.x] = Σ g² (double) over this block's grid-stride share, threads combined by a fixed tree.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_sumsq(int n, const float* g, double* partial)
{
    __shared__ double s[LCT_THREADS];
    double a = 0.0;
    LCT_LOOP(i, n)
    {
        const double v = (double)g[i];
        a += v * v;
    }
    s[threadIdx.x] = a;
    __syncthreads();
    for (int h = LCT_THREADS / 2; h > 0; h >>= 1)
    {
        if ((int)threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// Gradient clipping (GradientClipping.ClipGradNorm): norm = √(Σ partials in order), coef = maxNorm/(norm + 1e-6);
// coef[0] = (float)coef when it is < 1 or NaN, else 1 (the Adam kernel multiplies every gradient by coef[0]). One thread.
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_clip_coef(int parts, const double* partial, float maxNorm,
    float* coef, double* norm)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double sum = 0.0;
    for (int p = 0; p < parts; ++p) sum += partial[p];
    const double nrm = sqrt(sum);
    const double c = (double)maxNorm / (nrm + 1e-6);
    coef[0] = c >= 1.0 ? 1.0f : (float)c;
    norm[0] = nrm;
}

// One Adam/AdamW step over the flat parameter vector, operation by operation as Runtime/Optim/Adam.cs:
//   p *= shrink (AdamW, decaying elements); g *= clip[0] (when clipping); g += l2·p (Adam with L2, decaying elements);
//   m = lerp(m, g, w); v = v·b2 + (1 − b2)·g·g; vmax = max(vmax, v) (AMSGrad, when vmax is not null; NaN wins);
//   p += negStep·m / (√v / bc2Sqrt + eps).
// decay[j] != 0 marks elements weight decay applies to. Skipped entirely when loss is given and (float)loss[0] is not
// finite (the host then reports the non-finite loss with the parameters and moments untouched, as the CPU trainer does).
extern "C" __global__ void __launch_bounds__(LCT_THREADS) lct_adam(int n, float* p, const float* g, float* m, float* v, float* vmax,
    const float* decay, const float* clip, const double* loss, float shrink, float l2, float negStep, float bc2Sqrt, float w,
    float oneMinusW, int lowWeight, float b2, float oneMinusB2, float eps)
{
    if (loss != nullptr)
    {
        const float lf = (float)loss[0];
        if (!(lf <= 3.4028234663852886e38f && lf >= -3.4028234663852886e38f)) return;
    }
    LCT_LOOP(j, n)
    {
        float pj = p[j];
        const bool decays = decay[j] != 0.0f;
        if (decays && shrink != 1.0f) pj = pj * shrink;
        float gj = g[j];
        if (clip != nullptr) gj = gj * clip[0];
        if (decays && l2 != 0.0f) gj = gj + l2 * pj;
        const float mo = m[j];
        const float mj = lowWeight ? mo + w * (gj - mo) : gj - (gj - mo) * oneMinusW;
        m[j] = mj;
        float vj = v[j] * b2 + oneMinusB2 * gj * gj;
        v[j] = vj;
        if (vmax != nullptr)
        {
            const float vm = vmax[j];
            vj = vm != vm ? vm : vj != vj ? vj : vm > vj ? vm : vj;
            vmax[j] = vj;
        }
        const float denom = sqrtf(vj) / bc2Sqrt + eps;
        p[j] = pj + negStep * mj / denom;
    }
}
""";
}
