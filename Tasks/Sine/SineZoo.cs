using System;
using System.IO;
using System.Linq;
using LayerCompiler.Tasks.Zoo;

namespace LayerCompiler.Tasks.Sine;

/// <summary>
/// A family of sine-wave zoos: the task name its zoo records, the function, the regression targets it stores and which of
/// them the frequency regression predicts.
/// </summary>
/// <param name="TaskName">The zoo's <c>task.name</c>.</param>
/// <param name="Function">The function, for messages and reports.</param>
/// <param name="TargetNames">Names of the zoo's <c>targets</c> columns.</param>
/// <param name="FrequencyColumn">The column <c>sine regress</c> predicts.</param>
/// <param name="BuildCommand">The command that builds a zoo of this family.</param>
public sealed record SineFamily(string TaskName, string Function, string[] TargetNames, int FrequencyColumn, string BuildCommand)
{
    public int TargetWidth => TargetNames.Length;
    /// <summary>Name of the predicted target ("frequency b").</summary>
    public string FrequencyName => TargetNames[FrequencyColumn];
}

/// <summary>
/// Opening a sine zoo for the tasks that read one: <see cref="SineWaveInrTask"/> (f(x) = a·sin(b·x), targets (a, b)) or
/// <see cref="SineFrequencyInrTask"/> (f(x) = sin(a·x), target a), refusing any other zoo in one line that names the zoo's
/// <c>zoo.json</c>, what it holds, what the verb needs and the command that builds it.
/// </summary>
public static class SineZoo
{
    public const string TaskName = "sine-waves";
    /// <summary>Columns of a sine-waves zoo's <c>targets</c>: amplitude a, frequency b.</summary>
    public const int AmplitudeColumn = 0, FrequencyColumn = 1;
    public static readonly string[] TargetNames = { "amplitude a", "frequency b" };

    static string Targets(int count) => count == 1 ? "1 regression target" : $"{count} regression targets";

    /// <summary>a·sin(b·x), a, b ~ U(0, 10): the SSL corpus; its regression predicts b.</summary>
    public static SineFamily Waves { get; } = new(TaskName, "a·sin(b·x)", TargetNames, FrequencyColumn,
        "inr-zoo build --task sine-waves --out DIR --sizes 1000,250,500");

    /// <summary>sin(a·x), a ~ U(0.5, 10): DWSNets' regression corpus; predicts a.</summary>
    public static SineFamily Frequency { get; } = new(SineFrequencyInrTask.TaskName, "sin(a·x)", new[] { "frequency a" }, 0,
        "inr-zoo build --task sine-frequency --out DIR --sizes 2000,500,1000");

    /// <summary>The family of a task name, or null.</summary>
    public static SineFamily? FamilyOf(string taskName) =>
        taskName == Waves.TaskName ? Waves : taskName == Frequency.TaskName ? Frequency : null;

    /// <summary>Opens a sine-waves zoo (targets (a, b)).</summary>
    public static ZooReader Open(string directory, string verb) => Open(directory, verb, new[] { Waves }).Reader;

    /// <summary>Opens a zoo of one of the <paramref name="accepted"/> families, or throws one line naming the file and the mismatch.</summary>
    public static (ZooReader Reader, SineFamily Family) Open(string directory, string verb, SineFamily[] accepted)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        var reader = ZooReader.Open(directory);
        string file = Path.Combine(directory, "zoo.json");
        var m = reader.Manifest;
        var family = accepted.FirstOrDefault(f => f.TaskName == m.TaskName);
        string wants = string.Join(" or ", accepted.Select(f => $"a {f.TaskName} zoo ({f.Function}, {f.TargetWidth} target{(f.TargetWidth == 1 ? "" : "s")})"));
        string build = string.Join(" or ", accepted.Select(f => $"`{f.BuildCommand}`"));
        if (family is null)
            throw new ArgumentException($"{file}: a {m.TaskName} zoo ({reader.Architecture.Describe()}, {Targets(m.TargetWidth)}); {verb} needs {wants}: build one with {build}.");
        if (m.TargetWidth != family.TargetWidth)
            throw new InvalidDataException($"{file}: a {m.TaskName} zoo with {Targets(m.TargetWidth)}; a {family.TaskName} zoo stores {family.TargetWidth} ({string.Join(", ", family.TargetNames)}).");
        if (reader.Architecture.Widths[0] != 1 || reader.Architecture.Widths[^1] != 1)
            throw new InvalidDataException($"{file}: the zoo holds {reader.Architecture.Describe()} networks; a sine zoo's INRs map 1 → 1.");
        return (reader, family);
    }

    /// <summary>Column <paramref name="column"/> of the split's targets.</summary>
    public static float[] Column(ZooSplit split, int column)
    {
        var targets = split.Targets ?? throw new InvalidDataException($"Split '{split.Name}' has no regression targets.");
        if ((uint)column >= (uint)split.TargetWidth) throw new ArgumentOutOfRangeException(nameof(column), column, $"Split '{split.Name}' has {split.TargetWidth} target column(s).");
        var c = new float[split.Count];
        for (int i = 0; i < c.Length; i++) c[i] = targets[i * split.TargetWidth + column];
        return c;
    }
}
