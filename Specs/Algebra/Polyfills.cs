// netstandard2.0 lacks these; the compiler only needs the names to exist.
namespace System.Runtime.CompilerServices
{
    internal static class IsExternalInit { }
}
