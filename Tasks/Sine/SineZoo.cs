using System;
using System.IO;
using LayerCompiler.Tasks.Zoo;

namespace LayerCompiler.Tasks.Sine;

/// <summary>
/// Opening a sine-wave zoo (<see cref="SineWaveInrTask"/>: f(x) = a·sin(b·x), targets (a, b)) for the tasks that read one,
/// refusing any other zoo with what it is and the command that builds the right one.
/// </summary>
public static class SineZoo
{
    public const string TaskName = "sine-waves";
    /// <summary>Columns of the zoo's <c>targets</c>: amplitude a, frequency b.</summary>
    public const int AmplitudeColumn = 0, FrequencyColumn = 1;
    public static readonly string[] TargetNames = { "amplitude a", "frequency b" };

    public static ZooReader Open(string directory, string verb)
    {
        var reader = ZooReader.Open(directory);
        if (reader.Manifest.TaskName != TaskName || reader.Manifest.TargetWidth != 2)
            throw new ArgumentException($"The zoo in '{directory}' is a {reader.Manifest.TaskName} zoo ({reader.Architecture.Describe()}, {reader.Manifest.TargetWidth} regression targets); " +
                $"{verb} needs a sine-wave zoo with targets (a, b): build one with `inr-zoo build --task sine-waves --out DIR --sizes 3000,500,1000`.");
        if (reader.Architecture.Widths[0] != 1 || reader.Architecture.Widths[^1] != 1)
            throw new InvalidDataException($"The zoo in '{directory}' holds {reader.Architecture.Describe()} networks; a sine-wave zoo's INRs map 1 → 1.");
        return reader;
    }

    /// <summary>Column <paramref name="column"/> of the split's targets.</summary>
    public static float[] Column(ZooSplit split, int column)
    {
        var targets = split.Targets ?? throw new InvalidDataException($"Split '{split.Name}' has no regression targets.");
        var c = new float[split.Count];
        for (int i = 0; i < c.Length; i++) c[i] = targets[i * split.TargetWidth + column];
        return c;
    }
}
