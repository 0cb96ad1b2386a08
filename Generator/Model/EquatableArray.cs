using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace LayerCompiler.Generator.Model
{
    /// <summary>An immutable array with value equality, so incremental pipeline steps can cache on it.</summary>
    public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T> where T : IEquatable<T>
    {
        private readonly T[]? _items;

        public EquatableArray(IEnumerable<T> items) { _items = items.ToArray(); }

        public static readonly EquatableArray<T> Empty = new EquatableArray<T>(Array.Empty<T>());

        public int Count => _items?.Length ?? 0;
        public T this[int index] => _items![index];

        public bool Equals(EquatableArray<T> other)
        {
            var a = _items ?? Array.Empty<T>();
            var b = other._items ?? Array.Empty<T>();
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (!a[i].Equals(b[i])) return false;
            return true;
        }

        public override bool Equals(object? obj) => obj is EquatableArray<T> o && Equals(o);

        public int IndexOf(T item) => _items == null ? -1 : Array.IndexOf(_items, item);

        public override int GetHashCode()
        {
            int h = 17;
            foreach (var x in _items ?? Array.Empty<T>()) h = h * 31 + x.GetHashCode();
            return h;
        }

        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    public static class EquatableArray
    {
        public static EquatableArray<T> ToEquatableArray<T>(this IEnumerable<T> items) where T : IEquatable<T> => new EquatableArray<T>(items);
    }
}
