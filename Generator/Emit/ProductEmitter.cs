using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Contracts;
using LayerCompiler.Generator.Lower;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits a [ProductModel]'s members (C# backend): its configuration, constructor, a nested product kernel whose
    /// per-network forward and backward are fused passes printed for the declared architecture and feature count
    /// (<see cref="ProductKernelEmitter"/>; for another feature count the runtime's generic <c>ProductKernel</c> passes with
    /// the schedule unrolled), and under <see cref="Symmetry.SignedHiddenNeuron"/> the generated sign-invariant lift
    /// (<see cref="ProductLiftEmitter"/>).
    /// </summary>
    public static class ProductEmitter
    {
        public const string KernelClass = "ProductLayerKernel";

        public static string Emit(ProductPlan plan)
        {
            var model = plan.Model;
            var arch = model.Architecture!;
            var widths = plan.Widths.ToArray();
            int m = widths.Length - 1;
            var symmetry = (Symmetry)model.Symmetry;
            var w = new IndentedWriter();
            w.Lines(SourceEmitter.Header);
            SourceEmitter.OpenType(w, model.Type, RuntimeNames.ProductNetwork);
            string dropout = model.Dropout.ToString("R", CultureInfo.InvariantCulture) + "f";
            w.Line("/// <summary>The options this model was declared with.</summary>");
            w.Line($"public static readonly {RuntimeNames.ProductModelConfig} Configuration = new {RuntimeNames.ProductModelConfig}(");
            w.Line($"    global::LayerCompiler.Symmetry.{symmetry}, {model.Features}, {model.Layers}, {model.Outputs}, {model.HeadHidden}, {(model.Normalize ? "true" : "false")}, {dropout});");
            w.Line();
            w.Line($"/// <summary>Weight space of <see cref=\"{arch.Type.FullyQualifiedName}\"/> under {symmetry} symmetry.</summary>");
            w.Line($"public static {RuntimeNames.WeightSpace} CreateWeightSpace() => {arch.Type.FullyQualifiedName}.CreateWeightSpace(global::LayerCompiler.Symmetry.{symmetry});");
            w.Line();
            w.Line("/// <summary>Creates the model with parameters initialized from <paramref name=\"seed\"/>.</summary>");
            w.Line($"public {model.Type.Name}(ulong seed = 0) : base(Configuration, CreateWeightSpace(), CreateKernel, seed) {{ }}");
            w.Line();
            w.Line("/// <summary>The generated product kernel: fused passes for this architecture with the declared feature count; another feature count runs the generic passes.</summary>");
            w.Line($"public static {RuntimeNames.ProductKernel} CreateKernel({RuntimeNames.NeuralGraph} graph, int features) => new {KernelClass}(graph, features);");
            w.Line();
            string pass = RuntimeNames.ProductKernel + ".Pass";
            using (w.Block($"private sealed class {KernelClass} : {RuntimeNames.ProductKernel}"))
            {
                using (w.Block($"public {KernelClass}({RuntimeNames.NeuralGraph} graph, int features) : base(graph, features)"))
                {
                    string check = string.Join(" || ", new[] { $"graph.Depth != {m}" }.Concat(widths.Select((x, k) => $"graph.Widths[{k}] != {x}")));
                    w.Line($"if ({check})");
                    w.Line($"    throw new global::System.ArgumentException(\"This kernel is generated for the neuron layers [{string.Join(", ", widths)}] of {arch.Type.Name}.\", nameof(graph));");
                }
                w.Line();
                w.Line("public override bool IsGenerated => true;");
                w.Line();
                w.Line("public override int FusedFeatures => Features == D ? D : 0;");
                w.Line();
                ProductKernelEmitter.EmitFused(w, widths, model.Features, pass);
                w.Line();
                w.Line("// Another feature count than the declared one: the generic passes, the schedule unrolled.");
                using (w.Block($"private void GenericForward({pass} s)"))
                {
                    Messages(w, widths, "Messages");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdate(s, {k}, {widths[k]});");
                    for (int l = 1; l <= m; l++) w.Line($"EdgeUpdate(s, {l}, {widths[l]}, {widths[l - 1]});");
                }
                w.Line();
                using (w.Block($"private void GenericBackward({pass} s)"))
                {
                    Messages(w, widths, "Messages");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdate(s, {k}, {widths[k]});");
                    for (int k = 0; k <= m; k++) w.Line($"StartNodeGradient(s, {k}, {widths[k]});");
                    for (int l = 1; l <= m; l++) w.Line($"EdgeUpdateBackward(s, {l}, {widths[l]}, {widths[l - 1]});");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdateBackward(s, {k}, {widths[k]});");
                    Messages(w, widths, "MessagesBackward");
                }
            }
            if (symmetry == Symmetry.SignedHiddenNeuron)
            {
                w.Line();
                ProductLiftEmitter.Emit(w, WeightSpace.FromLayers(SourceEmitter.Declarations(arch), Symmetry.SignedHiddenNeuron), arch.Type.FullyQualifiedName);
            }
            SourceEmitter.CloseType(w, model.Type);
            return w.ToString();
        }

        private static void Messages(IndentedWriter w, int[] widths, string method)
        {
            for (int l = 1; l < widths.Length; l++) w.Line($"{method}(s, {l}, {widths[l]}, {widths[l - 1]});");
        }
    }
}
