using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LayerCompiler.Algebra;
using LayerCompiler.Generator.Diagnostics;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Model;
using Microsoft.CodeAnalysis;

namespace LayerCompiler.Generator.Parse
{
    public static partial class Parser
    {
        private const string ProductBase = "LayerCompiler.Runtime.Modules.ProductNetwork";

        /// <summary>[ProductModel] symbols → <see cref="ProductModelInfo"/>, with the checks that need only the attribute.</summary>
        public static Parsed<ProductModelInfo> ParseProductModel(INamedTypeSymbol type, AttributeData attr, CancellationToken ct)
        {
            var diags = new List<DiagnosticInfo>();
            CheckLanguageVersion(type, attr, diags);
            CheckTypeShape(type, diags, isModel: true, modelBase: ProductBase);
            var attrLoc = AttrLocation(attr);
            var arch = ReadArchitectureArgument(type, attr, attrLoc, diags, ct, out string archName);

            int symmetry = 0, features = 16, layers = 2, outputs = 0, headHidden = 0;
            bool normalize = false;
            float dropout = 0f;
            foreach (var na in attr.NamedArguments)
            {
                var v = na.Value;
                switch (na.Key)
                {
                    case "Symmetry": symmetry = v.Value is int s ? s : 0; break;
                    case "Features": features = v.Value is int f ? f : 0; break;
                    case "Layers": layers = v.Value is int l ? l : 0; break;
                    case "Outputs": outputs = v.Value is int o ? o : 0; break;
                    case "HeadHidden": headHidden = v.Value is int h ? h : 0; break;
                    case "Normalize": normalize = v.Value is bool b && b; break;
                    case "Dropout": dropout = v.Value is float p ? p : 0f; break;
                }
            }
            LocationInfo? At(string name) => NamedArgLocation(attr, name) ?? attrLoc;
            if (symmetry < 0 || symmetry > (int)Symmetry.SignedHiddenNeuron)
                diags.Add(Diag(Descriptors.BadEnumValue, At("Symmetry"), "Symmetry", symmetry.ToString(), "HiddenNeuron, AllNeuron, SignedHiddenNeuron"));
            if (features <= 0)
                diags.Add(Diag(Descriptors.NonPositiveSize, At("Features"), $"Features = {features}: every neuron and edge needs at least one feature; use e.g. 16"));
            if (layers <= 0)
                diags.Add(Diag(Descriptors.NonPositiveSize, At("Layers"), $"Layers = {layers}: a product model needs at least one product layer"));
            if (outputs <= 0)
                diags.Add(Diag(Descriptors.BadHead, At("Outputs"), $"Outputs = {outputs}: the head needs the number of values per network (e.g. classes, at least 1); set Outputs"));
            if (headHidden < 0)
                diags.Add(Diag(Descriptors.BadHead, At("HeadHidden"), $"HeadHidden = {headHidden}: use 0 for a single linear layer or a positive width"));
            if (!(dropout >= 0f && dropout < 1f))
                diags.Add(Diag(Descriptors.BadProductModel, At("Dropout"), $"Dropout = {Describe(dropout)} is not a probability in [0, 1); use 0 for no dropout or e.g. 0.1f"));
            else if (features > 0 && layers > 0 && (long)features * features * 3 * layers > int.MaxValue)
                diags.Add(Diag(Descriptors.TooManyParameters, attrLoc, $"Features = {features} gives product layers with more than {int.MaxValue} parameters"));
            if (type.TypeKind == TypeKind.Class && !type.IsRecord && type.BaseType != null && type.BaseType.SpecialType != SpecialType.System_Object)
                diags.Add(Diag(Descriptors.ConflictingAttributes, LocationInfo.From(type.Locations.FirstOrDefault()), type.Name,
                    $"derives from '{type.BaseType.ToDisplayString()}'; the generated model derives from {ProductBase}, so remove the base class"));
            var names = type.GetAttributes().Select(a => a.AttributeClass?.ToDisplayString()).ToList();
            if (names.Contains(InputNetworkName))
                diags.Add(Diag(Descriptors.ConflictingAttributes, attrLoc, type.Name, "is marked both [InputNetwork] and [ProductModel]; declare the architecture and the model as two types"));
            if (names.Contains(ModelName))
                diags.Add(Diag(Descriptors.ConflictingAttributes, attrLoc, type.Name, "is marked both [EquivariantModel] and [ProductModel]; a type is one model, so declare two types"));

            int bits = System.BitConverter.ToInt32(System.BitConverter.GetBytes(dropout), 0);
            var info = new ProductModelInfo(ReadType(type), arch, symmetry, features, layers, outputs, headHidden, normalize, bits, diags.Count > 0) { ArchitectureName = archName };
            if (!info.HasErrors) CheckGeneratedNames(type, GeneratedNames.OfProductModel(info), diags);
            if (diags.Count > 0 && !info.HasErrors) info = info with { HasErrors = true };
            return new Parsed<ProductModelInfo>(info, diags.ToEquatableArray(), attrLoc);
        }

        /// <summary>
        /// The checks that need the resolved architecture: product layers run on a dense network's graph; the sign symmetry
        /// needs an odd activation and a sign-odd reference for every hidden neuron (the lift). Null when it is fine.
        /// </summary>
        public static string? ProductArchitectureProblem(ProductModelInfo model)
        {
            var arch = model.Architecture;
            if (arch == null || arch.Layers.Count == 0 || arch.HasErrors) return null;
            if (arch.Layers.Any(l => l.Kind != 0))
                return $"product layers pass messages along the edges of a dense network, but '{arch.Type.Name}' has Conv2d layers; declare a [ProductModel] over an MLP or SIREN, or an [EquivariantModel] for this architecture";
            if (model.Symmetry != (int)Symmetry.SignedHiddenNeuron) return null;
            if (arch.InputActivation == 0)
                return $"Symmetry.SignedHiddenNeuron is the symmetry of networks with an odd activation (Sine, Tanh), but '{arch.Type.Name}' uses ReLU, which does not commute with sign flips; declare Symmetry.HiddenNeuron";
            var space = WeightSpace.FromLayers(SourceEmitter.Declarations(arch), Symmetry.SignedHiddenNeuron);
            int bare = SignReferences.FirstLayerWithoutReference(space);
            if (bare > 0)
                return $"Symmetry.SignedHiddenNeuron lifts the weights with each hidden neuron's sign-odd values, but hidden layer {bare} of '{arch.Type.Name}' has no bias and no fixed neighbour layer; declare its Dense layer with Bias = true, or declare Symmetry.HiddenNeuron";
            long channels = SignReferences.Channels(space);
            if (channels > SignReferences.MaxChannels)
                return $"Symmetry.SignedHiddenNeuron would lift the weights of '{arch.Type.Name}' to {channels} channels (more than {SignReferences.MaxChannels}); the lift is meant for narrow input and output layers, so declare Symmetry.HiddenNeuron";
            return null;
        }
    }
}
