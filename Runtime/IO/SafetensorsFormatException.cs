using System;

namespace LayerCompiler.Runtime.IO;

/// <summary>
/// A safetensors file (or buffer) that violates the format. The message says what is wrong and,
/// where one tensor is at fault, names it; <see cref="TensorName"/> carries that name too.
/// </summary>
public sealed class SafetensorsFormatException : FormatException
{
    /// <summary>The tensor whose header entry or data is at fault, or null for file-level problems.</summary>
    public string? TensorName { get; }

    public SafetensorsFormatException(string message, string? tensorName = null)
        : base(tensorName is null ? message : $"tensor '{tensorName}': {message}")
    {
        TensorName = tensorName;
    }

    public SafetensorsFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }

    private SafetensorsFormatException(string fullMessage, string? tensorName, Exception inner)
        : base(fullMessage, inner)
    {
        TensorName = tensorName;
    }

    /// <summary>The same problem, with the message prefixed by the file it was found in.</summary>
    internal SafetensorsFormatException InFile(string path) => new($"{path}: {Message}", TensorName, this);
}
