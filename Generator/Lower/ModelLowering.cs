using System;
using System.Linq;
using System.Threading;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Lower
{
    /// <summary>
    /// A model lowered for emission: per distinct channel pair of its equivariant layers, the fused plan every backend
    /// prints. Empty when the model is not emitted (diagnostics, or a layer with more parameters than fit, which the
    /// emission step reports). <see cref="Error"/> carries an unexpected failure of the lowering itself (reported as LC0099).
    /// </summary>
    public sealed record ModelPlan(EquivariantModelInfo Model, EquatableArray<FusedPlan> Layers, string? Error);

    /// <summary>The lower step: an equatable model → its fused plans (Specs' symbolic algebra, then <see cref="FusedPlan.Lower"/>).</summary>
    public static class ModelLowering
    {
        /// <summary>Whether the model gets generated code at all: it parsed clean, and so did its architecture (whose own output
        /// reports its errors).</summary>
        public static bool Emittable(EquivariantModelInfo model) =>
            !model.HasErrors && model.Architecture is { } arch && arch.Layers.Count > 0 && !arch.HasErrors;

        public static ModelPlan Lower(EquivariantModelInfo model, CancellationToken ct)
        {
            if (!Emittable(model)) return new ModelPlan(model, EquatableArray<FusedPlan>.Empty, null);
            try
            {
                var space = WeightSpace.FromLayers(SourceEmitter.Declarations(model.Architecture!), (Symmetry)model.Symmetry);
                var pairs = SourceEmitter.KernelChannelPairs(model).Distinct().ToList();
                if (pairs.Any(p => LayerPlan.CountParameters(space, p.Item1, p.Item2) > int.MaxValue))
                    return new ModelPlan(model, EquatableArray<FusedPlan>.Empty, null);
                var plans = pairs.Select(p =>
                {
                    ct.ThrowIfCancellationRequested();
                    return FusedPlan.Lower(new LayerPlan(space, p.Item1, p.Item2));
                }).ToEquatableArray();
                return new ModelPlan(model, plans, null);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                return new ModelPlan(model, EquatableArray<FusedPlan>.Empty, ex.GetType().Name + ": " + ex.Message);
            }
        }
    }
}
