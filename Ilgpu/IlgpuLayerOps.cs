using ILGPU;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// Device functions the generated layer kernels call: the walks of the total-term table (<see cref="IlgpuTotalTables"/>).
/// Each returns one value for one thread; sums run in a fixed order (no atomics).
/// </summary>
public static class IlgpuLayerOps
{
    /// <summary>Forward: entry <paramref name="j"/> of Σ over the total terms into tensor <paramref name="t"/> of (input total) · W.
    /// The Cin totals vector of network-scratch <paramref name="totals"/> starts at that index of <c>a.S</c>.</summary>
    public static float TotalsForward(IlgpuLayerArgs a, int tensors, int totals, int t, int j)
    {
        int first = a.Table[4 * t], count = a.Table[4 * t + 1];
        float acc = 0f;
        for (int r = 0; r < count; r++)
        {
            int row = IlgpuTotalTables.RowStart(tensors, first + r);
            int off = a.Table[row], rows = a.Table[row + 1], cols = a.Table[row + 2], src = totals + a.Table[row + 3];
            float sum = 0f;
            for (int i = 0; i < rows; i++) sum += a.S[src + i] * a.W[off + i * cols + j];
            acc += sum;
        }
        return acc;
    }

    /// <summary>Input gradient: entry <paramref name="j"/> of Σ over the total terms out of tensor <paramref name="t"/> of
    /// (output-gradient total) · Wᵀ, each scaled by the adjoint of its mean (1 / positions pooled).</summary>
    public static float TotalsBackward(IlgpuLayerArgs a, int tensors, int gradTotals, int t, int j)
    {
        int first = a.Table[4 * t + 2], count = a.Table[4 * t + 3];
        float acc = 0f;
        for (int r = 0; r < count; r++)
        {
            int row = IlgpuTotalTables.RowStart(tensors, first + r);
            int off = a.Table[row], cols = a.Table[row + 2], src = gradTotals + a.Table[row + 4];
            float scale = (float)(1.0 / a.Table[row + 5]);
            float sum = 0f;
            for (int i = 0; i < cols; i++) sum += a.S[src + i] * a.W[off + j * cols + i];
            acc += sum * scale;
        }
        return acc;
    }

    /// <summary>
    /// The share of networks [<paramref name="n0"/>, <paramref name="n1"/>) of weight <paramref name="e"/>'s gradient when it
    /// belongs to a total term: Σ over those networks of (input total)[r] · (output-gradient total)[c]. Networks' scratch
    /// is <paramref name="perNetwork"/> floats apart; their Cin totals start at 0, their Cout gradient totals at
    /// <paramref name="gradTotals"/>. Returns 0 for a weight of no total term (the caller's terms cover it).
    /// </summary>
    public static float TotalsWeightGradient(IlgpuLayerArgs a, int tensors, int e, int n0, int n1, int perNetwork, int gradTotals)
    {
        int first = a.Table[4 * tensors], count = a.Table[4 * tensors + 1];
        // Rows are sorted by weight offset: binary search for the last row starting at or before e.
        int lo = 0, hi = count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (a.Table[IlgpuTotalTables.RowStart(tensors, first + mid)] <= e) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return 0f;
        int row = IlgpuTotalTables.RowStart(tensors, first + found);
        int off = a.Table[row], rows = a.Table[row + 1], cols = a.Table[row + 2];
        if (e >= off + rows * cols) return 0f;
        int r = (e - off) / cols, c = (e - off) % cols;
        int xs = a.Table[row + 3] + r, gs = gradTotals + a.Table[row + 4] + c;
        float acc = 0f;
        for (int n = n0; n < n1; n++) acc += a.S[n * perNetwork + xs] * a.S[n * perNetwork + gs];
        return acc;
    }
}
