using System.Globalization;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Contracts;
using LayerCompiler.Generator.Lower;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>
    /// Emits a [ProductModel]'s members (C# backend): its configuration, constructor, and a nested product kernel whose
    /// per-network forward and backward are the layer schedule of the declared architecture unrolled, every width a
    /// constant (the fused per-layer passes they call are the runtime's <c>ProductKernel</c>; its own loops give bitwise
    /// the same results for architectures known only at run time).
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
            w.Line("/// <summary>The generated product kernel (the layer schedule of this architecture unrolled).</summary>");
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
                using (w.Block($"protected override void ForwardNetwork({pass} s)"))
                {
                    Messages(w, widths, "Messages");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdate(s, {k}, {widths[k]});");
                    for (int l = 1; l <= m; l++) w.Line($"EdgeUpdate(s, {l}, {widths[l]}, {widths[l - 1]});");
                }
                w.Line();
                using (w.Block($"protected override void BackwardNetwork({pass} s)"))
                {
                    Messages(w, widths, "Messages");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdate(s, {k}, {widths[k]});");
                    for (int k = 0; k <= m; k++) w.Line($"StartNodeGradient(s, {k}, {widths[k]});");
                    for (int l = 1; l <= m; l++) w.Line($"EdgeUpdateBackward(s, {l}, {widths[l]}, {widths[l - 1]});");
                    for (int k = 0; k <= m; k++) w.Line($"NodeUpdateBackward(s, {k}, {widths[k]});");
                    Messages(w, widths, "MessagesBackward");
                }
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
