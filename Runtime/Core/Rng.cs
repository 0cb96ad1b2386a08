using System;

namespace LayerCompiler.Runtime;

/// <summary>
/// Seeded random numbers that are identical on every machine and .NET version
/// (xoshiro256** seeded by SplitMix64). System.Random's sequence is an implementation detail.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    public ulong NextUInt64() => Step(ref _s0, ref _s1, ref _s2, ref _s3);

    /// <summary>One xoshiro256** step: the output of the state, then the state advanced.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ulong Step(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = Rotl(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = Rotl(s3, 45);
        return result;
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with the next <see cref="NextUInt64"/> values, in order (bitwise the same as calling
    /// it once per element), with the state kept in registers for the whole span.
    /// </summary>
    public void Fill(Span<ulong> destination)
    {
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int i = 0; i < destination.Length; i++) destination[i] = Step(ref s0, ref s1, ref s2, ref s3);
        _s0 = s0; _s1 = s1; _s2 = s2; _s3 = s3;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public float Uniform(float lo, float hi) => (float)(lo + (hi - lo) * NextDouble());

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "The range must be positive.");
        return (int)((NextUInt64() >> 33) % (ulong)n);
    }

    public double Normal()
    {
        if (_spareNormal is double s) { _spareNormal = null; return s; }
        double u, v, r;
        do { u = 2 * NextDouble() - 1; v = 2 * NextDouble() - 1; r = u * u + v * v; } while (r >= 1 || r == 0);
        double f = Math.Sqrt(-2 * Math.Log(r) / r);
        _spareNormal = v * f;
        return u * f;
    }

    /// <summary>A uniformly random permutation of 0..n-1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) { int j = NextInt(i + 1); (p[i], p[j]) = (p[j], p[i]); }
        return p;
    }

    /// <summary>
    /// An independent stream for (<paramref name="seed"/>, <paramref name="epoch"/>, <paramref name="stream"/>): the same on
    /// every run, so a training run resumed at an epoch draws exactly what the uninterrupted run would.
    /// </summary>
    public static Rng ForEpoch(ulong seed, int epoch, ulong stream)
    {
        ulong h = Mix(seed ^ 0x6A09E667F3BCC909UL);
        h = Mix(h ^ (ulong)(uint)epoch);
        h = Mix(h ^ stream);
        return new Rng(h);
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>An independent stream derived from this one (for per-worker or per-item randomness).</summary>
    public Rng Fork() => new(NextUInt64());
}
