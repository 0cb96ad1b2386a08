using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace WeightTasks.Tests.Infrastructure;

/// <summary>What one run of the tool did: exit code and everything it printed.</summary>
public sealed record ToolResult(IReadOnlyList<string> Arguments, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    /// <summary>stdout then stderr.</summary>
    public string Output => Stdout + Stderr;

    public IReadOnlyList<string> Lines => Output.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>The lines the tool prints for a failure (<c>error: ...</c>).</summary>
    public IReadOnlyList<string> ErrorLines => Lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToArray();

    /// <summary>For assertion messages: the command, the exit code and the output.</summary>
    public string Describe() =>
        $"WeightTasks {string.Join(' ', Arguments)}\nexit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    public ToolResult ShouldSucceed()
    {
        Assert.True(ExitCode == 0, "expected exit code 0\n" + Describe());
        Assert.False(Tool.HasStackTrace(Output), "unexpected stack trace\n" + Describe());
        return this;
    }

    /// <summary>Checks a clean failure: the exit code, no stack trace, and <paramref name="fragment"/> in the output.</summary>
    public ToolResult ShouldFail(int exitCode, string fragment)
    {
        Assert.True(ExitCode == exitCode, $"expected exit code {exitCode}\n" + Describe());
        Assert.False(Tool.HasStackTrace(Output), "a failure must be a message, not a stack trace\n" + Describe());
        Assert.True(Output.Contains(fragment, StringComparison.Ordinal), $"expected the output to contain \"{fragment}\"\n" + Describe());
        return this;
    }
}

/// <summary>Runs the built WeightTasks tool (<c>dotnet WeightTasks.dll ...</c>) as a child process.</summary>
public static class Tool
{
    /// <summary>Longest a single run may take before the test fails (runs on tiny inputs take seconds).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static readonly Lazy<string> s_dll = new(Locate);

    /// <summary>The tool's dll: $WEIGHTTASKS_DLL, else the path the test project recorded at build time.</summary>
    public static string DllPath => s_dll.Value;

    private static string Locate()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("WEIGHTTASKS_DLL");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!File.Exists(fromEnvironment)) throw new FileNotFoundException($"WEIGHTTASKS_DLL points to '{fromEnvironment}', which does not exist.");
            return fromEnvironment;
        }
        string? recorded = typeof(Tool).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "WeightTasksDll")?.Value;
        if (string.IsNullOrEmpty(recorded))
            throw new InvalidOperationException("The test assembly has no WeightTasksDll metadata (see RecordWeightTasksPath in WeightTasks.Tests.csproj).");
        if (!File.Exists(recorded))
            throw new FileNotFoundException($"The WeightTasks tool is not built at '{recorded}'. Build tests/WeightTasks.Tests (it builds the sample), or set WEIGHTTASKS_DLL.");
        return recorded;
    }

    /// <summary>The dotnet host that runs the tests (the muxer), or "dotnet" from PATH.</summary>
    private static string DotnetHost
    {
        get
        {
            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
        }
    }

    private static ProcessStartInfo StartInfo(string workingDirectory, IEnumerable<string> arguments)
    {
        var psi = new ProcessStartInfo(DotnetHost)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    /// <summary>Runs the tool to completion in <paramref name="workingDirectory"/>.</summary>
    public static ToolResult Run(string workingDirectory, params string[] arguments)
    {
        using var running = Start(workingDirectory, arguments);
        return running.WaitForExit();
    }

    /// <summary>Starts the tool; the caller waits for it or kills it.</summary>
    public static RunningTool Start(string workingDirectory, params string[] arguments) => new(StartInfo(workingDirectory, arguments), arguments);

    /// <summary>
    /// True when <paramref name="output"/> holds a .NET stack trace ("   at Namespace.Type.Method(...)") or an
    /// unhandled-exception report: the tool must turn expected failures into one message.
    /// </summary>
    public static bool HasStackTrace(string output) =>
        output.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase)
        || Regex.IsMatch(output, @"^\s+at [\w.`<>$|]+\(.*\)", RegexOptions.Multiline);
}

/// <summary>A started tool process whose output is collected as it arrives.</summary>
public sealed class RunningTool : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new(), _stderr = new();
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly IReadOnlyList<string> _arguments;

    internal RunningTool(ProcessStartInfo psi, IReadOnlyList<string> arguments)
    {
        _arguments = arguments;
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_stdout) _stdout.Append(e.Data).Append('\n'); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.Append(e.Data).Append('\n'); };
        _process.Start();
        _process.StandardInput.Close();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Lowers the process's CPU priority (nice 19 on Unix), so that on a busy machine the test, polling for its
    /// progress, reacts before the tool gets much further.
    /// </summary>
    public void LowerPriority()
    {
        try { _process.PriorityClass = ProcessPriorityClass.Idle; }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { /* exited, or not permitted: only timing changes */ }
    }

    /// <summary>Kills the process (SIGKILL: no chance to clean up, like a crash or a lost machine) and waits for it.</summary>
    public ToolResult Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { /* it exited on its own meanwhile */ }
        return WaitForExit();
    }

    public ToolResult WaitForExit()
    {
        if (!_process.WaitForExit(Tool.Timeout))
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            _process.WaitForExit();
            Assert.Fail($"WeightTasks {string.Join(' ', _arguments)} did not finish within {Tool.Timeout.TotalSeconds:F0} s; output so far:\n{Collected().Stdout}{Collected().Stderr}");
        }
        _process.WaitForExit(); // drains the asynchronous output readers
        return Collected();
    }

    private ToolResult Collected()
    {
        string stdout, stderr;
        lock (_stdout) stdout = _stdout.ToString();
        lock (_stderr) stderr = _stderr.ToString();
        return new ToolResult(_arguments, _process.HasExited ? _process.ExitCode : -1, stdout, stderr, _watch.Elapsed);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try { _process.Kill(entireProcessTree: true); _process.WaitForExit(); } catch (InvalidOperationException) { }
        }
        _process.Dispose();
    }
}
