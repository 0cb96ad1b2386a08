
namespace LayerCompiler.Bench.Tests;

/// <summary>The roofline arithmetic and the ceiling probes' contracts (not their speed: no thresholds on time).</summary>
public class CeilingsTests
{
    private static readonly MachineCeilings Machine = new(BandwidthGBs: 100, FmaGFlops: 400, Isa: "test");

    [Fact]
    public void BoundIsTheSlowerOfMemoryAndCompute()
    {
        // 0.98 GFLOP at 400 GFLOP/s = 2.45 ms; 77.7 MB at 100 GB/s = 0.777 ms: compute-bound.
        var b = Roofline.Bound(77.7e6, 0.98e9, Machine);
        Assert.False(b.MemoryBound);
        Assert.Equal(2.45e-3, b.Seconds, 12);
        Assert.Equal(0.777e-3, b.MemorySeconds, 12);
        // Twice the bound's time is 50 % of it.
        Assert.Equal(50.0, b.PercentOfBound(4.9e-3), 9);

        var m = Roofline.Bound(1e9, 1e9, Machine); // 10 ms of memory, 2.5 ms of compute
        Assert.True(m.MemoryBound);
        Assert.Equal(10e-3, m.Seconds, 12);
    }

    [Fact]
    public void PairedPeakReplacesOnlyTheComputeCeiling()
    {
        // The quick bench pairs each round with the FMA peak measured just before it.
        var slower = Machine with { FmaGFlops = 200 };
        var b = Roofline.Bound(77.7e6, 0.98e9, slower);
        Assert.Equal(4.9e-3, b.Seconds, 12);
        Assert.Equal(Machine.BandwidthGBs, slower.BandwidthGBs);
    }

    [Fact]
    public void RejectsNegativeWorkAndBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Roofline.Bound(-1, 1, Machine));
        Assert.Throws<ArgumentOutOfRangeException>(() => Roofline.Bound(1, -1, Machine));
        Assert.Throws<ArgumentOutOfRangeException>(() => MachineCeilings.FmaPeakNow(0.05, 0));
        Assert.True(double.IsNaN(Roofline.Bound(1, 1, Machine).PercentOfBound(0)));
    }

    [Fact]
    public void FmaPeakNowIsAFiniteRate()
    {
        double peak = MachineCeilings.FmaPeakNow(0.05, 1);
        Assert.True(double.IsFinite(peak) && peak > 0, $"FMA peak {peak}");
    }

    private static (CeilingsSettings? Settings, string[] Errors) Parse(params string[] args)
    {
        CeilingsSettings? seen = null;
        var result = CeilingsCommand.Create(s => { seen = s; return 0; }).Parse(args);
        if (result.Errors.Count == 0) Assert.Equal(0, result.Invoke());
        return (seen, result.Errors.Select(e => e.Message).ToArray());
    }

    [Fact]
    public void CommandLineDefaultsToTheReferenceLayerOnAllCores()
    {
        var (s, errors) = Parse();
        Assert.Empty(errors);
        Assert.Equal(new CeilingsSettings(6, Environment.ProcessorCount, MachineCeilings.DefaultArrayBytes >> 20,
            CeilingsCommand.ReferenceLayerBytes, CeilingsCommand.ReferenceLayerFlops, null, null), s);
    }

    [Fact]
    public void CommandLineTakesEveryOption()
    {
        var (s, errors) = Parse("--budget", "0.5", "--threads", "3", "--array-mb", "64", "--bytes", "1e6", "--flops", "0", "--ms", "2.5", "--out", "c.jsonl");
        Assert.Empty(errors);
        Assert.Equal(new CeilingsSettings(0.5, 3, 64, 1e6, 0, 2.5, "c.jsonl"), s);
    }

    [Theory]
    [InlineData("--threads 0", "--threads must be at least 1, got 0.")]
    [InlineData("--array-mb -4", "--array-mb must be at least 1, got -4.")]
    [InlineData("--budget 0", "--budget must be a positive number, got 0.")]
    [InlineData("--budget NaN", "--budget must be a positive number, got NaN.")]
    [InlineData("--bytes -1", "--bytes must be a finite number, 0 or more, got -1.")]
    [InlineData("--ms 0", "--ms must be a positive time in milliseconds, got 0.")]
    [InlineData("--threads four", "four")]
    [InlineData("--budget", "--budget")]
    [InlineData("--thread 2", "--thread")]
    public void CommandLineRejectsBadValuesNamingThem(string line, string expected)
    {
        var (s, errors) = Parse(line.Split(' '));
        Assert.Null(s);
        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }
}
