using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("LayerCompiler.Gpu.Tests")]
[assembly: InternalsVisibleTo("LayerCompiler.TestSupport")]
