using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Diagnostics;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Model;
using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Parse
{
    /// <summary>
    /// The checks of a model that need its resolved architecture's weight space: every size the generated code holds in
    /// an <c>int</c>. Run twice on the same data: by the diagnostics output (which knows where the attribute is) and by
    /// emission (which emits nothing when a check fails), so the model that emission caches carries no location.
    /// </summary>
    public static class ModelChecks
    {
        /// <summary>The first size that does not fit in an int, as a descriptor and its message argument; null when all fit.</summary>
        public static (DiagnosticDescriptor Descriptor, string Message)? FirstOverflow(EquivariantModelInfo model, ArchitectureInfo arch)
        {
            var space = WeightSpace.FromLayers(SourceEmitter.Declarations(arch), (Symmetry)model.Symmetry);
            foreach (var (cin, cout) in SourceEmitter.KernelChannelPairs(model))
            {
                // Estimated in double first: with conv kernels the exact count can exceed even a long.
                double estimate = Basis.All(space).Sum(t => (double)space.Tensors[t.Input].FixedSize * cin * space.Tensors[t.Output].FixedSize * cout)
                                  + space.Tensors.Sum(t => (double)t.FixedSize) * cout;
                if (estimate > int.MaxValue)
                    return (Descriptors.TooManyParameters, $"The equivariant layer {cin} → {cout} channels over '{arch.Type.Name}' has {Show(estimate, () => LayerPlan.CountParameters(space, cin, cout))} parameters, more than {int.MaxValue}");
                // A network's features at a layer: one block of (tensor entries × channels) per weight tensor, indexed by int
                // in the kernels and sized by int constants in the generated code; the GPU backend lays out the statistics
                // of all of a network's tensors in one int-indexed region, so the bound is on all tensors together.
                int channels = System.Math.Max(cin, cout);
                double values = (double)space.Dimension * channels;
                if (values > int.MaxValue)
                {
                    var largest = space.Tensors.OrderByDescending(t => t.Size).First();
                    return (Descriptors.FeaturesOverflow,
                        $"The equivariant layer {cin} → {cout} channels over '{arch.Type.Name}' holds {space.Dimension} weights × {channels} channels = {Show(values)} feature values per network (the largest tensor, {largest.Name}, has {largest.Size} entries), more than {int.MaxValue}");
                }
            }
            // The invariant head: Linear(features → HeadHidden) → Linear(HeadHidden → Outputs), or Linear(features → Outputs).
            if ((HeadKind)model.Head == HeadKind.Invariant && model.Channels.Count > 0)
            {
                double features = (double)Basis.InvariantFeaturesPerChannel(space) * model.Channels[model.Channels.Count - 1] * ((HeadPooling)model.Pooling == HeadPooling.MeanAndMax ? 2 : 1);
                double hidden = model.HeadHidden, outputs = model.Outputs;
                double head = hidden > 0 ? features * hidden + hidden + hidden * outputs + outputs : features * outputs + outputs;
                if (head > int.MaxValue)
                    return (Descriptors.TooManyParameters,
                        $"The invariant head ({Show(features)} pooled features{(model.HeadHidden > 0 ? $" → {model.HeadHidden}" : "")} → {model.Outputs} outputs) has {Show(head)} parameters, more than {int.MaxValue}");
            }
            return null;
        }

        /// <summary>A count computed in double: exact digits while a long holds it exactly (2^53), else rounded.</summary>
        internal static string Show(double value, System.Func<long>? exact = null) =>
            value < 9e15 ? (exact != null ? exact() : (long)value).ToString(System.Globalization.CultureInfo.InvariantCulture)
                         : "about " + value.ToString("0.###E+0", System.Globalization.CultureInfo.InvariantCulture);
    }
}
