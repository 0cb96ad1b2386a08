using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Tasks.Reports;

/// <summary>One series of a <see cref="BarChart"/>: a value per category and an optional error (drawn as ± whiskers; 0 or NaN: none).</summary>
public sealed record BarSeries(string Name, IReadOnlyList<double> Values, IReadOnlyList<double>? Errors = null);

/// <summary>Grouped bars as inline SVG: one group per category, one bar per series, values printed above the bars (e.g. accuracy before and after adaptation).</summary>
public sealed class BarChart
{
    private static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b" };

    public BarChart(string title, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<BarSeries> series)
    {
        ArgumentNullException.ThrowIfNull(categories); ArgumentNullException.ThrowIfNull(series);
        if (categories.Count == 0 || series.Count == 0) throw new ArgumentException("A bar chart needs at least one category and one series.");
        foreach (var s in series)
        {
            if (s.Values.Count != categories.Count) throw new ArgumentException($"Series '{s.Name}' has {s.Values.Count} values for {categories.Count} categories.", nameof(series));
            if (s.Errors != null && s.Errors.Count != categories.Count) throw new ArgumentException($"Series '{s.Name}' has {s.Errors.Count} errors for {categories.Count} categories.", nameof(series));
        }
        Title = title ?? ""; YLabel = yLabel ?? ""; Categories = categories; Series = series;
    }

    public string Title { get; }
    public string YLabel { get; }
    public IReadOnlyList<string> Categories { get; }
    public IReadOnlyList<BarSeries> Series { get; }
    /// <summary>The y axis range; null: from 0 (or the smallest value, if negative) to the largest value + error.</summary>
    public (double Min, double Max)? YRange { get; init; }
    public int Width { get; init; } = 560;
    public int Height { get; init; } = 360;
    /// <summary>Format of the value labels (e.g. "P1" for fractions shown as percentages).</summary>
    public string ValueFormat { get; init; } = "P1";

    public string ToSvg()
    {
        const int left = 56, right = 16, top = 30, bottom = 70;
        int plotW = Width - left - right, plotH = Height - top - bottom;
        var finite = Series.SelectMany(s => s.Values.Select((v, i) => v + (s.Errors is { } e && double.IsFinite(e[i]) ? e[i] : 0))).Where(double.IsFinite).ToList();
        double yMin = YRange?.Min ?? Math.Min(0, finite.Count > 0 ? finite.Min() : 0), yMax = YRange?.Max ?? (finite.Count > 0 ? finite.Max() : 1);
        if (!(yMax > yMin)) yMax = yMin + 1;
        double Py(double v) => top + plotH - (Math.Clamp(v, yMin, yMax) - yMin) / (yMax - yMin) * plotH;
        var sb = new StringBuilder();
        sb.Append(F($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\">"));
        sb.Append($"<title>{Html.Escape(Title)}</title>");
        sb.Append(F($"<rect x=\"0\" y=\"0\" width=\"{Width}\" height=\"{Height}\" fill=\"#ffffff\"/>"));
        sb.Append(F($"<text x=\"{Width / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{Html.Escape(Title)}</text>"));
        for (int t = 0; t <= 4; t++)
        {
            double v = yMin + (yMax - yMin) * t / 4;
            sb.Append(F($"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{Py(v):F1}\" y2=\"{Py(v):F1}\" stroke=\"#dddddd\"/>"));
            sb.Append(F($"<text x=\"{left - 4}\" y=\"{Py(v) + 4:F1}\" text-anchor=\"end\" font-size=\"11\">{v.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
        }
        sb.Append(F($"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333333\"/>"));
        double groupW = (double)plotW / Categories.Count, barW = groupW * 0.8 / Series.Count;
        for (int c = 0; c < Categories.Count; c++)
        {
            for (int s = 0; s < Series.Count; s++)
            {
                double v = Series[s].Values[c];
                if (!double.IsFinite(v)) continue;
                double x = left + c * groupW + groupW * 0.1 + s * barW, y = Py(v), y0 = Py(Math.Max(yMin, 0));
                sb.Append(F($"<rect x=\"{x:F1}\" y=\"{Math.Min(y, y0):F1}\" width=\"{barW - 2:F1}\" height=\"{Math.Abs(y0 - y):F1}\" fill=\"{Palette[s % Palette.Length]}\"/>"));
                double e = Series[s].Errors is { } errs ? errs[c] : 0;
                double cx = x + (barW - 2) / 2;
                if (double.IsFinite(e) && e > 0)
                    sb.Append(F($"<line x1=\"{cx:F1}\" x2=\"{cx:F1}\" y1=\"{Py(v - e):F1}\" y2=\"{Py(v + e):F1}\" stroke=\"#000000\"/>"));
                sb.Append(F($"<text x=\"{cx:F1}\" y=\"{Py(v + (double.IsFinite(e) ? Math.Max(e, 0) : 0)) - 3:F1}\" text-anchor=\"middle\" font-size=\"10\">{Html.Escape(v.ToString(ValueFormat, CultureInfo.InvariantCulture))}</text>"));
            }
            sb.Append(F($"<text x=\"{left + (c + 0.5) * groupW:F1}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\" font-size=\"12\">{Html.Escape(Categories[c])}</text>"));
        }
        sb.Append(F($"<text x=\"14\" y=\"{top + plotH / 2}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {top + plotH / 2})\">{Html.Escape(YLabel)}</text>"));
        for (int s = 0; s < Series.Count; s++)
        {
            int lx = left + s * (plotW / Series.Count), ly = top + plotH + 34;
            sb.Append(F($"<rect x=\"{lx}\" y=\"{ly}\" width=\"12\" height=\"12\" fill=\"{Palette[s % Palette.Length]}\"/>"));
            sb.Append(F($"<text x=\"{lx + 16}\" y=\"{ly + 10}\" font-size=\"11\">{Html.Escape(Series[s].Name)}</text>"));
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
