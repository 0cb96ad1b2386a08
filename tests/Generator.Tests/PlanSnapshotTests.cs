extern alias gen;
using LcGenerator = gen::LayerCompiler.Generator.LayerCompilerGenerator;
using ModelPlan = gen::LayerCompiler.Generator.Lower.ModelPlan;
using PlanText = gen::LayerCompiler.Generator.Lower.PlanText;

namespace LayerCompiler.Generator.Tests;

/// <summary>The lowered plan (the Plans pipeline step's value) as structured text, so that a change to the lowering is reviewed as data.</summary>
public class PlanSnapshotTests
{
    private static ModelPlan PlanOf(string name)
    {
        var run = GeneratorHarness.Run(SnapshotTests.Architectures.Single(a => a.Name == name).Source).Run.Results.Single();
        return (ModelPlan)run.TrackedSteps[LcGenerator.PlansStep].Single().Outputs.Single().Value;
    }

    [Fact]
    public void TinyEditorPlanMatchesSnapshot()
    {
        var plan = PlanOf("TinyAllNeuron");
        Assert.Null(plan.Error);
        // Channel pairs 1 → 2 (input) and 2 → 1 (equivariant head).
        Assert.Equal(new[] { (1, 2), (2, 1) }, plan.Layers.Select(l => (l.Cin, l.Cout)));
        Snapshot.Match("TinyAllNeuron.TinyEditor.2x1.plan.json", PlanText.Json(plan.Layers[1]));
    }
}
