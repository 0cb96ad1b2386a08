
namespace LayerCompiler.Gpu.Tests;

/// <summary>Tests that need a GPU; reported as skipped (with the reason) elsewhere.</summary>
public class CudaGpuTests : IDisposable
{
    private readonly string _cacheDir = Path.Combine(Path.GetTempPath(), "lc-cubin-gpu-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cacheDir)) Directory.Delete(_cacheDir, recursive: true);
    }

    private CudaDevice OpenDevice()
    {
        var d = CudaDevice.Open();
        d.Cache = new CubinCache(_cacheDir);
        return d;
    }

    private const string Saxpy = """
        extern "C" __global__ void saxpy(int n, float a, const float* x, float* y)
        {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = a * x[i] + y[i];
        }
        """;

    private const string BlockSum = """
        extern "C" __global__ void block_sum(const float* x, float* partial, long long n)
        {
            extern __shared__ float s[];
            float acc = 0.0f;
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
                acc += x[i];
            s[threadIdx.x] = acc;
            __syncthreads();
            for (unsigned int stride = blockDim.x / 2; stride > 0; stride >>= 1)
            {
                if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
                __syncthreads();
            }
            if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
        }
        """;

    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)r.NextDouble();
        return a;
    }

    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)expected[i]));
        }
        return maxDiff / Math.Max(maxRef, double.Epsilon);
    }

    [CudaFact]
    public void SaxpyMatchesCpu()
    {
        using var dev = OpenDevice();
        using var module = dev.Compile(Saxpy, new[] { "saxpy" });
        const int n = (1 << 20) + 3;
        float[] x = Random(n, 1), y = Random(n, 2);
        const float a = 2.5f;
        using var dx = dev.Upload(x);
        using var dy = dev.Upload(y);
        using var args = new KernelArgs().Add(n).Add(a).Add(dx).Add(dy);
        module["saxpy"].Launch(CudaKernel.GridFor(n, 256), 256, args);
        var got = dy.ToArray();
        var expected = new float[n];
        for (int i = 0; i < n; i++) expected[i] = a * x[i] + y[i];
        Assert.True(RelativeError(got, expected) <= 1e-5, $"relative error {RelativeError(got, expected)}");
    }

    [CudaFact]
    public void BlockReductionMatchesCpu()
    {
        using var dev = OpenDevice();
        using var module = dev.Compile(BlockSum, new[] { "block_sum" });
        const int n = 1 << 22, threads = 256, blocks = 512;
        float[] x = Random(n, 3);
        using var dx = dev.Upload(x);
        using var partial = dev.Allocate(blocks);
        using var total = dev.Allocate(1);
        var k = module["block_sum"];
        k.Launch(blocks, 1, 1, threads, 1, 1, threads * sizeof(float), null, dx, partial, (long)n);
        k.Launch(1, 1, 1, threads, 1, 1, threads * sizeof(float), null, partial, total, (long)blocks);
        double expected = 0;
        foreach (float v in x) expected += v;
        double got = total.ToArray()[0];
        Assert.True(Math.Abs(got - expected) / expected <= 1e-5, $"got {got}, expected {expected}");
    }

    [CudaFact]
    public void CompileErrorCarriesLogAndKernelName()
    {
        using var dev = OpenDevice();
        const string bad = """
            extern "C" __global__ void broken_kernel(float* y)
            {
                y[threadIdx.x] = undefined_symbol_xyz;
            }
            """;
        var e = Assert.Throws<CudaException>(() => dev.Compile(bad, new[] { "broken_kernel" }));
        Assert.Equal(CudaApi.Nvrtc, e.Api);
        Assert.Equal("NVRTC_ERROR_COMPILATION", e.ErrorName);
        Assert.Equal("broken_kernel", e.KernelName);
        Assert.Contains("undefined_symbol_xyz", e.CompileLog);
        Assert.Contains("undefined_symbol_xyz", e.Message);
        Assert.Contains("broken_kernel", e.Message);
    }

    [CudaFact]
    public void MissingKernelNameIsReported()
    {
        using var dev = OpenDevice();
        var e = Assert.Throws<CudaException>(() => dev.Compile(Saxpy, new[] { "saxpy", "no_such_kernel" }));
        Assert.Equal(CudaApi.Driver, e.Api);
        Assert.Equal("CUDA_ERROR_NOT_FOUND", e.ErrorName);
        Assert.Equal("no_such_kernel", e.KernelName);
    }

    [CudaFact]
    public void SecondCompileHitsTheCacheAndACorruptEntryIsRecompiled()
    {
        using var dev = OpenDevice();
        string src = Saxpy + "\n// " + Guid.NewGuid() + "\n";
        using (var first = dev.Compile(src, new[] { "saxpy" })) Assert.False(first.FromCache);
        string key;
        using (var second = dev.Compile(src, new[] { "saxpy" }))
        {
            Assert.True(second.FromCache);
            key = second.CacheKey;
        }
        File.WriteAllText(dev.Cache!.PathFor(key), "garbage");
        using (var third = dev.Compile(src, new[] { "saxpy" })) Assert.False(third.FromCache);
        using (var fourth = dev.Compile(src, new[] { "saxpy" }, new[] { "-DUNUSED=1" })) Assert.False(fourth.FromCache);
    }

    [CudaFact]
    public void EventTimingIsPositive()
    {
        using var dev = OpenDevice();
        using var module = dev.Compile(Saxpy, new[] { "saxpy" });
        const int n = 1 << 22;
        using var dx = dev.Allocate(n);
        using var dy = dev.Allocate(n);
        dx.Fill(1f);
        dy.Zero();
        using var stream = dev.CreateStream();
        using var start = dev.CreateEvent();
        using var end = dev.CreateEvent();
        using var args = new KernelArgs().Add(n).Add(1f).Add(dx).Add(dy);
        start.Record(stream);
        for (int i = 0; i < 10; i++) module["saxpy"].Launch(CudaKernel.GridFor(n, 256), 256, args, stream);
        end.Record(stream);
        float ms = CudaEvent.ElapsedMilliseconds(start, end);
        Assert.True(ms > 0, $"elapsed {ms} ms");
        stream.Synchronize();
        Assert.Equal(10f, dy.ToArray()[n - 1]);
    }

    [CudaFact]
    public void BufferCopiesAndFill()
    {
        using var dev = OpenDevice();
        float[] data = Random(1000, 4);
        using var a = dev.Upload(data);
        using var b = dev.Allocate(1000);
        b.CopyFrom(a);
        Assert.Equal(data, b.ToArray());
        b.Zero();
        Assert.All(b.ToArray(), v => Assert.Equal(0f, v));
        b.Fill(-1.5f);
        Assert.All(b.ToArray(), v => Assert.Equal(-1.5f, v));
        var part = new float[10];
        a.CopyTo(part, offset: 990);
        Assert.Equal(data[990..], part);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.CopyTo(part, offset: 995));
    }
}
