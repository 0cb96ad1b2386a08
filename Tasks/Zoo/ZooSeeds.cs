using LayerCompiler.Runtime.Kernels;
using LayerCompiler.Runtime.Modules;
using LayerCompiler.Runtime.Transforms;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.Training;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Data;
using System;

namespace LayerCompiler.Tasks.Zoo;

/// <summary>
/// Per-item seeds derived only from (zoo seed, split name, item index), so an INR's initialization and
/// everything random about it do not depend on sharding, thread count or build order.
/// </summary>
public static class ZooSeeds
{
    /// <summary>The seed of item <paramref name="index"/> of <paramref name="split"/> in a zoo built with <paramref name="zooSeed"/>.</summary>
    public static ulong ForItem(ulong zooSeed, string split, long index)
    {
        ArgumentNullException.ThrowIfNull(split);
        ulong h = Mix(zooSeed ^ 0x5A00_5EED_0000_0001UL);
        h = Mix(h ^ HashName(split));
        return Mix(h ^ (ulong)index);
    }

    /// <summary>A seed for a named purpose (e.g. "train/validation split"), derived from the zoo seed.</summary>
    public static ulong ForPurpose(ulong zooSeed, string purpose) => Mix(Mix(zooSeed ^ 0x0000_0000_C0FF_EE00UL) ^ HashName(purpose));

    /// <summary>64-bit FNV-1a over the UTF-16 code units (stable across runs and platforms, unlike string.GetHashCode).</summary>
    private static ulong HashName(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in s) { h ^= c; h *= 0x100000001B3UL; }
        return h;
    }

    /// <summary>SplitMix64's finalizer: a bijection with good avalanche.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
