using Xunit;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>Tests that set process environment variables run alone (other tests open accelerators meanwhile).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Environment";
}
