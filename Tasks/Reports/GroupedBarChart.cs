using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LayerCompiler.Tasks.Reports;

/// <summary>
/// One series of a <see cref="GroupedBarChart"/>: for every group, the values the bar summarizes (e.g. one per seed).
/// </summary>
public sealed record BarSeries(string Name, IReadOnlyList<IReadOnlyList<double>> ValuesPerGroup, string? Color = null);

/// <summary>
/// Bars in groups as inline SVG (no scripts): per group one bar per series, the bar at the mean of its values, a
/// whisker of ± one sample standard deviation and a dot per value when a bar summarizes several values (seed
/// spread). Built for winning-ticket masks (test accuracy per mask kind over seeds) and histograms (one value per bar).
/// </summary>
public sealed class GroupedBarChart
{
    private static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b" };

    /// <exception cref="ArgumentException">No groups or series, a series without a value list per group, an empty
    /// value list, or a value that is NaN or infinite; the message names the chart, the series and the group.</exception>
    public GroupedBarChart(string title, string yLabel, IReadOnlyList<string> groups, IReadOnlyList<BarSeries> series)
    {
        ArgumentNullException.ThrowIfNull(groups); ArgumentNullException.ThrowIfNull(series);
        Title = title ?? ""; YLabel = yLabel ?? "";
        if (groups.Count == 0) throw new ArgumentException($"Bar chart '{Title}': no groups to draw; give at least one group.", nameof(groups));
        if (series.Count == 0) throw new ArgumentException($"Bar chart '{Title}': no series to draw; give at least one series.", nameof(series));
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s, nameof(series));
            if (s.ValuesPerGroup is null || s.ValuesPerGroup.Count != groups.Count)
                throw new ArgumentException($"Bar chart '{Title}': series '{s.Name}' has {s.ValuesPerGroup?.Count ?? 0} value lists for {groups.Count} groups; give one list per group.", nameof(series));
            for (int g = 0; g < groups.Count; g++)
            {
                var v = s.ValuesPerGroup[g];
                if (v is null || v.Count == 0) throw new ArgumentException($"Bar chart '{Title}': series '{s.Name}', group '{groups[g]}' has no values; a bar needs at least one.", nameof(series));
                for (int i = 0; i < v.Count; i++)
                    if (!double.IsFinite(v[i]))
                        throw new ArgumentException($"Bar chart '{Title}': series '{s.Name}', group '{groups[g]}', value {i} is {v[i].ToString(CultureInfo.InvariantCulture)}; bars need finite values.", nameof(series));
            }
        }
        Groups = groups.ToArray(); Series = series.ToArray();
    }

    public string Title { get; }
    public string YLabel { get; }
    public IReadOnlyList<string> Groups { get; }
    public IReadOnlyList<BarSeries> Series { get; }
    public int Width { get; init; } = 560;
    public int Height { get; init; } = 320;
    /// <summary>Fixed y range (e.g. 0..100 for accuracy in %); null = from 0 (or the smallest value, if negative) to the data.</summary>
    public (double Min, double Max)? YRange { get; init; }
    /// <summary>Digits after the point in the value labels above the bars.</summary>
    public int Decimals { get; init; } = 2;

    /// <summary>Mean and sample standard deviation (0 for one value).</summary>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> values)
    {
        double m = values.Average();
        double sd = values.Count > 1 ? Math.Sqrt(values.Sum(x => (x - m) * (x - m)) / (values.Count - 1)) : 0;
        return (m, sd);
    }

    public string ToSvg()
    {
        const int left = 64, right = 16, top = 30, bottom = 58;
        int plotW = Width - left - right, plotH = Height - top - bottom;
        var all = Series.SelectMany(s => s.ValuesPerGroup.SelectMany(v => v)).ToList();
        // Bar tops and whisker ends decide the range too.
        foreach (var s in Series) foreach (var v in s.ValuesPerGroup) { var (m, sd) = MeanStd(v); all.Add(m + sd); all.Add(m - sd); }
        double yMin = Math.Min(0, all.Min()), yMax = Math.Max(0, all.Max());
        if (YRange is { } r) { yMin = r.Min; yMax = r.Max; }
        if (yMax - yMin < 1e-12) { yMin -= 0.5; yMax += 0.5; }
        var ticks = LineChart.NiceTicks(yMin, yMax, 5);
        if (YRange is null) { yMin = Math.Min(yMin, ticks[0]); yMax = Math.Max(yMax, ticks[^1]); }
        ticks = ticks.Where(t => t >= yMin - 1e-9 && t <= yMax + 1e-9).ToArray();
        double Y(double y) => top + plotH - (Math.Clamp(y, yMin, yMax) - yMin) / (yMax - yMin) * plotH;
        double groupW = (double)plotW / Groups.Count;
        double barW = groupW * 0.8 / Series.Count;

        var sb = Svg.Begin(Width, Height, Title, "chart bars");
        foreach (var t in ticks)
        {
            double y = Y(t);
            sb.Append(F($"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{left + plotW}\" y2=\"{y:F1}\" stroke=\"#e0e0e0\"/>"));
            sb.Append(F($"<text x=\"{left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\" font-size=\"11\">{t.ToString("G4", CultureInfo.InvariantCulture)}</text>"));
        }
        double zero = Y(0);
        for (int g = 0; g < Groups.Count; g++)
        {
            double gx = left + g * groupW + groupW * 0.1;
            for (int si = 0; si < Series.Count; si++)
            {
                var s = Series[si];
                var values = s.ValuesPerGroup[g];
                var (mean, sd) = MeanStd(values);
                string color = s.Color ?? Palette[si % Palette.Length];
                double x = gx + si * barW, yTop = Math.Min(Y(mean), zero), h = Math.Abs(Y(mean) - zero);
                string label = string.Create(CultureInfo.InvariantCulture, $"{s.Name}, {Groups[g]}: {mean.ToString("F" + Decimals, CultureInfo.InvariantCulture)}") +
                    (values.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $" ± {sd.ToString("F" + Decimals, CultureInfo.InvariantCulture)} ({values.Count} values)") : "");
                sb.Append(F($"<rect class=\"bar\" data-group=\"{Html.Escape(Groups[g])}\" data-series=\"{Html.Escape(s.Name)}\" data-mean=\"{mean.ToString("R", CultureInfo.InvariantCulture)}\" data-std=\"{sd.ToString("R", CultureInfo.InvariantCulture)}\" data-count=\"{values.Count}\" x=\"{x + 1:F1}\" y=\"{yTop:F1}\" width=\"{Math.Max(1, barW - 2):F1}\" height=\"{h:F1}\" fill=\"{color}\" fill-opacity=\"0.75\"><title>{Html.Escape(label)}</title></rect>"));
                double cx = x + barW / 2;
                if (values.Count > 1)
                {
                    sb.Append(F($"<line class=\"whisker\" x1=\"{cx:F1}\" y1=\"{Y(mean - sd):F1}\" x2=\"{cx:F1}\" y2=\"{Y(mean + sd):F1}\" stroke=\"#222222\" stroke-width=\"1.5\"/>"));
                    foreach (var v in values)
                        sb.Append(F($"<circle class=\"value\" cx=\"{cx:F1}\" cy=\"{Y(v):F1}\" r=\"2.2\" fill=\"#222222\"/>"));
                }
                if (Series.Count == 1 || barW > 28)
                    sb.Append(F($"<text x=\"{cx:F1}\" y=\"{Math.Min(yTop, Y(mean + sd)) - 3:F1}\" text-anchor=\"middle\" font-size=\"10\">{mean.ToString("F" + Decimals, CultureInfo.InvariantCulture)}</text>"));
            }
            sb.Append(F($"<text x=\"{left + (g + 0.5) * groupW:F1}\" y=\"{top + plotH + 16}\" text-anchor=\"middle\" font-size=\"11\">{Html.Escape(Groups[g])}</text>"));
        }
        sb.Append(F($"<line x1=\"{left}\" y1=\"{zero:F1}\" x2=\"{left + plotW}\" y2=\"{zero:F1}\" stroke=\"#333333\"/>"));
        sb.Append(F($"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333333\"/>"));
        sb.Append(F($"<text x=\"14\" y=\"{top + plotH / 2}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {top + plotH / 2})\">{Html.Escape(YLabel)}</text>"));
        if (Series.Count > 1)
            for (int si = 0; si < Series.Count; si++)
            {
                int lx = left + 8 + si * 130, ly = Height - 12;
                string color = Series[si].Color ?? Palette[si % Palette.Length];
                sb.Append(F($"<rect x=\"{lx}\" y=\"{ly - 9}\" width=\"12\" height=\"10\" fill=\"{color}\" fill-opacity=\"0.75\"/>"));
                sb.Append(F($"<text x=\"{lx + 16}\" y=\"{ly}\" font-size=\"11\">{Html.Escape(Series[si].Name)}</text>"));
            }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
