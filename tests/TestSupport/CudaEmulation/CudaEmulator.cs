using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace LayerCompiler.TestSupport;

/// <summary>
/// Test-only: compiles generated CUDA C as C++ with the host compiler (g++) after cuda_emu.h, which defines the CUDA
/// built-ins, and runs its kernels on the CPU. Gives machines without a GPU a syntax check and a numerical check of
/// the generated source. Kernels must have the generated layers' signature
/// (int batch, const float* x, const float* g, const float* w, const float* b, float* y, float* gw, float* gb, float* s).
/// </summary>
public static class CudaEmulator
{
    private static readonly Lazy<string?> Compiler = new(() => FindOnPath("g++"));

    /// <summary>The host compiler, or null when there is none (tests then skip with <see cref="MissingReason"/>).</summary>
    public static string? HostCompiler => Compiler.Value;

    public const string MissingReason = "No host C++ compiler (g++) on PATH to compile the generated CUDA C for the CPU emulator.";

    private static string HeaderDirectory([CallerFilePath] string thisFile = "") => Path.GetDirectoryName(thisFile)!;

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    private static string WorkDirectory(string key)
    {
        var dir = Path.Combine(Path.GetTempPath(), "layercompiler-cuda-emu", key);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Key(params string[] parts)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\0", parts) + File.ReadAllText(Path.Combine(HeaderDirectory(), "cuda_emu.h"))));
        return Convert.ToHexStringLower(bytes)[..24];
    }

    private static readonly AsyncLocal<ulong> ScheduleSeed = new();

    /// <summary>
    /// Until disposed, emulated kernels launched from this flow run blocks, and the threads of each barrier phase, in an
    /// order drawn from <paramref name="seed"/> (cuda_emu.h, LC_EMU_SCHEDULE) instead of index order. Comparing a run
    /// under a schedule with one in index order checks that results do not depend on the order of blocks or threads.
    /// </summary>
    public static IDisposable Schedule(ulong seed)
    {
        if (seed == 0) throw new ArgumentOutOfRangeException(nameof(seed), "Schedule 0 is index order; pass a non-zero seed.");
        ulong previous = ScheduleSeed.Value;
        ScheduleSeed.Value = seed;
        return new Restore(() => ScheduleSeed.Value = previous);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    private static (int Code, string Output) Exec(string file, string args, string? workDir = null, int timeoutMs = 600_000)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workDir ?? "" };
        psi.Environment["LC_EMU_SCHEDULE"] = ScheduleSeed.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{file} {args} did not finish in {timeoutMs / 1000} s"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>g++ -fsyntax-only on the source after the emulation prelude; returns the compiler's messages (empty when clean).</summary>
    public static string SyntaxCheck(string cudaSource)
    {
        var dir = WorkDirectory(Key("syntax", cudaSource));
        var file = Path.Combine(dir, "check.cpp");
        File.WriteAllText(file, $"#include \"{Path.Combine(HeaderDirectory(), "cuda_emu.h")}\"\n#line 1 \"generated.cu\"\n{cudaSource}");
        var (code, output) = Exec(HostCompiler!, $"-std=c++17 -fsyntax-only -Wall -Wno-unknown-pragmas -Wno-unused-variable -Wno-unused-but-set-variable \"{file}\"");
        return code == 0 && output.Trim().Length == 0 ? "" : $"g++ exit code {code}:\n{output}";
    }

    private static readonly Lazy<string?> Clang = new(() =>
        new[] { "clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14" }.Select(FindOnPath).FirstOrDefault(p => p != null));

    /// <summary>clang with a CUDA front end, or null (the device check is then skipped).</summary>
    public static string? DeviceCompiler => Clang.Value;

    public const string MissingClangReason = "No clang on PATH to compile the generated CUDA C for the device (PTX) without the CUDA toolkit.";

