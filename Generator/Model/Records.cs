using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace LayerCompiler.Generator.Model
{
    /// <summary>A source location as plain data (never a Location: it would pin the syntax tree).</summary>
    public sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
    {
        public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

        public static LocationInfo? From(SyntaxNode? node)
        {
            if (node == null) return null;
            var loc = node.GetLocation();
            return new LocationInfo(loc.SourceTree?.FilePath ?? "", loc.SourceSpan, loc.GetLineSpan().Span);
        }

        public static LocationInfo? From(Location? loc) =>
            loc == null || loc.SourceTree == null ? null : new LocationInfo(loc.SourceTree.FilePath, loc.SourceSpan, loc.GetLineSpan().Span);
    }

    /// <summary>A diagnostic as data: descriptor id, location and message arguments.</summary>
    public sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments);

    /// <summary>One declared input-network layer, with where it was declared.</summary>
    public sealed record LayerInfo(int Kind, int In, int Out, int KernelH, int KernelW, bool Bias, LocationInfo? Location);

    /// <summary>How to re-open the user's type: namespace, nesting chain, keyword and name.</summary>
    public sealed record TypeInfo(string Namespace, EquatableArray<string> ContainingTypes, string Keyword, string Name, string FullyQualifiedName)
    {
        public string HintPrefix => (Namespace.Length > 0 ? Namespace + "." : "") + (ContainingTypes.Count > 0 ? string.Join(".", ContainingTypes.Select(c => c.Substring(c.LastIndexOf(' ') + 1))) + "." : "") + Name;
    }

    /// <summary>Parsed [InputNetwork] type.</summary>
    public sealed record ArchitectureInfo(
        TypeInfo Type,
        EquatableArray<LayerInfo> Layers,
        int InputActivation,
        float Omega0,
        float OutputOffset,
        EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>Parsed [EquivariantModel] type, including the architecture it refers to.</summary>
    public sealed record EquivariantModelInfo(
        TypeInfo Type,
        ArchitectureInfo? Architecture,
        int Symmetry,
        EquatableArray<int> Channels,
        int Activation,
        int Head,
        int Outputs,
        int HeadHidden,
        bool Normalize,
        EquatableArray<DiagnosticInfo> Diagnostics)
    {
        /// <summary>Fully qualified name of the architecture type, to join with the parsed architectures.</summary>
        public string ArchitectureName { get; init; } = "";
        /// <summary>The invariant head's pooling (HeadPooling: 0 mean, 1 max, 2 mean and max).</summary>
        public int Pooling { get; init; }
        /// <summary>Where the [EquivariantModel] attribute is, for diagnostics found after parsing.</summary>
        public LocationInfo? AttributeLocation { get; init; }
        /// <summary>Set when another pipeline reports this type's problem (e.g. it is also an [InputNetwork]): emit nothing.</summary>
        public bool SuppressEmission { get; init; }
    }
}
