using System;

namespace LayerCompiler.Runtime.IO;

/// <summary>Element types of the safetensors format. The JSON spelling is the enum name.</summary>
public enum SafetensorsDType
{
    BOOL,
    U8,
    I8,
    U16,
    I16,
    F16,
    BF16,
    U32,
    I32,
    F32,
    U64,
    I64,
    F64,
}

/// <summary>Name and size lookups for <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8 => 1,
        SafetensorsDType.U16 or SafetensorsDType.I16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.U32 or SafetensorsDType.I32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.U64 or SafetensorsDType.I64 or SafetensorsDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The spelling used in the JSON header, e.g. <c>"F32"</c>.</summary>
    public static string ToJsonName(SafetensorsDType dtype)
    {
        SizeOf(dtype); // rejects values outside the enum
        return dtype.ToString();
    }

    /// <summary>
    /// Parses a header spelling. Exact and case-sensitive, because the format is; integers
    /// such as "1" that <see cref="Enum.TryParse{TEnum}(string, out TEnum)"/> would accept are refused.
    /// </summary>
    public static bool TryParse(string name, out SafetensorsDType dtype)
    {
        foreach (SafetensorsDType d in Enum.GetValues<SafetensorsDType>())
        {
            if (string.Equals(d.ToString(), name, StringComparison.Ordinal))
            {
                dtype = d;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}
