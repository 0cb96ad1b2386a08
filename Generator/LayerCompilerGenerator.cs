using System;
using System.Collections.Immutable;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Diagnostics;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Model;
using LayerCompiler.Generator.Parse;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LayerCompiler.Generator
{
    /// <summary>
    /// Entry point: parse (symbols → equatable models) → validate (models → diagnostics) →
    /// lower (Specs algebra → fused plan) → emit (plan → C#). One pipeline per attribute.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class LayerCompilerGenerator : IIncrementalGenerator
    {
        public const string ArchitecturesStep = "Architectures";
        public const string ModelsStep = "Models";
        public const string ResolvedModelsStep = "ResolvedModels";
        public const string StrayLayersStep = "StrayLayers";

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var architectures = context.SyntaxProvider.ForAttributeWithMetadataName(Parser.InputNetworkName,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.ParseArchitecture((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes.FirstOrDefault(), ct))
                .WithTrackingName(ArchitecturesStep);

            var models = context.SyntaxProvider.ForAttributeWithMetadataName(Parser.ModelName,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.ParseModel((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0], ct))
                .WithTrackingName(ModelsStep);

            var resolved = models.Combine(architectures.Collect())
                .Select(static (pair, _) => Resolve(pair.Left, pair.Right))
                .WithTrackingName(ResolvedModelsStep);

            foreach (var layerAttribute in new[] { Parser.DenseName, Parser.Conv2dName })
            {
                var stray = context.SyntaxProvider.ForAttributeWithMetadataName(layerAttribute,
                        static (node, _) => node is TypeDeclarationSyntax,
                        static (ctx, _) => StrayLayer(ctx))
                    .Where(static d => d != null)
                    .WithTrackingName(StrayLayersStep);
                context.RegisterSourceOutput(stray, static (spc, d) => Report(spc, d!));
            }

            context.RegisterSourceOutput(architectures, static (spc, arch) => EmitArchitecture(spc, arch));
            context.RegisterSourceOutput(resolved, static (spc, model) => EmitModel(spc, model));
        }

        private static DiagnosticInfo? StrayLayer(GeneratorAttributeSyntaxContext ctx)
        {
            var type = (INamedTypeSymbol)ctx.TargetSymbol;
            if (type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == Parser.InputNetworkName)) return null;
            var first = ctx.Attributes[0];
            string kind = first.AttributeClass?.Name.Replace("Attribute", "") ?? "Dense";
            return Parser.Diag(Descriptors.LayerWithoutInputNetwork, LocationInfo.From(first.ApplicationSyntaxReference?.GetSyntax()), type.Name, kind);
        }

        /// <summary>Fills in the architecture of a model from the architectures declared in this compilation.</summary>
        private static EquivariantModelInfo Resolve(EquivariantModelInfo model, ImmutableArray<ArchitectureInfo> architectures)
        {
            if (model.Architecture == null || model.Architecture.Layers.Count > 0) return model;
            var arch = architectures.FirstOrDefault(a => a.Type.FullyQualifiedName == model.ArchitectureName);
            return model with { Architecture = arch };
        }

        private static void Report(SourceProductionContext spc, DiagnosticInfo d)
        {
            var descriptor = Descriptors.ById[d.Id];
            spc.ReportDiagnostic(Diagnostic.Create(descriptor, d.Location?.ToLocation() ?? Location.None, d.Arguments.Cast<object>().ToArray()));
        }

        private static void EmitArchitecture(SourceProductionContext spc, ArchitectureInfo arch)
        {
            foreach (var d in arch.Diagnostics) Report(spc, d);
            if (arch.Diagnostics.Count > 0) return;
            Guarded(spc, arch.Type, () => spc.AddSource(arch.Type.HintPrefix + ".g.cs", SourceEmitter.EmitArchitecture(arch)));
            // Dense input networks also get their CUDA C (batched forward, MSE weight gradient, fused INR fitting).
            if (InputNetworkEmitter.Supports(arch))
                Guarded(spc, arch.Type, () => spc.AddSource(arch.Type.HintPrefix + ".Cuda.g.cs", CudaInputNetworkEmitter.EmitArchitecture(arch)));
        }

        private static void EmitModel(SourceProductionContext spc, EquivariantModelInfo model)
        {
            foreach (var d in model.Diagnostics) Report(spc, d);
            var arch = model.Architecture;
            // Architecture errors are reported by the architecture's own pipeline (or just above, for one from metadata).
            if (model.Diagnostics.Count > 0 || model.SuppressEmission || arch == null || arch.Layers.Count == 0 || arch.Diagnostics.Count > 0)
            {
                if (arch != null && arch.Layers.Count > 0) foreach (var d in arch.Diagnostics.Where(d => d.Location == null)) Report(spc, d);
                return;
            }
            var space = WeightSpace.FromLayers(SourceEmitter.Declarations(arch), (Symmetry)model.Symmetry);
            foreach (var (cin, cout) in SourceEmitter.KernelChannelPairs(model))
            {
                long count = LayerPlan.CountParameters(space, cin, cout);
                if (count > int.MaxValue)
                {
                    Report(spc, Parser.Diag(Descriptors.TooManyParameters, model.Diagnostics.Count > 0 ? null : ModelLocation(model),
                        $"The equivariant layer {cin} → {cout} channels over '{arch.Type.Name}' has {count} parameters, more than {int.MaxValue}"));
                    return;
                }
            }
            Guarded(spc, model.Type, () => spc.AddSource(model.Type.HintPrefix + ".g.cs", SourceEmitter.EmitModel(model, arch)));
            Guarded(spc, model.Type, () => spc.AddSource(model.Type.HintPrefix + ".Cuda.g.cs", CudaSourceEmitter.EmitModel(model, arch)));
        }

        private static LocationInfo? ModelLocation(EquivariantModelInfo model) => model.AttributeLocation;

        /// <summary>The generator must never throw: an unexpected failure becomes LC0099 naming the type (without a location: the
        /// failure is in the generator, not in the declaration).</summary>
        private static void Guarded(SourceProductionContext spc, Model.TypeInfo type, Action emit)
        {
            try { emit(); }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                spc.ReportDiagnostic(Diagnostic.Create(Descriptors.InternalError, Location.None, type.Name, ex.GetType().Name + ": " + ex.Message));
            }
        }
    }
}
