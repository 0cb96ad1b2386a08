using System.Globalization;
using System.Text;

namespace LayerCompiler.Tasks.Reports;

/// <summary>What every inline-SVG chart of the reports starts with: the root element, its title, a white background and the bold heading.</summary>
internal static class Svg
{
    public static StringBuilder Begin(int width, int height, string title, string cssClass = "chart")
    {
        var sb = new StringBuilder();
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{cssClass}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">"));
        sb.Append($"<title>{Html.Escape(title)}</title>");
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"));
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{Html.Escape(title)}</text>"));
        return sb;
    }
}