    /// <summary>
    /// Compiles the source with clang's CUDA front end to PTX for sm_80 (device side, -O3 -Wall), as NVRTC compiles it on a
    /// GPU machine: checks CUDA semantics the host compiler cannot (execution spaces, __shared__/__constant__ rules).
    /// Returns the diagnostics (empty when clean) and the PTX.
    /// </summary>
    public static (string Messages, string Ptx) DeviceCheck(string cudaSource)
    {
        var dir = WorkDirectory(Key("clang", cudaSource));
        var file = Path.Combine(dir, "layer.cu");
        var ptx = Path.Combine(dir, "layer.ptx");
        File.WriteAllText(file, cudaSource);
        var (code, output) = Exec(DeviceCompiler!, "-x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -std=c++17 -O3 -Wall -Wno-unknown-pragmas " +
            $"-include \"{Path.Combine(HeaderDirectory(), "cuda_clang.h")}\" -S -o \"{ptx}\" \"{file}\"");
        string messages = code == 0 && output.Trim().Length == 0 ? "" : $"clang exit code {code}:\n{output}";
        return (messages, code == 0 ? File.ReadAllText(ptx) : "");
    }

    /// <summary>Builds (once per source) an executable that runs a script of launches of the given kernels.</summary>
    public static string Build(string cudaSource, IReadOnlyList<string> kernelNames)
    {
        var dir = WorkDirectory(Key("run", cudaSource, string.Join(",", kernelNames)));
        var exe = Path.Combine(dir, "emu");
        if (File.Exists(exe)) return exe;
        var sb = new StringBuilder();
        sb.Append($"#include \"{Path.Combine(HeaderDirectory(), "cuda_emu.h")}\"\n#line 1 \"generated.cu\"\n");
        sb.Append(cudaSource);
        sb.Append("\n#line 1 \"driver.cpp\"\n");
        sb.Append(Driver.Replace("/*TABLE*/", string.Join(",\n", kernelNames.Select(k => $"    {{\"{k}\", {k}}}"))));
        var file = Path.Combine(dir, "emu.cpp");
        File.WriteAllText(file, sb.ToString());
        var tmp = exe + "." + Environment.ProcessId + ".tmp";
        var (code, output) = Exec(HostCompiler!, $"-std=c++17 -O1 -w -o \"{tmp}\" \"{file}\"");
        if (code != 0) throw new InvalidOperationException($"g++ failed ({code}) on the generated CUDA C:\n{output}");
        File.Move(tmp, exe, overwrite: true);
        return exe;
    }

    /// <summary>One launch: kernel name and number of blocks.</summary>
    public readonly record struct Launch(string Kernel, long Blocks, int Threads);

    /// <summary>
    /// Runs launches in order on the given buffers (null = nullptr). Scratch (<paramref name="scratchFloats"/>) and
    /// <paramref name="y"/> start as NaN, so reading scratch nobody wrote or leaving outputs unwritten shows up.
    /// Returns y, gw, gb after the run.
    /// </summary>
    public static (float[] Y, float[] Gw, float[] Gb) Run(string exe, int batch, float[]? x, float[]? g, float[]? w, float[]? b,
        int yLength, float[]? gw, float[]? gb, long scratchFloats, IEnumerable<Launch> launches)
    {
        var dir = Path.GetDirectoryName(exe)!;
        var id = Guid.NewGuid().ToString("N");
        var input = Path.Combine(dir, id + ".in");
        var output = Path.Combine(dir, id + ".out");
        try
        {
            using (var fs = File.Create(input))
            using (var bw = new BinaryWriter(fs))
            {
                bw.Write(batch);
                foreach (var a in new[] { x, g, w, b }) bw.Write((long)(a?.Length ?? 0));
                bw.Write((long)yLength);
                bw.Write((long)(gw?.Length ?? 0));
                bw.Write((long)(gb?.Length ?? 0));
                bw.Write(scratchFloats);
                foreach (var a in new[] { x, g, w, b, gw, gb })
                    if (a != null) foreach (float v in a) bw.Write(v);
                var list = launches.ToList();
                bw.Write(list.Count);
                foreach (var l in list)
                {
                    var name = Encoding.UTF8.GetBytes(l.Kernel);
                    bw.Write(name.Length); bw.Write(name); bw.Write(l.Blocks); bw.Write(l.Threads);
                }
            }
            var (code, text) = Exec(exe, $"\"{input}\" \"{output}\"");
            if (code != 0) throw new InvalidOperationException($"emulated run failed ({code}):\n{text}");
            using var br = new BinaryReader(File.OpenRead(output));
            float[] Read(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = br.ReadSingle(); return a; }
            return (Read(yLength), Read(gw?.Length ?? 0), Read(gb?.Length ?? 0));
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    // ---------------------------------------------------------------- kernels of any signature

    /// <summary>A device buffer of the generic driver: raw bytes, filled from and read back as floats, doubles or ints.</summary>
    public sealed class Buffer
    {
        public byte[] Bytes { get; private set; }
        private Buffer(byte[] bytes) { Bytes = bytes; }
        public static Buffer Of(float[] v) => new(MemoryMarshalBytes(v));
        public static Buffer Of(double[] v) => new(MemoryMarshalBytes(v));
        public static Buffer Of(int[] v) => new(MemoryMarshalBytes(v));
        /// <summary>A buffer of <paramref name="floats"/> floats, all NaN (so that values nobody wrote show up).</summary>
        public static Buffer NaN(long floats) { var a = new float[floats]; Array.Fill(a, float.NaN); return Of(a); }
        public float[] Floats() => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Bytes).ToArray();
        public double[] Doubles() => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Bytes).ToArray();
        public int[] Ints() => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(Bytes).ToArray();
        internal void Set(byte[] bytes) => Bytes = bytes;
        private static byte[] MemoryMarshalBytes<T>(T[] v) where T : unmanaged => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
    }

