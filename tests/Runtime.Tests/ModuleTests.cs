namespace LayerCompiler.Runtime.Tests;

public class ModuleTests
{
    private sealed class Leaf : Module
    {
        public readonly Parameter W = new(2, 3);
        public readonly Parameter B = new(3) { Decay = false };
        protected override IEnumerable<(string, Parameter)> OwnParameters() => new[] { ("weight", W), ("bias", B) };
    }

    private sealed class Tree : Module
    {
        public readonly Leaf A = new(), C = new();
        protected override IEnumerable<(string, Module)> Children() => new (string, Module)[] { ("a", A), ("c", C) };
    }

    [Fact]
    public void NamesFollowTheChildPath()
    {
        var names = new Tree().NamedParameters().Select(x => x.Name).ToArray();
        Assert.Equal(new[] { "a.weight", "a.bias", "c.weight", "c.bias" }, names);
    }

    [Fact]
    public void StateDictRoundTripsAndMismatchesAreAllListed()
    {
        var t = new Tree();
        t.A.W.Data[4] = 3.5f;
        var sd = t.StateDict();
        var u = new Tree();
        u.LoadStateDict(sd);
        Assert.Equal(3.5f, u.A.W.Data[4]);

        sd.Remove("c.bias");
        sd["a.weight"] = new Tensor(3, 2);
        sd["extra"] = new Tensor(1);
        var ex = Assert.Throws<InvalidOperationException>(() => u.LoadStateDict(sd));
        Assert.Contains("missing 'c.bias'", ex.Message);
        Assert.Contains("shape mismatch for 'a.weight'", ex.Message);
        Assert.Contains("unexpected 'extra'", ex.Message);
        Assert.Equal(3.5f, u.A.W.Data[4]); // nothing changed
    }

    [Fact]
    public void TrainEvalPropagates()
    {
        var t = new Tree();
        t.Eval();
        Assert.False(t.A.IsTraining);
        t.Train();
        Assert.True(t.C.IsTraining);
    }
}
