using System.Collections.Generic;
using System.Linq;
using LayerCompiler.Generator.Emit;
using LayerCompiler.Generator.Model;

namespace LayerCompiler.Generator.Parse
{
    /// <summary>
    /// The names of the members the emitters add to a user's type (every backend's, whether or not the project references
    /// it), so that a user member of the same name is a diagnostic at the user's declaration rather than an error inside a
    /// generated file. GeneratedNamesTests compares this list with the members of real generated types.
    /// </summary>
    public static class GeneratedNames
    {
        /// <summary>A generated member: its name (or, for a constructor, its parameter types) and a phrase naming it.</summary>
        public sealed class Member
        {
            public string Name { get; }
            public string Description { get; }
            public IReadOnlyList<string> ConstructorParameters { get; }
            public bool IsConstructor => ConstructorParameters.Count > 0;

            public Member(string name, string description, params string[] constructorParameters)
            {
                Name = name;
                Description = description;
                ConstructorParameters = constructorParameters;
            }
        }

        public static IReadOnlyList<Member> OfArchitecture(IEnumerable<LayerInfo> layers, bool imageClassifier = false)
        {
            var names = new List<Member>
            {
                new Member("Depth", "the constant 'Depth' (number of layers)"),
                new Member("WeightCount", "the constant 'WeightCount' (scalars per network)"),
                new Member("Widths", "the property 'Widths'"),
                new Member("get_Widths", "the getter 'get_Widths' of the property 'Widths'"),
                new Member("TensorNames", "the property 'TensorNames'"),
                new Member("get_TensorNames", "the getter 'get_TensorNames' of the property 'TensorNames'"),
                new Member("CreateLayers", "the method 'CreateLayers()'"),
                new Member("CreateWeightSpace", "the method 'CreateWeightSpace(Symmetry)'"),
            };
            // Dense-only networks get their evaluator class and its CUDA sources.
            if (layers.All(l => l.Kind == 0))
            {
                names.Add(new Member("Network", "the nested class 'Network' (the input network's evaluator)"));
                names.Add(new Member("NetworkCuda", "the nested class 'NetworkCuda' (its CUDA C, where LayerCompiler.Gpu is referenced)"));
            }
            // Networks declared with an input image size get the classifier pass.
            if (imageClassifier)
                names.Add(new Member("Classifier", "the nested class 'Classifier' (the batched image-classifier pass)"));
            return names;
        }

        public static IReadOnlyList<Member> OfModel(EquivariantModelInfo model)
        {
            var names = new List<Member>
            {
                new Member("Configuration", "the field 'Configuration' (the declared options)"),
                new Member("CreateWeightSpace", "the method 'CreateWeightSpace()'"),
                new Member("CreateKernel", "the method 'CreateKernel(LayerPlan)'"),
                new Member("CudaSources", "the nested class 'CudaSources' (where LayerCompiler.Gpu is referenced)"),
                new Member("CreateCudaKernel", "the method 'CreateCudaKernel(CudaDevice, LayerPlan)' (where LayerCompiler.Gpu is referenced)"),
                new Member(model.Type.Name, $"the constructor {model.Type.Name}(ulong seed = 0)", "ulong"),
            };
            foreach (var (cin, cout) in SourceEmitter.KernelChannelPairs(model).Distinct())
            {
                string kernel = CSharpKernelEmitter.ClassName(cin, cout);
                names.Add(new Member(kernel, $"the nested class '{kernel}' (the fused {cin} → {cout} channel kernel)"));
            }
            return names;
        }

        /// <summary>The members the product emitter adds (<see cref="ProductEmitter"/>).</summary>
        public static IReadOnlyList<Member> OfProductModel(ProductModelInfo model) => new List<Member>
        {
            new Member("Configuration", "the field 'Configuration' (the declared options)"),
            new Member("CreateWeightSpace", "the method 'CreateWeightSpace()'"),
            new Member("CreateKernel", "the method 'CreateKernel(NeuralGraph, int)'"),
            new Member(ProductEmitter.KernelClass, $"the nested class '{ProductEmitter.KernelClass}' (the product kernel with the layer schedule unrolled)"),
            new Member(model.Type.Name, $"the constructor {model.Type.Name}(ulong seed = 0)", "ulong"),
        }.Concat(model.Symmetry == (int)LayerCompiler.Symmetry.SignedHiddenNeuron ? new[]
        {
            new Member("LiftWeights", "the method 'LiftWeights(WeightSpaceBatch)' (the generated sign-invariant lift)"),
            new Member("LiftChannels", "the constant 'LiftChannels'"),
            new Member("LiftedSpace", "the field 'LiftedSpace'"),
            new Member("LiftInput", "the override 'LiftInput(WeightSpaceBatch)'"),
        } : new Member[0]).ToList();
    }
}
