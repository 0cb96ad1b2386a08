using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Losses;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Optim;
using LayerCompiler.Tests.Generated;
using Xunit.Abstractions;
using Emu = LayerCompiler.TestSupport.CudaEmulator;
using WS = LayerCompiler.Algebra.WeightSpace;

namespace LayerCompiler.Gpu.Tests;

/// <summary>
/// Every kernel of <see cref="CudaTrainingKernels"/> compiled as C++ and run on the CPU emulator (tests/Shared/CudaEmulation)
/// against the CPU runtime module it mirrors: activations, EquivariantNorm, invariant pooling, Linear (GEMM + bias gradient),
/// softmax cross-entropy, gradient clipping and Adam/AdamW. Outputs start as NaN, so an element nobody writes shows up.
/// </summary>
public class CudaTrainingKernelEmulationTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;
    private static readonly Lazy<string> ExeLazy = new(() => Emu.BuildGeneric(CudaTrainingKernels.Source, CudaTrainingKernels.KernelNames.ToList()));
    private static string Exe => ExeLazy.Value;

    private static Emu.KernelLaunch L(string kernel, long blocks, params Emu.Arg[] args) => new(kernel, blocks, CudaTrainingKernels.BlockSize, args);
    private static Emu.Arg I(int v) => Emu.Arg.I(v);
    private static Emu.Arg F(float v) => Emu.Arg.F(v);
    private static Emu.Arg B(int buffer, long offset = 0) => Emu.Arg.B(buffer, offset);

    private void Check(string what, float[] actual, float[] expected, double tol = Tolerance)
    {
        Assert.DoesNotContain(actual, float.IsNaN);
        double e = TestUtil.RelativeError(actual, expected);
        output.WriteLine($"{what}: relative error {e:E2}{(actual.AsSpan().SequenceEqual(expected) ? " (bitwise equal)" : "")}");
        Assert.True(e <= tol, $"{what}: relative error {e}");
    }

    [HostCompilerFact]
    public void TheSourcePassesAHostCompilerSyntaxCheck()
    {
        Assert.Equal("", Emu.SyntaxCheck(CudaTrainingKernels.Source));
        foreach (var k in CudaTrainingKernels.KernelNames) Assert.Contains($"extern \"C\" __global__ void __launch_bounds__(LCT_THREADS) {k}(", CudaTrainingKernels.Source);
        Assert.DoesNotContain("#include", CudaTrainingKernels.Source);
        Assert.DoesNotMatch(@"\batomic[A-Z]\w*\s*\(", CudaTrainingKernels.Source);   // deterministic: no atomics
    }

    [DeviceCompilerFact]
    public void TheSourceCompilesForTheDeviceWithClang()
    {
        var (messages, ptx) = Emu.DeviceCheck(CudaTrainingKernels.Source);
        Assert.Equal("", messages);
        foreach (var k in CudaTrainingKernels.KernelNames) Assert.Contains($".entry {k}(", ptx);
    }

    [HostCompilerTheory]
    [InlineData(CudaTrainingKernels.ReluCode)]
    [InlineData(CudaTrainingKernels.GeluCode)]
    public void ActivationForwardAndBackwardMatchActivations(int kind)
    {
        const int n = 1000;
        var x = TestUtil.RandomVector(n, 1, 2.0);
        for (int i = 0; i < n; i += 97) x[i] = 0f;
        x[5] = -0f; x[6] = 7f; x[7] = -7f;
        var g = TestUtil.RandomVector(n, 2);
        var buffers = new[] { Emu.Buffer.Of(x), Emu.Buffer.NaN(n), Emu.Buffer.Of(g), Emu.Buffer.NaN(n), Emu.Buffer.Of(g) };
        // Grid of 2 blocks (512 threads) over 1000 elements: the grid-stride loop; the last launch in place (gx = g).
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.ActivationForward, 2, I(n), I(kind), B(0), B(1)),
            L(CudaTrainingKernels.ActivationBackward, CudaTrainingKernels.ElementwiseBlocks(n), I(n), I(kind), B(0), B(2), B(3)),
            L(CudaTrainingKernels.ActivationBackward, 3, I(n), I(kind), B(0), B(4), B(4)),
        });
        var y = new float[n];
        var gx = new float[n];
        if (kind == CudaTrainingKernels.ReluCode) { Activations.ReluForward(x, y); Activations.ReluBackward(x, g, gx); }
        else { Activations.GeluForward(x, y); Activations.GeluBackward(x, g, gx); }
        Check("forward", buffers[1].Floats(), y);
        Check("backward", buffers[3].Floats(), gx);
        Assert.Equal(buffers[3].Floats(), buffers[4].Floats());
        if (kind == CudaTrainingKernels.ReluCode) { Assert.Equal(y, buffers[1].Floats()); Assert.Equal(gx, buffers[3].Floats()); }
    }

    public static IEnumerable<object[]> NormCases() => new[]
    {
        new object[] { "2-4-4-1 hidden", 3, false },
        new object[] { "2-4-4-1 hidden", 300, false },   // more channels than threads: two channel passes per block
        new object[] { "cnn all-neuron", 5, false },
        new object[] { "2-4-4-1 hidden", 3, true },      // the ReLU fused into the normalization
        new object[] { "cnn all-neuron", 5, true },
    };

    private static WS Space(string name) => name switch
    {
        "2-4-4-1 hidden" => TrainStepNormClassifier.CreateWeightSpace(),
        "cnn hidden" => CnnClassifier.CreateWeightSpace(),
        "cnn all-neuron" => CnnEditorAll.CreateWeightSpace(),
        "siren all-neuron" => SirenClassifierAll.CreateWeightSpace(),
        _ => throw new ArgumentException(name),
    };

    [HostCompilerTheory]
    [MemberData(nameof(NormCases))]
    public void NormForwardAndBackwardMatchEquivariantNorm(string spaceName, int channels, bool relu)
    {
        var space = Space(spaceName);
        int tensors = space.Tensors.Count, batch = 3, tc = tensors * channels;
        var norm = new EquivariantNorm(tensors, channels);
        TestUtil.RandomVector(tc, 3).CopyTo(norm.Weight.Data);
        TestUtil.RandomVector(tc, 4).CopyTo(norm.Bias.Data);
        var x = TestUtil.Random(space, batch, channels, 5);
        foreach (var t in x.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = 3f * t.Data[i] + 1.5f;   // nonzero means
        var gy = TestUtil.Random(space, batch, channels, 6);
        var gw0 = TestUtil.RandomVector(tc, 7);
        var gb0 = TestUtil.RandomVector(tc, 8);
        gw0.CopyTo(norm.Weight.Grad.Data);
        gb0.CopyTo(norm.Bias.Grad.Data);
        var y = norm.Forward(x, relu).Flatten();
        if (relu) Assert.Contains(y, v => v == 0);
        var gx = norm.Backward(gy).Flatten();

        long len = x.Length;
        var buffers = new[]
        {
            Emu.Buffer.Of(CudaTrainer.NormMeta(space)), Emu.Buffer.Of(x.Flatten()), Emu.Buffer.Of(norm.Weight.Data), Emu.Buffer.Of(norm.Bias.Data),
            Emu.Buffer.NaN(len), Emu.Buffer.NaN(len), Emu.Buffer.NaN((long)batch * tc), Emu.Buffer.Of(gy.Flatten()),
            Emu.Buffer.NaN((long)batch * tc), Emu.Buffer.NaN((long)batch * tc), Emu.Buffer.Of(gw0), Emu.Buffer.Of(gb0),
        };
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.NormForward, batch * tensors, I(batch), I(tensors), I(channels), B(0), B(1), B(2), B(3), I(relu ? 1 : 0), B(4), B(5), B(6)),
            // In place: gx overwrites gy (buffer 7), as the trainer runs it.
            L(CudaTrainingKernels.NormBackward, batch * tensors, I(batch), I(tensors), I(channels), B(0), B(4), B(2), B(6), I(relu ? 1 : 0), B(5), B(7), B(7), B(8), B(9)),
            L(CudaTrainingKernels.NormParameterGradient, CudaTrainingKernels.ElementwiseBlocks(tc), I(batch), I(tc), B(8), B(9), B(10), B(11)),
        });
        Check("forward", buffers[5].Floats(), y);
        Check("input gradient", buffers[7].Floats(), gx);
        Check("weight gradient", buffers[10].Floats(), norm.Weight.Grad.Data);
        Check("bias gradient", buffers[11].Floats(), norm.Bias.Grad.Data);
    }

    public static IEnumerable<object[]> PoolingCases() =>
        from space in new[] { "2-4-4-1 hidden", "cnn hidden", "cnn all-neuron", "siren all-neuron" }
        from pooling in new[] { HeadPooling.Mean, HeadPooling.Max, HeadPooling.MeanAndMax }
        select new object[] { space, pooling };

    [HostCompilerTheory]
    [MemberData(nameof(PoolingCases))]
    public void PoolingForwardAndBackwardMatchInvariantPooling(string spaceName, HeadPooling pooling) => CheckPooling(spaceName, pooling, ties: false);

    public static IEnumerable<object[]> TiedPoolingCases() =>
        from space in new[] { "2-4-4-1 hidden", "cnn hidden", "siren all-neuron" }
        from pooling in new[] { HeadPooling.Max, HeadPooling.MeanAndMax }
        select new object[] { space, pooling };

    /// <summary>
    /// Inputs rounded to whole numbers (mostly −1, ±0, 1), so many groups hold their maximum at several entries: the device
    /// must route the gradient to the same one as the CPU (the first in memory order), and keep the sign of a zero maximum.
    /// </summary>
    [HostCompilerTheory]
    [MemberData(nameof(TiedPoolingCases))]
    public void MaxPoolingPicksTheCpusEntryAmongTies(string spaceName, HeadPooling pooling) => CheckPooling(spaceName, pooling, ties: true);

    private void CheckPooling(string spaceName, HeadPooling pooling, bool ties)
    {
        var space = Space(spaceName);
        const int batch = 4, channels = 3, untouched = -7;
        var pool = new InvariantPooling(space, channels, pooling);
        var tables = PoolingTables.Build(space, channels, pooling);
        Assert.Equal(pool.FeatureCount, tables.Features);
        int features = tables.Features, groups = tables.Groups.Length / 3, mode = CudaTrainingKernels.PoolingCode(pooling);
        var x = TestUtil.Random(space, batch, channels, 9);
        if (ties) foreach (var t in x.Tensors) for (int i = 0; i < t.Length; i++) t.Data[i] = MathF.Round(0.8f * t.Data[i]);
        var y = pool.Forward(x);
        var gy = new Tensor(TestUtil.RandomVector(batch * features, 10), batch, features);
        var gx = pool.Backward(gy).Flatten();
        var buffers = new[]
        {
            Emu.Buffer.Of(tables.Meta), Emu.Buffer.Of(tables.Groups), Emu.Buffer.Of(tables.Entries), Emu.Buffer.Of(tables.FixedIndex),
            Emu.Buffer.Of(x.Flatten()), Emu.Buffer.NaN(batch * features), Emu.Buffer.Of(gy.Data), Emu.Buffer.NaN(x.Length),
            Emu.Buffer.Of(Enumerable.Repeat(untouched, batch * features).ToArray()),
        };
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.PoolForward, CudaTrainingKernels.ElementwiseBlocks((long)batch * groups * channels), I(batch), I(channels), I(features), I(groups),
                I(mode), B(0), B(1), B(2), B(4), B(5), pooling == HeadPooling.Mean ? Emu.Arg.Null : B(8)),
            L(CudaTrainingKernels.PoolBackward, 2, I(batch), I(channels), I(features), I(space.Tensors.Count), I(mode), B(0), B(3),
                pooling == HeadPooling.Mean ? Emu.Arg.Null : B(8), B(6), B(7)),
        });
        Check("forward", buffers[5].Floats(), y.Data);
        Check("backward", buffers[7].Floats(), gx);
        // Same additions in the same order, the same maxima: bitwise equal (compared as bits, so −0 ≠ +0). A gradient routed
        // to another of the tied entries would differ in two elements.
        Assert.Equal(Bits(y.Data), Bits(buffers[5].Floats()));
        Assert.Equal(Bits(gx), Bits(buffers[7].Floats()));
        if (pooling == HeadPooling.Mean) return;

        // Independently of the CPU module: each max feature's argmax is the first entry of its group (ascending) holding the
        // maximum; mean features have no argmax (left as they were).
        var argmax = buffers[8].Ints();
        int tied = 0;
        for (int n = 0; n < batch; n++)
            for (int g = 0; g < groups; g++)
            {
                int t = tables.Groups[3 * g], fi = tables.Groups[3 * g + 1], list = tables.Groups[3 * g + 2];
                var wt = space.Tensors[t];
                int count = wt.Size / wt.FixedSize, feat = tables.Meta[4 * t + 3], width = wt.FixedSize * channels;
                var data = x.Tensors[t].Data;
                for (int ch = 0; ch < channels; ch++)
                {
                    var values = Enumerable.Range(0, count).Select(k => data[(n * wt.Size + tables.Entries[list + k]) * channels + ch]).ToArray();
                    float max = values.Max();
                    int first = tables.Entries[list + Array.IndexOf(values, max)];
                    if (values.Count(v => v == max) > 1) tied++;
                    int f = n * features + feat + fi * channels + ch;
                    if (pooling == HeadPooling.MeanAndMax) { Assert.Equal(untouched, argmax[f]); f += width; }
                    Assert.Equal(first, argmax[f]);
                }
            }
        output.WriteLine($"{tied} of {batch * groups * channels} max features with a tied maximum");
        if (ties) Assert.True(tied > batch * groups * channels / 4, $"only {tied} max features have a tied maximum");
    }

    private static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    [HostCompilerTheory]
    [InlineData(19, 37, 21, true)]
    [InlineData(5, 3, 40, false)]
    [InlineData(33, 16, 16, true)]
    public void GemmAndBiasGradientMatchLinear(int rows, int inF, int outF, bool bias)
    {
        var lin = new Linear(inF, outF, new Rng(11), bias);
        var x = new Tensor(TestUtil.RandomVector(rows * inF, 12), rows, inF);
        var dy = new Tensor(TestUtil.RandomVector(rows * outF, 13), rows, outF);
        var gw0 = TestUtil.RandomVector(outF * inF, 14);
        var gb0 = TestUtil.RandomVector(outF, 15);
        gw0.CopyTo(lin.Weight.Grad.Data);
        if (bias) gb0.CopyTo(lin.Bias!.Grad.Data);
        var y = lin.Forward(x).Data.ToArray();
        var dx = lin.Backward(dy).Data.ToArray();
        var buffers = new[]
        {
            Emu.Buffer.Of(x.Data), Emu.Buffer.Of(lin.Weight.Data), Emu.Buffer.Of(bias ? lin.Bias!.Data : new float[1]), Emu.Buffer.NaN(rows * outF),
            Emu.Buffer.Of(dy.Data), Emu.Buffer.Of(gw0), Emu.Buffer.Of(gb0), Emu.Buffer.NaN(rows * inF),
        };
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.Gemm, CudaTrainingKernels.GemmBlocks(rows, outF), I(rows), I(outF), I(inF), B(0), I(0), B(1), I(1), bias ? B(2) : Emu.Arg.Null, B(3), I(0)),
            L(CudaTrainingKernels.Gemm, CudaTrainingKernels.GemmBlocks(outF, inF), I(outF), I(inF), I(rows), B(4), I(1), B(0), I(0), Emu.Arg.Null, B(5), I(1)),
            L(CudaTrainingKernels.BiasGradient, 1, I(rows), I(outF), B(4), B(6)),
            L(CudaTrainingKernels.Gemm, CudaTrainingKernels.GemmBlocks(rows, inF), I(rows), I(inF), I(outF), B(4), I(0), B(1), I(0), Emu.Arg.Null, B(7), I(0)),
        });
        Check("forward", buffers[3].Floats(), y);
        Check("weight gradient", buffers[5].Floats(), lin.Weight.Grad.Data);
        Check("input gradient", buffers[7].Floats(), dx);
        if (bias)
        {
            Check("bias gradient", buffers[6].Floats(), lin.Bias!.Grad.Data);
            Assert.Equal(lin.Bias!.Grad.Data, buffers[6].Floats());   // rows summed in order, as the CPU
        }
    }

    [HostCompilerTheory]
    [InlineData(300, 7, 0f)]
    [InlineData(9, 10, 0.1f)]
    public void SoftmaxCrossEntropyMatchesTheCpuLossAndAccuracy(int batch, int classes, float smoothing)
    {
        var z = new Tensor(TestUtil.RandomVector(batch * classes, 16, 3.0), batch, classes);
        var rng = new Rng(17);
        var labels = Enumerable.Range(0, batch).Select(_ => rng.NextInt(classes)).ToArray();
        for (int c = 0; c < classes; c++) z.Data[c] = 0.5f;            // a tie: the first maximum wins
        z.Data[classes + 1] = 80f; z.Data[classes + 2] = -80f;          // large logits
        var ce = new SoftmaxCrossEntropy(smoothing);
        var (loss, grad) = ce.Compute(z, labels);
        var pred = Metrics.ArgMax(z);
        int correct = pred.Where((p, i) => p == labels[i]).Count();
        var buffers = new[] { Emu.Buffer.Of(z.Data), Emu.Buffer.Of(labels), Emu.Buffer.NaN(batch * classes), Emu.Buffer.NaN(2L * batch), Emu.Buffer.NaN(4) };
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.SoftmaxCrossEntropy, 1, I(batch), I(classes), Emu.Arg.D(smoothing), B(0), B(1), B(2), B(3), B(4)),
        });
        var result = buffers[4].Doubles();
        output.WriteLine($"loss {loss:R} (device {(float)result[0]:R}), correct {correct} (device {result[1]})");
        Assert.True(Math.Abs((float)result[0] - loss) <= Tolerance * Math.Abs(loss), $"loss {(float)result[0]} vs {loss}");
        Assert.Equal(correct, (int)result[1]);
        Check("gradient", buffers[2].Floats(), grad.Data);
    }

    public static IEnumerable<object[]> AdamCases() => new[]
    {
        new object[] { true, true, null! },     // AdamW + AMSGrad (the reference)
        new object[] { true, false, 0.05f },    // AdamW with clipping (the norm is larger: coef < 1)
        new object[] { false, true, 1e6f },     // Adam with L2, clipping that does not clip
    };

    [HostCompilerTheory]
    [MemberData(nameof(AdamCases))]
    public void AdamStepsMatchTheCpuOptimizer(bool decoupled, bool amsgrad, float? clip)
    {
        // Parameters of several shapes, some without decay, laid out as the trainer lays them out (64-float boundaries).
        var ps = new[] { new Parameter(7, 5), new Parameter(3) { Decay = false }, new Parameter(70), new Parameter(2, 2) { Decay = false } };
        var offsets = new long[ps.Length];
        long words = 0;
        for (int i = 0; i < ps.Length; i++) { offsets[i] = words; words += (ps[i].Length + 63) / 64 * 64; }
        for (int i = 0; i < ps.Length; i++) TestUtil.RandomVector(ps[i].Length, 20 + (ulong)i).CopyTo(ps[i].Data);
        bool exact = clip is null or > 1e3f;
        var o = new CudaTrainerOptions { LearningRate = 5e-3f, WeightDecay = 0.05, AmsGrad = amsgrad, DecoupledWeightDecay = decoupled, ClipGradNorm = clip };
        Adam cpu = decoupled ? new AdamW(ps, o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, amsgrad) : new Adam(ps, o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, amsgrad);

        float[] Flat(Func<Parameter, float[]> f) { var a = new float[words]; for (int i = 0; i < ps.Length; i++) f(ps[i]).CopyTo(a, offsets[i]); return a; }
        var decay = new float[words];
        for (int i = 0; i < ps.Length; i++) if (ps[i].Decay) Array.Fill(decay, 1f, (int)offsets[i], ps[i].Length);
        // 0 params, 1 grads, 2 m, 3 v, 4 vmax, 5 decay, 6 clip partials, 7 clip coef, 8 clip norm, 9 loss (finite)
        var buffers = new[]
        {
            Emu.Buffer.Of(Flat(p => p.Data)), Emu.Buffer.Of(new float[words]), Emu.Buffer.Of(new float[words]), Emu.Buffer.Of(new float[words]),
            Emu.Buffer.Of(new float[words]), Emu.Buffer.Of(decay), Emu.Buffer.NaN(2 * CudaTrainingKernels.MaxSumBlocks), Emu.Buffer.NaN(1), Emu.Buffer.NaN(2),
            Emu.Buffer.Of(new[] { 0.75, 0.0 }),
        };
        for (int step = 1; step <= 4; step++)
        {
            for (int i = 0; i < ps.Length; i++) TestUtil.RandomVector(ps[i].Length, 100 + (ulong)(10 * step + i)).CopyTo(ps[i].Grad.Data);
            buffers[1] = Emu.Buffer.Of(Flat(p => p.Grad.Data));
            float lr = o.LearningRate * step;   // a schedule: the rate changes every step
            var a = AdamScalars.For(o, lr, step);
            var launches = new List<Emu.KernelLaunch>();
            if (clip is float c)
            {
                int parts = CudaTrainingKernels.SumBlocks(words);
                launches.Add(L(CudaTrainingKernels.SumOfSquares, parts, I((int)words), B(1), B(6)));
                launches.Add(L(CudaTrainingKernels.ClipCoefficient, 1, I(parts), B(6), F(c), B(7), B(8)));
            }
            launches.Add(L(CudaTrainingKernels.Adam, CudaTrainingKernels.ElementwiseBlocks(words), I((int)words), B(0), B(1), B(2), B(3), amsgrad ? B(4) : Emu.Arg.Null, B(5),
                clip is null ? Emu.Arg.Null : B(7), B(9), F(a.Shrink), F(a.L2), F(a.NegStep), F(a.Bc2Sqrt), F(a.W), F(a.OneMinusW), I(a.LowWeight ? 1 : 0),
                F(a.B2), F(a.OneMinusB2), F(a.Eps)));
            Emu.RunGeneric(Exe, buffers, launches);

            if (clip is float cc)
            {
                float norm = GradientClipping.ClipGradNorm(ps, cc);
                double devNorm = buffers[8].Doubles()[0];
                Assert.True(Math.Abs(devNorm - norm) <= 1e-6 * norm, $"gradient norm {devNorm} vs {norm}");
            }
            cpu.LearningRate = lr;
            cpu.Step();
            var p = buffers[0].Floats();
            Check($"parameters after step {step}", p, Flat(q => q.Data), 1e-6);
            // The update is rounded operation by operation as on the CPU: bitwise equal, unless clipping scaled the gradients
            // by a coefficient whose norm was summed in another order.
            if (exact) Assert.Equal(Flat(q => q.Data), p);
        }
        if (!exact) return;
        var state = cpu.StateDict();
        Assert.Equal(Flat(q => state[$"state.{Array.IndexOf(ps, q)}.exp_avg"].Data), buffers[2].Floats());
        Assert.Equal(Flat(q => state[$"state.{Array.IndexOf(ps, q)}.exp_avg_sq"].Data), buffers[3].Floats());
        if (amsgrad) Assert.Equal(Flat(q => state[$"state.{Array.IndexOf(ps, q)}.max_exp_avg_sq"].Data), buffers[4].Floats());
    }

    [HostCompilerTheory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(1e300)]   // finite in double, infinite as the float loss the CPU checks
    public void AdamSkipsTheUpdateWhenTheLossIsNotFinite(double loss)
    {
        const int n = 100;
        var p0 = TestUtil.RandomVector(n, 30);
        var g = TestUtil.RandomVector(n, 31);
        var ones = Enumerable.Repeat(1f, n).ToArray();
        var buffers = new[] { Emu.Buffer.Of(p0), Emu.Buffer.Of(g), Emu.Buffer.Of(new float[n]), Emu.Buffer.Of(new float[n]), Emu.Buffer.Of(ones), Emu.Buffer.Of(new[] { loss, 0.0 }) };
        var a = AdamScalars.For(new CudaTrainerOptions(), 1e-2f, 1);
        Emu.RunGeneric(Exe, buffers, new[]
        {
            L(CudaTrainingKernels.Adam, 1, I(n), B(0), B(1), B(2), B(3), Emu.Arg.Null, B(4), Emu.Arg.Null, B(5), F(a.Shrink), F(a.L2), F(a.NegStep), F(a.Bc2Sqrt),
                F(a.W), F(a.OneMinusW), I(a.LowWeight ? 1 : 0), F(a.B2), F(a.OneMinusB2), F(a.Eps)),
        });
        Assert.Equal(p0, buffers[0].Floats());
        Assert.All(buffers[2].Floats(), v => Assert.Equal(0f, v));
    }

    [HostCompilerFact]
    public void ZeroClearsEveryElement()
    {
        var buffers = new[] { Emu.Buffer.NaN(1000) };
        Emu.RunGeneric(Exe, buffers, new[] { L(CudaTrainingKernels.Zero, 1, I(1000), B(0)) });
        Assert.All(buffers[0].Floats(), v => Assert.Equal(0f, v));
    }
}
