using System;
using System.Collections.Immutable;
using System.Linq;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Diagnostics;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Lower;
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
        public const string ParsedArchitecturesStep = "ParsedArchitectures";
        public const string ParsedModelsStep = "ParsedModels";
        public const string ArchitecturesStep = "Architectures";
        public const string ModelsStep = "Models";
        public const string ResolvedModelsStep = "ResolvedModels";
        public const string StrayLayersStep = "StrayLayers";
        public const string GpuBackendStep = "GpuBackend";
        public const string PlansStep = "Plans";
        public const string IlgpuBackendStep = "IlgpuBackend";
        public const string ParsedProductModelsStep = "ParsedProductModels";
        public const string ProductModelsStep = "ProductModels";
        public const string ProductPlansStep = "ProductPlans";

        /// <summary>A type of the GPU backend assembly (LayerCompiler.Gpu); CUDA sources are emitted only where it is referenced.</summary>
        public const string GpuBackendMarker = LayerCompiler.Contracts.RuntimeNames.GpuBackendMarker;

        /// <summary>A type of the ILGPU backend assembly (LayerCompiler.Ilgpu); ILGPU kernels are emitted only where it is referenced.</summary>
        public const string IlgpuBackendMarker = LayerCompiler.Contracts.RuntimeNames.IlgpuBackendMarker;

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var parsedArchitectures = context.SyntaxProvider.ForAttributeWithMetadataName(Parser.InputNetworkName,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.ParseArchitecture((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes.FirstOrDefault(), ct))
                .WithTrackingName(ParsedArchitecturesStep);

            var parsedModels = context.SyntaxProvider.ForAttributeWithMetadataName(Parser.ModelName,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.ParseModel((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0], ct))
                .WithTrackingName(ParsedModelsStep);

            // Emission depends only on the location-free models: an edit that moves lines changes the parsed diagnostics'
            // locations, but these steps stay Unchanged and nothing is re-emitted.
            var architectures = parsedArchitectures.Select(static (p, _) => p.Value).WithTrackingName(ArchitecturesStep);
            var models = parsedModels.Select(static (p, _) => p.Value).WithTrackingName(ModelsStep);

            var resolved = models.Combine(architectures.Collect())
                .Select(static (pair, _) => Resolve(pair.Left, pair.Right))
                .WithTrackingName(ResolvedModelsStep);

            // Diagnostics are their own output: the parsers' findings, plus the model checks that need the resolved architecture.
            context.RegisterSourceOutput(parsedArchitectures.Select(static (p, _) => p.Diagnostics), static (spc, ds) => { foreach (var d in ds) Report(spc, d); });
            var modelDiagnostics = parsedModels.Combine(architectures.Collect())
                .Select(static (pair, _) => ModelDiagnostics(pair.Left, Resolve(pair.Left.Value, pair.Right)));
            context.RegisterSourceOutput(modelDiagnostics, static (spc, ds) => { foreach (var d in ds) Report(spc, d); });

            // Lower: each model's fused plans, plain data, so an edit that leaves the model equal reuses them (and the emission).
            var plans = resolved.Select(static (m, ct) => ModelLowering.Lower(m, ct)).WithTrackingName(PlansStep);

            // Product models: the same steps as equivariant models (parse, resolve the architecture, diagnostics, lower, emit).
            var parsedProducts = context.SyntaxProvider.ForAttributeWithMetadataName(Parser.ProductModelName,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.ParseProductModel((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0], ct))
                .WithTrackingName(ParsedProductModelsStep);
            var products = parsedProducts.Select(static (p, _) => p.Value).WithTrackingName(ProductModelsStep);
            var productDiagnostics = parsedProducts.Combine(architectures.Collect())
                .Select(static (pair, _) => ProductDiagnostics(pair.Left, Resolve(pair.Left.Value, pair.Right)));
            context.RegisterSourceOutput(productDiagnostics, static (spc, ds) => { foreach (var d in ds) Report(spc, d); });
            var productPlans = products.Combine(architectures.Collect())
                .Select(static (pair, _) => ProductLowering.Lower(Resolve(pair.Left, pair.Right)))
                .WithTrackingName(ProductPlansStep);

            foreach (var layerAttribute in new[] { Parser.DenseName, Parser.Conv2dName })
            {
                var stray = context.SyntaxProvider.ForAttributeWithMetadataName(layerAttribute,
                        static (node, _) => node is TypeDeclarationSyntax,
                        static (ctx, _) => StrayLayer(ctx))
                    .Where(static d => d != null)
                    .WithTrackingName(StrayLayersStep);
                context.RegisterSourceOutput(stray, static (spc, d) => Report(spc, d!));
            }

            // Every generated file's name prefix, so that types whose names differ only in case (hint names are
            // compared ignoring case) get distinct files instead of crashing the generator.
            var hints = architectures.Select(static (a, _) => a.Type.HintPrefix).Collect()
                .Combine(models.Select(static (m, _) => m.Type.HintPrefix).Collect())
                .Combine(products.Select(static (m, _) => m.Type.HintPrefix).Collect())
                .Select(static (p, _) => p.Left.Left.Concat(p.Left.Right).Concat(p.Right).ToEquatableArray());

            // The CUDA sources name the GPU backend's types, so they are emitted only where the project references it.
            var gpu = context.CompilationProvider
                .Select(static (c, _) => c.GetTypeByMetadataName(GpuBackendMarker) != null)
                .WithTrackingName(GpuBackendStep);

            context.RegisterSourceOutput(architectures.Combine(hints).Combine(gpu), static (spc, p) => EmitArchitecture(spc, p.Left.Left, p.Left.Right, p.Right));
            context.RegisterSourceOutput(plans.Combine(hints).Combine(gpu), static (spc, p) => EmitModel(spc, p.Left.Left, p.Left.Right, p.Right));

            // The ILGPU kernels name the ILGPU backend's types (and ILGPU's), so likewise only where it is referenced.
            var ilgpu = context.CompilationProvider
                .Select(static (c, _) => c.GetTypeByMetadataName(IlgpuBackendMarker) != null)
                .WithTrackingName(IlgpuBackendStep);
            context.RegisterSourceOutput(architectures.Combine(hints).Combine(ilgpu), static (spc, p) => EmitIlgpuArchitecture(spc, p.Left.Left, p.Left.Right, p.Right));
            context.RegisterSourceOutput(plans.Combine(hints).Combine(ilgpu), static (spc, p) => EmitIlgpuModel(spc, p.Left.Left, p.Left.Right, p.Right));
            context.RegisterSourceOutput(productPlans.Combine(hints), static (spc, p) => EmitProductModel(spc, p.Left, p.Right));
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

        private static ProductModelInfo Resolve(ProductModelInfo model, ImmutableArray<ArchitectureInfo> architectures)
        {
            if (model.Architecture == null || model.Architecture.Layers.Count > 0) return model;
            var arch = architectures.FirstOrDefault(a => a.Type.FullyQualifiedName == model.ArchitectureName);
            return model with { Architecture = arch };
        }

        /// <summary>A product model's parse diagnostics, or when it parsed clean, what its resolved architecture does not allow (LC0018).</summary>
        private static EquatableArray<DiagnosticInfo> ProductDiagnostics(Parsed<ProductModelInfo> parsed, ProductModelInfo model)
        {
            if (parsed.Diagnostics.Count > 0 || model.HasErrors) return parsed.Diagnostics;
            try
            {
                var problem = Parser.ProductArchitectureProblem(model);
                return problem == null ? EquatableArray<DiagnosticInfo>.Empty
                    : new[] { Parser.Diag(Descriptors.BadProductModel, parsed.Anchor, problem) }.ToEquatableArray();
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                return new[] { Parser.Diag(Descriptors.InternalError, null, model.Type.Name, ex.GetType().Name + ": " + ex.Message) }.ToEquatableArray();
            }
        }

        private static void EmitProductModel(SourceProductionContext spc, ProductPlan plan, EquatableArray<string> hints)
        {
            if (!ProductLowering.Emittable(plan.Model)) return;
            if (plan.Error != null)
            {
                spc.ReportDiagnostic(Diagnostic.Create(Descriptors.InternalError, Location.None, plan.Model.Type.Name, plan.Error));
                return;
            }
            string hint = UniqueHint(plan.Model.Type.HintPrefix, hints);
            Guarded(spc, plan.Model.Type, () => spc.AddSource(hint + ".g.cs", ProductEmitter.Emit(plan)));
        }

        /// <summary>A model's parse diagnostics, or when it parsed clean, the first size of it that overflows, at its attribute.</summary>
        private static EquatableArray<DiagnosticInfo> ModelDiagnostics(Parsed<EquivariantModelInfo> parsed, EquivariantModelInfo model)
        {
            if (parsed.Diagnostics.Count > 0 || !CanEmit(model)) return parsed.Diagnostics;
            try
            {
                var overflow = ModelChecks.FirstOverflow(model, model.Architecture!);
                return overflow == null ? EquatableArray<DiagnosticInfo>.Empty
                    : new[] { Parser.Diag(overflow.Value.Descriptor, parsed.Anchor, overflow.Value.Message) }.ToEquatableArray();
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                return new[] { Parser.Diag(Descriptors.InternalError, null, model.Type.Name, ex.GetType().Name + ": " + ex.Message) }.ToEquatableArray();
            }
        }

        private static bool CanEmit(EquivariantModelInfo model) => ModelLowering.Emittable(model);

        private static void Report(SourceProductionContext spc, DiagnosticInfo d)
        {
            var descriptor = Descriptors.ById[d.Id];
            spc.ReportDiagnostic(Diagnostic.Create(descriptor, d.Location?.ToLocation() ?? Location.None, d.Arguments.Cast<object>().ToArray()));
        }

        /// <summary>
        /// The file-name prefix of a type's generated sources: its hint prefix, plus a hash of the exact prefix when
        /// another type's prefix differs from it only in case (Roslyn compares hint names ignoring case).
        /// </summary>
        internal static string UniqueHint(string prefix, EquatableArray<string> all)
        {
            if (!all.Any(other => !string.Equals(other, prefix, StringComparison.Ordinal) && string.Equals(other, prefix, StringComparison.OrdinalIgnoreCase)))
                return prefix;
            uint h = 2166136261;                                      // FNV-1a: stable across runs and platforms
            foreach (char c in prefix) { h ^= c; h *= 16777619; }
            return prefix + "." + h.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
        }

        private static void EmitArchitecture(SourceProductionContext spc, ArchitectureInfo arch, EquatableArray<string> hints, bool gpu)
        {
            if (arch.HasErrors) return;
            string hint = UniqueHint(arch.Type.HintPrefix, hints);
            Guarded(spc, arch.Type, () => spc.AddSource(hint + ".g.cs", SourceEmitter.EmitArchitecture(arch)));
            // Dense input networks also get their CUDA C (batched forward, MSE weight gradient, fused INR fitting).
            if (gpu && InputNetworkEmitter.Supports(arch))
                Guarded(spc, arch.Type, () => spc.AddSource(hint + ".Cuda.g.cs", CudaInputNetworkEmitter.EmitArchitecture(arch)));
        }

        private static void EmitModel(SourceProductionContext spc, ModelPlan plan, EquatableArray<string> hints, bool gpu)
        {
            var model = plan.Model;
            // Whatever stops emission here was reported by the diagnostics outputs.
            if (!ModelLowering.Emittable(model)) return;
            var arch = model.Architecture!;
            if (!Fits(model, arch)) return;
            if (plan.Error != null)
            {
                spc.ReportDiagnostic(Diagnostic.Create(Descriptors.InternalError, Location.None, model.Type.Name, plan.Error));
                return;
            }
            string hint = UniqueHint(model.Type.HintPrefix, hints);
            Guarded(spc, model.Type, () => spc.AddSource(hint + ".g.cs", SourceEmitter.EmitModel(model, arch, plan.Layers)));
            if (gpu) Guarded(spc, model.Type, () => spc.AddSource(hint + ".Cuda.g.cs", CudaSourceEmitter.EmitModel(model, arch)));
        }

        private static void EmitIlgpuArchitecture(SourceProductionContext spc, ArchitectureInfo arch, EquatableArray<string> hints, bool ilgpu)
        {
            if (!ilgpu || arch.HasErrors || !InputNetworkEmitter.Supports(arch)) return;
            string hint = UniqueHint(arch.Type.HintPrefix, hints);
            Guarded(spc, arch.Type, () => spc.AddSource(hint + ".Ilgpu.g.cs", IlgpuInputNetworkEmitter.EmitArchitecture(arch)));
        }

        private static void EmitIlgpuModel(SourceProductionContext spc, ModelPlan plan, EquatableArray<string> hints, bool ilgpu)
        {
            var model = plan.Model;
            // Diagnostics and lowering errors are reported by the other outputs; here only emission.
            if (!ilgpu || !ModelLowering.Emittable(model) || plan.Error != null || plan.Layers.Count == 0) return;
            if (!Fits(model, model.Architecture!)) return;
            string hint = UniqueHint(model.Type.HintPrefix, hints);
            Guarded(spc, model.Type, () => spc.AddSource(hint + ".Ilgpu.g.cs", IlgpuKernelEmitter.EmitModel(model, plan.Layers)));
        }

        /// <summary>Every int-sized quantity fits. A check that fails or throws is reported by the model diagnostics output (LC0009,
        /// LC0015, LC0099), so here it only stops emission.</summary>
        private static bool Fits(EquivariantModelInfo model, ArchitectureInfo arch)
        {
            try { return ModelChecks.FirstOverflow(model, arch) == null; }
            catch (Exception ex) when (!(ex is OperationCanceledException)) { return false; }
        }

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
