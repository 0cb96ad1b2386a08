using System;
using System.Globalization;
using System.Text;

namespace LayerCompiler.Generator.Emit
{
    /// <summary>A StringBuilder with an indent level; every emitter writes through one.</summary>
    public sealed class IndentedWriter
    {
        private readonly StringBuilder _sb = new StringBuilder();
        private int _indent;

        public IndentedWriter Line(string text = "")
        {
            if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
            _sb.Append('\n');
            return this;
        }

        /// <summary>Writes a multi-line block, each line at the current indent.</summary>
        public IndentedWriter Lines(string block)
        {
            foreach (var l in block.Replace("\r\n", "\n").Split('\n')) Line(l.TrimEnd());
            return this;
        }

        public IndentedWriter Open(string header)
        {
            Line(header);
            Line("{");
            _indent++;
            return this;
        }

        /// <summary>Opens a bare block (a scope for local names).</summary>
        public IndentedWriter OpenScope()
        {
            Line("{");
            _indent++;
            return this;
        }

        public IndentedWriter Close(string suffix = "")
        {
            _indent--;
            Line("}" + suffix);
            return this;
        }

        public IDisposable Block(string header)
        {
            Open(header);
            return new Closer(this);
        }

        private sealed class Closer : IDisposable
        {
            private readonly IndentedWriter _w;
            public Closer(IndentedWriter w) { _w = w; }
            public void Dispose() => _w.Close();
        }

        /// <summary>A float literal that round-trips, in invariant culture.</summary>
        public static string Float(float v)
        {
            if (float.IsNaN(v) || float.IsInfinity(v)) throw new ArgumentException("Non-finite float literal.");
            var s = v.ToString("R", CultureInfo.InvariantCulture);
            if (s.IndexOf('.') < 0 && s.IndexOf('E') < 0) s += ".0";
            return s + "f";
        }

        public static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

        public override string ToString() => _sb.ToString();
    }
}