    /// <summary>
    /// A kernel argument of the generic driver: an int, float, double, or a buffer's pointer (index into the buffer list; -1 =
    /// nullptr), optionally at an offset of some floats into the buffer.
    /// </summary>
    public readonly record struct Arg(int Kind, long Int, double Real)
    {
        public static Arg I(int v) => new(0, v, 0);
        public static Arg F(float v) => new(1, 0, v);
        public static Arg D(double v) => new(2, 0, v);
        public static Arg B(int buffer) => new(3, buffer, 0);
        /// <summary>Pointer to float <paramref name="floatOffset"/> of the buffer (kind 4: the byte offset travels in Real).</summary>
        public static Arg B(int buffer, long floatOffset) => floatOffset == 0 ? B(buffer) : new(4, buffer, floatOffset * 4.0);
        public static Arg Null => new(3, -1, 0);
    }

    /// <summary>One launch of the generic driver: a 1-D grid of <paramref name="Blocks"/> blocks of <paramref name="Threads"/> threads.</summary>
    public readonly record struct KernelLaunch(string Kernel, long Blocks, int Threads, Arg[] Args);

    /// <summary>
    /// Builds (once per source) an executable that runs launches of the named kernels, whatever their signatures: each
    /// argument is converted to the kernel's parameter type (int, float, double or a pointer into a buffer).
    /// </summary>
    public static string BuildGeneric(string cudaSource, IReadOnlyList<string> kernelNames)
    {
        var dir = WorkDirectory(Key("generic", cudaSource, string.Join(",", kernelNames), GenericDriver));
        var exe = Path.Combine(dir, "emu");
        if (File.Exists(exe)) return exe;
        var sb = new StringBuilder();
        sb.Append($"#include \"{Path.Combine(HeaderDirectory(), "cuda_emu.h")}\"\n#line 1 \"generated.cu\"\n");
        sb.Append(cudaSource);
        sb.Append("\n#line 1 \"driver.cpp\"\n");
        sb.Append(GenericDriver.Replace("/*TABLE*/", string.Join(",\n", kernelNames.Select(k => $"    {{\"{k}\", [](const lc_arg* a, int n, unsigned g, unsigned b) {{ lc_run({k}, a, n, g, b); }}}}"))));
        var file = Path.Combine(dir, "emu.cpp");
        File.WriteAllText(file, sb.ToString());
        var tmp = exe + "." + Environment.ProcessId + ".tmp";
        var (code, output) = Exec(HostCompiler!, $"-std=c++17 -O2 -w -o \"{tmp}\" \"{file}\"");
        if (code != 0) throw new InvalidOperationException($"g++ failed ({code}) on the generated CUDA C:\n{output}");
        File.Move(tmp, exe, overwrite: true);
        return exe;
    }

