using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using LayerCompiler.Runtime.IO;
using WeightTasks.InrClassification;

namespace WeightTasks;

/// <summary>
/// What every verb group shares: the common options (one instance each, added to every command that takes them) and
/// <see cref="Run"/>, which turns known failures into one <c>error:</c> line. A new task adds a file under
/// <c>Verbs/</c> with a <c>Create()</c> that returns its command group, and one line in Program.cs.
/// </summary>
internal static class Cli
{
    public static readonly Option<ulong> Seed = new("--seed") { Description = "Random seed (zoo: network initialization; train: model init and batch order).", DefaultValueFactory = _ => 0 };
    public static readonly Option<int> Threads = CreateThreads();
    public static readonly Option<string?> Data = new("--data") { Description = $"Directory with the Fashion-MNIST IDX .gz files (default {LayerCompiler.Tasks.Data.FashionMnist.DefaultDirectory})." };
    public static readonly Option<bool> Full = new("--full") { Description = "Use the full protocol (all 70,000 images, 1000 fitting steps; reference model and training). Takes hours on a CPU." };
    public static readonly Option<string> Zoo = new("--zoo") { Description = "Zoo directory.", Required = true };
    public static readonly Option<string> Split = new("--split") { Description = "Split: train, validation or test.", DefaultValueFactory = _ => "test" };
    public static readonly Option<string> Device = CreateDevice();

    private static Option<string> CreateDevice()
    {
        var option = new Option<string>("--device")
        {
            Description = "Where the work runs: cpu (the generated C# kernels), cuda (the generated ILGPU kernels on a CUDA GPU; an error when there is none, or for a verb with no GPU path yet) or auto (cuda when a CUDA GPU is found and the verb has a GPU path, else cpu).",
            DefaultValueFactory = _ => "cpu",
        };
        option.Validators.Add(r =>
        {
            string v = r.GetValueOrDefault<string>() ?? "";
            try { LayerCompiler.Ilgpu.IlgpuDevice.ParseKind(v); }
            catch (ArgumentException) { r.AddError($"--device must be cpu, cuda or auto, got '{v}'."); }
        });
        return option;
    }

    /// <summary>
    /// --device for a verb with no GPU path yet (one line at the start of its action): cuda is refused with that reason
    /// before any work ("--device cuda: WHAT runs on the CPU only for now"), auto runs on the CPU and says so.
    /// </summary>
    public static void CpuOnlyDevice(ParseResult r, string what)
    {
        var kind = LayerCompiler.Ilgpu.IlgpuDevice.ParseKind(r.GetValue(Device)!);
        if (kind == LayerCompiler.Ilgpu.IlgpuDeviceKind.Cuda) throw new InvalidOperationException($"--device cuda: {what} runs on the CPU only for now; use --device cpu or auto.");
        if (kind == LayerCompiler.Ilgpu.IlgpuDeviceKind.Auto) Ui.Info($"  device: cpu ({what} runs on the CPU only for now)");
    }

    /// <summary>
    /// The accelerator for --device: null for cpu (the C# kernels) and for auto without a CUDA GPU; a CUDA accelerator for
    /// cuda (or auto with one). cuda without a GPU throws with ILGPU's one-line reason, e.g. "--device cuda: no CUDA device
    /// found (ILGPU found: CPU accelerator only)". ILGPU's CPU accelerator is never chosen: it is an emulator for tests.
    /// </summary>
    public static LayerCompiler.Ilgpu.IlgpuDevice? OpenDevice(string value, string use = "equivariant layers on the GPU through ILGPU")
    {
        var kind = LayerCompiler.Ilgpu.IlgpuDevice.ParseKind(value);
        if (kind == LayerCompiler.Ilgpu.IlgpuDeviceKind.Cpu) return null;
        if (LayerCompiler.Ilgpu.IlgpuDevice.TryOpen(LayerCompiler.Ilgpu.IlgpuDeviceKind.Cuda, out var device, out string reason))
        {
            Ui.Info($"  device: {device!.Description} ({use})");
            return device;
        }
        if (kind == LayerCompiler.Ilgpu.IlgpuDeviceKind.Cuda) throw new InvalidOperationException(reason);
        Ui.Info($"  device: cpu ({reason.Replace("--device cuda: ", "", StringComparison.Ordinal)})");
        return null;
    }

    private static Option<int> CreateThreads()
    {
        var option = new Option<int>("--threads") { Description = "Worker threads for fitting INRs (-1 = all cores).", DefaultValueFactory = _ => -1 };
        option.Validators.Add(r => { if (r.GetValueOrDefault<int>() is int t && (t == 0 || t < -1)) r.AddError($"--threads must be -1 (all cores) or positive, got {t}."); });
        return option;
    }

    // Known failures become one clear line and exit code 1 (bad arguments, bad files, and the file system's own errors:
    // a full disk, a read-only directory, an output path that is a file); anything else is a bug and keeps its stack trace.
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (OperationCanceledException)
        {
            Ui.Warn("Interrupted. Finished zoo shards and the last finished training epoch are kept: run the same command again to resume.");
            return 130;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException
            or InvalidOperationException or SafetensorsFormatException or UnauthorizedAccessException)
        {
            // ArgumentException appends " (Parameter 'x')" and ArgumentOutOfRangeException a second line "Actual value was v.":
            // noise for a command-line user, who gets one line.
            string message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
            if (e is ArgumentOutOfRangeException { ActualValue: { } actual } && message.LastIndexOf(Environment.NewLine, StringComparison.Ordinal) is int cut and >= 0)
                message = string.Create(CultureInfo.InvariantCulture, $"{message[..cut].TrimEnd('.')} (got {actual}).");
            Ui.Error(message);
            return 1;
        }
    }
}
