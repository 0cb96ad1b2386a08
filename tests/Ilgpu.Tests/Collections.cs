using Xunit;

// One accelerator per process, shared by every test: launches from one test at a time (ILGPU's CPU accelerator already
// runs each kernel on all cores).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>Tests that set process environment variables run alone (other tests open accelerators meanwhile).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Environment";
}
