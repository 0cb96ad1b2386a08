using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Tasks.Reports;

/// <summary>One line of a chart: y against x (non-finite points are skipped).</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, string? Color = null, bool Dashed = false)
{
    /// <summary>A series over epochs 1, 2, … .</summary>
    public static ChartSeries PerEpoch(string name, IReadOnlyList<double> values, string? color = null, bool dashed = false) =>
        new(name, Enumerable.Range(1, values.Count).Select(i => (double)i).ToArray(), values, color, dashed);
}

/// <summary>A line chart rendered as inline SVG (no scripts, no external resources).</summary>
public sealed class LineChart
{
    private static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f" };

    public LineChart(string title, string xLabel, string yLabel)
    {
        Title = title ?? ""; XLabel = xLabel ?? ""; YLabel = yLabel ?? "";
    }

    public string Title { get; }
    public string XLabel { get; }
    public string YLabel { get; }
    public int Width { get; init; } = 560;
    public int Height { get; init; } = 320;
    /// <summary>Fixed y range (e.g. 0..1 for accuracy); null = fit the data.</summary>
    public (double Min, double Max)? YRange { get; init; }
    public List<ChartSeries> Series { get; } = new();

    public LineChart Add(ChartSeries series)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.X.Count != series.Y.Count) throw new ArgumentException($"Series '{series.Name}' has {series.X.Count} x values and {series.Y.Count} y values.", nameof(series));
        Series.Add(series);
        return this;
    }

    public string ToSvg()
    {
        const int left = 64, right = 16, top = 30, bottom = 46;
        int plotW = Width - left - right, plotH = Height - top - bottom;
        var pts = Series.SelectMany(s => s.X.Zip(s.Y)).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second)).ToList();
        double xMin = pts.Count > 0 ? pts.Min(p => p.First) : 0, xMax = pts.Count > 0 ? pts.Max(p => p.First) : 1;
        double yMin = pts.Count > 0 ? pts.Min(p => p.Second) : 0, yMax = pts.Count > 0 ? pts.Max(p => p.Second) : 1;
        if (YRange is { } r) { yMin = r.Min; yMax = r.Max; }
        if (xMax - xMin < 1e-12) { xMin -= 0.5; xMax += 0.5; }
        if (yMax - yMin < 1e-12) { double pad = Math.Max(Math.Abs(yMin) * 0.05, 0.5); yMin -= pad; yMax += pad; }
        var yTicks = NiceTicks(yMin, yMax, 5);
        if (YRange is null) { yMin = Math.Min(yMin, yTicks[0]); yMax = Math.Max(yMax, yTicks[^1]); }
        var xTicks = NiceTicks(xMin, xMax, 8).Where(t => t >= xMin - 1e-9 && t <= xMax + 1e-9).ToArray();
        yTicks = yTicks.Where(t => t >= yMin - 1e-9 && t <= yMax + 1e-9).ToArray();
        double X(double x) => left + (x - xMin) / (xMax - xMin) * plotW;
        double Y(double y) => top + plotH - (y - yMin) / (yMax - yMin) * plotH;

        var sb = Svg.Begin(Width, Height, Title);
        foreach (var t in yTicks)
        {
            double y = Y(t);
            sb.Append(F($"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{left + plotW}\" y2=\"{y:F1}\" stroke=\"#e0e0e0\"/>"));
            sb.Append(F($"<text x=\"{left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\" font-size=\"11\">{Html.Escape(FormatTick(t))}</text>"));
        }
        foreach (var t in xTicks)
        {
            double x = X(t);
            sb.Append(F($"<line x1=\"{x:F1}\" y1=\"{top + plotH}\" x2=\"{x:F1}\" y2=\"{top + plotH + 4}\" stroke=\"#333333\"/>"));
            sb.Append(F($"<text x=\"{x:F1}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\" font-size=\"11\">{Html.Escape(FormatTick(t))}</text>"));
        }
        sb.Append(F($"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333333\"/>"));
        sb.Append(F($"<text x=\"{left + plotW / 2}\" y=\"{Height - 8}\" text-anchor=\"middle\" font-size=\"12\">{Html.Escape(XLabel)}</text>"));
        sb.Append(F($"<text x=\"14\" y=\"{top + plotH / 2}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {top + plotH / 2})\">{Html.Escape(YLabel)}</text>"));

        for (int i = 0; i < Series.Count; i++)
        {
            var s = Series[i];
            string color = s.Color ?? Palette[i % Palette.Length];
            var valid = s.X.Zip(s.Y).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second)).ToList();
            if (valid.Count > 1)
            {
                string path = string.Join(" ", valid.Select(p => F($"{X(p.First):F1},{Y(Math.Clamp(p.Second, yMin, yMax)):F1}")));
                sb.Append(F($"<polyline class=\"series\" data-name=\"{Html.Escape(s.Name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{(s.Dashed ? " stroke-dasharray=\"6 4\"" : "")} points=\"{path}\"/>"));
            }
            foreach (var (x, y) in valid)
                sb.Append(F($"<circle cx=\"{X(x):F1}\" cy=\"{Y(Math.Clamp(y, yMin, yMax)):F1}\" r=\"2.5\" fill=\"{color}\"><title>{Html.Escape(s.Name)}: ({FormatValue(x)}, {FormatValue(y)})</title></circle>"));
            int ly = top + 8 + i * 16;
            int lx = left + plotW - 150;
            sb.Append(F($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 22}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{(s.Dashed ? " stroke-dasharray=\"6 4\"" : "")}/>"));
            sb.Append(F($"<text x=\"{lx + 28}\" y=\"{ly + 4}\" font-size=\"11\">{Html.Escape(s.Name)}</text>"));
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>About <paramref name="count"/> round tick values covering [min, max] (steps of 1, 2 or 5 × 10^k).</summary>
    public static double[] NiceTicks(double min, double max, int count)
    {
        if (!(max > min)) return new[] { min };
        double raw = (max - min) / Math.Max(1, count);
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        double start = Math.Floor(min / step) * step, end = Math.Ceiling(max / step) * step;
        var ticks = new List<double>();
        for (double t = start; t <= end + step * 1e-9; t += step) ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks.ToArray();
    }

    private static string FormatTick(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
    private static string FormatValue(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
