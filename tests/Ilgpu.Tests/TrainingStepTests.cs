using System;
using System.Linq;
using LayerCompiler.Runtime;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Tests.Generated;
using LayerCompiler.TestSupport;
using Xunit;

namespace LayerCompiler.Ilgpu.Tests;

/// <summary>
/// Training steps of a whole model whose equivariant layers run on the ILGPU accelerator (the model's generated
/// <c>(IlgpuDevice, seed)</c> constructor), through the runtime's one step executor, against the same model on the CPU:
/// losses and parameters after three AdamW steps ≤ 1e-5; two runs bitwise equal.
/// </summary>
public class TrainingStepTests
{
    private const int Batch = 6;

    private static (float[] Losses, float[] Parameters) Train(EquivariantNetwork model)
    {
        var options = TrainerOptions.Reference();
        var executor = ModuleStepExecutor.For(model, options);
        executor.SetTraining(true);
        var objective = new ClassificationObjective();
        var space = model.Space;
        var losses = new float[3];
        for (int step = 0; step < 3; step++)
        {
            var x = TestUtil.Random(space, Batch, 1, 40 + (ulong)step);
            var labels = Enumerable.Range(0, Batch).Select(i => (i + step) % 4).ToArray();
            losses[step] = executor.Step(x, new TrainingTargets(labels, null), objective).Loss;
        }
        var parameters = model.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.Data).ToArray();
        return (losses, parameters);
    }

    [Fact]
    public void ThreeStepsMatchTheCpuModelAndRepeatBitwise()
    {
        var cpu = Train(new Depth5AllMeanMax(seed: 5));
        var device = Train(new Depth5AllMeanMax(TestDevice.Shared, seed: 5));
        Assert.True(TestUtil.RelativeError(device.Losses, cpu.Losses) <= 1e-5, $"losses {string.Join(", ", device.Losses)} vs {string.Join(", ", cpu.Losses)}");
        Assert.True(TestUtil.RelativeError(device.Parameters, cpu.Parameters) <= 1e-5, $"parameters: relative error {TestUtil.RelativeError(device.Parameters, cpu.Parameters):E2}");
        var again = Train(new Depth5AllMeanMax(TestDevice.Shared, seed: 5));
        Assert.Equal(device.Parameters.Select(BitConverter.SingleToInt32Bits), again.Parameters.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(device.Losses.Select(BitConverter.SingleToInt32Bits), again.Losses.Select(BitConverter.SingleToInt32Bits));
    }
}
