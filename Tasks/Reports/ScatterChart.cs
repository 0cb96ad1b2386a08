using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Tasks.Reports;

/// <summary>A scatter plot as inline SVG, each point coloured by a value on a blue → red scale (e.g. embeddings coloured by a target).</summary>
public sealed class ScatterChart
{
    public ScatterChart(string title, string xLabel, string yLabel, string colorLabel, IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<double> color)
    {
        ArgumentNullException.ThrowIfNull(x); ArgumentNullException.ThrowIfNull(y); ArgumentNullException.ThrowIfNull(color);
        if (x.Count != y.Count || x.Count != color.Count) throw new ArgumentException($"{x.Count} x, {y.Count} y and {color.Count} colour values: one each per point.");
        Title = title ?? ""; XLabel = xLabel ?? ""; YLabel = yLabel ?? ""; ColorLabel = colorLabel ?? ""; X = x; Y = y; Color = color;
    }

    public string Title { get; }
    public string XLabel { get; }
    public string YLabel { get; }
    public string ColorLabel { get; }
    public IReadOnlyList<double> X { get; }
    public IReadOnlyList<double> Y { get; }
    public IReadOnlyList<double> Color { get; }
    public int Width { get; init; } = 420;
    public int Height { get; init; } = 380;
    /// <summary>One fixed range for both axes (labelled at its ends), e.g. 0..1 for predicted against true accuracy; null = fit the data.</summary>
    public (double Min, double Max)? Range { get; init; }
    /// <summary>Draw the line y = x (a perfect prediction).</summary>
    public bool Diagonal { get; init; }

    /// <summary>The colour of <paramref name="t"/> in [0, 1]: blue (0) through grey to red (1).</summary>
    public static string Shade(double t)
    {
        t = double.IsFinite(t) ? Math.Clamp(t, 0, 1) : 0.5;
        int r = (int)Math.Round(40 + 200 * t), g = (int)Math.Round(90 + 60 * (1 - Math.Abs(2 * t - 1))), b = (int)Math.Round(240 - 200 * t);
        return string.Create(CultureInfo.InvariantCulture, $"#{r:x2}{g:x2}{b:x2}");
    }

    public string ToSvg()
    {
        const int left = 56, right = 16, top = 30, bottom = 64;
        int plotW = Width - left - right, plotH = Height - top - bottom;
        var idx = Enumerable.Range(0, X.Count).Where(i => double.IsFinite(X[i]) && double.IsFinite(Y[i])).ToList();
        double xMin = idx.Count > 0 ? idx.Min(i => X[i]) : 0, xMax = idx.Count > 0 ? idx.Max(i => X[i]) : 1;
        double yMin = idx.Count > 0 ? idx.Min(i => Y[i]) : 0, yMax = idx.Count > 0 ? idx.Max(i => Y[i]) : 1;
        if (Range is { } range) { xMin = yMin = range.Min; xMax = yMax = range.Max; }
        if (xMax - xMin < 1e-12) { xMin -= 0.5; xMax += 0.5; }
        if (yMax - yMin < 1e-12) { yMin -= 0.5; yMax += 0.5; }
        var finiteColors = Color.Where(double.IsFinite).ToList();
        double cMin = finiteColors.Count > 0 ? finiteColors.Min() : 0, cMax = finiteColors.Count > 0 ? finiteColors.Max() : 1;
        double Px(double v) => left + (v - xMin) / (xMax - xMin) * plotW;
        double Py(double v) => top + plotH - (v - yMin) / (yMax - yMin) * plotH;
        double T(double c) => cMax > cMin ? (c - cMin) / (cMax - cMin) : 0.5;

        var sb = Svg.Begin(Width, Height, Title);
        sb.Append(F($"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333333\"/>"));
        if (Range is not null)
        {
            sb.Append(F($"<text x=\"{left}\" y=\"{top + plotH + 12}\" text-anchor=\"middle\" font-size=\"10\">{xMin.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
            sb.Append(F($"<text x=\"{left + plotW}\" y=\"{top + plotH + 12}\" text-anchor=\"middle\" font-size=\"10\">{xMax.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
            sb.Append(F($"<text x=\"{left - 4}\" y=\"{top + plotH}\" text-anchor=\"end\" font-size=\"10\">{yMin.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
            sb.Append(F($"<text x=\"{left - 4}\" y=\"{top + 8}\" text-anchor=\"end\" font-size=\"10\">{yMax.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
        }
        if (Diagonal)
        {
            double lo = Math.Max(xMin, yMin), hi = Math.Min(xMax, yMax);
            if (hi > lo) sb.Append(F($"<line class=\"diagonal\" x1=\"{Px(lo):F1}\" y1=\"{Py(lo):F1}\" x2=\"{Px(hi):F1}\" y2=\"{Py(hi):F1}\" stroke=\"#999999\" stroke-dasharray=\"4 3\"/>"));
        }
        foreach (int i in idx)
            sb.Append(F($"<circle cx=\"{Px(X[i]):F1}\" cy=\"{Py(Y[i]):F1}\" r=\"2.5\" fill=\"{Shade(T(Color[i]))}\" fill-opacity=\"0.8\"/>"));
        sb.Append(F($"<text x=\"{left + plotW / 2}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\" font-size=\"12\">{Html.Escape(XLabel)}</text>"));
        sb.Append(F($"<text x=\"14\" y=\"{top + plotH / 2}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {top + plotH / 2})\">{Html.Escape(YLabel)}</text>"));
        // Colour legend: a bar of 20 steps from the smallest to the largest value.
        int barY = top + plotH + 30, barW = plotW / 2, barX = left + plotW / 4;
        for (int s = 0; s < 20; s++)
            sb.Append(F($"<rect x=\"{barX + s * barW / 20.0:F1}\" y=\"{barY}\" width=\"{barW / 20.0 + 0.5:F1}\" height=\"10\" fill=\"{Shade(s / 19.0)}\"/>"));
        sb.Append(F($"<text x=\"{barX - 4}\" y=\"{barY + 9}\" text-anchor=\"end\" font-size=\"11\">{cMin.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
        sb.Append(F($"<text x=\"{barX + barW + 4}\" y=\"{barY + 9}\" font-size=\"11\">{cMax.ToString("G3", CultureInfo.InvariantCulture)}</text>"));
        sb.Append(F($"<text x=\"{barX + barW / 2}\" y=\"{barY + 24}\" text-anchor=\"middle\" font-size=\"11\">{Html.Escape(ColorLabel)}</text>"));
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
