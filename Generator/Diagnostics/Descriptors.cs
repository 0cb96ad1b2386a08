using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Diagnostics
{
    /// <summary>The catalog of every diagnostic LayerCompiler reports. Ids never change meaning.</summary>
    public static class Descriptors
    {
        private const string Category = "LayerCompiler";

        private static DiagnosticDescriptor Error(string id, string title, string message) =>
            new DiagnosticDescriptor(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor NotPartial = Error("LC0001",
            "Type must be partial", "'{0}' must be declared partial so LayerCompiler can add the generated members; add the 'partial' modifier (to every containing type too)");
        public static readonly DiagnosticDescriptor NonPositiveSize = Error("LC0002",
            "Size or frequency must be positive", "{0}");
        public static readonly DiagnosticDescriptor DimensionsDoNotChain = Error("LC0003",
            "Layer dimensions do not chain", "Layer {0} takes {1} inputs but layer {2} produces {3}; make them equal");
        public static readonly DiagnosticDescriptor ConvAfterDense = Error("LC0004",
            "Conv2d after Dense", "Layer {0} is a Conv2d after a Dense layer; declare every Conv2d before the first Dense (global spatial pooling sits between them)");
        public static readonly DiagnosticDescriptor NoLayers = Error("LC0005",
            "Input network declares no layers", "'{0}' is marked [InputNetwork] but declares no layers; add [Dense(in, out)] or [Conv2d(in, out, kh, kw)] attributes");
        public static readonly DiagnosticDescriptor NotAnInputNetwork = Error("LC0006",
            "Architecture is not an input network", "'{0}' is not marked [InputNetwork]; add [InputNetwork] and its layer attributes to it, or pass a type that has them");
        public static readonly DiagnosticDescriptor BadChannels = Error("LC0007",
            "Invalid channel widths", "Channels {0}; give one positive width per equivariant layer, e.g. Channels = new[] {{ 32, 32, 32 }}");
        public static readonly DiagnosticDescriptor BadHead = Error("LC0008",
            "Invalid head", "{0}");
        public static readonly DiagnosticDescriptor TooManyParameters = Error("LC0009",
            "Parameter count overflows", "{0}; use fewer channels or narrower layers");
        public static readonly DiagnosticDescriptor LayerWithoutInputNetwork = Error("LC0010",
            "Layer attribute without [InputNetwork]", "'{0}' declares [{1}] layers but is not marked [InputNetwork]; add [InputNetwork]");
        public static readonly DiagnosticDescriptor ConflictingAttributes = Error("LC0011",
            "Conflicting attributes", "'{0}' {1}");
        public static readonly DiagnosticDescriptor BadEnumValue = Error("LC0012",
            "Unknown option value", "{0} = {1} is not a defined value; use one of: {2}");
        public static readonly DiagnosticDescriptor UnsupportedType = Error("LC0013",
            "Unsupported type shape", "'{0}' {1}");
        public static readonly DiagnosticDescriptor GeneratedNameCollision = Error("LC0014",
            "Name collides with a generated member", "{0}");
        public static readonly DiagnosticDescriptor FeaturesOverflow = Error("LC0015",
            "Feature tensor size overflows", "{0}; use fewer channels or narrower layers");
        public static readonly DiagnosticDescriptor SymmetryNotGenerated = Error("LC0017",
            "Symmetry not generated yet", "Symmetry.{0} is not generated yet: {1}");
        public static readonly DiagnosticDescriptor BadProductModel = Error("LC0018",
            "Invalid product model", "{0}");
        public static readonly DiagnosticDescriptor LanguageVersionTooOld = Error("LC0016",
            "C# language version too old", "LayerCompiler generates C# 8 code (nullable annotations) for '{0}', but this project compiles C# {1}; set <LangVersion> to 8.0 or later, or remove it to use the SDK's default");

        public static readonly DiagnosticDescriptor InvalidInputGeometry = Error("LC0019",
            "Invalid input image geometry", "{0}");

        public static readonly DiagnosticDescriptor InternalError = Error("LC0099",
            "LayerCompiler internal error", "LayerCompiler could not generate code for '{0}': {1}. This is a bug in LayerCompiler; please report it with the declaration");

        public static readonly IReadOnlyDictionary<string, DiagnosticDescriptor> ById = Build();

        private static Dictionary<string, DiagnosticDescriptor> Build()
        {
            // Every descriptor field, so that a new one cannot be left out of the catalog.
            var d = new Dictionary<string, DiagnosticDescriptor>();
            foreach (var field in typeof(Descriptors).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
                if (field.GetValue(null) is DiagnosticDescriptor x) d[x.Id] = x;
            return d;
        }
    }
}
