using System;
using System.Linq;
using LayerCompiler.Generator.Model;
using LayerCompiler.Generator.Parse;

namespace LayerCompiler.Generator.Lower
{
    /// <summary>
    /// A product model lowered for emission: the widths of the input network's neuron layers (the graph the product layers
    /// run on), which the emitter unrolls into the kernel's schedule. Empty when the model is not emitted.
    /// </summary>
    public sealed record ProductPlan(ProductModelInfo Model, EquatableArray<int> Widths, string? Error);

    public static class ProductLowering
    {
        /// <summary>Parsed clean, with a clean dense architecture that fits the declared symmetry (else a diagnostic said why).</summary>
        /// A check that throws stops emission here; the diagnostics output reports the same failure as LC0099.
        public static bool Emittable(ProductModelInfo model)
        {
            if (model.HasErrors || !(model.Architecture is { } arch) || arch.Layers.Count == 0 || arch.HasErrors) return false;
            try { return Parser.ProductArchitectureProblem(model) == null; }
            catch (Exception ex) when (!(ex is OperationCanceledException)) { return false; }
        }

        public static ProductPlan Lower(ProductModelInfo model)
        {
            if (!Emittable(model)) return new ProductPlan(model, EquatableArray<int>.Empty, null);
            try
            {
                var layers = model.Architecture!.Layers;
                var widths = new[] { layers[0].In }.Concat(layers.Select(l => l.Out)).ToEquatableArray();
                return new ProductPlan(model, widths, null);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                return new ProductPlan(model, EquatableArray<int>.Empty, ex.GetType().Name + ": " + ex.Message);
            }
        }
    }
}