    /// <summary>Runs launches in order on the buffers; the buffers are updated in place with what the kernels wrote.</summary>
    public static void RunGeneric(string exe, IReadOnlyList<Buffer> buffers, IEnumerable<KernelLaunch> launches)
    {
        var dir = Path.GetDirectoryName(exe)!;
        var id = Guid.NewGuid().ToString("N");
        var input = Path.Combine(dir, id + ".in");
        var output = Path.Combine(dir, id + ".out");
        try
        {
            using (var fs = File.Create(input))
            using (var bw = new BinaryWriter(fs))
            {
                bw.Write(buffers.Count);
                foreach (var b in buffers) { bw.Write((long)b.Bytes.Length); bw.Write(b.Bytes); }
                var list = launches.ToList();
                bw.Write(list.Count);
                foreach (var l in list)
                {
                    var name = Encoding.UTF8.GetBytes(l.Kernel);
                    bw.Write(name.Length); bw.Write(name); bw.Write(l.Blocks); bw.Write(l.Threads);
                    bw.Write(l.Args.Length);
                    foreach (var a in l.Args)
                    {
                        if (a.Kind >= 3 && (a.Int < -1 || a.Int >= buffers.Count)) throw new ArgumentException($"Buffer index {a.Int} of {l.Kernel} is out of range.");
                        if (a.Kind == 4 && (a.Int < 0 || a.Real < 0 || a.Real > buffers[(int)a.Int].Bytes.Length))
                            throw new ArgumentException($"Offset {a.Real} bytes into buffer {a.Int} ({buffers[(int)Math.Max(0, a.Int)].Bytes.Length} bytes) of {l.Kernel} is out of range.");
                        bw.Write(a.Kind); bw.Write(a.Int); bw.Write(a.Real);
                    }
                }
            }
            var (code, text) = Exec(exe, $"\"{input}\" \"{output}\"");
            if (code != 0) throw new InvalidOperationException($"emulated run failed ({code}):\n{text}");
            using var br = new BinaryReader(File.OpenRead(output));
            foreach (var b in buffers) b.Set(br.ReadBytes(b.Bytes.Length));
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }

    private const string GenericDriver = """
        #include <cstring>
        #include <string>
        #include <utility>
        struct lc_arg { int kind; long long i; double d; };
        static std::vector<std::vector<unsigned char>> lc_buffers;
        static void must(bool ok, const char* what) { if (!ok) { std::fprintf(stderr, "emu: %s\n", what); std::exit(3); } }
        // Converts to the kernel's parameter type.
        struct lc_conv
        {
            const lc_arg* a;
            operator int() const { must(a->kind == 0, "an int argument was expected"); return (int)a->i; }
            operator float() const { must(a->kind == 1, "a float argument was expected"); return (float)a->d; }
            operator double() const { must(a->kind == 2, "a double argument was expected"); return a->d; }
            template <class T> operator T*() const
            {
                must(a->kind == 3 || a->kind == 4, "a pointer argument was expected");
                if (a->i < 0) return nullptr;
                return (T*)(lc_buffers[(size_t)a->i].data() + (a->kind == 4 ? (size_t)a->d : 0));
            }
        };
        template <class... P, size_t... I>
        static void lc_call(void (*k)(P...), const lc_arg* a, std::index_sequence<I...>) { k(lc_conv{a + I}...); }
        template <class... P>
        static void lc_run(void (*k)(P...), const lc_arg* a, int n, unsigned grid, unsigned block)
        {
            must(n == (int)sizeof...(P), "wrong number of kernel arguments");
            lc_emu::launch([&] { lc_call(k, a, std::index_sequence_for<P...>{}); }, grid, block);
        }
        typedef void (*lc_emu_runner)(const lc_arg*, int, unsigned, unsigned);
        struct lc_emu_entry { const char* name; lc_emu_runner run; };
        static const lc_emu_entry lc_emu_table[] = {
        /*TABLE*/
        };

        int main(int argc, char** argv)
        {
            must(argc == 3, "usage: emu INPUT OUTPUT");
            FILE* in = std::fopen(argv[1], "rb");
            must(in != nullptr, "cannot open input");
            int nbuf = 0;
            must(std::fread(&nbuf, 4, 1, in) == 1, "buffer count");
            lc_buffers.resize((size_t)nbuf);
            for (auto& b : lc_buffers)
            {
                long long bytes = 0;
                must(std::fread(&bytes, 8, 1, in) == 1, "buffer size");
                b.assign((size_t)bytes + 16, 0);   // a little slack: reads past the end stay inside the allocation
                b.resize((size_t)bytes);
                if (bytes > 0) must(std::fread(b.data(), 1, (size_t)bytes, in) == (size_t)bytes, "buffer data");
            }
            int launches = 0;
            must(std::fread(&launches, 4, 1, in) == 1, "launch count");
            for (int l = 0; l < launches; ++l)
            {
                int n = 0;
                must(std::fread(&n, 4, 1, in) == 1, "name length");
                std::string name((size_t)n, '\0');
                must(std::fread(&name[0], 1, (size_t)n, in) == (size_t)n, "name");
                long long blocks = 0;
                int threads = 0, nargs = 0;
                must(std::fread(&blocks, 8, 1, in) == 1 && std::fread(&threads, 4, 1, in) == 1 && std::fread(&nargs, 4, 1, in) == 1, "grid");
                std::vector<lc_arg> args((size_t)nargs);
                for (auto& a : args)
                    must(std::fread(&a.kind, 4, 1, in) == 1 && std::fread(&a.i, 8, 1, in) == 1 && std::fread(&a.d, 8, 1, in) == 1, "argument");
                const lc_emu_entry* e = nullptr;
                for (const auto& t : lc_emu_table) if (name == t.name) e = &t;
                must(e != nullptr, ("unknown kernel " + name).c_str());
                e->run(args.data(), nargs, (unsigned)blocks, (unsigned)threads);
            }
            std::fclose(in);
            FILE* out = std::fopen(argv[2], "wb");
            must(out != nullptr, "cannot open output");
            for (auto& b : lc_buffers) if (!b.empty()) std::fwrite(b.data(), 1, b.size(), out);
            std::fclose(out);
            return 0;
        }
        """;

    private const string Driver = """
        #include <cmath>
        #include <cstring>
        #include <string>
        typedef void (*lc_emu_kernel)(int, const float*, const float*, const float*, const float*, float*, float*, float*, float*);
        struct lc_emu_entry { const char* name; lc_emu_kernel fn; };
        static const lc_emu_entry lc_emu_table[] = {
        /*TABLE*/
        };

        static void must(bool ok, const char* what) { if (!ok) { std::fprintf(stderr, "emu: %s\n", what); std::exit(3); } }

        int main(int argc, char** argv)
        {
            must(argc == 3, "usage: emu INPUT OUTPUT");
            FILE* in = std::fopen(argv[1], "rb");
            must(in != nullptr, "cannot open input");
            int batch = 0;
            must(std::fread(&batch, 4, 1, in) == 1, "batch");
            long long len[8];
            must(std::fread(len, 8, 8, in) == 8, "lengths");
            std::vector<std::vector<float>> buf(8);
            for (int i = 0; i < 8; ++i) buf[i].assign((size_t)len[i], 0.0f);
            const int given[] = { 0, 1, 2, 3, 5, 6 };
            for (int i : given)
                if (len[i] > 0) must(std::fread(buf[i].data(), 4, (size_t)len[i], in) == (size_t)len[i], "data");
            for (float& v : buf[4]) v = NAN;
            for (float& v : buf[7]) v = NAN;
            auto ptr = [&](int i) -> float* { return len[i] > 0 ? buf[i].data() : nullptr; };
            int launches = 0;
            must(std::fread(&launches, 4, 1, in) == 1, "launch count");
            for (int l = 0; l < launches; ++l)
            {
                int n = 0;
                must(std::fread(&n, 4, 1, in) == 1, "name length");
                std::string name((size_t)n, '\0');
                must(std::fread(&name[0], 1, (size_t)n, in) == (size_t)n, "name");
                long long blocks = 0;
                int threads = 0;
                must(std::fread(&blocks, 8, 1, in) == 1 && std::fread(&threads, 4, 1, in) == 1, "grid");
                lc_emu_kernel fn = nullptr;
                for (const auto& e : lc_emu_table) if (name == e.name) fn = e.fn;
                must(fn != nullptr, ("unknown kernel " + name).c_str());
                lc_emu::launch(fn, (unsigned)blocks, (unsigned)threads, batch, ptr(0), ptr(1), ptr(2), ptr(3), ptr(4), ptr(5), ptr(6), ptr(7));
            }
            std::fclose(in);
            FILE* out = std::fopen(argv[2], "wb");
            must(out != nullptr, "cannot open output");
            for (int i : { 4, 5, 6 })
                if (len[i] > 0) std::fwrite(buf[i].data(), 4, (size_t)len[i], out);
            std::fclose(out);
            return 0;
        }
        """;
}
