using System.Globalization;
using System.Xml.Linq;
using LayerCompiler.Tasks.Reports;

namespace LayerCompiler.Tasks.Tests.Reports;

public class GroupedBarChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static IReadOnlyList<double>[] Lists(params double[][] v) => v.Select(a => (IReadOnlyList<double>)a).ToArray();

    [Fact]
    public void BarsSitAtTheMeanWithASampleStdWhiskerAndADotPerSeed()
    {
        var chart = new GroupedBarChart("Masks", "accuracy (%)", new[] { "IMP", "random" }, new[]
        {
            new BarSeries("test", Lists(new[] { 60.0, 64.0, 68.0 }, new[] { 47.0 })),
            new BarSeries("train", Lists(new[] { 70.0, 70.0 }, new[] { 50.0, 52.0 })),
        });
        var svg = XElement.Parse(chart.ToSvg());
        var bars = svg.Descendants(Svg + "rect").Where(r => (string?)r.Attribute("class") == "bar").ToList();
        Assert.Equal(4, bars.Count);
        var imp = bars.Single(b => (string?)b.Attribute("data-group") == "IMP" && (string?)b.Attribute("data-series") == "test");
        Assert.Equal(64.0, double.Parse((string)imp.Attribute("data-mean")!, CultureInfo.InvariantCulture), 12);
        Assert.Equal(4.0, double.Parse((string)imp.Attribute("data-std")!, CultureInfo.InvariantCulture), 12);
        Assert.Equal("3", (string?)imp.Attribute("data-count"));
        var single = bars.Single(b => (string?)b.Attribute("data-group") == "random" && (string?)b.Attribute("data-series") == "test");
        Assert.Equal("0", (string?)single.Attribute("data-std"));
        // Whiskers and dots only where a bar summarizes several values: 3 of the 4 bars, 3 + 2 + 2 dots.
        Assert.Equal(3, svg.Descendants(Svg + "line").Count(l => (string?)l.Attribute("class") == "whisker"));
        Assert.Equal(7, svg.Descendants(Svg + "circle").Count(c => (string?)c.Attribute("class") == "value"));
        // A taller mean is a taller bar.
        double H(XElement b) => double.Parse((string)b.Attribute("height")!, CultureInfo.InvariantCulture);
        Assert.True(H(imp) > H(single));
        Assert.Contains(svg.Descendants(Svg + "title"), t => t.Value == "test, IMP: 64.00 ± 4.00 (3 values)");
    }

    [Fact]
    public void NegativeValuesHangBelowTheZeroLine()
    {
        var chart = new GroupedBarChart("τ", "τ", new[] { "a", "b" }, new[] { new BarSeries("τ", Lists(new[] { -0.5 }, new[] { 0.5 })) });
        var svg = XElement.Parse(chart.ToSvg());
        var bars = svg.Descendants(Svg + "rect").Where(r => (string?)r.Attribute("class") == "bar").ToList();
        double Y(XElement b) => double.Parse((string)b.Attribute("y")!, CultureInfo.InvariantCulture);
        double H(XElement b) => double.Parse((string)b.Attribute("height")!, CultureInfo.InvariantCulture);
        Assert.Equal(H(bars[0]), H(bars[1]), 1);
        Assert.Equal(Y(bars[0]), Y(bars[1]) + H(bars[1]), 1);   // the negative bar starts where the positive one ends: at zero
    }

    [Fact]
    public void EmptyOrNonFiniteInputIsAClearError()
    {
        var one = new[] { new BarSeries("s", Lists(new[] { 1.0 })) };
        var e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", Array.Empty<string>(), one));
        Assert.Contains("'Masks': no groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", new[] { "IMP" }, Array.Empty<BarSeries>()));
        Assert.Contains("no series", e.Message);
        e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", new[] { "IMP", "random" }, one));
        Assert.Contains("series 's' has 1 value lists for 2 groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", new[] { "IMP" }, new[] { new BarSeries("s", Lists(Array.Empty<double>())) }));
        Assert.Contains("series 's', group 'IMP' has no values", e.Message);
        e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", new[] { "IMP" }, new[] { new BarSeries("s", Lists(new[] { 1.0, double.NaN })) }));
        Assert.Contains("series 's', group 'IMP', value 1 is NaN", e.Message);
        e = Assert.Throws<ArgumentException>(() => new GroupedBarChart("Masks", "y", new[] { "IMP" }, new[] { new BarSeries("s", Lists(new[] { double.PositiveInfinity })) }));
        Assert.Contains("value 0 is Infinity", e.Message);
    }

    [Fact]
    public void TheReportEmbedsTheChartAndTheScatterDrawsItsDiagonal()
    {
        var report = new HtmlReport("r");
        report.AddGroupedBarChart(new GroupedBarChart("Masks", "y", new[] { "IMP" }, new[] { new BarSeries("s", Lists(new[] { 1.0, 2.0 })) }));
        report.AddScatters(new ScatterChart("pred vs true", "true", "predicted", "seed", new[] { 0.2, 0.5 }, new[] { 0.3, double.NaN }, new[] { 0.0, 1.0 }) { Range = (0, 1), Diagonal = true });
        var doc = XDocument.Parse(report.Render().Replace("<!DOCTYPE html>", ""));
        Assert.Single(doc.Descendants(Svg + "rect"), r => (string?)r.Attribute("class") == "bar");
        var diagonal = doc.Descendants(Svg + "line").Single(l => (string?)l.Attribute("class") == "diagonal");
        // y = x from (0, 0) to (1, 1): bottom-left to top-right of the plot.
        Assert.True(double.Parse((string)diagonal.Attribute("x2")!, CultureInfo.InvariantCulture) > double.Parse((string)diagonal.Attribute("x1")!, CultureInfo.InvariantCulture));
        Assert.True(double.Parse((string)diagonal.Attribute("y2")!, CultureInfo.InvariantCulture) < double.Parse((string)diagonal.Attribute("y1")!, CultureInfo.InvariantCulture));
        // The NaN prediction is skipped: one point.
        var scatter = doc.Descendants(Svg + "svg").Single(s => s.Element(Svg + "title")?.Value == "pred vs true");
        Assert.Single(scatter.Descendants(Svg + "circle"));
    }
}
