using System;

namespace LayerCompiler.Algebra
{
    /// <summary>One declared layer of an input network: dense (in → out) or 2-D convolution (in → out, kh × kw).</summary>
    public sealed class LayerDeclaration : IEquatable<LayerDeclaration>
    {
        public LayerKind Kind { get; }
        public int In { get; }
        public int Out { get; }
        public int KernelH { get; }
        public int KernelW { get; }
        public bool Bias { get; }

        private LayerDeclaration(LayerKind kind, int @in, int @out, int kh, int kw, bool bias)
        {
            Kind = kind; In = @in; Out = @out; KernelH = kh; KernelW = kw; Bias = bias;
        }

        public static LayerDeclaration Dense(int @in, int @out, bool bias = true) => new LayerDeclaration(LayerKind.Dense, @in, @out, 1, 1, bias);
        public static LayerDeclaration Conv2d(int @in, int @out, int kh, int kw, bool bias = true) => new LayerDeclaration(LayerKind.Conv2d, @in, @out, kh, kw, bias);

        public bool Equals(LayerDeclaration? o) => o != null && Kind == o.Kind && In == o.In && Out == o.Out && KernelH == o.KernelH && KernelW == o.KernelW && Bias == o.Bias;
        public override bool Equals(object? obj) => Equals(obj as LayerDeclaration);
        public override int GetHashCode() => ((((int)Kind * 397 ^ In) * 397 ^ Out) * 397 ^ KernelH * 31 ^ KernelW) * 2 + (Bias ? 1 : 0);
        public override string ToString() => Kind == LayerKind.Dense ? $"Dense({In}→{Out}{(Bias ? "" : ", no bias")})" : $"Conv2d({In}→{Out}, {KernelH}×{KernelW}{(Bias ? "" : ", no bias")})";
    }
}
