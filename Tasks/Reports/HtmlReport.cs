using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.Tasks.Data;
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using LayerCompiler.Runtime.IO;

namespace LayerCompiler.Tasks.Reports;

/// <summary>XML/HTML text escaping (also safe inside attribute values).</summary>
public static class Html
{
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                // Characters XML 1.0 forbids are dropped so the page stays well-formed.
                default:
                    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
                    sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>
/// A self-contained HTML report (one file, inline CSS and SVG, no scripts): headings, paragraphs, key/value
/// lists, tables, line charts and confusion matrices. The output is well-formed XHTML (it parses as XML), so
/// tools and tests can read it back. Numbers are formatted with the invariant culture.
/// </summary>
public sealed class HtmlReport
{
    private readonly List<string> _blocks = new();

    public HtmlReport(string title) { Title = title ?? ""; }

    public string Title { get; }

    public HtmlReport AddHeading(string text, int level = 2)
    {
        level = Math.Clamp(level, 2, 4);
        _blocks.Add($"<h{level}>{Html.Escape(text)}</h{level}>");
        return this;
    }

    public HtmlReport AddParagraph(string text)
    {
        _blocks.Add($"<p>{Html.Escape(text)}</p>");
        return this;
    }

    /// <summary>Preformatted text (commands, logs).</summary>
    public HtmlReport AddCode(string text)
    {
        _blocks.Add($"<pre>{Html.Escape(text)}</pre>");
        return this;
    }

    public HtmlReport AddKeyValues(string? heading, IEnumerable<KeyValuePair<string, string>> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var sb = new StringBuilder();
        if (!string.IsNullOrEmpty(heading)) sb.Append($"<h3>{Html.Escape(heading)}</h3>");
        sb.Append("<table class=\"kv\"><tbody>");
        foreach (var (k, v) in items) sb.Append($"<tr><th>{Html.Escape(k)}</th><td>{Html.Escape(v)}</td></tr>");
        sb.Append("</tbody></table>");
        _blocks.Add(sb.ToString());
        return this;
    }

    /// <summary>A results table; every row must have one cell per column.</summary>
    public HtmlReport AddTable(string? heading, IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<string>> rows, int? highlightRow = null)
    {
        ArgumentNullException.ThrowIfNull(columns); ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        if (!string.IsNullOrEmpty(heading)) sb.Append($"<h3>{Html.Escape(heading)}</h3>");
        sb.Append("<table class=\"results\"><thead><tr>");
        foreach (var c in columns) sb.Append($"<th>{Html.Escape(c)}</th>");
        sb.Append("</tr></thead><tbody>");
        int i = 0;
        foreach (var row in rows)
        {
            if (row.Count != columns.Count) throw new ArgumentException($"Row {i} has {row.Count} cells, the table has {columns.Count} columns.", nameof(rows));
            sb.Append(i == highlightRow ? "<tr class=\"best\">" : "<tr>");
            foreach (var cell in row) sb.Append($"<td>{Html.Escape(cell)}</td>");
            sb.Append("</tr>");
            i++;
        }
        sb.Append("</tbody></table>");
        _blocks.Add(sb.ToString());
        return this;
    }

    public HtmlReport AddChart(LineChart chart)
    {
        ArgumentNullException.ThrowIfNull(chart);
        _blocks.Add($"<div class=\"figure\">{chart.ToSvg()}</div>");
        return this;
    }

    /// <summary>Several scatter plots side by side.</summary>
    public HtmlReport AddScatters(params ScatterChart[] charts)
    {
        ArgumentNullException.ThrowIfNull(charts);
        var sb = new StringBuilder("<div class=\"figures\">");
        foreach (var c in charts) sb.Append($"<div class=\"figure\">{c.ToSvg()}</div>");
        _blocks.Add(sb.Append("</div>").ToString());
        return this;
    }

    /// <summary>Grouped bars with seed spread (<see cref="GroupedBarChart"/>).</summary>
    public HtmlReport AddGroupedBarChart(GroupedBarChart chart)
    {
        ArgumentNullException.ThrowIfNull(chart);
        _blocks.Add($"<div class=\"figure\">{chart.ToSvg()}</div>");
        return this;
    }

    /// <summary>An embedded PNG (data URI), e.g. a grid of rendered INRs.</summary>
    public HtmlReport AddImage(string caption, byte[] png, int? displayWidth = null)
    {
        ArgumentNullException.ThrowIfNull(png);
        string width = displayWidth is int w ? string.Create(CultureInfo.InvariantCulture, $" width=\"{w}\"") : "";
        _blocks.Add($"<figure><img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" alt=\"{Html.Escape(caption)}\"{width} style=\"image-rendering:pixelated\"/><figcaption>{Html.Escape(caption)}</figcaption></figure>");
        return this;
    }

