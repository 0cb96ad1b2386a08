using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace LayerCompiler.Packaging.Tests;

/// <summary>What one <c>dotnet</c> command did.</summary>
public sealed record DotnetResult(string Command, int ExitCode, string Output)
{
    public string Describe() => $"{Command}\nexit code {ExitCode}\n--- output ---\n{Output}";

    public DotnetResult ShouldSucceed()
    {
        Assert.True(ExitCode == 0, "expected exit code 0\n" + Describe());
        return this;
    }
}

/// <summary>Runs the SDK's <c>dotnet</c> as a child process, the way a user would from a shell.</summary>
public static class Dotnet
{
    /// <summary>Longest one command may run: a cold pack on a busy 2-core machine takes about a minute.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>The repository this test assembly was built from (recorded at build time).</summary>
    public static string RepositoryRoot { get; } =
        typeof(Dotnet).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    /// <summary>
    /// Runs <c>dotnet <paramref name="arguments"/></c> in <paramref name="workingDirectory"/>. MSBuild's variables
    /// that <c>dotnet test</c> sets for this process are removed, so that the child is a fresh command-line build
    /// and not a piece of the build that started the tests.
    /// </summary>
    public static DotnetResult Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        var psi = new ProcessStartInfo(!string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(name);
        psi.Environment.Remove("DOTNET_HOST_PATH");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // No MSBuild worker nodes left behind by a test.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        if (environment != null) foreach (var (k, v) in environment) psi.Environment[k] = v;

        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string command = "dotnet " + string.Join(' ', arguments);
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"'{command}' did not finish in {Timeout.TotalMinutes} minutes\n--- output ---\n{output}");
        }
        process.WaitForExit();
        lock (output) return new DotnetResult(command, process.ExitCode, output.ToString());
    }
}
