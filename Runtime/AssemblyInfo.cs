using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("LayerCompiler.Runtime.Tests")]
