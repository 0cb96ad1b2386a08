// The README's quick start, compiled and run as is.
using LayerCompiler;
using LayerCompiler.Algebra;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.Losses;

// 1. Declare the input network's architecture: a SIREN 2→32→32→1 (one INR per image).
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f, OutputOffset = 0.5f)]
[Dense(2, 32)]
[Dense(32, 32)]
[Dense(32, 1)]
public partial class Siren { }

// 2. Declare an equivariant classifier over its weights. The generator emits the fused kernels.
[EquivariantModel(typeof(Siren), Symmetry = Symmetry.HiddenNeuron, Channels = new[] { 16, 16, 16 }, Outputs = 10)]
public partial class SirenClassifier { }

public static class Program
{
    public static void Main()
    {
        var space = SirenClassifier.CreateWeightSpace();
        Console.WriteLine($"Weight space of Siren: {space.Dimension} weights in {space.Tensors.Count} tensors ({string.Join(", ", space.Tensors)})");
        Console.WriteLine($"Equivariant basis: {Basis.CountPerChannelPair(space)} linear maps per channel pair (hidden-neuron symmetry), " +
                          $"{Basis.CountPerChannelPair(Siren.CreateWeightSpace(Symmetry.AllNeuron))} under the all-neuron symmetry");

        // 3. Use the generated model like a PyTorch module.
        var model = new SirenClassifier(seed: 1);
        Console.WriteLine(model);
        var weights = new WeightSpaceBatch(space, batch: 4, channels: 1);
        var rng = new Rng(2);
        foreach (var t in weights.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(0.1 * rng.Normal());
        var logits = model.Forward(weights);

        // 4. Permuting hidden neurons does not change the prediction.
        var permuted = Permutations.Apply(weights, Permutations.Random(space, rng));
        double moved = weights.Flatten().Zip(permuted.Flatten(), (a, b) => Math.Abs(a - b)).Max();
        var logits2 = model.Forward(permuted);
        double maxDiff = logits.Data.Zip(logits2.Data, (a, b) => Math.Abs(a - b)).Max();
        Console.WriteLine($"logits[0] = [{string.Join(", ", logits.Data.Take(10).Select(v => v.ToString("F4")))}]");
        Console.WriteLine($"max |f(x) − f(g·x)| under a random hidden-neuron permutation: {maxDiff:E2} (the permutation moved weights by up to {moved:F3})");

        // 5. Backward: a loss on the logits, parameter gradients accumulated in .Grad, d loss / d weights returned.
        var (loss, gradLogits) = new SoftmaxCrossEntropy().Compute(logits, labels: new[] { 0, 3, 1, 7 });
        var gradWeights = model.Backward(gradLogits);
        double gradNorm = Math.Sqrt(model.Parameters().Sum(p => p.Grad.Data.Sum(g => (double)g * g)));
        Console.WriteLine($"cross-entropy {loss:F4}; parameter gradient norm {gradNorm:E3}; d loss / d weights for {gradWeights.Batch} networks");

        // 6. The input network itself runs too (generated): evaluate the 4 INRs on 3 points.
        var net = new Siren.Network();
        var output = new float[4 * 3];
        net.Forward(weights, new float[] { -1f, -1f, 0f, 0f, 1f, 1f }, 3, output);
        Console.WriteLine($"INR 0 at (−1,−1), (0,0), (1,1): {output[0]:F4}, {output[1]:F4}, {output[2]:F4}");
    }
}
