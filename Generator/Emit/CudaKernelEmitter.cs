using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using LayerCompiler.Generator.Lower;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>How one generated CUDA layer is launched: what the C# metadata says and the kernels decode.</summary>
    public sealed class CudaLaunchInfo
    {
        public string Kernel = "";
        /// <summary>0 forward, 1 parameter gradient, 2 input gradient (CudaLayerPass in the runtime).</summary>
        public int Pass;
        /// <summary>blocks(batch) = Σ m·⌈batch·a/d⌉ over (m, a, d) triples, plus <see cref="ConstantBlocks"/>.</summary>
        public List<long> GridTerms = new List<long>();
        public long ConstantBlocks;
    }

    /// <summary>The CUDA C source of one fused layer and its launch metadata.</summary>
    public sealed class CudaLayerEmission
    {
        public string Source = "";
        public int Cin, Cout, WeightCount, BiasCount;
        public int[] TensorSizes = new int[0];
        public int BlockSize;
        public long ScratchPerNetwork;
        /// <summary>(networks per chunk, floats per chunk) pairs of the parameter-gradient partial sums.</summary>
        public List<long> ScratchChunkTerms = new List<long>();
        public int MaxBatch;
        public List<CudaLaunchInfo> Steps = new List<CudaLaunchInfo>();
    }

    /// <summary>
    /// CUDA backend: schedules the same <see cref="FusedPlan"/> as <see cref="CSharpKernelEmitter"/> (same links,
    /// same statistics, same weight layout) for a whole batch of networks at once. Per pass:
    /// 1. statistics kernels: every pooled statistic of a source in one read of it (row tiles of 2-D tensors
    ///    produce row sums and per-tile column partials; a second small kernel finishes columns and totals);
    /// 2. a small-term kernel: statistics × weight matrices into the row/column/global broadcast terms;
    /// 3. one entry pass per output tensor (one launch for all of them): a tiled channel mix of the entry and of
    ///    every source that keeps all its axes, weights staged in shared memory, plus bias and broadcast terms.
    /// Parameter gradients are Σ (input statistic) ⊗ (gradient statistic) over networks and kept positions, as
    /// per-chunk partial matrices reduced in a fixed order by a second kernel (deterministic: no atomics).
    /// Constants (sizes, strides, offsets) are baked into the source; the batch size is the only runtime number.
    /// </summary>
    public sealed class CudaKernelEmitter
    {
        public const int Threads = 256;
        /// <summary>Shared-memory budget of the entry pass in floats (40 KiB: under the 48 KiB static limit).</summary>
        private const int MapSharedFloats = 10240;
        /// <summary>Positions per thread in the map micro-kernel (each thread computes PPT × 4 outputs).</summary>
        private const int MapPositionsPerThread = 4;
        private const int MaxRowsPerStatTile = 8;
        /// <summary>Target number of (network, kept position) pairs per parameter-gradient chunk.</summary>
        private const int GradTargetK = 2048;
        /// <summary>Shared floats of the gradient tiles (16 KiB): staged X and G rows, then the group partials.</summary>
        private const int GradSharedFloats = 4096;

        private readonly FusedPlan _p;
        private readonly string _sfx;
        private readonly int[] _sizes;

        private sealed class TensorStats
        {
            public TensorView V = null!;
            public SortedSet<int> Masks = new SortedSet<int>();
            public int RowSeg = -1, ColSeg = -1, TotSeg = -1, PartSeg = -1;
            public int Tr, Tiles, Npair;
            public bool Cols => ColSeg >= 0;
        }

        private sealed class StatKind
        {
            public string Name = "", Ptr = "", Region = "", PartRegion = "";
            public int Channels;
            public bool Mean;
            public TensorStats[] Tensors = new TensorStats[0];
            public int RegionSize, PartSize;
        }

        private sealed class MapLink
        {
            public Link L = null!;
            public int RowOff, In;
        }

        /// <summary>
        /// One block range of a map kernel: destination tensor D, kept-axes mask (the full mask: the entry pass into D;
        /// a proper subset: a broadcast term into scratch). Positions per network = D.KeptGrid(Mask); each position's
        /// value is Σ over links of (source row vector) · (link matrix), a tiled product.
        /// </summary>
        private sealed class MapGroup
        {
            public TensorView D = null!;
            public int Mask, Seg, Out, R, Positions;
            public bool Full;
            public List<MapLink> Links = new List<MapLink>();
            public int Ct, Pl, Ppt, Tp, Tpb, Nct, Rch;
            public int As => Rch + 4;
            public int SharedFloats => Tp * As + Rch * Ct;
        }

        private sealed class MapInfo
        {
            public bool Backward;
            public string Region = "";
            public int TermsN;
            public List<MapGroup> Small = new List<MapGroup>();
            public List<MapGroup> Full = new List<MapGroup>();
        }

        /// <summary>A parameter-gradient reduction: a weight link (X = input statistic, G = gradient statistic) or a bias (X = 1, G = gradient total).</summary>
        private sealed class GradItem
        {
            public Link? L;
            public TensorView Bias = null!;
            public int Rows, Cols, Start, Kg, Nb, Ti, To, Kt, TilesI, TilesO, Group, GOff, TileStart;
            public int Tiles => TilesI * TilesO;
        }

        private sealed class GradGroup
        {
            public int Nb;
            public long S;
            public int T;
            public List<GradItem> Items = new List<GradItem>();
        }

        private StatKind _xs = null!, _gs = null!;
        private MapInfo _fwd = null!, _bwd = null!;
        private List<GradItem> _grad = null!;
        private List<GradGroup> _groups = null!;
        private readonly Dictionary<string, long> _regionOff = new Dictionary<string, long>();
        private readonly Dictionary<string, long> _regionSize = new Dictionary<string, long>();
        private long _perNet;

        private CudaKernelEmitter(FusedPlan plan)
        {
            _p = plan;
            _sfx = $"_{plan.Cin}x{plan.Cout}";
            _sizes = plan.Views.Select(v => v.Tensor.Size).ToArray();
        }

        public static string Suffix(int cin, int cout) => $"_{cin}x{cout}";

        public static CudaLayerEmission Emit(FusedPlan plan) => new CudaKernelEmitter(plan).Run();

        private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        private static string F(double v) => IndentedWriter.Float((float)v);
        private static long CeilDiv(long a, long b) => (a + b - 1) / b;

        // ================================================================ layout

        private CudaLayerEmission Run()
        {
            _xs = BuildStats("x", "x", "XS", "XP", _p.Cin, mean: true, _p.ForwardLinks, includeTotal: false);
            _gs = BuildStats("g", "g", "GS", "GP", _p.Cout, mean: false, _p.BackwardLinks, includeTotal: true);
            _fwd = BuildMap(_p.ForwardLinks, backward: false, "TF");
            _bwd = BuildMap(_p.BackwardLinks, backward: true, "TB");
            BuildGrad();

            long off = 0;
            foreach (var (name, size) in new[] { ("XS", (long)_xs.RegionSize), ("XP", (long)_xs.PartSize), ("GS", (long)_gs.RegionSize), ("GP", (long)_gs.PartSize), ("TF", (long)_fwd.TermsN), ("TB", (long)_bwd.TermsN) })
            {
                _regionOff[name] = off;
                _regionSize[name] = size;
                off += size;
            }
            _perNet = off;

            var e = new CudaLayerEmission
            {
                Cin = _p.Cin, Cout = _p.Cout, WeightCount = _p.WeightCount, BiasCount = _p.BiasCount,
                TensorSizes = _sizes, BlockSize = Threads, ScratchPerNetwork = _perNet,
            };
            foreach (var g in _groups) { e.ScratchChunkTerms.Add(g.Nb); e.ScratchChunkTerms.Add(g.S); }
            // Every 32-bit index is (network, unit) flattened: batch · (largest per-network unit count) must fit.
            long maxUnits = 1;
            foreach (var v in _p.Views)
            {
                maxUnits = Math.Max(maxUnits, v.Grid);
                maxUnits = Math.Max(maxUnits, (long)v.PermSizes.Skip(1).DefaultIfEmpty(1).Aggregate(1, (a, b) => a * b) * v.Fixed * Math.Max(_p.Cin, _p.Cout));
                maxUnits = Math.Max(maxUnits, (long)v.Fixed * Math.Max(_p.Cin, _p.Cout));
            }
            maxUnits = Math.Max(maxUnits, Math.Max(_fwd.TermsN, _bwd.TermsN));
            e.MaxBatch = (int)Math.Max(1, Math.Min(int.MaxValue / maxUnits, 1 << 24));

            var w = new IndentedWriter();
            EmitPrelude(w);
            EmitOffsetHelpers(w);
            EmitStats(w, _xs, 0, e.Steps);
            EmitStatsFinish(w, _xs, 0, e.Steps);
            EmitMap(w, _fwd, full: false, 0, e.Steps);
            EmitMap(w, _fwd, full: true, 0, e.Steps);
            // Backward: x statistics again (the weight gradient needs them), then the gradient's.
            AddStatsSteps(_xs, 1, e.Steps);
            EmitStats(w, _gs, 1, e.Steps);
            EmitStatsFinish(w, _gs, 1, e.Steps);
            EmitGrad(w, e.Steps);
            EmitMap(w, _bwd, full: false, 2, e.Steps);
            EmitMap(w, _bwd, full: true, 2, e.Steps);
            e.Source = w.ToString();
            return e;
        }

        private StatKind BuildStats(string name, string ptr, string region, string partRegion, int channels, bool mean, IReadOnlyList<Link> links, bool includeTotal)
        {
            var k = new StatKind { Name = name, Ptr = ptr, Region = region, PartRegion = partRegion, Channels = channels, Mean = mean };
            var list = new List<TensorStats>();
            int seg = 0, part = 0;
            foreach (var v in _p.Views)
            {
                var ts = new TensorStats { V = v };
                foreach (int m in FusedPlan.PooledMasks(links, v, includeTotal)) ts.Masks.Add(m);
                int wide = v.Fixed * channels;
                if (v.PermSizes.Count == 1 && ts.Masks.Contains(0))
                {
                    ts.TotSeg = seg; seg += wide;
                }
                else if (v.PermSizes.Count == 2 && ts.Masks.Count > 0)
                {
                    int p0 = v.PermSizes[0], p1 = v.PermSizes[1];
                    ts.RowSeg = seg; seg += p0 * wide;
                    if (ts.Masks.Contains(2)) { ts.ColSeg = seg; seg += p1 * wide; }
                    if (ts.Masks.Contains(0)) { ts.TotSeg = seg; seg += wide; }
                    // Rows per tile: up to 8, fewer for very wide rows so the row sums stay in registers.
                    int tr = Math.Min(p0, MaxRowsPerStatTile);
                    while (tr > 1 && CeilDiv((long)tr * wide, Threads) > 8) tr /= 2;
                    ts.Tr = tr;
                    ts.Tiles = (int)CeilDiv(p0, tr);
                    ts.Npair = (int)CeilDiv((long)tr * wide, Threads);
                    if (ts.Cols) { ts.PartSeg = part; part += ts.Tiles * p1 * wide; }
                }
                list.Add(ts);
            }
            k.Tensors = list.ToArray();
            k.RegionSize = seg;
            k.PartSize = part;
            return k;
        }

        private int StatSeg(StatKind k, int t, int mask)
        {
            var ts = k.Tensors[t];
            int s = mask == 0 ? ts.TotSeg : mask == 1 ? ts.RowSeg : mask == 2 ? ts.ColSeg : -1;
            if (s < 0) throw new InvalidOperationException($"No {k.Name} statistic of {ts.V.Tensor.Name} for mask {mask}.");
            return s;
        }

        private MapInfo BuildMap(IReadOnlyList<Link> links, bool backward, string region)
        {
            var m = new MapInfo { Backward = backward, Region = region };
            int dstChannels = backward ? _p.Cin : _p.Cout;
            int seg = 0;
            foreach (var d in _p.Views)
            {
                int t = d.Tensor.Index;
                var mine = links.Where(l => l.Dst == t).ToList();
                foreach (var g in mine.Where(l => l.DstMask != d.FullMask).GroupBy(l => l.DstMask).OrderBy(g => g.Key))
                {
                    var mg = Group(d, g.Key, full: false, g.ToList(), backward, dstChannels);
                    mg.Seg = seg;
                    seg += mg.Positions * mg.Out;
                    m.Small.Add(mg);
                }
                m.Full.Add(Group(d, d.FullMask, full: true, mine.Where(l => l.DstMask == d.FullMask).ToList(), backward, dstChannels));
            }
            m.TermsN = seg;
            return m;
        }

        private static MapGroup Group(TensorView d, int mask, bool full, List<Link> links, bool backward, int dstChannels)
        {
            var mg = new MapGroup { D = d, Mask = mask, Full = full, Out = d.Fixed * dstChannels, Positions = d.KeptGrid(mask) };
            int r = 0;
            foreach (var l in links)
            {
                int inWide = backward ? l.Cols : l.Rows;
                mg.Links.Add(new MapLink { L = l, RowOff = r, In = inWide });
                r += inWide;
            }
            mg.R = r;
            // CT output columns per block (a multiple of 4, at most 256), each thread 4 of them (CT/4 column groups),
            // PL position lanes, PPT positions per thread; source rows staged RCH at a time (a multiple of 4: the mix
            // reads them as float4).
            mg.Ct = (int)Math.Min(CeilDiv(mg.Out, 4) * 4, Threads);
            mg.Nct = (int)CeilDiv(mg.Out, mg.Ct);
            mg.Pl = Threads / (mg.Ct / 4);
            mg.Rch = (int)CeilDiv(Math.Max(1, Math.Min(r, 32)), 4) * 4;
            int aBudget = MapSharedFloats - mg.Rch * mg.Ct;
            // Tiles of at most 256 positions (as many as threads), so narrow outputs keep their grids wide.
            mg.Ppt = Math.Max(1, Math.Min(Math.Min(MapPositionsPerThread, Threads / mg.Pl), aBudget / (mg.As * mg.Pl)));
            mg.Tp = mg.Pl * mg.Ppt;
            // Large groups: each block walks 4 tiles, so the staged weights are loaded once per 4 tiles.
            mg.Tpb = mg.Positions >= 4 * mg.Tp ? 4 : 1;
            return mg;
        }

        private void BuildGrad()
        {
            _grad = new List<GradItem>();
            _groups = new List<GradGroup>();
            foreach (var l in _p.ForwardLinks)
                AddGrad(new GradItem { L = l, Rows = l.Rows, Cols = l.Cols, Start = l.WOffset, Kg = _p.Views[l.Dst].KeptGrid(l.DstMask) });
            foreach (var v in _p.Views)
                AddGrad(new GradItem { Bias = v, Rows = 1, Cols = v.Fixed * _p.Cout, Start = _p.WeightCount + _p.BiasOffsets[v.Tensor.Index], Kg = 1 });
        }

        private void AddGrad(GradItem gi)
        {
            gi.Nb = Math.Max(1, GradTargetK / gi.Kg);
            gi.Ti = Pow2Tile(gi.Rows);
            gi.To = Pow2Tile(gi.Cols);
            int groups = Threads / ((gi.Ti / 4) * (gi.To / 4));
            int kt = Math.Min(Threads, GradSharedFloats / (gi.Ti + gi.To));
            gi.Kt = Math.Max(groups, kt / groups * groups);
            gi.TilesI = (int)CeilDiv(gi.Rows, gi.Ti);
            gi.TilesO = (int)CeilDiv(gi.Cols, gi.To);
            var group = _groups.FirstOrDefault(g => g.Nb == gi.Nb);
            if (group == null) { group = new GradGroup { Nb = gi.Nb }; _groups.Add(group); }
            gi.Group = _groups.IndexOf(group);
            gi.GOff = (int)group.S;
            gi.TileStart = group.T;
            group.S += (long)gi.Rows * gi.Cols;
            group.T += gi.Tiles;
            group.Items.Add(gi);
            _grad.Add(gi);
        }

        /// <summary>Gradient tile side: a power of two from 4 to 64 covering n if it can.</summary>
        private static int Pow2Tile(int n)
        {
            int t = 4;
            while (t < n && t < 64) t *= 2;
            return t;
        }

        // ================================================================ expressions

        /// <summary>Σ of tensor sizes before t, times channels: where tensor t starts in a batch buffer, per network of batch.</summary>
        private long TensorBase(int t, int channels) => _sizes.Take(t).Sum(s => (long)s) * channels;

        /// <summary>
        /// An element of a batch buffer: tensor t, network n, grid position g, wide index wi. When <paramref name="flat"/>
        /// (= n · grid + g) is given and the tensor's fixed axes trail, the element is addressed from it directly.
        /// </summary>
        private string Raw(string ptr, TensorView v, int channels, string n, string g, string wi, string? flat = null)
        {
            int t = v.Tensor.Index;
            long wide = (long)v.Fixed * channels;
            string b = $"(lc_i64)batch * {I(TensorBase(t, channels))}";
            if (flat != null && v.Trailing) return $"{ptr}[{b} + (lc_i64)({flat}) * {I(wide)} + ({wi})]";
            string off;
            if (v.Trailing) off = v.Grid == 1 ? $"({wi})" : $"({g}) * {I(wide)} + ({wi})";
            else off = $"{OffsetHelper(t, channels)}({g}, {wi})";
            return $"{ptr}[{b} + (lc_i64)({n}) * {I((long)v.Tensor.Size * channels)} + {off}]";
        }

        private string OffsetHelper(int t, int channels) => $"lc_off_t{t}_c{channels}{_sfx}";

        private string RegionPtr(string region) => $"s + (lc_i64)batch * {I(_regionOff[region])}";

        /// <summary>An element of a per-network scratch segment: [kept][wide] at seg.</summary>
        private string Stat(string region, int seg, int wide, string n, string kept, string wi)
        {
            string k = kept == "0" ? "" : $"({kept}) * {I(wide)} + ";
            return $"s[(lc_i64)batch * {I(_regionOff[region])} + (lc_i64)({n}) * {I(_regionSize[region])} + {I(seg)} + {k}({wi})]";
        }

        /// <summary>Index of the kept axes of view d (mask) for grid position g.</summary>
        private static string Kept(TensorView d, int mask, string g)
        {
            if (mask == d.FullMask) return d.Grid == 1 ? "0" : g;
            if (mask == 0) return "0";
            // Two permuted axes, one kept.
            return mask == 1 ? $"({g}) / {I(d.PermSizes[1])}" : $"({g}) % {I(d.PermSizes[1])}";
        }

        /// <summary>
        /// The source vector of a link at kept index `kept` of the destination's kept axes (equal to the source's kept
        /// index: a link's kept layers are the same on both sides, in the same order): the source tensor itself when
        /// it keeps all its axes, else its statistic. `flat` = n · (kept positions) + kept, when the caller has it.
        /// </summary>
        private string Source(Link l, bool backward, string n, string kept, string i, string? flat = null)
        {
            var s = _p.Views[l.Src];
            var k = backward ? _gs : _xs;
            int wide = s.Fixed * k.Channels;
            if (l.SrcMask == s.FullMask) return Raw(k.Ptr, s, k.Channels, n, kept, i, flat);
            return Stat(k.Region, StatSeg(k, s.Tensor.Index, l.SrcMask), wide, n, kept, i);
        }

        /// <summary>
        /// Declarations of `n = index / per` and `p = index % per` for the names the body uses (none unused, so NVRTC
        /// and host compilers stay quiet).
        /// </summary>
        private static string Decl(string body, string index, long per, string n = "n", string p = "p")
        {
            var parts = new List<string>();
            if (Regex.IsMatch(body, $@"\b{n}\b")) parts.Add(per == 1 ? $"{n} = {index}" : $"{n} = {index} / {I(per)}");
            if (Regex.IsMatch(body, $@"\b{p}\b")) parts.Add(per == 1 ? $"{p} = 0" : $"{p} = {index} % {I(per)}");
            return parts.Count == 0 ? "" : $"const int {string.Join(", ", parts)}; ";
        }

        /// <summary>Entry (i = source wide index, o = destination wide index) of a link's mixing matrix.</summary>
        private static string Weight(Link l, bool backward, string i, string o) =>
            backward
                ? $"w[{I(l.WOffset)} + ({o}) * {I(l.Cols)} + ({i})]"
                : $"w[{I(l.WOffset)} + ({i}) * {I(l.Cols)} + ({o})]";


        // ================================================================ text

        private void EmitPrelude(IndentedWriter w)
        {
            w.Line($"// Generated by LayerCompiler: fused equivariant layer, {_p.Cin} -> {_p.Cout} channels, {_p.TermCount} basis terms,");
            w.Line($"// {_p.WeightCount} weights, {_p.BiasCount} biases, over tensors {string.Join(" ", _p.Views.Select(v => v.Tensor.ToString()))}.");
            w.Line("// Batch buffers: tensors back to back, each [batch, axes..., channels]. Scratch regions per network:");
            foreach (var r in _regionOff.Keys) w.Line($"//   {r} at batch*{I(_regionOff[r])}, {I(_regionSize[r])} floats per network");
            w.Line("// Self-contained: no headers. Every kernel takes (batch, x, g, w, b, y, gw, gb, s).");
            w.Lines(Helpers);
        }

        private const string Helpers = """
            #ifndef LC_HELPERS_DEFINED
            #define LC_HELPERS_DEFINED
            typedef long long lc_i64;
            #define LC_THREADS 256
            struct alignas(16) lc_f4 { float x, y, z, w; };
            #define LC_ARGS int batch, const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ w, \
                const float* __restrict__ b, float* __restrict__ y, float* __restrict__ gw, float* __restrict__ gb, float* __restrict__ s

            // Pooled sums of a 2-D [P0][P1][WIDE] tensor for one network and one tile of TR rows, in one read:
            // row sums (scaled by rowScale) into rowOut[p0][r], this tile's column sums into partOut[P1 * WIDE].
            template <int P0, int P1, int WIDE, int TR, int NPAIR, bool COLS, class Load>
            __device__ __forceinline__ void lc_stats2d(float* sm, int tile, const Load& load, float* __restrict__ rowOut,
                float* __restrict__ partOut, float rowScale)
            {
                constexpr int ROW = P1 * WIDE;
                const int tid = threadIdx.x;
                float racc[NPAIR];
            #pragma unroll
                for (int z = 0; z < NPAIR; ++z) racc[z] = 0.0f;
                for (int e0 = 0; e0 < ROW; e0 += LC_THREADS)
                {
                    const int e = e0 + tid;
                    float cs = 0.0f;
                    for (int i = 0; i < TR; ++i)
                    {
                        const int p0 = tile * TR + i;
                        const float v = (e < ROW && p0 < P0) ? load(p0, e) : 0.0f;
                        sm[i * LC_THREADS + tid] = v;
                        cs += v;
                    }
                    if (COLS && e < ROW) partOut[e] = cs;
                    __syncthreads();
            #pragma unroll
                    for (int z = 0; z < NPAIR; ++z)
                    {
                        const int pr = tid + LC_THREADS * z;
                        if (pr < TR * WIDE)
                        {
                            const int i = pr / WIDE, r = pr % WIDE;
                            float a = 0.0f;
                            for (int k = ((r - e0) % WIDE + WIDE) % WIDE; k < LC_THREADS && e0 + k < ROW; k += WIDE) a += sm[i * LC_THREADS + k];
                            racc[z] += a;
                        }
                    }
                    __syncthreads();
                }
            #pragma unroll
                for (int z = 0; z < NPAIR; ++z)
                {
                    const int pr = tid + LC_THREADS * z;
                    if (pr < TR * WIDE)
                    {
                        const int p0 = tile * TR + pr / WIDE;
                        if (p0 < P0) rowOut[p0 * WIDE + pr % WIDE] = racc[z] * rowScale;
                    }
                }
            }

            // out[q][o] = Σ_r A[q][r] · B[r][o] for tiles of TP positions (TPB tiles from tile0) and CT columns from ct0
            // (CT a multiple of 4), A and B read through loaders and staged in shared memory RCH rows at a time (zero
            // beyond R and OUT); store(q, o, v) finishes each value. Register-tiled: thread (pl, cg) owns the 4 columns
            // ct0 + 4cg .. + 3 and the PPT positions pl, pl + PL, ...; per 4 rows it reads 4 float4 of B (along o) and
            // PPT float4 of A (along r; rows padded to RCH + 4 floats, so lanes with different pl hit different banks)
            // and does 16 · PPT multiply-adds. Each output adds its terms in order of r: deterministic.
            template <int TP, int PL, int CT, int PPT, int RCH, int R, int OUT, int TPB, class LoadA, class LoadB, class Store>
            __device__ __forceinline__ void lc_map_tiles(float* sm, int tile0, int positions, int ct0,
                const LoadA& loadA, const LoadB& loadB, const Store& store)
            {
                constexpr int AS = RCH + 4;
                constexpr int NCH = (R + RCH - 1) / RCH;
                constexpr int CG = CT / 4;
                static_assert(CT % 4 == 0 && RCH % 4 == 0 && PL * CG <= LC_THREADS, "lc_map_tiles: bad tile shape");
                float* As = sm;
                float* Bs = sm + TP * AS;
                const int tid = threadIdx.x;
                const int cg = tid % CG, pl = tid / CG, c0 = ct0 + 4 * cg;
                const bool active = pl < PL && c0 < OUT;
                const int tiles = (positions + TP - 1) / TP;
                for (int t = tile0; t < tile0 + TPB && t < tiles; ++t)
                {
                    const int q0 = t * TP;
                    float acc[PPT][4];
            #pragma unroll
                    for (int j = 0; j < PPT; ++j)
                    {
            #pragma unroll
                        for (int k = 0; k < 4; ++k) acc[j][k] = 0.0f;
                    }
                    for (int ch = 0; ch < NCH; ++ch)
                    {
                        const int r0 = ch * RCH;
                        __syncthreads();
                        for (int idx = tid; idx < TP * RCH; idx += LC_THREADS)
                        {
                            const int p = idx / RCH, rr = idx % RCH, q = q0 + p, r = r0 + rr;
                            As[p * AS + rr] = (q < positions && r < R) ? loadA(q, r) : 0.0f;
                        }
                        if (NCH > 1 || t == tile0)
                        {
                            for (int idx = tid; idx < RCH * CT; idx += LC_THREADS)
                            {
                                const int r = r0 + idx / CT, o = ct0 + idx % CT;
                                Bs[idx] = (r < R && o < OUT) ? loadB(r, o) : 0.0f;
                            }
                        }
                        __syncthreads();
                        if (active)
                        {
                            const int rn = ((R - r0 < RCH ? R - r0 : RCH) + 3) / 4 * 4;
                            for (int rr = 0; rr < rn; rr += 4)
                            {
                                const lc_f4 b0 = *reinterpret_cast<const lc_f4*>(Bs + rr * CT + 4 * cg);
                                const lc_f4 b1 = *reinterpret_cast<const lc_f4*>(Bs + (rr + 1) * CT + 4 * cg);
                                const lc_f4 b2 = *reinterpret_cast<const lc_f4*>(Bs + (rr + 2) * CT + 4 * cg);
                                const lc_f4 b3 = *reinterpret_cast<const lc_f4*>(Bs + (rr + 3) * CT + 4 * cg);
            #pragma unroll
                                for (int j = 0; j < PPT; ++j)
                                {
                                    const lc_f4 a = *reinterpret_cast<const lc_f4*>(As + (pl + PL * j) * AS + rr);
                                    acc[j][0] += a.x * b0.x; acc[j][0] += a.y * b1.x; acc[j][0] += a.z * b2.x; acc[j][0] += a.w * b3.x;
                                    acc[j][1] += a.x * b0.y; acc[j][1] += a.y * b1.y; acc[j][1] += a.z * b2.y; acc[j][1] += a.w * b3.y;
                                    acc[j][2] += a.x * b0.z; acc[j][2] += a.y * b1.z; acc[j][2] += a.z * b2.z; acc[j][2] += a.w * b3.z;
                                    acc[j][3] += a.x * b0.w; acc[j][3] += a.y * b1.w; acc[j][3] += a.z * b2.w; acc[j][3] += a.w * b3.w;
                                }
                            }
                        }
                    }
                    if (active)
                    {
            #pragma unroll
                        for (int j = 0; j < PPT; ++j)
                        {
                            const int q = q0 + pl + PL * j;
                            if (q >= positions) continue;
            #pragma unroll
                            for (int k = 0; k < 4; ++k)
                            {
                                if (c0 + k < OUT) store(q, c0 + k, acc[j][k]);
                            }
                        }
                    }
                }
            }

            // out[i][o] = Σ_{k0 <= k < k1} X(k, i) · G(k, o) for one TI × TO tile at (i0, o0) of a rows × cols matrix.
            // KT values of k at a time are staged in shared memory; each thread owns a 4 × 4 block of outputs and the
            // block's G = 256 / ((TI/4)(TO/4)) thread groups take KT/G of them each; the group partials are then added
            // in group order. Fixed summation order: deterministic. Needs 4096 shared floats.
            template <int TI, int TO, int KT, class LoadX, class LoadG>
            __device__ __forceinline__ void lc_grad_tile(float* sm, int k0, int k1, int rows, int cols, int i0, int o0,
                const LoadX& loadX, const LoadG& loadG, float* __restrict__ out)
            {
                constexpr int TPG = (TI / 4) * (TO / 4), G = LC_THREADS / TPG, KPG = KT / G;
                float* Xs = sm;
                float* Gs = sm + KT * TI;
                const int tid = threadIdx.x, grp = tid / TPG, tig = tid % TPG;
                const int ty = tig / (TO / 4), tx = tig % (TO / 4);
                float acc[4][4];
            #pragma unroll
                for (int a = 0; a < 4; ++a)
                {
            #pragma unroll
                    for (int c = 0; c < 4; ++c) acc[a][c] = 0.0f;
                }
                for (int kb = k0; kb < k1; kb += KT)
                {
                    __syncthreads();
                    for (int idx = tid; idx < KT * TI; idx += LC_THREADS)
                    {
                        const int k = kb + idx / TI, i = i0 + idx % TI;
                        Xs[idx] = (k < k1 && i < rows) ? loadX(k, i) : 0.0f;
                    }
                    for (int idx = tid; idx < KT * TO; idx += LC_THREADS)
                    {
                        const int k = kb + idx / TO, o = o0 + idx % TO;
                        Gs[idx] = (k < k1 && o < cols) ? loadG(k, o) : 0.0f;
                    }
                    __syncthreads();
                    for (int kk = grp * KPG; kk < (grp + 1) * KPG; ++kk)
                    {
                        const lc_f4 x4 = *reinterpret_cast<const lc_f4*>(Xs + kk * TI + ty * 4);
                        const lc_f4 g4 = *reinterpret_cast<const lc_f4*>(Gs + kk * TO + tx * 4);
                        const float xv[4] = { x4.x, x4.y, x4.z, x4.w }, gv[4] = { g4.x, g4.y, g4.z, g4.w };
            #pragma unroll
                        for (int a = 0; a < 4; ++a)
                        {
            #pragma unroll
                            for (int c = 0; c < 4; ++c) acc[a][c] += xv[a] * gv[c];
                        }
                    }
                }
                __syncthreads();
            #pragma unroll
                for (int a = 0; a < 4; ++a)
                {
            #pragma unroll
                    for (int c = 0; c < 4; ++c) sm[(grp * TI + ty * 4 + a) * TO + tx * 4 + c] = acc[a][c];
                }
                __syncthreads();
                for (int e = tid; e < TI * TO; e += LC_THREADS)
                {
                    const int i = i0 + e / TO, o = o0 + e % TO;
                    if (i >= rows || o >= cols) continue;
                    float v = 0.0f;
                    for (int q = 0; q < G; ++q) v += sm[q * TI * TO + e];
                    out[i * cols + o] = v;
                }
            }
            #endif
            """;

        /// <summary>Memory offsets of tensors whose fixed axes do not all trail: (grid position, wide index) → element.</summary>
        private void EmitOffsetHelpers(IndentedWriter w)
        {
            foreach (var v in _p.Views.Where(v => !v.Trailing))
                foreach (int c in new[] { _p.Cin, _p.Cout }.Distinct())
                {
                    var axes = v.Tensor.Axes;
                    w.Line();
                    w.Line($"// {v.Tensor}: fixed axes are not all after the permuted ones.");
                    using (w.Block($"__device__ __forceinline__ int {OffsetHelper(v.Tensor.Index, c)}(int g, int wi)"))
                    {
                        w.Line($"const int c = wi % {I(c)}, f = wi / {I(c)};");
                        var digits = new string[axes.Count];
                        long radix = 1;
                        foreach (int i in Enumerable.Reverse(v.Tensor.PermutedAxes))
                        {
                            digits[i] = radix == 1 ? $"g % {I(axes[i].Size)}" : $"g / {I(radix)} % {I(axes[i].Size)}";
                            radix *= axes[i].Size;
                        }
                        radix = 1;
                        foreach (int i in Enumerable.Reverse(v.Tensor.FixedAxes))
                        {
                            digits[i] = radix == 1 ? $"f % {I(axes[i].Size)}" : $"f / {I(radix)} % {I(axes[i].Size)}";
                            radix *= axes[i].Size;
                        }
                        string e = $"({digits[0]})";
                        for (int i = 1; i < axes.Count; i++) e = $"({e} * {I(axes[i].Size)} + ({digits[i]}))";
                        w.Line($"return {e} * {I(c)} + c;");
                    }
                }
        }

        private static void OpenKernel(IndentedWriter w, string name, string doc)
        {
            w.Line();
            w.Line($"// {doc}");
            w.Open($"extern \"C\" __global__ void __launch_bounds__(LC_THREADS) {name}(LC_ARGS)");
        }

        /// <summary>A block range of a kernel: blocks = m · ⌈batch · a / d⌉; inside, `bid` is the block index within the range.</summary>
        private static void OpenRange(IndentedWriter w, CudaLaunchInfo step, long m, long a, long d, string comment)
        {
            step.GridTerms.Add(m); step.GridTerms.Add(a); step.GridTerms.Add(d);
            w.Line($"// {comment}");
            w.OpenScope();
            string count = d == 1 ? $"batch * {I(a)}" : $"(int)(((lc_i64)batch * {I(a)} + {I(d - 1)}) / {I(d)})";
            if (a == 1 && d == 1) count = "batch";
            w.Line($"const int nb = {(m == 1 ? count : $"{I(m)} * {count}")};");
            w.Open("if (bid < nb)");
        }

        private static void CloseRange(IndentedWriter w)
        {
            w.Line("return;");
            w.Close();
            w.Line("bid -= nb;");
            w.Close();
        }

        private string StatsKernel(StatKind k) => $"lc_{k.Name}stats{_sfx}";
        private string StatsFinishKernel(StatKind k) => $"lc_{k.Name}stats_finish{_sfx}";
        private bool HasStats(StatKind k) => k.Tensors.Any(t => t.TotSeg >= 0 || t.RowSeg >= 0);
        private bool HasStatsFinish(StatKind k) => k.Tensors.Any(t => t.RowSeg >= 0 && (t.Cols || t.TotSeg >= 0));

        private void AddStatsSteps(StatKind k, int pass, List<CudaLaunchInfo> steps)
        {
            // Re-use the steps emitted for the forward pass (same kernels, same grids).
            foreach (var s in steps.Where(s => s.Pass == 0 && (s.Kernel == StatsKernel(k) || s.Kernel == StatsFinishKernel(k))).ToList())
                steps.Add(new CudaLaunchInfo { Kernel = s.Kernel, Pass = pass, GridTerms = new List<long>(s.GridTerms), ConstantBlocks = s.ConstantBlocks });
        }

        private void EmitStats(IndentedWriter w, StatKind k, int pass, List<CudaLaunchInfo> steps)
        {
            if (!HasStats(k)) return;
            var step = new CudaLaunchInfo { Kernel = StatsKernel(k), Pass = pass };
            string what = k.Mean ? "means of the input" : "sums of the output gradient";
            OpenKernel(w, step.Kernel, $"Pooled {what}: one read of each tensor.");
            int smem = k.Tensors.Where(t => t.RowSeg >= 0).Select(t => t.Tr * Threads).DefaultIfEmpty(0).Max();
            if (smem > 0) w.Line($"__shared__ float lc_sm[{I(smem)}];");
            w.Line("int bid = blockIdx.x;");
            foreach (var ts in k.Tensors)
            {
                var v = ts.V;
                int t = v.Tensor.Index, wide = v.Fixed * k.Channels;
                if (v.PermSizes.Count == 1 && ts.TotSeg >= 0)
                {
                    OpenRange(w, step, 1, wide, Threads, $"{v.Tensor.Name}: {(k.Mean ? "mean" : "sum")} over its {v.PermSizes[0]} positions");
                    w.Line("const int u = bid * LC_THREADS + threadIdx.x;");
                    using (w.Block($"if (u < batch * {I(wide)})"))
                    {
                        w.Line($"const int n = u / {I(wide)}, wi = u % {I(wide)};");
                        w.Line("float acc = 0.0f;");
                        w.Line($"for (int p = 0; p < {I(v.PermSizes[0])}; ++p) acc += {Raw(k.Ptr, v, k.Channels, "n", "p", "wi")};");
                        w.Line($"{Stat(k.Region, ts.TotSeg, wide, "n", "0", "wi")} = acc{(k.Mean ? " * " + F(1.0 / v.PermSizes[0]) : "")};");
                    }
                    CloseRange(w);
                }
                else if (ts.RowSeg >= 0)
                {
                    int p0 = v.PermSizes[0], p1 = v.PermSizes[1];
                    OpenRange(w, step, ts.Tiles, 1, 1, $"{v.Tensor.Name}: row {(k.Mean ? "means" : "sums")}{(ts.Cols ? " and column partial sums" : "")}, tiles of {ts.Tr} rows");
                    w.Line($"const int n = bid / {I(ts.Tiles)}, tile = bid % {I(ts.Tiles)};");
                    string load = v.Trailing
                        ? $"{k.Ptr}[(lc_i64)batch * {I(TensorBase(t, k.Channels))} + (lc_i64)n * {I((long)v.Tensor.Size * k.Channels)} + p0 * {I((long)p1 * wide)} + e]"
                        : Raw(k.Ptr, v, k.Channels, "n", $"p0 * {I(p1)} + e / {I(wide)}", $"e % {I(wide)}");
                    w.Line($"auto load = [&](int p0, int e) -> float {{ return {load}; }};");
                    string rowOut = $"{RegionPtr(k.Region)} + (lc_i64)n * {I(k.RegionSize)} + {I(ts.RowSeg)}";
                    string partOut = ts.Cols ? $"{RegionPtr(k.PartRegion)} + (lc_i64)n * {I(k.PartSize)} + {I(ts.PartSeg)} + tile * {I((long)p1 * wide)}" : "nullptr";
                    w.Line($"lc_stats2d<{I(p0)}, {I(p1)}, {I(wide)}, {I(ts.Tr)}, {I(ts.Npair)}, {(ts.Cols ? "true" : "false")}>(lc_sm, tile, load,");
                    w.Line($"    {rowOut},");
                    w.Line($"    {partOut}, {(k.Mean ? F(1.0 / p1) : "1.0f")});");
                    CloseRange(w);
                }
            }
            w.Close();
            steps.Add(step);
        }

        private void EmitStatsFinish(IndentedWriter w, StatKind k, int pass, List<CudaLaunchInfo> steps)
        {
            if (!HasStatsFinish(k)) return;
            var step = new CudaLaunchInfo { Kernel = StatsFinishKernel(k), Pass = pass };
            OpenKernel(w, step.Kernel, $"Column {(k.Mean ? "means" : "sums")} from the row tiles' partial sums, totals from the rows (fixed order).");
            w.Line("int bid = blockIdx.x;");
            foreach (var ts in k.Tensors.Where(t => t.RowSeg >= 0))
            {
                var v = ts.V;
                int wide = v.Fixed * k.Channels, p0 = v.PermSizes[0], p1 = v.PermSizes[1];
                long row = (long)p1 * wide;
                if (ts.Cols)
                {
                    OpenRange(w, step, 1, row, Threads, $"{v.Tensor.Name}: columns, {ts.Tiles} partial sums each");
                    w.Line("const int u = bid * LC_THREADS + threadIdx.x;");
                    using (w.Block($"if (u < batch * {I(row)})"))
                    {
                        w.Line($"const int n = u / {I(row)}, e = u % {I(row)};");
                        w.Line($"const float* part = {RegionPtr(k.PartRegion)} + (lc_i64)n * {I(k.PartSize)} + {I(ts.PartSeg)} + e;");
                        w.Line("float acc = 0.0f;");
                        w.Line($"for (int t = 0; t < {I(ts.Tiles)}; ++t) acc += part[t * {I(row)}];");
                        w.Line($"{Stat(k.Region, ts.ColSeg, wide, "n", "0", "e")} = acc{(k.Mean ? " * " + F(1.0 / p0) : "")};");
                    }
                    CloseRange(w);
                }
                if (ts.TotSeg >= 0)
                {
                    OpenRange(w, step, 1, wide, Threads, $"{v.Tensor.Name}: total over the {p0} row {(k.Mean ? "means" : "sums")}");
                    w.Line("const int u = bid * LC_THREADS + threadIdx.x;");
                    using (w.Block($"if (u < batch * {I(wide)})"))
                    {
                        w.Line($"const int n = u / {I(wide)}, wi = u % {I(wide)};");
                        w.Line("float acc = 0.0f;");
                        w.Line($"for (int p = 0; p < {I(p0)}; ++p) acc += {Stat(k.Region, ts.RowSeg, wide, "n", "p", "wi")};");
                        w.Line($"{Stat(k.Region, ts.TotSeg, wide, "n", "0", "wi")} = acc{(k.Mean ? " * " + F(1.0 / p0) : "")};");
                    }
                    CloseRange(w);
                }
            }
            w.Close();
            steps.Add(step);
        }

        private string TermsKernel(MapInfo m) => $"lc_{(m.Backward ? "bwd" : "fwd")}_terms{_sfx}";
        private string OutKernel(MapInfo m) => $"lc_{(m.Backward ? "bwd" : "fwd")}_out{_sfx}";

        /// <summary>
        /// A map kernel: one block range per group. Small groups (the broadcast terms) write scratch; full groups (the
        /// entry pass) add bias and broadcast terms and write the destination.
        /// </summary>
        private void EmitMap(IndentedWriter w, MapInfo m, bool full, int pass, List<CudaLaunchInfo> steps)
        {
            var groups = full ? m.Full : m.Small;
            if (groups.Count == 0) return;
            bool bwd = m.Backward;
            var step = new CudaLaunchInfo { Kernel = full ? OutKernel(m) : TermsKernel(m), Pass = pass };
            string what = bwd ? "input gradient (transposed map)" : "forward map";
            OpenKernel(w, step.Kernel, full
                ? $"Entry pass of the {what}, one block range per tensor: channel mix of every source that keeps all axes, plus {(bwd ? "" : "bias and ")}broadcast terms."
                : $"Broadcast terms of the {what}: per destination and kept axes, statistics times weight matrices.");
            int smem = (int)CeilDiv(groups.Max(g => g.SharedFloats), 4);
            w.Line($"__shared__ lc_f4 lc_sm4[{I(smem)}];");
            w.Line("float* const lc_sm = reinterpret_cast<float*>(lc_sm4);");
            w.Line("int bid = blockIdx.x;");
            int dstChannels = bwd ? _p.Cin : _p.Cout;
            foreach (var mg in groups)
            {
                var d = mg.D;
                long per = (long)mg.Tp * mg.Tpb;
                string target = full ? d.Tensor.Name : $"{d.Tensor.Name} terms keeping mask {mg.Mask}";
                OpenRange(w, step, mg.Nct, mg.Positions, per,
                    $"-> {target}: {mg.Positions} position(s) x {mg.Out} columns per network, {mg.R} source rows; tiles of {mg.Tp} positions, {mg.Tpb} per block");
                w.Line(mg.Nct == 1 ? $"const int ct = 0, tile0 = bid * {I(mg.Tpb)};" : $"const int ct = bid % {I(mg.Nct)}, tile0 = (bid / {I(mg.Nct)}) * {I(mg.Tpb)};");
                // A: the links' source rows, concatenated.
                var a = new IndentedWriter();
                for (int i = 0; i < mg.Links.Count; i++)
                {
                    var f = mg.Links[i];
                    string src = Source(f.L, bwd, "n", "p", f.RowOff == 0 ? "r" : $"r - {I(f.RowOff)}", "q");
                    a.Line($"// {f.L.Description}");
                    a.Line(i == mg.Links.Count - 1 ? $"return {src};" : $"if (r < {I(f.RowOff + f.In)}) return {src};");
                }
                if (mg.Links.Count == 0) a.Line("return 0.0f;");
                EmitLambda(w, "loadA", "int q, int r", "float", a.ToString(), Decl(a.ToString(), "q", mg.Positions));
                var b = new IndentedWriter();
                for (int i = 0; i < mg.Links.Count; i++)
                {
                    var f = mg.Links[i];
                    string wr = Weight(f.L, bwd, f.RowOff == 0 ? "r" : $"r - {I(f.RowOff)}", "o");
                    if (bwd && f.L.Scale != 1) wr = $"{F(f.L.Scale)} * {wr}";
                    b.Line(i == mg.Links.Count - 1 ? $"return {wr};" : $"if (r < {I(f.RowOff + f.In)}) return {wr};");
                }
                if (mg.Links.Count == 0) b.Line("return 0.0f;");
                EmitLambda(w, "loadB", "int r, int o", "float", b.ToString(), "");
                var st = new IndentedWriter();
                if (full)
                {
                    if (!bwd) st.Line($"v += b[{I(_p.BiasOffsets[d.Tensor.Index])} + o];");
                    foreach (var sg in m.Small.Where(g => g.D == d))
                        st.Line($"v += {Stat(m.Region, sg.Seg, sg.Out, "n", Kept(d, sg.Mask, "p"), "o")};");
                    st.Line($"{Raw("y", d, dstChannels, "n", "p", "o", "q")} = v;");
                }
                else
                    st.Line($"{Stat(m.Region, mg.Seg, mg.Out, "n", "p", "o")} = v;");
                EmitLambda(w, "store", "int q, int o, float v", "void", st.ToString(), Decl(st.ToString(), "q", mg.Positions));
                w.Line($"lc_map_tiles<{I(mg.Tp)}, {I(mg.Pl)}, {I(mg.Ct)}, {I(mg.Ppt)}, {I(mg.Rch)}, {I(mg.R)}, {I(mg.Out)}, {I(mg.Tpb)}>(lc_sm, tile0, batch * {I(mg.Positions)}, ct * {I(mg.Ct)}, loadA, loadB, store);");
                CloseRange(w);
            }
            w.Close();
            steps.Add(step);
        }

        private static void EmitLambda(IndentedWriter w, string name, string args, string ret, string body, string decl)
        {
            w.Line($"auto {name} = [&]({args}) -> {ret}");
            w.OpenScope();
            if (decl.Length > 0) w.Line(decl.TrimEnd());
            w.Lines(body.TrimEnd('\n'));
            w.Close(";");
        }

        private string GradKernel => $"lc_wgrad{_sfx}";
        private string GradFinishKernel => $"lc_wgrad_finish{_sfx}";

        /// <summary>Offset of group q's partial sums: Σ over earlier groups of ⌈batch / nb⌉ · S.</summary>
        private string GroupBase(int q)
        {
            var terms = _groups.Take(q).Select(g => $"(lc_i64)((batch + {I(g.Nb - 1)}) / {I(g.Nb)}) * {I(g.S)}").ToList();
            return terms.Count == 0 ? "0" : string.Join(" + ", terms);
        }

        private const int FinishSlices = 8;

        private void EmitGrad(IndentedWriter w, List<CudaLaunchInfo> steps)
        {
            var step = new CudaLaunchInfo { Kernel = GradKernel, Pass = 1 };
            OpenKernel(w, step.Kernel, "Parameter gradients: per weight link (and bias), per chunk of networks, the partial sum of (input statistic) x (gradient statistic).");
            w.Line($"__shared__ lc_f4 lc_sm4[{I(GradSharedFloats / 4)}];");
            w.Line("float* const lc_sm = reinterpret_cast<float*>(lc_sm4);");
            w.Line("int bid = blockIdx.x;");
            w.Line($"float* const part = s + (lc_i64)batch * {I(_perNet)};");
            for (int q = 0; q < _groups.Count; q++)
            {
                var g = _groups[q];
                OpenRange(w, step, g.T, 1, g.Nb, $"group {q}: {g.Nb} network(s) per chunk, {g.T} block(s) and {g.S} partial floats per chunk");
                w.Line($"const int chunk = bid / {I(g.T)}, t = bid % {I(g.T)};");
                w.Line($"const int n0 = chunk * {I(g.Nb)}, n1 = n0 + {I(g.Nb)} < batch ? n0 + {I(g.Nb)} : batch;");
                w.Line($"float* const out = part + {GroupBase(q)} + (lc_i64)chunk * {I(g.S)};");
                for (int i = 0; i < g.Items.Count; i++)
                {
                    var gi = g.Items[i];
                    string x, gs;
                    if (gi.L is Link l)
                    {
                        var o = _p.Views[l.Dst];
                        w.Line($"// {l.Description}: {l.Rows} x {l.Cols} at weight {l.WOffset}, {gi.Kg} kept position(s) per network");
                        x = Source(l, false, "n", "kk", "i", "k");
                        gs = l.DstMask == o.FullMask
                            ? Raw("g", o, _p.Cout, "n", "kk", "c", "k")
                            : Stat(_gs.Region, StatSeg(_gs, o.Tensor.Index, l.DstMask), o.Fixed * _p.Cout, "n", "kk", "c");
                    }
                    else
                    {
                        var v = gi.Bias;
                        w.Line($"// bias of {v.Tensor.Name}: {gi.Cols} values at bias {_p.BiasOffsets[v.Tensor.Index]}, the total of its output gradient");
                        x = "1.0f";
                        gs = v.FullMask == 0 ? Raw("g", v, _p.Cout, "n", "0", "c") : Stat(_gs.Region, StatSeg(_gs, v.Tensor.Index, 0), gi.Cols, "n", "0", "c");
                    }
                    w.Open($"{(i == 0 ? "" : "else ")}if (t < {I(gi.TileStart + gi.Tiles)})");
                    w.Line($"const int tt = t - {I(gi.TileStart)};");
                    w.Line($"auto loadX = [&](int k, int i) -> float {{ {Decl(x, "k", gi.Kg, "n", "kk")}return {x}; }};");
                    w.Line($"auto loadG = [&](int k, int c) -> float {{ {Decl(gs, "k", gi.Kg, "n", "kk")}return {gs}; }};");
                    w.Line($"lc_grad_tile<{I(gi.Ti)}, {I(gi.To)}, {I(gi.Kt)}>(lc_sm, n0 * {I(gi.Kg)}, n1 * {I(gi.Kg)}, {I(gi.Rows)}, {I(gi.Cols)}, " +
                        $"{(gi.TilesO == 1 ? "tt" : $"(tt / {I(gi.TilesO)})")} * {I(gi.Ti)}, {(gi.TilesO == 1 ? "0" : $"(tt % {I(gi.TilesO)}) * {I(gi.To)}")}, loadX, loadG, out + {I(gi.GOff)});");
                    w.Close();
                }
                CloseRange(w);
            }
            w.Close();
            steps.Add(step);

            // The reduction over chunks: a table of where each item's parameters start, binary-searched per parameter.
            int n = _grad.Count;
            int wc = _p.WeightCount, total = wc + _p.BiasCount;
            string tab = $"lc_grad_tab{_sfx}";
            w.Line();
            w.Line("// Per gradient item (weight links, then biases): first parameter (weights, then biases), group, offset in");
            w.Line("// its group's chunk. Ends with the parameter count.");
            w.Line($"__constant__ int {tab}_start[{I(n + 1)}] = {{ {string.Join(", ", _grad.Select(gi => I(gi.Start)).Concat(new[] { I(total) }))} }};");
            w.Line($"__constant__ int {tab}_group[{I(n)}] = {{ {string.Join(", ", _grad.Select(gi => I(gi.Group)))} }};");
            w.Line($"__constant__ int {tab}_goff[{I(n)}] = {{ {string.Join(", ", _grad.Select(gi => I(gi.GOff)))} }};");

            int perBlock = Threads / FinishSlices;
            var fin = new CudaLaunchInfo { Kernel = GradFinishKernel, Pass = 1, ConstantBlocks = CeilDiv(total, perBlock) };
            OpenKernel(w, fin.Kernel, $"Adds the chunk partial sums into gw and gb: {perBlock} parameters per block, {FinishSlices} slices of the chunks each, added in slice order.");
            w.Line($"__shared__ float lc_sm[{I(Threads)}];");
            w.Line($"const int lane = threadIdx.x % {I(perBlock)}, slice = threadIdx.x / {I(perBlock)};");
            w.Line($"const int u = blockIdx.x * {I(perBlock)} + lane;");
            w.Line("float acc = 0.0f;");
            using (w.Block($"if (u < {I(total)})"))
            {
                w.Line($"int lo = 0, hi = {I(n - 1)};");
                using (w.Block("while (lo < hi)"))
                {
                    w.Line("const int mid = (lo + hi + 1) / 2;");
                    w.Line($"if ({tab}_start[mid] <= u) lo = mid; else hi = mid - 1;");
                }
                w.Line($"const float* p = s + (lc_i64)batch * {I(_perNet)} + {tab}_goff[lo] + (u - {tab}_start[lo]);");
                w.Line("int chunks = 0;");
                w.Line("lc_i64 stride = 0;");
                using (w.Block($"switch ({tab}_group[lo])"))
                {
                    for (int q = 0; q < _groups.Count; q++)
                        w.Line($"case {I(q)}: p += {GroupBase(q)}; chunks = (batch + {I(_groups[q].Nb - 1)}) / {I(_groups[q].Nb)}; stride = {I(_groups[q].S)}; break;");
                }
                w.Line($"for (int c = slice; c < chunks; c += {I(FinishSlices)}) acc += p[(lc_i64)c * stride];");
            }
            w.Line($"lc_sm[threadIdx.x] = acc;");
            w.Line("__syncthreads();");
            using (w.Block($"if (slice == 0 && u < {I(total)})"))
            {
                w.Line("float t = 0.0f;");
                w.Line($"for (int k = 0; k < {I(FinishSlices)}; ++k) t += lc_sm[k * {I(perBlock)} + lane];");
                w.Line($"if (u < {I(wc)}) gw[u] += t; else gb[u - {I(wc)}] += t;");
            }
            w.Close();
            steps.Add(fin);
        }
    }
}
