using System.Reflection;
using LayerCompiler.Contracts;

namespace LayerCompiler.Generator.Tests;

/// <summary>The names generated code uses for run-time types (Specs/Contracts/RuntimeNames) resolve to real types.</summary>
public class ContractTests
{
    private static readonly Assembly[] RuntimeAssemblies =
    {
        typeof(LayerCompiler.Runtime.Tensor).Assembly,
        typeof(LayerCompiler.Gpu.CudaDevice).Assembly,
        typeof(LayerCompiler.Ilgpu.IlgpuDevice).Assembly,
        typeof(LayerCompiler.Algebra.WeightSpace).Assembly,
    };

    public static IEnumerable<object[]> Names() => RuntimeNames.AllTypes.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Names))]
    public void EveryRuntimeNameIsAPublicType(string name)
    {
        Assert.StartsWith("global::", name);
        string metadataName = name["global::".Length..];
        var types = RuntimeAssemblies.Select(a => a.GetType(metadataName)).Where(t => t != null).ToList();
        var type = Assert.Single(types);
        Assert.True(type!.IsPublic, $"{metadataName} must be public: generated code in users' assemblies names it.");
    }

    [Fact]
    public void TheGpuBackendMarkerIsAGpuType()
    {
        var type = typeof(LayerCompiler.Gpu.CudaDevice).Assembly.GetType(RuntimeNames.GpuBackendMarker);
        Assert.NotNull(type);
        Assert.Equal("global::" + RuntimeNames.GpuBackendMarker, RuntimeNames.CudaLayerSource);
    }

    [Fact]
    public void TheIlgpuBackendMarkerIsAnIlgpuType()
    {
        var type = typeof(LayerCompiler.Ilgpu.IlgpuDevice).Assembly.GetType(RuntimeNames.IlgpuBackendMarker);
        Assert.NotNull(type);
        Assert.Equal("global::" + RuntimeNames.IlgpuBackendMarker, RuntimeNames.IlgpuLayerSource);
    }

    [Fact]
    public void AllTypesListsEveryTypeConstant()
    {
        var constants = typeof(RuntimeNames).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name is not nameof(RuntimeNames.GpuNamespace) and not nameof(RuntimeNames.GpuBackendMarker)
                and not nameof(RuntimeNames.IlgpuNamespace) and not nameof(RuntimeNames.IlgpuBackendMarker))
            .Select(f => (string)f.GetRawConstantValue()!).OrderBy(s => s, StringComparer.Ordinal);
        Assert.Equal(constants, RuntimeNames.AllTypes.OrderBy(s => s, StringComparer.Ordinal));
    }
}
