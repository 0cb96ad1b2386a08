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

    /// <summary>
    /// What a parse step yields: the location-free model that emission depends on, and the diagnostics (with their
    /// locations) as a separate value, so an edit that only moves lines changes the diagnostics but not the model.
    /// <see cref="Anchor"/> is where diagnostics found after parsing (once the architecture is resolved) are reported.
    /// </summary>
    public sealed record Parsed<T>(T Value, EquatableArray<DiagnosticInfo> Diagnostics, LocationInfo? Anchor) where T : System.IEquatable<T>;

    /// <summary>One declared input-network layer.</summary>
    public sealed record LayerInfo(int Kind, int In, int Out, int KernelH, int KernelW, bool Bias)
    {
        /// <summary>Conv2d stride (1 for dense layers); padding is 0.</summary>
        public int Stride { get; init; } = 1;
    }

    /// <summary>How to re-open the user's type: namespace, nesting chain, keyword and name.</summary>
    public sealed record TypeInfo(string Namespace, EquatableArray<string> ContainingTypes, string Keyword, string Name, string FullyQualifiedName)
    {
        /// <summary>Namespace.Containing.Name without the '@' of escaped identifiers (namespace @event): hint names may not contain it.</summary>
        public string HintPrefix => ((Namespace.Length > 0 ? Namespace + "." : "") + (ContainingTypes.Count > 0 ? string.Join(".", ContainingTypes.Select(c => c.Substring(c.LastIndexOf(' ') + 1))) + "." : "") + Name).Replace("@", "");
    }

    /// <summary>Parsed [InputNetwork] type. <see cref="HasErrors"/>: a diagnostic was reported for it, so nothing is emitted.</summary>
    public sealed record ArchitectureInfo(
        TypeInfo Type,
        EquatableArray<LayerInfo> Layers,
        int InputActivation,
        float Omega0,
        float OutputOffset,
        bool HasErrors)
    {
        /// <summary>Input image height and width (0 when not declared): with both set a classifier pass is emitted.</summary>
        public int InputHeight { get; init; }
        public int InputWidth { get; init; }
        public bool IsImageClassifier => InputHeight > 0 && InputWidth > 0;
    }

    /// <summary>
    /// Parsed [EquivariantModel] type, including the architecture it refers to. <see cref="HasErrors"/>: a diagnostic was
    /// reported for it here or by another pipeline (a type that is also an [InputNetwork]), so nothing is emitted.
    /// </summary>
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
        bool HasErrors)
    {
        /// <summary>Fully qualified name of the architecture type, to join with the parsed architectures.</summary>
        public string ArchitectureName { get; init; } = "";
        /// <summary>The invariant head's pooling (HeadPooling: 0 mean, 1 max, 2 mean and max).</summary>
        public int Pooling { get; init; }
    }

    /// <summary>
    /// Parsed [ProductModel] type with the architecture it refers to (resolved from the architecture pipeline like a model's).
    /// <see cref="HasErrors"/>: a diagnostic was reported for it, so nothing is emitted. <see cref="Dropout"/> is the
    /// float's bits, so the record stays equatable bit for bit.
    /// </summary>
    public sealed record ProductModelInfo(
        TypeInfo Type,
        ArchitectureInfo? Architecture,
        int Symmetry,
        int Features,
        int Layers,
        int Outputs,
        int HeadHidden,
        bool Normalize,
        int DropoutBits,
        bool HasErrors)
    {
        public string ArchitectureName { get; init; } = "";
        public float Dropout => System.BitConverter.ToSingle(System.BitConverter.GetBytes(DropoutBits), 0);
    }
}
