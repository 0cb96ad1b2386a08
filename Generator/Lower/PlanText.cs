using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Generator.Lower
{
    /// <summary>A fused plan as reviewable structured text (JSON), for snapshot tests: a change to the lowering shows up as a diff of the plan.</summary>
    public static class PlanText
    {
        public static string Json(FusedPlan p)
        {
            var sb = new StringBuilder();
            sb.Append("{\n");
            sb.Append($"  \"cin\": {p.Cin}, \"cout\": {p.Cout}, \"weights\": {p.WeightCount}, \"biases\": {p.BiasCount}, \"terms\": {p.TermCount},\n");
            sb.Append($"  \"biasOffsets\": [{string.Join(", ", p.BiasOffsets)}],\n");
            sb.Append($"  \"inputTotalOffsets\": [{string.Join(", ", p.InputTotalOffsets)}], \"outputTotalOffsets\": [{string.Join(", ", p.OutputTotalOffsets)}],\n");
            sb.Append("  \"tensors\": [\n");
            sb.Append(string.Join(",\n", p.Views.Select(v =>
                $"    {{ \"name\": \"{v.Tensor.Name}\", \"axes\": \"{v.Tensor.Description}\", \"size\": {v.Tensor.Size}, \"fixed\": {v.Fixed}, " +
                $"\"permSizes\": [{string.Join(", ", v.PermSizes)}], \"permLayers\": [{string.Join(", ", v.PermLayers)}], \"trailing\": {Bool(v.Trailing)} }}")));
            sb.Append("\n  ],\n");
            Links(sb, "forward", p.ForwardLinks);
            sb.Append(",\n");
            Links(sb, "backward", p.BackwardLinks);
            sb.Append("\n}\n");
            return sb.ToString();
        }

        private static void Links(StringBuilder sb, string name, Model.EquatableArray<Link> links)
        {
            sb.Append($"  \"{name}\": [\n");
            sb.Append(string.Join(",\n", links.Select(l =>
                $"    {{ \"term\": {l.Term}, \"src\": {l.Src}, \"srcMask\": {l.SrcMask}, \"dst\": {l.Dst}, \"dstMask\": {l.DstMask}, " +
                $"\"w\": {l.WOffset}, \"rows\": {l.Rows}, \"cols\": {l.Cols}, \"scale\": {l.Scale.ToString("R", CultureInfo.InvariantCulture)}, \"what\": \"{l.Description}\" }}")));
            sb.Append("\n  ]");
        }

        private static string Bool(bool b) => b ? "true" : "false";
    }
}
