using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LayerCompiler.Generator.Diagnostics;
using LayerCompiler.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LayerCompiler.Generator.Parse
{
    /// <summary>Symbols → equatable models. Pure and static; reads nothing but what it is given.</summary>
    public static class Parser
    {
        public const string Ns = "LayerCompiler.";
        public const string InputNetworkName = Ns + "InputNetworkAttribute";
        public const string DenseName = Ns + "DenseAttribute";
        public const string Conv2dName = Ns + "Conv2dAttribute";
        public const string ModelName = Ns + "EquivariantModelAttribute";

        public static Parsed<ArchitectureInfo> ParseArchitecture(INamedTypeSymbol type, AttributeData? inputNetwork, CancellationToken ct)
        {
            var diags = new List<DiagnosticInfo>();
            CheckLanguageVersion(type, inputNetwork, diags);
            CheckTypeShape(type, diags, isModel: false);
            var layers = ReadLayers(type, ct);
            int activation = 0; float omega0 = 30f; float offset = 0f;
            if (inputNetwork != null)
            {
                foreach (var na in inputNetwork.NamedArguments)
                {
                    if (na.Key == "Activation" && na.Value.Value is int a)
                    {
                        activation = a;
                        if (a < 0 || a > 2) diags.Add(Diag(Descriptors.BadEnumValue, NamedArgLocation(inputNetwork, "Activation") ?? AttrLocation(inputNetwork), "Activation", a.ToString(), "ReLU, Sine, Tanh"));
                    }
                    else if (na.Key == "Omega0" && na.Value.Value is float w) omega0 = w;
                    else if (na.Key == "OutputOffset" && na.Value.Value is float o) offset = o;
                }
                if (float.IsNaN(omega0) || float.IsInfinity(omega0) || omega0 <= 0)
                    diags.Add(Diag(Descriptors.NonPositiveSize, NamedArgLocation(inputNetwork, "Omega0") ?? AttrLocation(inputNetwork),
                        $"Omega0 = {Describe(omega0)} is not a positive finite frequency; the sine activation computes sin(Omega0 · x), so use a positive value such as 30 (the SIREN default)"));
                if (float.IsNaN(offset) || float.IsInfinity(offset))
                    diags.Add(Diag(Descriptors.BadEnumValue, NamedArgLocation(inputNetwork, "OutputOffset") ?? AttrLocation(inputNetwork), "OutputOffset", "a non-finite value", "a finite float"));
            }
            if (type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == ModelName))
                diags.Add(Diag(Descriptors.ConflictingAttributes, AttrLocation(inputNetwork) ?? LocationInfo.From(type.Locations.FirstOrDefault()), type.Name,
                    "is marked both [InputNetwork] and [EquivariantModel]; declare the architecture and the model as two types"));
            ValidateLayers(type, layers.Select(l => l.Layer).ToList(), layers.Select(l => l.Location).ToList(), diags);
            if (diags.Count == 0) CheckGeneratedNames(type, GeneratedNames.OfArchitecture(layers.Select(l => l.Layer)), diags);
            var info = new ArchitectureInfo(ReadType(type), layers.Select(l => l.Layer).ToEquatableArray(), activation, omega0, offset, diags.Count > 0);
            return new Parsed<ArchitectureInfo>(info, diags.ToEquatableArray(), AttrLocation(inputNetwork));
        }

        /// <summary>A float as the user would write it (NaN, ∞ and round-tripping digits).</summary>
        private static string Describe(float v) =>
            float.IsNaN(v) ? "NaN" : float.IsPositiveInfinity(v) ? "+∞" : float.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f";

        public static Parsed<EquivariantModelInfo> ParseModel(INamedTypeSymbol type, AttributeData attr, CancellationToken ct)
        {
            var diags = new List<DiagnosticInfo>();
            CheckLanguageVersion(type, attr, diags);
            CheckTypeShape(type, diags, isModel: true);
            var attrLoc = AttrLocation(attr);
            ArchitectureInfo? arch = null;
            string archName = "";
            if (attr.ConstructorArguments.Length == 1 && attr.ConstructorArguments[0].Value is INamedTypeSymbol archType && archType.TypeKind != TypeKind.Error)
            {
                archName = archType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
                var inputNetwork = archType.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == InputNetworkName);
                if (inputNetwork == null)
                    diags.Add(Diag(Descriptors.NotAnInputNetwork, attrLoc, archType.ToDisplayString()));
                else if (archType.DeclaringSyntaxReferences.Length == 0)
                {
                    // From metadata: nobody else parses it, and its problems have no source location, so they are reported here.
                    var parsed = ParseArchitecture(archType, inputNetwork, ct);
                    arch = parsed.Value;
                    foreach (var d in parsed.Diagnostics) diags.Add(d with { Location = attrLoc });
                }
                else
                    arch = new ArchitectureInfo(ReadType(archType), EquatableArray<LayerInfo>.Empty, 0, 0, 0, false); // resolved later from the architecture pipeline
            }
            else
            {
                diags.Add(Diag(Descriptors.NotAnInputNetwork, attrLoc, attr.ConstructorArguments.FirstOrDefault().Value?.ToString() ?? "(none)"));
            }

            int symmetry = 0, activation = 0, head = 0, outputs = 0, headHidden = 0, pooling = 0;
            bool normalize = false;
            int[]? channels = null;
            foreach (var na in attr.NamedArguments)
            {
                var v = na.Value;
                switch (na.Key)
                {
                    case "Symmetry": symmetry = v.Value is int s ? s : 0; break;
                    case "Activation": activation = v.Value is int a ? a : 0; break;
                    case "Head": head = v.Value is int h ? h : 0; break;
                    case "Outputs": outputs = v.Value is int o ? o : 0; break;
                    case "HeadHidden": headHidden = v.Value is int hh ? hh : 0; break;
                    case "Pooling": pooling = v.Value is int pl ? pl : 0; break;
                    case "Normalize": normalize = v.Value is bool b && b; break;
                    case "Channels":
                        channels = v.IsNull ? null : v.Values.Select(x => x.Value is int c ? c : 0).ToArray();
                        break;
                }
            }
            LocationInfo? At(string name) => NamedArgLocation(attr, name) ?? attrLoc;
            if (symmetry < 0 || symmetry > 1) diags.Add(Diag(Descriptors.BadEnumValue, At("Symmetry"), "Symmetry", symmetry.ToString(), "HiddenNeuron, AllNeuron"));
            if (activation < 0 || activation > 2) diags.Add(Diag(Descriptors.BadEnumValue, At("Activation"), "Activation", activation.ToString(), "ReLU, GELU, None"));
            if (head < 0 || head > 1) diags.Add(Diag(Descriptors.BadEnumValue, At("Head"), "Head", head.ToString(), "Invariant, Equivariant"));
            if (pooling < 0 || pooling > 2) diags.Add(Diag(Descriptors.BadEnumValue, At("Pooling"), "Pooling", pooling.ToString(), "Mean, Max, MeanAndMax"));
            if (head == 1 && pooling != 0)
                diags.Add(Diag(Descriptors.ConflictingAttributes, At("Pooling"), type.Name, "sets Pooling with an equivariant head; Pooling applies only to Head = HeadKind.Invariant"));
            if (channels == null || channels.Length == 0)
                diags.Add(Diag(Descriptors.BadChannels, At("Channels"), "are missing"));
            else if (channels.Any(c => c <= 0))
                diags.Add(Diag(Descriptors.BadChannels, At("Channels"), $"contain a non-positive width ({channels.First(c => c <= 0)})"));
            if (outputs <= 0)
                diags.Add(Diag(Descriptors.BadHead, At("Outputs"), head == 1
                    ? $"Outputs = {outputs}: an equivariant head needs the number of output channels per weight (at least 1); set Outputs"
                    : $"Outputs = {outputs}: an invariant head needs the number of values per network (e.g. classes, at least 1); set Outputs"));
            if (headHidden < 0)
                diags.Add(Diag(Descriptors.BadHead, At("HeadHidden"), $"HeadHidden = {headHidden}: use 0 for a single linear layer or a positive width"));
            if (head == 1 && headHidden != 0)
                diags.Add(Diag(Descriptors.ConflictingAttributes, At("HeadHidden"), type.Name, "sets HeadHidden with an equivariant head; HeadHidden applies only to Head = HeadKind.Invariant"));
            if (type.TypeKind == TypeKind.Class && !type.IsRecord && type.BaseType != null && type.BaseType.SpecialType != SpecialType.System_Object)
                diags.Add(Diag(Descriptors.ConflictingAttributes, LocationInfo.From(type.Locations.FirstOrDefault()), type.Name,
                    $"derives from '{type.BaseType.ToDisplayString()}'; the generated model derives from LayerCompiler.Runtime.Modules.EquivariantNetwork, so remove the base class"));

            // Also an [InputNetwork]: that pipeline reports the conflict, this one only emits nothing.
            bool alsoInputNetwork = type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == InputNetworkName);
            var info = new EquivariantModelInfo(ReadType(type), arch, symmetry, (channels ?? new int[0]).ToEquatableArray(), activation, head, outputs, headHidden, normalize, diags.Count > 0 || alsoInputNetwork)
            {
                ArchitectureName = archName, Pooling = pooling,
            };
            if (!info.HasErrors) CheckGeneratedNames(type, GeneratedNames.OfModel(info), diags);
            if (diags.Count > 0 && !info.HasErrors) info = info with { HasErrors = true };
            return new Parsed<EquivariantModelInfo>(info, diags.ToEquatableArray(), attrLoc);
        }

        /// <summary>
        /// A user member (or the type itself) named like a member the generator adds would make the generated file fail to
        /// compile (CS0102, CS0111, CS0542); report it at the user's declaration instead.
        /// </summary>
        private static void CheckGeneratedNames(INamedTypeSymbol type, IReadOnlyList<GeneratedNames.Member> generated, List<DiagnosticInfo> diags)
        {
            foreach (var g in generated)
            {
                if (g.IsConstructor)
                {
                    foreach (var ctor in type.InstanceConstructors)
                        if (!ctor.IsImplicitlyDeclared && ctor.Parameters.Length == g.ConstructorParameters.Count &&
                            ctor.Parameters.Select(p => p.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)).SequenceEqual(g.ConstructorParameters))
                            diags.Add(Diag(Descriptors.GeneratedNameCollision, SourceLocation(ctor) ?? LocationInfo.From(type.Locations.FirstOrDefault()),
                                $"'{type.Name}' declares a constructor {type.Name}({string.Join(", ", ctor.Parameters.Select(p => p.Type.ToDisplayString()))}), and LayerCompiler generates {g.Description}; remove yours or give it other parameters"));
                    continue;
                }
                if (type.Name == g.Name)
                {
                    diags.Add(Diag(Descriptors.GeneratedNameCollision, LocationInfo.From(type.Locations.FirstOrDefault()),
                        $"'{type.Name}' has the name of a member LayerCompiler generates inside it ({g.Description}), and a member may not be named like its type; rename the type"));
                    continue;
                }
                foreach (var member in type.GetMembers(g.Name))
                    if (!member.IsImplicitlyDeclared)
                    {
                        diags.Add(Diag(Descriptors.GeneratedNameCollision, SourceLocation(member) ?? LocationInfo.From(type.Locations.FirstOrDefault()),
                            $"'{type.Name}' declares a member named '{g.Name}', and LayerCompiler generates {g.Description}; rename yours"));
                        break;
                    }
            }
        }

        private static LocationInfo? SourceLocation(ISymbol symbol) => LocationInfo.From(symbol.Locations.FirstOrDefault(l => l.IsInSource));

        private static List<(LayerInfo Layer, LocationInfo? Location)> ReadLayers(INamedTypeSymbol type, CancellationToken ct)
        {
            var layers = new List<(LayerInfo, LocationInfo?)>();
            // Attributes come back in declaration order; with several partial declarations the
            // syntax order of each declaration is kept, declarations in the order Roslyn lists them.
            foreach (var a in type.GetAttributes())
            {
                ct.ThrowIfCancellationRequested();
                string? name = a.AttributeClass?.ToDisplayString();
                bool bias = true;
                foreach (var na in a.NamedArguments) if (na.Key == "Bias" && na.Value.Value is bool b) bias = b;
                int Arg(int i) => a.ConstructorArguments.Length > i && a.ConstructorArguments[i].Value is int v ? v : 0;
                if (name == DenseName)
                    layers.Add((new LayerInfo(0, Arg(0), Arg(1), 1, 1, bias), AttrLocation(a)));
                else if (name == Conv2dName)
                    layers.Add((new LayerInfo(1, Arg(0), Arg(1), Arg(2), Arg(3), bias), AttrLocation(a)));
            }
            return layers;
        }

        private static void ValidateLayers(INamedTypeSymbol type, List<LayerInfo> layers, List<LocationInfo?> locations, List<DiagnosticInfo> diags)
        {
            if (layers.Count == 0)
            {
                diags.Add(Diag(Descriptors.NoLayers, LocationInfo.From(type.Locations.FirstOrDefault()), type.Name));
                return;
            }
            bool seenDense = false;
            for (int i = 0; i < layers.Count; i++)
            {
                var l = layers[i];
                string what = $"Layer {i + 1} ({(l.Kind == 0 ? "Dense" : "Conv2d")})";
                foreach (var (label, v) in new[] { ("in", l.In), ("out", l.Out), ("kernel height", l.KernelH), ("kernel width", l.KernelW) })
                    if (v <= 0) { diags.Add(Diag(Descriptors.NonPositiveSize, locations[i], $"{what} has a non-positive size ({label} = {v}); every size must be at least 1")); break; }
                if (l.Kind == 0) seenDense = true;
                else if (seenDense) diags.Add(Diag(Descriptors.ConvAfterDense, locations[i], (i + 1).ToString()));
                if (i > 0 && layers[i - 1].Out != l.In && l.In > 0 && layers[i - 1].Out > 0)
                    diags.Add(Diag(Descriptors.DimensionsDoNotChain, locations[i], (i + 1).ToString(), l.In.ToString(), i.ToString(), layers[i - 1].Out.ToString()));
            }
            // Tensor sizes must fit in int (per network, one channel), and so must the whole network's parameter count
            // (its flat parameter vector is indexed by int).
            long total = 0;
            bool reported = false;
            for (int i = 0; i < layers.Count; i++)
            {
                var l = layers[i];
                // In double: four ints multiplied can exceed a long.
                double estimate = (double)l.In * l.Out * l.KernelH * l.KernelW;
                long size = estimate > int.MaxValue ? long.MaxValue / 4 : (long)l.In * l.Out * l.KernelH * l.KernelW;
                if (estimate > int.MaxValue)
                {
                    diags.Add(Diag(Descriptors.TooManyParameters, locations[i], $"Layer {i + 1} has {ModelChecks.Show(estimate)} weights, more than {int.MaxValue}"));
                    reported = true;
                }
                total += Math.Max(0, size) + (l.Bias ? Math.Max(0, (long)l.Out) : 0);
                if (total > int.MaxValue && !reported)
                {
                    diags.Add(Diag(Descriptors.TooManyParameters, locations[i], $"Layers 1 to {i + 1} have {total} weights and biases together, more than {int.MaxValue}"));
                    reported = true;
                }
            }
        }

        /// <summary>
        /// Partial (with every containing type), not generic, not named with a keyword; a model is also an ordinary class
        /// (the generated part derives from EquivariantNetwork and adds an instance constructor).
        /// </summary>
        private static void CheckTypeShape(INamedTypeSymbol type, List<DiagnosticInfo> diags, bool isModel)
        {
            if (isModel && CheckModelKind(type, diags)) return;
            for (var t = type; t != null; t = t.ContainingType)
            {
                bool isPartial = t.DeclaringSyntaxReferences.Length > 0 && t.DeclaringSyntaxReferences.All(r =>
                    r.GetSyntax() is TypeDeclarationSyntax tds && tds.Modifiers.Any(m => m.IsKind(SyntaxKind.PartialKeyword)));
                if (t.DeclaringSyntaxReferences.Length > 0 && !isPartial)
                {
                    var loc = t.DeclaringSyntaxReferences[0].GetSyntax() is TypeDeclarationSyntax d ? LocationInfo.From(d.Identifier.GetLocation()) : LocationInfo.From(t.Locations.FirstOrDefault());
                    diags.Add(Diag(Descriptors.NotPartial, loc, t.Name));
                    return;
                }
                if (SyntaxFacts.GetKeywordKind(t.Name) != SyntaxKind.None)
                {
                    diags.Add(Diag(Descriptors.UnsupportedType, LocationInfo.From(t.Locations.FirstOrDefault()), t.Name, $"is named with the C# keyword '{t.Name}' (written @{t.Name}); give the type another name"));
                    return;
                }
                if (t.IsGenericType)
                {
                    diags.Add(Diag(Descriptors.UnsupportedType, LocationInfo.From(t.Locations.FirstOrDefault()), t.Name, "is generic (or nested in a generic type); declare architectures and models as non-generic types"));
                    return;
                }
            }
        }

        /// <summary>
        /// The generated code uses C# 8 (nullable annotations, <c>#nullable enable</c>): under an older LangVersion every
        /// generated file would fail to compile, so the declaration is reported at its attribute and nothing is emitted.
        /// Read from the declaration's own syntax tree (a type from metadata has none and is not checked).
        /// </summary>
        private static void CheckLanguageVersion(INamedTypeSymbol type, AttributeData? attr, List<DiagnosticInfo> diags)
        {
            var tree = attr?.ApplicationSyntaxReference?.SyntaxTree ?? type.DeclaringSyntaxReferences.FirstOrDefault()?.SyntaxTree;
            if (tree?.Options is CSharpParseOptions options && options.LanguageVersion < LanguageVersion.CSharp8)
                diags.Add(Diag(Descriptors.LanguageVersionTooOld, AttrLocation(attr) ?? LocationInfo.From(type.Locations.FirstOrDefault()),
                    type.Name, options.LanguageVersion.ToDisplayString()));
        }

        /// <summary>Reports a model type that cannot take the generated base class or constructor; true when it did.</summary>
        private static bool CheckModelKind(INamedTypeSymbol type, List<DiagnosticInfo> diags)
        {
            var name = LocationInfo.From(type.Locations.FirstOrDefault());
            string? problem =
                type.IsStatic ? "is a static class, but a model is created with new and derives from LayerCompiler.Runtime.Modules.EquivariantNetwork; remove 'static'" :
                type.IsRecord ? $"is a {(type.TypeKind == TypeKind.Struct ? "record struct" : "record")}, but the generated part derives from LayerCompiler.Runtime.Modules.EquivariantNetwork, which is not a record; declare it as a partial class" :
                type.TypeKind != TypeKind.Class ? $"is a{(type.TypeKind == TypeKind.Interface ? "n interface" : " " + type.TypeKind.ToString().ToLowerInvariant())}, but the generated part derives from LayerCompiler.Runtime.Modules.EquivariantNetwork; declare it as a partial class" :
                null;
            if (problem == null)
            {
                foreach (var r in type.DeclaringSyntaxReferences)
                    if (r.GetSyntax() is TypeDeclarationSyntax { ParameterList: not null } d)
                    {
                        diags.Add(Diag(Descriptors.UnsupportedType, LocationInfo.From(d.ParameterList), type.Name,
                            "has a primary constructor, but the generated constructor (ulong seed) cannot call it; declare the parameters as ordinary fields or properties set after construction"));
                        return true;
                    }
                return false;
            }
            diags.Add(Diag(Descriptors.UnsupportedType, name, type.Name, problem));
            return true;
        }

        public static Model.TypeInfo ReadType(INamedTypeSymbol type)
        {
            var ns = type.ContainingNamespace == null || type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
            var containing = new List<string>();
            for (var t = type.ContainingType; t != null; t = t.ContainingType) containing.Insert(0, Keyword(t) + " " + t.Name);
            return new Model.TypeInfo(ns, containing.ToEquatableArray(), Keyword(type), type.Name, type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat));
        }

        private static string Keyword(INamedTypeSymbol t) =>
            t.IsRecord ? (t.TypeKind == TypeKind.Struct ? "record struct" : "record") :
            t.TypeKind == TypeKind.Struct ? "struct" : t.TypeKind == TypeKind.Interface ? "interface" : "class";

        private static LocationInfo? AttrLocation(AttributeData? a) => LocationInfo.From(a?.ApplicationSyntaxReference?.GetSyntax());

        private static LocationInfo? NamedArgLocation(AttributeData a, string name)
        {
            if (a.ApplicationSyntaxReference?.GetSyntax() is AttributeSyntax s && s.ArgumentList != null)
                foreach (var arg in s.ArgumentList.Arguments)
                    if (arg.NameEquals?.Name.Identifier.Text == name) return LocationInfo.From(arg);
            return null;
        }

        public static DiagnosticInfo Diag(DiagnosticDescriptor d, LocationInfo? loc, params string[] args) =>
            new DiagnosticInfo(d.Id, loc, args.ToEquatableArray());
    }
}