    /// <summary>
    /// Learning curves: a loss chart and an accuracy chart per epoch. Each entry of <paramref name="loss"/> /
    /// <paramref name="accuracy"/> is a named series (e.g. "train", "validation"); accuracies are fractions in [0, 1].
    /// </summary>
    public HtmlReport AddLearningCurves(IReadOnlyDictionary<string, IReadOnlyList<double>> loss, IReadOnlyDictionary<string, IReadOnlyList<double>>? accuracy = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var lc = new LineChart("Loss per epoch", "epoch", "loss");
        int i = 0;
        foreach (var (name, values) in loss) lc.Add(ChartSeries.PerEpoch(name, values, dashed: i++ % 2 == 1));
        var sb = new StringBuilder("<div class=\"figures\">");
        sb.Append($"<div class=\"figure\">{lc.ToSvg()}</div>");
        if (accuracy is { Count: > 0 })
        {
            var ac = new LineChart("Accuracy per epoch", "epoch", "accuracy") { YRange = (0, 1) };
            i = 0;
            foreach (var (name, values) in accuracy) ac.Add(ChartSeries.PerEpoch(name, values, dashed: i++ % 2 == 1));
            sb.Append($"<div class=\"figure\">{ac.ToSvg()}</div>");
        }
        sb.Append("</div>");
        _blocks.Add(sb.ToString());
        return this;
    }

    /// <summary>
    /// A confusion matrix (rows = true class, columns = predicted) as a table whose cells are shaded by the
    /// row-normalized rate, with per-class recall and the overall accuracy.
    /// </summary>
    public HtmlReport AddConfusionMatrix(string? heading, int[,] matrix, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int n = matrix.GetLength(0);
        if (matrix.GetLength(1) != n) throw new ArgumentException($"A confusion matrix must be square, got {n}×{matrix.GetLength(1)}.", nameof(matrix));
        if (classNames != null && classNames.Count != n) throw new ArgumentException($"{classNames.Count} class names for {n} classes.", nameof(classNames));
        string Name(int i) => classNames?[i] ?? i.ToString(CultureInfo.InvariantCulture);
        long total = 0, correct = 0;
        var sb = new StringBuilder();
        if (!string.IsNullOrEmpty(heading)) sb.Append($"<h3>{Html.Escape(heading)}</h3>");
        sb.Append("<table class=\"confusion\"><thead><tr><th>true \\ predicted</th>");
        for (int j = 0; j < n; j++) sb.Append($"<th>{Html.Escape(Name(j))}</th>");
        sb.Append("<th>recall</th></tr></thead><tbody>");
        for (int i = 0; i < n; i++)
        {
            long rowTotal = 0;
            for (int j = 0; j < n; j++) rowTotal += matrix[i, j];
            total += rowTotal; correct += matrix[i, i];
            sb.Append($"<tr><th>{Html.Escape(Name(i))}</th>");
            for (int j = 0; j < n; j++)
            {
                double rate = rowTotal > 0 ? (double)matrix[i, j] / rowTotal : 0;
                string bg = HeatColor(rate, i == j);
                string fg = rate > 0.55 ? "#ffffff" : "#000000";
                sb.Append(string.Create(CultureInfo.InvariantCulture,
                    $"<td style=\"background-color:{bg};color:{fg}\" title=\"{rate:P1} of true {Html.Escape(Name(i))}\">{matrix[i, j]}</td>"));
            }
            string recall = rowTotal > 0 ? ((double)matrix[i, i] / rowTotal).ToString("P1", CultureInfo.InvariantCulture) : "n/a";
            sb.Append($"<td class=\"recall\">{Html.Escape(recall)}</td></tr>");
        }
        sb.Append("</tbody></table>");
        if (total > 0)
            sb.Append(string.Create(CultureInfo.InvariantCulture, $"<p class=\"note\">{correct} of {total} correct: accuracy {(double)correct / total:P2}.</p>"));
        _blocks.Add(sb.ToString());
        return this;
    }

    /// <summary>White → blue for the diagonal, white → red off it, by rate in [0, 1].</summary>
    private static string HeatColor(double rate, bool diagonal)
    {
        rate = Math.Clamp(rate, 0, 1);
        var (r, g, b) = diagonal ? (31, 119, 180) : (214, 39, 40);
        int Mix(int c) => (int)Math.Round(255 + (c - 255) * rate);
        return string.Create(CultureInfo.InvariantCulture, $"#{Mix(r):x2}{Mix(g):x2}{Mix(b):x2}");
    }

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}" +
        "h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}" +
        "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}" +
        "th{background:#f4f4f4}table.kv th{text-align:left}table.kv td{text-align:left}" +
        "tr.best td{font-weight:bold;background:#eef6ee}.figures{display:flex;flex-wrap:wrap;gap:16px}" +
        "pre{background:#f6f6f6;padding:8px;overflow-x:auto}.note{color:#555}";

    /// <summary>The complete page.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n");
        sb.Append("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        sb.Append($"<title>{Html.Escape(Title)}</title>\n<style>{Style}</style>\n</head>\n<body>\n");
        sb.Append($"<h1>{Html.Escape(Title)}</h1>\n");
        foreach (var block in _blocks) sb.Append(block).Append('\n');
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>Writes the page atomically (UTF-8, no byte-order mark).</summary>
    public void Write(string path) => AtomicFile.WriteAllBytes(path, new UTF8Encoding(false).GetBytes(Render()));
}
