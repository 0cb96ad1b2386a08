using System;

namespace LayerCompiler.Runtime.Losses;

/// <summary>
/// Metrics of predicted against true values (e.g. a classifier's test accuracy predicted from its weights): Kendall's
/// rank correlation τ-b and the coefficient of determination R². Sums run in double; NaN inputs are refused.
/// </summary>
public static class RegressionMetrics
{
    /// <summary>
    /// Kendall's τ-b: (concordant − discordant) / √((n₀ − n₁)(n₀ − n₂)) over all pairs, with n₀ = n(n−1)/2 and n₁, n₂ the
    /// pairs tied in x and in y (the variant SciPy's <c>kendalltau</c> computes by default). O(n log n): sort by (x, y),
    /// count swaps of a merge sort of y. NaN when either side is constant.
    /// </summary>
    public static double KendallTau(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        int n = Check(predicted, actual, nameof(KendallTau));
        if (n < 2) return double.NaN;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var x = predicted.ToArray(); var y = actual.ToArray();
        Array.Sort(order, (a, b) => x[a] != x[b] ? x[a].CompareTo(x[b]) : y[a].CompareTo(y[b]));

        long pairs = (long)n * (n - 1) / 2;
        long tiedX = 0, tiedXY = 0;
        for (int i = 0, j; i < n; i = j)
        {
            for (j = i + 1; j < n && x[order[j]] == x[order[i]]; j++) { }
            tiedX += (long)(j - i) * (j - i - 1) / 2;
            for (int k = i, m; k < j; k = m)                          // runs tied in both x and y
            {
                for (m = k + 1; m < j && y[order[m]] == y[order[k]]; m++) { }
                tiedXY += (long)(m - k) * (m - k - 1) / 2;
            }
        }
        // Discordant pairs = inversions of y in (x, y) order, counted by a stable merge sort.
        var ys = new float[n];
        for (int i = 0; i < n; i++) ys[i] = y[order[i]];
        long swaps = MergeCountInversions(ys, new float[n], 0, n);
        long tiedY = 0;
        for (int i = 0, j; i < n; i = j)
        {
            for (j = i + 1; j < n && ys[j] == ys[i]; j++) { }
            tiedY += (long)(j - i) * (j - i - 1) / 2;
        }
        // concordant − discordant = pairs − tiedX − tiedY + tiedXY − 2·discordant
        double numerator = pairs - tiedX - tiedY + tiedXY - 2.0 * swaps;
        double denominator = Math.Sqrt((double)(pairs - tiedX) * (pairs - tiedY));
        return denominator == 0 ? double.NaN : numerator / denominator;
    }

    /// <summary>R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²; NaN when the true values are constant.</summary>
    public static double RSquared(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        int n = Check(predicted, actual, nameof(RSquared));
        if (n == 0) return double.NaN;
        double mean = 0;
        for (int i = 0; i < n; i++) mean += actual[i];
        mean /= n;
        double residual = 0, total = 0;
        for (int i = 0; i < n; i++)
        {
            double r = actual[i] - (double)predicted[i], t = actual[i] - mean;
            residual += r * r; total += t * t;
        }
        return total == 0 ? double.NaN : 1 - residual / total;
    }

    private static int Check(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual, string who)
    {
        if (predicted.Length != actual.Length) throw new ArgumentException($"{who}: {predicted.Length} predictions for {actual.Length} values.");
        for (int i = 0; i < predicted.Length; i++)
            if (float.IsNaN(predicted[i]) || float.IsNaN(actual[i])) throw new ArgumentException($"{who}: value {i} is NaN (predicted {predicted[i]}, actual {actual[i]}).");
        return predicted.Length;
    }

    // Sorts a[lo, hi) (stable: equal values never count) and returns the number of inversions a[i] > a[j], i < j.
    private static long MergeCountInversions(float[] a, float[] scratch, int lo, int hi)
    {
        if (hi - lo < 2) return 0;
        int mid = (lo + hi) >>> 1;
        long count = MergeCountInversions(a, scratch, lo, mid) + MergeCountInversions(a, scratch, mid, hi);
        int i = lo, j = mid, k = lo;
        while (i < mid && j < hi)
        {
            if (a[j] < a[i]) { count += mid - i; scratch[k++] = a[j++]; }
            else scratch[k++] = a[i++];
        }
        while (i < mid) scratch[k++] = a[i++];
        while (j < hi) scratch[k++] = a[j++];
        Array.Copy(scratch, lo, a, lo, hi - lo);
        return count;
    }
}
