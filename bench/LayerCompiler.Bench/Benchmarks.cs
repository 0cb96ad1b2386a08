using BenchmarkDotNet.Attributes;

namespace LayerCompiler.Bench;

/// <summary>BenchmarkDotNet view of the same cases (`dotnet run -c Release --project bench/LayerCompiler.Bench -- bdn`).</summary>
[MemoryDiagnoser]
public class LayerBenchmarks
{
    private LayerCase _c = null!;

    [GlobalSetup] public void Setup() => _c = LayerCase.Reference();

    [Benchmark(Baseline = true)] public void FusedForward() => _c.Forward();
    [Benchmark] public void FusedForwardBackward() => _c.ForwardBackward();
    [Benchmark] public void InterpretedForward() => _c.InterpretedForward();
}

[MemoryDiagnoser]
public class WidthBenchmarks
{
    private LayerCase[] _cases = null!;
    [Params(0, 1, 2, 3, 4)] public int WidthIndex;
    [GlobalSetup] public void Setup() => _cases = LayerCase.WidthSweep().ToArray();
    [Benchmark] public void FusedForward() => _cases[WidthIndex].Forward();
}
