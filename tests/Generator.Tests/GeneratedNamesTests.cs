using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Black-box check of LC0014's list of reserved names: every member the generator actually adds to a user's type (read
/// from the compiled output, so a member a backend adds later is covered without editing this test) is reported as
/// LC0014 when the user declares a member of that name, instead of failing inside the generated file.
/// </summary>
public class GeneratedNamesTests
{
    private const string Declarations = """
        [InputNetwork] [Dense(2, 3)] [Dense(3, 1)] public partial class Net { }
        [InputNetwork] [Conv2d(1, 2, 3, 3)] [Dense(2, 1)] public partial class Cnn { }
        [InputNetwork(InputHeight = 8, InputWidth = 8)] [Conv2d(1, 2, 3, 3, Stride = 2)] [Dense(2, 1)] public partial class ImageCnn { }
        [EquivariantModel(typeof(Net), Channels = new[] { 2, 3 }, Outputs = 4, Head = HeadKind.Equivariant)] public partial class Model { }
        [EquivariantModel(typeof(Cnn), Channels = new[] { 2 }, Outputs = 1, HeadHidden = 3)] public partial class CnnModel { }
        [ProductModel(typeof(Net), Features = 2, Layers = 1, Outputs = 2)] public partial class Product { }
        """;

    /// <summary>(type, generated member) for every member declared only in generated files.</summary>
    public static IEnumerable<object[]> GeneratedMembers()
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + Declarations);
        Assert.True(result.CompileDiagnostics.IsEmpty, string.Join("\n", result.CompileDiagnostics));
        foreach (var typeName in new[] { "Net", "Cnn", "ImageCnn", "Model", "CnnModel", "Product" })
        {
            var type = result.Output.GetTypeByMetadataName(typeName)!;
            foreach (var member in type.GetMembers())
            {
                if (member.IsImplicitlyDeclared || member.Locations.Any(l => !l.IsInSource || !l.SourceTree!.FilePath.EndsWith(".g.cs", StringComparison.Ordinal)))
                    continue;
                yield return new object[] { typeName, member is IMethodSymbol { MethodKind: MethodKind.Constructor } ctor
                    ? "ctor(" + string.Join(", ", ctor.Parameters.Select(p => p.Type.ToDisplayString())) + ")" : member.Name };
            }
        }
    }

    [Fact]
    public void TheGeneratorAddsMembersToEveryKindOfType()
    {
        var members = GeneratedMembers().Select(m => $"{m[0]}.{m[1]}").ToList();
        Assert.Contains("Net.Network", members);
        Assert.DoesNotContain("Cnn.Network", members);         // conv networks have no evaluator
        Assert.Contains("ImageCnn.Classifier", members);      // declared with an input size: the classifier pass
        Assert.DoesNotContain("Cnn.Classifier", members);
        Assert.Contains("Model.ctor(ulong)", members);
        Assert.Contains("Model.FusedKernel_2x3", members);
        Assert.Contains("Model.FusedKernel_3x4", members);     // the equivariant head's kernel
        Assert.Contains("CnnModel.CudaSources", members);
        Assert.Contains("Product.ProductLayerKernel", members);
        Assert.Contains("Product.ctor(ulong)", members);
        Assert.True(members.Count >= 25, string.Join(", ", members));
    }

    [Theory]
    [MemberData(nameof(GeneratedMembers))]
    public void AUserMemberNamedLikeAGeneratedOneIsLC0014(string type, string member)
    {
        string user = member.StartsWith("ctor(", StringComparison.Ordinal)
            ? $"public {type}({member.Substring(5, member.Length - 6)} value) {{ }}"
            : $"public int {member};";
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + Declarations.Replace($"public partial class {type} {{ }}", $"public partial class {type} {{ {user} }}"));
        var d = Assert.Single(result.Run.Diagnostics);
        Assert.Equal("LC0014", d.Id);
        Assert.Contains(type == "Model" || type == "CnnModel" || !member.StartsWith("ctor", StringComparison.Ordinal) ? member.Split('(')[0] : "", d.GetMessage());
        Assert.DoesNotContain(result.CompileDiagnostics, e => e.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true);
    }
}
