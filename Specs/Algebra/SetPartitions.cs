using System.Collections.Generic;

namespace LayerCompiler.Algebra
{
    /// <summary>Set partitions as restricted growth strings: a[0] = 0, a[i] ≤ max(a[..i]) + 1.</summary>
    public static class SetPartitions
    {
        /// <summary>Every partition of k items into at most <paramref name="maxBlocks"/> blocks, in lexicographic order.</summary>
        public static IEnumerable<int[]> Enumerate(int k, int maxBlocks)
        {
            if (k == 0) { yield return new int[0]; yield break; }
            if (maxBlocks <= 0) yield break;
            var a = new int[k];
            var max = new int[k]; // max[i] = max(a[0..i])
            while (true)
            {
                yield return (int[])a.Clone();
                // Advance: find the rightmost position that can grow.
                int i = k - 1;
                while (i > 0 && (a[i] > max[i - 1] || a[i] + 1 >= maxBlocks)) i--;
                if (i == 0) yield break;
                a[i]++;
                max[i] = a[i] > max[i - 1] ? a[i] : max[i - 1];
                for (int j = i + 1; j < k; j++) { a[j] = 0; max[j] = max[j - 1]; }
            }
        }

        /// <summary>Bell number restricted to at most maxBlocks blocks (Stirling numbers of the second kind summed).</summary>
        public static long Count(int k, int maxBlocks)
        {
            // S(n, j) by the recurrence S(n, j) = j S(n-1, j) + S(n-1, j-1).
            var s = new long[k + 1, k + 1];
            s[0, 0] = 1;
            for (int n = 1; n <= k; n++)
                for (int j = 1; j <= n; j++)
                    s[n, j] = j * s[n - 1, j] + s[n - 1, j - 1];
            long total = 0;
            for (int j = 0; j <= k && j <= maxBlocks; j++) total += s[k, j];
            return total;
        }
    }
}
