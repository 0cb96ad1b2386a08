using System.Xml;
using System.Xml.Linq;
using LayerCompiler.Tasks.Reports;

namespace LayerCompiler.Tasks.Tests.Reports;

public class HtmlReportTests
{
    private static readonly XNamespace X = "http://www.w3.org/1999/xhtml";
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static XDocument Parse(string html)
    {
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    private static HtmlReport Sample()
    {
        var report = new HtmlReport("Run <1> & \"friends\"");
        report.AddParagraph("Test accuracy 0.6712 on 10000 INRs.");
        report.AddKeyValues("Settings", new Dictionary<string, string> { ["lr"] = "0.005", ["epochs"] = "3" });
        report.AddTable("Results", new[] { "model", "test accuracy" }, new[] { new[] { "hidden", "67.12%" }, new[] { "mlp", "19.91%" } }, highlightRow: 0);
        report.AddLearningCurves(
            new Dictionary<string, IReadOnlyList<double>> { ["train"] = new[] { 2.3, 1.7, 1.2 }, ["validation"] = new[] { 2.2, 1.8, double.NaN } },
            new Dictionary<string, IReadOnlyList<double>> { ["train"] = new[] { 0.1, 0.4, 0.6 }, ["validation"] = new[] { 0.12, 0.38, 0.55 } });
        report.AddConfusionMatrix("Confusion", new[,] { { 8, 2 }, { 1, 9 } }, new[] { "cat", "dog" });
        return report;
    }

    [Fact]
    public void ReportIsWellFormedXhtmlWithTheNumbers()
    {
        string html = Sample().Render();
        var doc = Parse(html);
        var root = doc.Root!;
        Assert.Equal(X + "html", root.Name);
        Assert.Equal("Run <1> & \"friends\"", root.Element(X + "head")!.Element(X + "title")!.Value);
        Assert.DoesNotContain("<1>", html);

        var tables = root.Descendants(X + "table").ToList();
        var results = tables.Single(t => (string?)t.Attribute("class") == "results");
        var cells = results.Descendants(X + "td").Select(td => td.Value).ToList();
        Assert.Equal(new[] { "hidden", "67.12%", "mlp", "19.91%" }, cells);
        Assert.Equal("best", (string?)results.Descendants(X + "tr").Skip(1).First().Attribute("class"));

        var kv = tables.Single(t => (string?)t.Attribute("class") == "kv");
        Assert.Contains(kv.Descendants(X + "td"), td => td.Value == "0.005");

        // Two charts (loss, accuracy) with two series each; the NaN point is skipped.
        var svgs = root.Descendants(Svg + "svg").ToList();
        Assert.Equal(2, svgs.Count);
        var lossLines = svgs[0].Descendants(Svg + "polyline").ToList();
        Assert.Equal(new[] { "train", "validation" }, lossLines.Select(l => (string?)l.Attribute("data-name")));
        Assert.Equal(3, lossLines[0].Attribute("points")!.Value.Split(' ').Length);
        Assert.Equal(2, lossLines[1].Attribute("points")!.Value.Split(' ').Length);
        Assert.Contains(svgs[0].Descendants(Svg + "title"), t => t.Value == "train: (2, 1.7)");
        Assert.Contains(svgs[1].Descendants(Svg + "title"), t => t.Value == "validation: (3, 0.55)");

        // Confusion matrix: counts, recall, accuracy, heat colors.
        var confusion = tables.Single(t => (string?)t.Attribute("class") == "confusion");
        var rows = confusion.Element(X + "tbody")!.Elements(X + "tr").ToList();
        Assert.Equal(new[] { "8", "2", "80.0%" }, rows[0].Elements(X + "td").Select(td => td.Value.Replace(" ", "")));
        Assert.Equal(new[] { "1", "9", "90.0%" }, rows[1].Elements(X + "td").Select(td => td.Value.Replace(" ", "")));
        Assert.Contains("background-color:#", (string?)rows[0].Elements(X + "td").First().Attribute("style"));
        Assert.NotEqual((string?)rows[0].Elements(X + "td").First().Attribute("style"), (string?)rows[0].Elements(X + "td").Skip(1).First().Attribute("style"));
        Assert.Contains("17 of 20 correct", html);
    }

    [Fact]
    public void WriteIsAtomicAndLeavesOnlyTheFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("report.html");
        Sample().Write(path);
        Assert.Equal(new[] { "report.html" }, dir.Listing());
        var doc = Parse(File.ReadAllText(path));
        Assert.Equal(X + "html", doc.Root!.Name);
    }

    [Fact]
    public void BadShapesAreRejected()
    {
        var r = new HtmlReport("x");
        Assert.Throws<ArgumentException>(() => r.AddTable(null, new[] { "a", "b" }, new[] { new[] { "1" } }));
        Assert.Throws<ArgumentException>(() => r.AddConfusionMatrix(null, new int[2, 3]));
        Assert.Throws<ArgumentException>(() => new LineChart("t", "x", "y").Add(new ChartSeries("s", new double[] { 1, 2 }, new double[] { 1 })));
    }

    [Fact]
    public void NiceTicksAreRoundAndCoverTheRange()
    {
        var ticks = LineChart.NiceTicks(0.13, 0.87, 5);
        Assert.Equal(new[] { 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 }, ticks.Select(t => Math.Round(t, 10)));
        var single = new LineChart("one point", "x", "y").Add(new ChartSeries("s", new double[] { 1 }, new double[] { 5 }));
        Parse("<div>" + single.ToSvg() + "</div>");
    }
}
