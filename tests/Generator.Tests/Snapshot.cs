using System.Runtime.CompilerServices;
using System.Text;

namespace LayerCompiler.Generator.Tests;

/// <summary>
/// Snapshot testing of generated source against checked-in files in tests/Generator.Tests/Snapshots.
/// Set LAYERCOMPILER_UPDATE_SNAPSHOTS=1 to re-record; a mismatch fails with a line diff.
/// </summary>
public static class Snapshot
{
    public const string UpdateVariable = "LAYERCOMPILER_UPDATE_SNAPSHOTS";

    public static void Match(string name, string actual, [CallerFilePath] string callerFile = "")
    {
        var dir = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        var path = Path.Combine(dir, name + ".snap");
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(path, actual);
            return;
        }
        if (!File.Exists(path))
            Assert.Fail($"No snapshot '{name}' at {path}. Run the tests with {UpdateVariable}=1 to record it, then review and commit it.");
        var expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected != actual)
            Assert.Fail($"Generated source differs from snapshot '{name}' (re-record with {UpdateVariable}=1 if the change is intended):\n{Diff(expected, actual)}");
    }

    /// <summary>A compact line diff: the first differing region with a few lines of context.</summary>
    public static string Diff(string expected, string actual, int context = 3, int maxLines = 40)
    {
        var e = expected.Split('\n'); var a = actual.Split('\n');
        int start = 0;
        while (start < e.Length && start < a.Length && e[start] == a[start]) start++;
        int ee = e.Length - 1, ae = a.Length - 1;
        while (ee >= start && ae >= start && e[ee] == a[ae]) { ee--; ae--; }
        var sb = new StringBuilder();
        sb.AppendLine($"@@ line {start + 1} @@");
        for (int i = Math.Max(0, start - context); i < start; i++) sb.AppendLine("  " + e[i]);
        int shown = 0;
        for (int i = start; i <= ee && shown < maxLines; i++, shown++) sb.AppendLine("- " + e[i]);
        for (int i = start; i <= ae && shown < 2 * maxLines; i++, shown++) sb.AppendLine("+ " + a[i]);
        for (int i = ee + 1; i < Math.Min(e.Length, ee + 1 + context); i++) sb.AppendLine("  " + e[i]);
        return sb.ToString();
    }
}
