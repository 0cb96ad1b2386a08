using System;
using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;

namespace LayerCompiler.Ilgpu;

/// <summary>
/// The layer's total terms (one per ordered pair of tensors: quadratic in the depth) as an int table the kernels walk
/// (<see cref="IlgpuLayerOps"/>), so that the generated kernels stay linear in the depth, as the CPU kernels do with
/// <c>FusedKernel.MixTotals</c>. Layout: per tensor t, ints [4t..4t+3] = first forward row and count (terms into t),
/// first backward row and count (terms out of t); then [4T, 4T+1] = first gradient row and count (every term, in
/// weight order); then the rows, <see cref="RowInts"/> ints each: weight offset, rows, cols, offset of the input
/// tensor's total in the Cin totals vector, offset of the output tensor's total in the Cout totals vector, positions the
/// input tensor's total pools over (the backward's mean scale).
/// </summary>
public static class IlgpuTotalTables
{
    public const int RowInts = 6;

    public static int[] Build(LayerPlan plan)
    {
        var space = plan.Space;
        int tensors = space.Tensors.Count;
        var terms = TotalTerms.Of(plan);
        var inOff = TotalTerms.TotalOffsets(space, plan.InChannels);
        var outOff = TotalTerms.TotalOffsets(space, plan.OutChannels);
        int rowBase = 4 * tensors + 2;
        var table = new List<int>(new int[rowBase]);
        int row = 0;
        void Add(TotalTerm t)
        {
            table.AddRange(new[] { t.Offset, t.Rows, t.Cols, inOff[t.Input], outOff[t.Output], TotalTerms.PooledCount(space.Tensors[t.Input]) });
            row++;
        }
        for (int t = 0; t < tensors; t++)
        {
            table[4 * t] = row;
            foreach (var term in terms.Where(x => x.Output == t)) Add(term);
            table[4 * t + 1] = row - table[4 * t];
        }
        for (int t = 0; t < tensors; t++)
        {
            table[4 * t + 2] = row;
            foreach (var term in terms.Where(x => x.Input == t)) Add(term);
            table[4 * t + 3] = row - table[4 * t + 2];
        }
        table[4 * tensors] = row;
        foreach (var term in terms.OrderBy(x => x.Offset)) Add(term);
        table[4 * tensors + 1] = terms.Length;
        return table.ToArray();
    }

    /// <summary>Index of the first int of row <paramref name="row"/>.</summary>
    public static int RowStart(int tensors, int row) => 4 * tensors + 2 + row * RowInts;
}
