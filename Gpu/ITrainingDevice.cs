using System;
using System.Collections.Generic;

namespace LayerCompiler.Gpu;

/// <summary>A kernel argument of <see cref="ITrainingDevice.Launch"/>: an int, a float, a double, or a pointer into a buffer.</summary>
internal readonly record struct TrainingArg(TrainingArgKind Kind, long Int, double Real, int Buffer, long Offset)
{
    public static TrainingArg I(int value) => new(TrainingArgKind.Int, value, 0, -1, 0);
    public static TrainingArg F(float value) => new(TrainingArgKind.Float, 0, value, -1, 0);
    public static TrainingArg D(double value) => new(TrainingArgKind.Double, 0, value, -1, 0);
    /// <summary>Pointer to 4-byte word <paramref name="offset"/> of buffer <paramref name="buffer"/>.</summary>
    public static TrainingArg P(int buffer, long offset = 0) => new(TrainingArgKind.Pointer, 0, 0, buffer, offset);
    public static TrainingArg Null { get; } = new(TrainingArgKind.Pointer, 0, 0, -1, 0);
}

internal enum TrainingArgKind { Int, Float, Double, Pointer }

/// <summary>
/// Where <see cref="CudaTrainer"/> keeps its buffers and runs its kernels: a CUDA device (<see cref="CudaTrainingDevice"/>),
/// or, in tests, the CPU emulator of CUDA C, so that the trainer's whole schedule (every launch, argument and buffer) is
/// checked without a GPU. Buffers are counted in 4-byte words (floats, ints; a double takes two). Operations are ordered:
/// a download returns what every earlier launch wrote.
/// </summary>
internal interface ITrainingDevice : IDisposable
{
    /// <summary>A new buffer of <paramref name="words"/> 4-byte words (contents undefined); returns its handle.</summary>
    int Allocate(long words);
    void Upload(int buffer, ReadOnlySpan<float> data, long offset = 0);
    void Download(int buffer, Span<float> data, long offset = 0);
    /// <summary>Compiles (or loads) a module; returns its handle.</summary>
    int LoadModule(string source, IReadOnlyList<string> kernelNames, IReadOnlyList<string>? options);
    /// <summary>Handle of a kernel of a loaded module.</summary>
    int Kernel(int module, string name);
    void Launch(int kernel, long blocks, int threads, ReadOnlySpan<TrainingArg> args);
    /// <summary>Waits until every launch has finished.</summary>
    void Synchronize();
}
