using LayerCompiler.Contracts;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>The CUDA C of one input network and the numbers its launches need.</summary>
    public sealed class CudaInputNetworkEmission
    {
        public bool Supported;
        public string Reason = "";
        public string Source = "";
        public int[] Widths = new int[0];
        public bool[] Biases = new bool[0];
        public int ParameterCount;
        /// <summary>Points per shared-memory tile (a power of two).</summary>
        public int TilePoints;
        /// <summary>Whether a block keeps its network's weights and weight gradient in shared memory (else: in device memory).</summary>
        public bool SharedWeights;
        /// <summary>Static shared memory of the largest kernel, in bytes.</summary>
        public int SharedBytes;
    }

    /// <summary>
    /// Emits the CUDA C of an input network (dense layers) for batches of networks at shared points:
    /// <list type="bullet">
    /// <item><c>lc_inr_forward</c>: outputs of many networks at many points (a block per network and chunk of point tiles);</item>
    /// <item><c>lc_inr_mse_grad</c>: per network, the MSE to its own targets and its gradient w.r.t. the network's weights
    /// (a block per network, fixed summation order: deterministic);</item>
    /// <item><c>lc_inr_fit</c>: fused INR fitting steps (forward, MSE, backward, Adam) for a batch of INRs, a block per INR,
    /// with the CPU fitter's stopping rules (<c>Runtime/Zoo/InrFitter</c>) applied on the device per INR.</item>
    /// </list>
    /// All three walk the points in tiles of <c>T</c> points held feature-major in shared memory (row stride T + 1, odd, so
    /// that column reads are free of bank conflicts); a thread owns (output, point) pairs in the forward and input-gradient
    /// products and whole weight-gradient entries (summed over the tile's points in order) in the weight gradient.
    /// Sizes, offsets, the activation and the output offset are baked in; the generator never throws for a valid
    /// architecture: one whose tile buffers cannot fit in shared memory gets <c>Supported = false</c> and a reason.
    /// </summary>
    public static class CudaInputNetworkEmitter
    {
        public const int Threads = 256;
        /// <summary>Shared floats a kernel may use (40 KiB, under the 48 KiB static limit; leaves room for several blocks per SM).</summary>
        public const int SharedBudgetFloats = 10240;
        /// <summary>Point tiles per block of the forward kernel.</summary>
        public const int ForwardTilesPerBlock = 4;
        /// <summary>Tiles of at least this many points keep the weights in shared memory; otherwise weights stay in device memory.</summary>
        private const int MinSharedWeightTile = 8;

        private const string Rt = RuntimeNames.GpuNamespace + ".";

        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

        /// <summary>The whole <c>Namespace.Type.Cuda.g.cs</c> of an input-network architecture.</summary>
        public static string EmitArchitecture(ArchitectureInfo arch)
        {
            var e = Emit(arch);
            var act = (InputActivation)arch.InputActivation;
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            SourceEmitter.OpenType(w, arch.Type, null);
            w.Line("/// <summary>");
            w.Line($"/// CUDA C of this input network ({string.Join(" → ", e.Widths)}, {Describe(arch)}) for batches of networks at shared");
            w.Line("/// points: batched forward, MSE weight gradient and fused INR fitting steps (see docs/gpu.md, \"Input networks on the GPU\").");
            w.Line("/// Parameters of a network are one flat vector per network, the weight-space tensors in order (W1 (out, in), b1, W2, ...).");
            w.Line("/// </summary>");
            using (w.Block("public static class NetworkCuda"))
            {
                w.Line("/// <summary>Whether the kernels could be generated (the tile buffers fit in shared memory).</summary>");
                w.Line($"public const bool Supported = {(e.Supported ? "true" : "false")};");
                w.Line("/// <summary>Why not, when <see cref=\"Supported\"/> is false; empty otherwise.</summary>");
                w.Line($"public const string UnsupportedReason = \"{e.Reason.Replace("\\", "\\\\").Replace("\"", "\\\"")}\";");
                w.Line("/// <summary>Threads per block of every kernel.</summary>");
                w.Line($"public const int BlockSize = {Threads};");
                w.Line("/// <summary>Points per shared-memory tile.</summary>");
                w.Line($"public const int TilePoints = {e.TilePoints};");
                w.Line("/// <summary>Whether each block keeps its network's weights and weight gradient in shared memory (else in device memory).</summary>");
                w.Line($"public const bool SharedWeights = {(e.SharedWeights ? "true" : "false")};");
                w.Line("/// <summary>Point tiles per block of the forward kernel.</summary>");
                w.Line($"public const int ForwardTilesPerBlock = {ForwardTilesPerBlock};");
                w.Line("/// <summary>Scalars in one network's flat parameter vector.</summary>");
                w.Line($"public const int ParameterCount = {e.ParameterCount};");
                w.Line("/// <summary>Static shared memory of the largest kernel, in bytes.</summary>");
                w.Line($"public const int SharedBytes = {e.SharedBytes};");
                w.Line("/// <summary>The self-contained CUDA C (no headers); kernels lc_inr_forward, lc_inr_mse_grad, lc_inr_fit.</summary>");
                w.Line($"public const string Source = @\"{e.Source.Replace("\"", "\"\"")}\";");
                w.Line();
                w.Line("/// <summary>The source with what the runtime needs to launch it.</summary>");
                w.Line($"public static {Rt}CudaInputNetworkSource Info {{ get; }} = new {Rt}CudaInputNetworkSource(");
                w.Line($"    \"{arch.Type.FullyQualifiedName.Replace("global::", "")}\", Source, new int[] {{ {string.Join(", ", e.Widths)} }}, new bool[] {{ {string.Join(", ", e.Biases.Select(b => b ? "true" : "false"))} }},");
                w.Line($"    global::LayerCompiler.InputActivation.{act}, {IndentedWriter.Float(arch.Omega0)}, {IndentedWriter.Float(arch.OutputOffset)},");
                w.Line("    BlockSize, TilePoints, SharedWeights, ForwardTilesPerBlock, UnsupportedReason);");
                w.Line();
                w.Line("/// <summary>Compiles the kernels for <paramref name=\"device\"/> (NVRTC, cached on disk): batched forward and MSE gradient.</summary>");
                w.Line($"public static {Rt}CudaInputNetwork Create({Rt}CudaDevice device) => new {Rt}CudaInputNetwork(device, Info);");
                w.Line();
                w.Line("/// <summary>A fitter of many INRs at once on <paramref name=\"device\"/> at the given points (the CPU <c>InrFitter</c>'s semantics).</summary>");
                w.Line($"public static {Rt}CudaInrFitter CreateFitter({Rt}CudaDevice device, float[] points, int pointCount, {RuntimeNames.InrFitSettings} settings) =>");
                w.Line($"    new {Rt}CudaInrFitter(device, Info, points, pointCount, settings);");
            }
            SourceEmitter.CloseType(w, arch.Type);
            return w.ToString();
        }

        private static string Describe(ArchitectureInfo arch)
        {
            var act = (InputActivation)arch.InputActivation;
            string hidden = act == InputActivation.Sine ? $"hidden sin({arch.Omega0.ToString("R", CultureInfo.InvariantCulture)}·z)"
                : act == InputActivation.Tanh ? "hidden tanh" : "hidden ReLU";
            return hidden + ", linear output" + (arch.OutputOffset != 0 ? " + " + arch.OutputOffset.ToString("R", CultureInfo.InvariantCulture) : "");
        }

        /// <summary>Per-layer numbers of the emitted code.</summary>
        private sealed class Layer
        {
            public int In, Out, WOff, BOff = -1, AIn, AOut, DOut;
            public bool Bias;
        }

        public static CudaInputNetworkEmission Emit(ArchitectureInfo arch)
        {
            var decls = SourceEmitter.Declarations(arch);
            int m = decls.Count;
            var e = new CudaInputNetworkEmission
            {
                Widths = new[] { decls[0].In }.Concat(decls.Select(d => d.Out)).ToArray(),
                Biases = decls.Select(d => d.Bias).ToArray(),
            };
            if (decls.Any(d => d.Kind != LayerKind.Dense))
            {
                e.Reason = "Only dense input networks have CUDA kernels.";
                return e;
            }
            var layers = new Layer[m];
            long p = 0;
            for (int l = 0; l < m; l++)
            {
                var d = decls[l];
                layers[l] = new Layer { In = d.In, Out = d.Out, Bias = d.Bias, WOff = (int)p };
                p += (long)d.In * d.Out;
                if (d.Bias) { layers[l].BOff = (int)p; p += d.Out; }
            }
            e.ParameterCount = (int)p;
            // Tile buffers, in units of the row stride S: A0 (input), then per hidden layer its activations A_l and
            // act'(z_l) (overwritten by the back-propagated gradient), then the output gradient.
            long rows = e.Widths[0];
            for (int l = 0; l < m - 1; l++) rows += 2L * decls[l].Out;
            rows += e.Widths[m];
            long reduce = 2L * Threads; // one double per thread for the loss reduction
            int tile = 0;
            bool shared = false;
            for (int t = 64; t >= MinSharedWeightTile && tile == 0; t /= 2)
                if ((t + 1) * rows + 2 * p + reduce <= SharedBudgetFloats) { tile = t; shared = true; }
            for (int t = 64; t >= 1 && tile == 0; t /= 2)
                if ((t + 1) * rows + reduce <= SharedBudgetFloats) tile = t;
            if (tile == 0)
            {
                e.Reason = $"A single point's activations ({rows} floats per point, two points' worth with padding) do not fit in the {SharedBudgetFloats * 4 / 1024} KiB of shared memory the kernels may use.";
                return e;
            }
            e.Supported = true;
            e.TilePoints = tile;
            e.SharedWeights = shared;
            int s = tile + 1;
            long bufFloats = s * rows;
            e.SharedBytes = (int)(4 * (bufFloats + (shared ? 2 * p : 0) + reduce));

            int row = 0;
            int a0 = row; row += e.Widths[0];
            int prevA = a0;
            for (int l = 0; l < m; l++)
            {
                layers[l].AIn = prevA;
                if (l < m - 1)
                {
                    layers[l].AOut = row; row += layers[l].Out;
                    layers[l].DOut = row; row += layers[l].Out;
                    prevA = layers[l].AOut;
                }
                else
                {
                    layers[l].DOut = row; row += layers[l].Out;
                    layers[l].AOut = -1;
                }
            }
            e.Source = Source(arch, e, layers, s, (int)bufFloats);
            return e;
        }

        private static string Source(ArchitectureInfo arch, CudaInputNetworkEmission e, Layer[] layers, int s, int bufFloats)
        {
            var act = (InputActivation)arch.InputActivation;
            int m = layers.Length, d0 = e.Widths[0], dM = e.Widths[m], T = e.TilePoints, P = e.ParameterCount;
            string omega = IndentedWriter.Float(arch.Omega0);
            var w = new IndentedWriter();
            w.Line($"// LayerCompiler: input network {arch.Type.FullyQualifiedName.Replace("global::", "")} on CUDA: {string.Join(" → ", e.Widths)}, {Describe(arch)}.");
            w.Line("// Generated, self-contained (no headers). One flat parameter vector per network:");
            w.Line("//   " + string.Join(", ", layers.Select((l, i) => $"W{i + 1} ({l.Out}x{l.In}) @{l.WOff}" + (l.Bias ? $", b{i + 1} @{l.BOff}" : ""))) + $"; {P} floats.");
            w.Line($"// Points are walked in tiles of {T}, held feature-major in shared memory with row stride {s} (rows in units of the stride:");
            w.Line("//   " + $"input @0" + string.Concat(layers.Take(m - 1).Select((l, i) => $", h{i + 1} @{l.AOut}, act'(z{i + 1}) then its gradient @{l.DOut}")) + $", output gradient @{layers[m - 1].DOut}).");
            w.Line(e.SharedWeights
                ? "// Each block copies its network's weights to shared memory and sums the weight gradient there."
                : "// The weights are read from device memory and the weight gradient is summed in device memory (too large for shared memory).");
            w.Line($"#define LC_INR_THREADS {Threads}");
            w.Line($"#define LC_INR_T {T}");
            w.Line($"#define LC_INR_S {s}");
            w.Line($"#define LC_INR_P {P}");
            w.Line($"#define LC_INR_BUF {bufFloats}");
            w.Line();

            // ---------------------------------------------------------------- one tile
            w.Line("// One tile of points [p0, p0 + cnt): the forward pass (GRAD: also act'(z), the MSE terms and the backward pass,");
            w.Line("// adding this tile's weight gradient to G; lsum gets this thread's squared errors).");
            w.Line("template <bool GRAD>");
            w.Open("__device__ __forceinline__ void lc_inr_tile(const float* __restrict__ W, float* G, float* buf, const float* __restrict__ points, int p0, int cnt,\n    const float* __restrict__ target, float* __restrict__ out, float scale, double& lsum)");
            using (w.Block($"for (int k = threadIdx.x; k < {d0 * T}; k += LC_INR_THREADS)"))
            {
                w.Line($"const int i = k / LC_INR_T, t = k % LC_INR_T;");
                w.Line($"if (t < cnt) buf[i * LC_INR_S + t] = points[(p0 + t) * {d0} + i];");
            }
            w.Line("__syncthreads();");
            for (int l = 0; l < m; l++)
            {
                var L = layers[l];
                bool last = l == m - 1;
                w.Line($"// Layer {l + 1}: {L.In} → {L.Out}, {(last ? "linear" + (arch.OutputOffset != 0 ? " + " + IndentedWriter.Float(arch.OutputOffset) : "") : act.ToString())}.");
                using (w.Block($"for (int k = threadIdx.x; k < {L.Out * T}; k += LC_INR_THREADS)"))
                {
                    w.Line("const int o = k / LC_INR_T, t = k % LC_INR_T;");
                    w.Line("if (t >= cnt) continue;");
                    w.Line($"const float* wr = W + {L.WOff} + o * {L.In};");
                    w.Line($"const float* a = buf + {L.AIn} * LC_INR_S + t;");
                    w.Line("float z = 0.0f;");
                    w.Line("#pragma unroll 8");
                    w.Line($"for (int i = 0; i < {L.In}; ++i) z += wr[i] * a[i * LC_INR_S];");
                    if (L.Bias) w.Line($"z += W[{L.BOff} + o];");
                    if (!last)
                    {
                        switch (act)
                        {
                            case InputActivation.Sine:
                                w.Line($"const float u = {omega} * z;");
                                w.Line($"buf[({L.AOut} + o) * LC_INR_S + t] = sinf(u);");
                                w.Line($"if (GRAD) buf[({L.DOut} + o) * LC_INR_S + t] = {omega} * cosf(u);");
                                break;
                            case InputActivation.Tanh:
                                w.Line("const float h = tanhf(z);");
                                w.Line($"buf[({L.AOut} + o) * LC_INR_S + t] = h;");
                                w.Line($"if (GRAD) buf[({L.DOut} + o) * LC_INR_S + t] = 1.0f - h * h;");
                                break;
                            default:
                                w.Line($"buf[({L.AOut} + o) * LC_INR_S + t] = z > 0.0f ? z : 0.0f;");
                                w.Line($"if (GRAD) buf[({L.DOut} + o) * LC_INR_S + t] = z > 0.0f ? 1.0f : 0.0f;");
                                break;
                        }
                    }
                    else
                    {
                        string y = arch.OutputOffset != 0 ? $"z + {IndentedWriter.Float(arch.OutputOffset)}" : "z";
                        w.Line($"const float y = {y};");
                        using (w.Block("if (GRAD)"))
                        {
                            w.Line($"const float err = y - target[(p0 + t) * {dM} + o];");
                            w.Line("lsum += (double)(err * err);");
                            w.Line($"buf[({L.DOut} + o) * LC_INR_S + t] = scale * err;");
                        }
                        w.Line($"else out[(p0 + t) * {dM} + o] = y;");
                    }
                }
                w.Line("__syncthreads();");
            }
            w.Line("if (!GRAD) return;");
            for (int l = m - 1; l >= 0; l--)
            {
                var L = layers[l];
                int entries = L.In * L.Out + (L.Bias ? L.Out : 0);
                w.Line($"// Layer {l + 1} backward: dW{l + 1} += g{l + 1} ⊗ input{(L.Bias ? $", db{l + 1} += g{l + 1}" : "")} over the tile's points{(l > 0 ? $"; g{l} = (W{l + 1}ᵀ g{l + 1}) ⊙ act'(z{l})" : "")}.");
                using (w.Block($"for (int k = threadIdx.x; k < {entries}; k += LC_INR_THREADS)"))
                {
                    if (L.Bias)
                    {
                        using (w.Block($"if (k >= {L.In * L.Out})"))
                        {
                            w.Line($"const float* g = buf + ({L.DOut} + k - {L.In * L.Out}) * LC_INR_S;");
                            w.Line("float acc = 0.0f;");
                            w.Line("for (int t = 0; t < cnt; ++t) acc += g[t];");
                            w.Line($"G[{L.BOff} + k - {L.In * L.Out}] += acc;");
                            w.Line("continue;");
                        }
                    }
                    w.Line($"const int o = k / {L.In}, i = k % {L.In};");
                    w.Line($"const float* g = buf + ({L.DOut} + o) * LC_INR_S;");
                    w.Line($"const float* a = buf + ({L.AIn} + i) * LC_INR_S;");
                    w.Line("float acc = 0.0f;");
                    w.Line("for (int t = 0; t < cnt; ++t) acc += g[t] * a[t];");
                    w.Line($"G[{L.WOff} + k] += acc;");
                }
                if (l > 0)
                {
                    var prev = layers[l - 1];
                    using (w.Block($"for (int k = threadIdx.x; k < {L.In * T}; k += LC_INR_THREADS)"))
                    {
                        w.Line("const int i = k / LC_INR_T, t = k % LC_INR_T;");
                        w.Line("if (t >= cnt) continue;");
                        w.Line($"const float* g = buf + {L.DOut} * LC_INR_S + t;");
                        w.Line("float acc = 0.0f;");
                        w.Line("#pragma unroll 8");
                        w.Line($"for (int o = 0; o < {L.Out}; ++o) acc += W[{L.WOff} + o * {L.In} + i] * g[o * LC_INR_S];");
                        w.Line($"buf[({prev.DOut} + i) * LC_INR_S + t] *= acc;");
                    }
                }
                w.Line("__syncthreads();");
            }
            w.Close();
            w.Line();

            // ---------------------------------------------------------------- shared helpers
            w.Line("// Points of the tile that starts at p0.");
            using (w.Block("__device__ __forceinline__ int lc_inr_count(int pointCount, int p0)"))
            {
                w.Line("const int r = pointCount - p0;");
                w.Line("return r < LC_INR_T ? r : LC_INR_T;");
            }
            w.Line();
            w.Line("// Sum of one double per thread over the block, in a fixed order (all threads get the total).");
            using (w.Block("__device__ __forceinline__ double lc_inr_block_sum(double v, double* red)"))
            {
                w.Line("red[threadIdx.x] = v;");
                w.Line("__syncthreads();");
                using (w.Block("for (int h = LC_INR_THREADS / 2; h > 0; h >>= 1)"))
                {
                    w.Line("if ((int)threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];");
                    w.Line("__syncthreads();");
                }
                w.Line("const double total = red[0];");
                w.Line("__syncthreads();");
                w.Line("return total;");
            }
            w.Line();
            string sharedDecl = e.SharedWeights ? "__shared__ float lc_w[LC_INR_P];" : "";
            string sharedGrad = e.SharedWeights ? "__shared__ float lc_g[LC_INR_P];" : "";

            // ---------------------------------------------------------------- forward
            w.Line("// out[n, p, :] for network n = blockIdx.x / chunks at the tiles c, c + chunks, ... (c = blockIdx.x % chunks).");
            w.Line("// Grid: batch × chunks blocks, chunks = ⌈⌈pointCount / T⌉ / tilesPerBlock⌉.");
            w.Open("extern \"C\" __global__ void __launch_bounds__(LC_INR_THREADS) lc_inr_forward(int batch, int pointCount, int chunks,\n    const float* __restrict__ points, const float* __restrict__ params, float* __restrict__ out)");
            w.Line("const int n = blockIdx.x / chunks, c = blockIdx.x % chunks;");
            w.Line("if (n >= batch) return;");
            w.Line("__shared__ float lc_buf[LC_INR_BUF];");
            w.Line("const float* p = params + (long long)n * LC_INR_P;");
            if (e.SharedWeights)
            {
                w.Line(sharedDecl);
                w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) lc_w[k] = p[k];");
                w.Line("__syncthreads();");
                w.Line("const float* W = lc_w;");
            }
            else w.Line("const float* W = p;");
            w.Line("double unused = 0.0;");
            w.Line("const int tiles = (pointCount + LC_INR_T - 1) / LC_INR_T;");
            w.Line("for (int tile = c; tile < tiles; tile += chunks)");
            w.Line($"    lc_inr_tile<false>(W, nullptr, lc_buf, points, tile * LC_INR_T, lc_inr_count(pointCount, tile * LC_INR_T), nullptr, out + (long long)n * pointCount * {dM}, 0.0f, unused);");
            w.Close();
            w.Line();

            // ---------------------------------------------------------------- MSE gradient
            w.Line("// Per network n = blockIdx.x: loss[n] = mean over points and outputs of (out - target)² (squares in float, summed in");
            w.Line("// double), grad[n, :] = d loss / d parameters (overwritten). Grid: batch blocks. Deterministic.");
            w.Open("extern \"C\" __global__ void __launch_bounds__(LC_INR_THREADS) lc_inr_mse_grad(int batch, int pointCount,\n    const float* __restrict__ points, const float* __restrict__ params, const float* __restrict__ targets, float* __restrict__ grad, double* __restrict__ loss)");
            w.Line("const int n = blockIdx.x;");
            w.Line("if (n >= batch) return;");
            w.Line("__shared__ float lc_buf[LC_INR_BUF];");
            w.Line("__shared__ double lc_red[LC_INR_THREADS];");
            w.Line("const float* p = params + (long long)n * LC_INR_P;");
            w.Line("float* gn = grad + (long long)n * LC_INR_P;");
            if (e.SharedWeights)
            {
                w.Line(sharedDecl);
                w.Line(sharedGrad);
                w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) { lc_w[k] = p[k]; lc_g[k] = 0.0f; }");
                w.Line("const float* W = lc_w;");
                w.Line("float* G = lc_g;");
            }
            else
            {
                w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) gn[k] = 0.0f;");
                w.Line("const float* W = p;");
                w.Line("float* G = gn;");
            }
            w.Line("__syncthreads();");
            w.Line($"const float scale = 2.0f / (float)(pointCount * {dM});");
            w.Line($"const float* tn = targets + (long long)n * pointCount * {dM};");
            w.Line("double lsum = 0.0;");
            w.Line("for (int p0 = 0; p0 < pointCount; p0 += LC_INR_T)");
            w.Line("    lc_inr_tile<true>(W, G, lc_buf, points, p0, lc_inr_count(pointCount, p0), tn, nullptr, scale, lsum);");
            w.Line("const double total = lc_inr_block_sum(lsum, lc_red);");
            if (e.SharedWeights) w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) gn[k] = lc_g[k];");
            w.Line($"if (threadIdx.x == 0) loss[n] = total / ((double)pointCount * {dM});");
            w.Close();
            w.Line();

            // ---------------------------------------------------------------- fused fit
            w.Line("// Up to `iterations` fitting iterations of INR n = blockIdx.x, as Runtime/Zoo/InrFitter does them: evaluate the MSE");
            w.Line("// (and its gradient); stop if it is not finite (status 3), if it is ≤ stopMse (status 1) or if maxSteps Adam steps were");
            w.Line("// taken (status 2); otherwise take Adam step t = step + 1 (torch.optim.Adam: m = b1·m + c1·g, v = b2·v + c2·g·g,");
            w.Line("// p += (-lr/bc1)·m / (√v·(1/√bc2) + eps), the two step scalars from the host's table adam[2·(t-1) ..]; each operation");
            w.Line("// rounded as on the CPU). state[2n] = Adam steps taken, state[2n+1] = status (0: running); loss[n] = the last MSE");
            w.Line("// evaluated (with status ≠ 0: the MSE of the final parameters). INRs already stopped return at once. Grid: batch blocks.");
            w.Open("extern \"C\" __global__ void __launch_bounds__(LC_INR_THREADS) lc_inr_fit(int batch, int pointCount, int iterations, int maxSteps, double stopMse,\n" +
                "    const float* __restrict__ adam, float b1, float c1, float b2, float c2, float eps,\n" +
                "    const float* __restrict__ points, const float* __restrict__ targets, float* __restrict__ params, float* __restrict__ adamM, float* __restrict__ adamV,\n" +
                "    float* __restrict__ gradScratch, double* __restrict__ loss, int* __restrict__ state)");
            w.Line("const int n = blockIdx.x;");
            w.Line("if (n >= batch) return;");
            w.Line("int step = state[2 * n], status = state[2 * n + 1];");
            w.Line("if (status != 0 || iterations <= 0) return;");
            w.Line("__shared__ float lc_buf[LC_INR_BUF];");
            w.Line("__shared__ double lc_red[LC_INR_THREADS];");
            w.Line("float* p = params + (long long)n * LC_INR_P;");
            w.Line("float* mn = adamM + (long long)n * LC_INR_P;");
            w.Line("float* vn = adamV + (long long)n * LC_INR_P;");
            if (e.SharedWeights)
            {
                w.Line(sharedDecl);
                w.Line(sharedGrad);
                w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) { lc_w[k] = p[k]; lc_g[k] = 0.0f; }");
                w.Line("float* W = lc_w;");
                w.Line("float* G = lc_g;");
            }
            else
            {
                w.Line("float* W = p;");
                w.Line("float* G = gradScratch + (long long)n * LC_INR_P;");
                w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) G[k] = 0.0f;");
            }
            w.Line("__syncthreads();");
            w.Line($"const float scale = 2.0f / (float)(pointCount * {dM});");
            w.Line($"const float* tn = targets + (long long)n * pointCount * {dM};");
            w.Line("double mse = 0.0;");
            using (w.Block("for (int it = 0; it < iterations; ++it)"))
            {
                w.Line("double lsum = 0.0;");
                w.Line("for (int p0 = 0; p0 < pointCount; p0 += LC_INR_T)");
                w.Line("    lc_inr_tile<true>(W, G, lc_buf, points, p0, lc_inr_count(pointCount, p0), tn, nullptr, scale, lsum);");
                w.Line($"mse = lc_inr_block_sum(lsum, lc_red) / ((double)pointCount * {dM});");
                w.Line("if (!(mse <= 1.7976931348623157e308)) status = 3;   // NaN or infinite");
                w.Line("else if (mse <= stopMse) status = 1;");
                w.Line("else if (step >= maxSteps) status = 2;");
                w.Line("if (status != 0) break;");
                w.Line("const float negStep = adam[2 * step], invBc2Sqrt = adam[2 * step + 1];");
                using (w.Block("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS)"))
                {
                    w.Line("const float g = G[k];");
                    w.Line("const float mk = __fadd_rn(__fmul_rn(b1, mn[k]), __fmul_rn(c1, g));");
                    w.Line("const float vk = __fadd_rn(__fmul_rn(b2, vn[k]), __fmul_rn(__fmul_rn(c2, g), g));");
                    w.Line("mn[k] = mk;");
                    w.Line("vn[k] = vk;");
                    w.Line("W[k] = __fadd_rn(W[k], __fdiv_rn(__fmul_rn(negStep, mk), __fadd_rn(__fmul_rn(__fsqrt_rn(vk), invBc2Sqrt), eps)));");
                    w.Line("G[k] = 0.0f;");
                }
                w.Line("++step;");
                w.Line("__syncthreads();");
            }
            if (e.SharedWeights) w.Line("for (int k = threadIdx.x; k < LC_INR_P; k += LC_INR_THREADS) p[k] = lc_w[k];");
            using (w.Block("if (threadIdx.x == 0)"))
            {
                w.Line("state[2 * n] = step;");
                w.Line("state[2 * n + 1] = status;");
                w.Line("loss[n] = mse;");
            }
            w.Close();
            return w.ToString();
        }
    }
}
