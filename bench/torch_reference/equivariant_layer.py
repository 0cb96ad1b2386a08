#!/usr/bin/env python3
"""Reference PyTorch implementation of the permutation-equivariant linear layer over MLP weight
spaces, written the way the reference projects (DWSNets, Neural Functionals) build theirs:
one nn.Module per block (input tensor A -> output tensor B) that materializes the block's
full-size output, and a layer that sums the block outputs per output tensor.

It is the *baseline* the generated fused kernels are benchmarked against, so it is deliberately
straightforward: every basis term pools its input with ``.mean``, mixes channels with an
``nn.Linear`` and broadcasts with ``.expand``; the terms of a block are added into a full-size
tensor, and the 2M block outputs of every output tensor are summed again.

Layout (the project's single layout, see docs/weight-space.md):
  * an MLP with widths d_0 .. d_M has tensors W_1, b_1, ..., W_M, b_M, in that order;
    W_m has shape (d_m, d_{m-1}) (PyTorch's Linear.weight orientation), b_m has shape (d_m,);
  * a batch of features for one tensor is [batch, *tensor shape, channels] (channels last).

Symmetries:
  * "hidden" (DWSNets, NFN-HNP): neuron layers 1..M-1 are permuted; the input (0) and output (M)
    neuron indices are fixed and are folded into the channel dimension (dense factors);
  * "all" (NFN-NP): every neuron layer is treated as permuted.

Pooling is MEAN (not sum). For every permuted layer that appears in both A and B, a term either
keeps the shared index or pools it (mean over A's axis, broadcast along B's axis); when that layer
has a single neuron both maps coincide and only one is kept (the "at most n blocks" rule).

Run ``python3 equivariant_layer.py --selftest`` to check parameter counts, rank (completeness),
a Burnside orbit count, equivariance and sensitivity.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

# --------------------------------------------------------------------------------------------
# Weight space description
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    name: str
    layers: Tuple[int, ...]  # neuron layer of each axis, in axis order


class WeightSpace:
    """The weight space of an MLP with the given widths [d_0, d_1, ..., d_M]."""

    def __init__(self, widths: Sequence[int], symmetry: str = "hidden"):
        if len(widths) < 2:
            raise ValueError("an MLP needs at least an input and an output width")
        if any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be positive: {widths}")
        if symmetry not in ("hidden", "all"):
            raise ValueError(f"symmetry must be 'hidden' or 'all', got {symmetry!r}")
        self.widths = [int(w) for w in widths]
        self.symmetry = symmetry
        self.depth = len(widths) - 1  # M, the number of linear layers
        self.tensors: List[TensorSpec] = []
        for m in range(1, self.depth + 1):
            self.tensors.append(TensorSpec(f"W{m}", (m, m - 1)))
            self.tensors.append(TensorSpec(f"b{m}", (m,)))

    def permuted(self, layer: int) -> bool:
        if self.symmetry == "all":
            return True
        return 1 <= layer <= self.depth - 1

    def shape(self, t: TensorSpec) -> Tuple[int, ...]:
        return tuple(self.widths[l] for l in t.layers)

    def numel(self) -> int:
        return sum(math.prod(self.shape(t)) for t in self.tensors)

    def random_features(self, batch: int, channels: int, generator=None, dtype=torch.float32,
                        device="cpu") -> List[torch.Tensor]:
        return [torch.randn((batch, *self.shape(t), channels), generator=generator, dtype=dtype,
                            device=device) for t in self.tensors]


# --------------------------------------------------------------------------------------------
# One basis term of one block
# --------------------------------------------------------------------------------------------


class Term(nn.Module):
    """One basis term of the block A -> B (for all channel pairs at once).

    ``keep`` is the set of permuted layers whose shared index is kept; every other permuted layer
    of A is mean-pooled and every other permuted layer of B is broadcast. Fixed layers of A are
    folded into the input channels, fixed layers of B into the output channels; the channel mix is
    one nn.Linear (no bias) of shape (prod(fixed B) * Cout) x (prod(fixed A) * Cin).
    """

    def __init__(self, space: WeightSpace, a: TensorSpec, b: TensorSpec, keep: Tuple[int, ...],
                 cin: int, cout: int):
        super().__init__()
        w = space.widths
        self.keep = tuple(sorted(keep))
        self.b_shape = space.shape(b)
        self.cout = cout
        # Input side: pooled axes, kept axes, fixed axes (all as positions in the feature tensor).
        self.pool_dims = tuple(1 + i for i, l in enumerate(a.layers)
                               if space.permuted(l) and l not in self.keep)
        a_rest = [l for l in a.layers if not (space.permuted(l) and l not in self.keep)]
        a_fixed = [l for l in a.layers if not space.permuted(l)]
        # After pooling: [N, *a_rest, Cin] -> [N, *keep, *a_fixed, Cin]
        order = [a_rest.index(l) for l in self.keep] + [a_rest.index(l) for l in a_fixed]
        self.in_perm = (0, *[1 + i for i in order], 1 + len(a_rest))
        self.in_perm_is_identity = self.in_perm == tuple(range(len(self.in_perm)))
        self.keep_sizes = tuple(w[l] for l in self.keep)
        self.fa = math.prod(w[l] for l in a_fixed)
        b_fixed = [l for l in b.layers if not space.permuted(l)]
        self.b_fixed_sizes = tuple(w[l] for l in b_fixed)
        self.fb = math.prod(self.b_fixed_sizes)
        self.linear = nn.Linear(self.fa * cin, self.fb * cout, bias=False)
        # Output side: [N, *keep, *b_fixed, Cout] -> B's axis order, size 1 on broadcast axes.
        cur = list(self.keep) + b_fixed
        b_present = [l for l in b.layers if l in cur]
        self.out_perm = (0, *[1 + cur.index(l) for l in b_present], 1 + len(cur))
        self.out_perm_is_identity = self.out_perm == tuple(range(len(self.out_perm)))
        self.view_shape = tuple(w[l] if l in cur else 1 for l in b.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.pool_dims:
            x = x.mean(dim=self.pool_dims)
        if not self.in_perm_is_identity:
            x = x.permute(self.in_perm)
        x = x.reshape(n, *self.keep_sizes, -1)
        y = self.linear(x)
        y = y.reshape(n, *self.keep_sizes, *self.b_fixed_sizes, self.cout)
        if not self.out_perm_is_identity:
            y = y.permute(self.out_perm)
        y = y.reshape(n, *self.view_shape, self.cout)
        return y.expand(n, *self.b_shape, self.cout)  # broadcast (a view)


def block_keep_choices(space: WeightSpace, a: TensorSpec, b: TensorSpec) -> List[Tuple[int, ...]]:
    """All basis choices of the block A -> B: for each shared permuted layer keep it or pool it
    (only one choice when the layer has a single neuron)."""
    shared = [l for l in a.layers if space.permuted(l) and l in b.layers]
    if len(set(a.layers)) != len(a.layers) or len(set(b.layers)) != len(b.layers):
        raise NotImplementedError("tensors carrying one layer twice need the general partition basis")
    options = [((), (l,)) if space.widths[l] >= 2 else ((),) for l in shared]
    return [tuple(l for part in combo for l in part) for combo in itertools.product(*options)]


class Block(nn.Module):
    """The block A -> B: the sum of its terms, materialized as a full-size [N, *B, Cout] tensor."""

    def __init__(self, space: WeightSpace, a: TensorSpec, b: TensorSpec, cin: int, cout: int):
        super().__init__()
        self.a_name, self.b_name = a.name, b.name
        self.terms = nn.ModuleList(Term(space, a, b, keep, cin, cout)
                                   for keep in block_keep_choices(space, a, b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for term in self.terms:
            y = term(x)
            out = y if out is None else out + y
        # A single broadcast term is still a view: materialize the block's full-size output.
        return out if out.is_contiguous() else out.contiguous()


class EquivariantLayer(nn.Module):
    """Equivariant linear layer Cin -> Cout on the weight space of an MLP with ``widths``.

    forward(xs) takes and returns a list of 2M tensors [N, *shape, C] in the order
    W1, b1, ..., WM, bM.
    """

    def __init__(self, widths: Sequence[int], cin: int, cout: int, symmetry: str = "hidden",
                 bias: bool = True):
        super().__init__()
        self.space = WeightSpace(widths, symmetry)
        self.cin, self.cout = cin, cout
        ts = self.space.tensors
        # blocks[b][a] : A -> B
        self.blocks = nn.ModuleList(nn.ModuleList(Block(self.space, a, b, cin, cout) for a in ts)
                                    for b in ts)
        self.biases = nn.ParameterList()
        self.bias_views = []
        for b in ts:
            fixed = [self.space.widths[l] for l in b.layers if not self.space.permuted(l)]
            view = tuple(self.space.widths[l] if not self.space.permuted(l) else 1 for l in b.layers)
            self.bias_views.append(view)
            self.biases.append(nn.Parameter(torch.zeros(*fixed, cout), requires_grad=bias))
        self.use_bias = bias
        self.reset_parameters()

    def terms_into(self, bi: int) -> int:
        return sum(len(blk.terms) for blk in self.blocks[bi])

    def reset_parameters(self, generator=None):
        # Unit-scale outputs at initialization: each term ~ N(0, 1 / (fan-in * terms into B)).
        with torch.no_grad():
            for bi, row in enumerate(self.blocks):
                n_terms = self.terms_into(bi)
                for blk in row:
                    for term in blk.terms:
                        fan_in = term.linear.in_features
                        std = 1.0 / math.sqrt(fan_in * n_terms)
                        term.linear.weight.normal_(0.0, std, generator=generator)
            for p in self.biases:
                p.zero_()

    def forward(self, xs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        if len(xs) != len(self.space.tensors):
            raise ValueError(f"expected {len(self.space.tensors)} tensors, got {len(xs)}")
        outs = []
        for bi, row in enumerate(self.blocks):
            acc = None
            for ai, blk in enumerate(row):
                y = blk(xs[ai])
                acc = y if acc is None else acc + y
            if self.use_bias:
                acc = acc + self.biases[bi].reshape(*self.bias_views[bi], self.cout)
            outs.append(acc)
        return outs

    def linear_parameters(self) -> List[torch.Tensor]:
        return [t.linear.weight for row in self.blocks for blk in row for t in blk.terms]

    def num_terms(self) -> int:
        return sum(len(blk.terms) for row in self.blocks for blk in row)


# --------------------------------------------------------------------------------------------
# Counting, permutations
# --------------------------------------------------------------------------------------------


def count_parameters(widths: Sequence[int], cin: int = 1, cout: int = 1, symmetry: str = "hidden",
                     include_bias: bool = False) -> int:
    """Number of parameters of the layer (linear part; plus the bias when include_bias)."""
    layer = EquivariantLayer(widths, cin, cout, symmetry)
    n = sum(p.numel() for p in layer.linear_parameters())
    if include_bias:
        n += sum(p.numel() for p in layer.biases)
    return n


def count_parameters_analytic(widths: Sequence[int], cin: int = 1, cout: int = 1,
                              symmetry: str = "hidden") -> int:
    """Same count from the enumeration rule alone (no module built): per block,
    (#keep/pool choices) x prod(fixed dims of A) x prod(fixed dims of B) x Cin x Cout."""
    s = WeightSpace(widths, symmetry)
    total = 0
    for b in s.tensors:
        for a in s.tensors:
            fa = math.prod(s.widths[l] for l in a.layers if not s.permuted(l))
            fb = math.prod(s.widths[l] for l in b.layers if not s.permuted(l))
            total += len(block_keep_choices(s, a, b)) * fa * fb * cin * cout
    return total


def burnside_pair_orbits(widths: Sequence[int], symmetry: str = "hidden") -> int:
    """Number of orbits of the symmetry group on pairs of weight-space entries, by Burnside's
    lemma: (1/|G|) sum_g fix(g)^2, fix(g) = number of entries that g fixes. Equals the dimension
    of the space of equivariant linear maps (per channel pair). Brute force: tiny widths only."""
    s = WeightSpace(widths, symmetry)
    layers = [l for l in range(len(s.widths)) if s.permuted(l)]
    # Distribution of the number of fixed points of S_n: {fixed points: count of permutations}
    dists = []
    for l in layers:
        n = s.widths[l]
        d: Dict[int, int] = {}
        for p in itertools.permutations(range(n)):
            f = sum(1 for i, j in enumerate(p) if i == j)
            d[f] = d.get(f, 0) + 1
        dists.append(list(d.items()))
    group_order = 0
    total = 0
    for combo in itertools.product(*dists):
        fixpts = {l: f for l, (f, _) in zip(layers, combo)}
        mult = math.prod(c for _, c in combo)
        fix = 0
        for t in s.tensors:
            fix += math.prod(fixpts[l] if l in fixpts else s.widths[l] for l in t.layers)
        total += mult * fix * fix
        group_order += mult
    assert total % group_order == 0
    return total // group_order


def random_permutations(space: WeightSpace, generator=None) -> List[torch.Tensor]:
    """One index permutation per neuron layer (identity for fixed layers)."""
    return [torch.randperm(w, generator=generator) if space.permuted(l) else torch.arange(w)
            for l, w in enumerate(space.widths)]


def permute_features(space: WeightSpace, xs: Sequence[torch.Tensor], perms: Sequence[torch.Tensor],
                     decouple: bool = False, generator=None) -> List[torch.Tensor]:
    """Apply the neuron permutations to a batch of features. With ``decouple`` each tensor gets its
    own independent permutations (NOT a group element: equivariance must fail)."""
    out = []
    for t, x in zip(space.tensors, xs):
        for i, l in enumerate(t.layers):
            p = perms[l]
            if decouple and space.permuted(l):
                p = torch.randperm(space.widths[l], generator=generator)
            x = x.index_select(1 + i, p)
        out.append(x)
    return out


def relative_error(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    num = math.sqrt(sum(float((x - y).double().pow(2).sum()) for x, y in zip(a, b)))
    den = math.sqrt(sum(float(x.double().pow(2).sum()) for x in a))
    return num / den


# --------------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------------


def basis_rank(widths: Sequence[int], symmetry: str) -> Tuple[int, int]:
    """(number of linear parameters, numerical rank of the maps they span), Cin = Cout = 1, float64."""
    layer = EquivariantLayer(widths, 1, 1, symmetry, bias=False).double()
    space = layer.space
    dim = space.numel()
    # The identity basis of V as a batch of `dim` inputs.
    eye = torch.eye(dim, dtype=torch.float64)
    xs, off = [], 0
    for t in space.tensors:
        k = math.prod(space.shape(t))
        xs.append(eye[:, off:off + k].reshape(dim, *space.shape(t), 1))
        off += k
    params = layer.linear_parameters()
    rows = []
    with torch.no_grad():
        for p in params:
            p.zero_()
        for p in params:
            flat = p.view(-1)
            for i in range(flat.numel()):
                flat[i] = 1.0
                ys = layer(xs)
                rows.append(torch.cat([y.reshape(dim, -1) for y in ys], dim=1).reshape(-1))
                flat[i] = 0.0
    m = torch.stack(rows)
    return len(rows), int(torch.linalg.matrix_rank(m))


def selftest(verbose: bool = True) -> None:
    def log(*a):
        if verbose:
            print(*a, flush=True)

    # 1. Parameter counts (Cin = Cout = 1, no bias) against docs/weight-space.md.
    expected = {
        ((2, 32, 32, 1), "hidden"): 75,
        ((2, 3, 3, 1), "hidden"): 75,
        ((2, 3, 3, 2), "hidden"): 114,
        ((2, 32, 32, 1), "all"): 57,
        ((2, 3, 3, 2), "all"): 62,
    }
    for (widths, sym), want in expected.items():
        got = count_parameters(widths, 1, 1, sym)
        ana = count_parameters_analytic(widths, 1, 1, sym)
        log(f"count {sym:6s} {'->'.join(map(str, widths)):12s}: {got} (analytic {ana}, expected {want})")
        assert got == want == ana, (widths, sym, got, ana, want)
    # Channels multiply the count; hidden symmetry with C=32 in/out.
    assert count_parameters((2, 32, 32, 1), 3, 5) == 75 * 15
    blocks = len(EquivariantLayer((2, 32, 32, 1), 1, 1).space.tensors) ** 2
    assert blocks == 36

    # 2. Completeness: rank of the spanned maps == count == Burnside orbit count (tiny widths).
    for widths, sym in [((2, 3, 3, 1), "hidden"), ((2, 3, 3, 2), "hidden"),
                        ((2, 3, 3, 1), "all"), ((2, 3, 3, 2), "all"), ((2, 2, 1), "hidden"),
                        ((3, 1, 2), "hidden")]:
        n, rank = basis_rank(widths, sym)
        orbits = burnside_pair_orbits(widths, sym)
        log(f"rank  {sym:6s} {'->'.join(map(str, widths)):12s}: params {n}, rank {rank}, "
            f"Burnside orbits {orbits}")
        assert n == rank == orbits, (widths, sym, n, rank, orbits)

    # 3. Equivariance (float32) and sensitivity to decoupled permutations.
    g = torch.Generator().manual_seed(1234)
    for widths, sym in [((2, 32, 32, 1), "hidden"), ((2, 32, 32, 1), "all"),
                        ((3, 16, 8, 24, 5), "hidden"), ((3, 16, 8, 24, 5), "all")]:
        torch.manual_seed(7)
        layer = EquivariantLayer(widths, 4, 5, sym)
        with torch.no_grad():
            for p in layer.biases:
                p.normal_(generator=g)
        space = layer.space
        xs = space.random_features(3, 4, generator=g)
        perms = random_permutations(space, generator=g)
        with torch.no_grad():
            lhs = layer(permute_features(space, xs, perms))
            rhs = permute_features(space, layer(xs), perms)
            err = relative_error(rhs, lhs)
            bad = permute_features(space, xs, perms, decouple=True, generator=g)
            err_bad = relative_error(rhs, layer(bad))
        log(f"equivariance {sym:6s} {'->'.join(map(str, widths)):14s}: rel err {err:.2e}; "
            f"decoupled permutations: {err_bad:.2e}")
        assert err < 1e-5, err
        assert err_bad > 1e-2, err_bad

    # 4. Backward runs and produces finite gradients for every parameter.
    layer = EquivariantLayer((2, 32, 32, 1), 4, 4)
    xs = [x.requires_grad_() for x in layer.space.random_features(2, 4, generator=g)]
    loss = sum(y.sum() for y in layer(xs))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert all(x.grad is not None and x.grad.shape == x.shape for x in xs)
    log("selftest passed")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selftest", action="store_true", help="run the self-test and exit")
    ap.add_argument("--widths", default="2,32,32,1", help="MLP widths, comma separated")
    ap.add_argument("--symmetry", default="hidden", choices=["hidden", "all"])
    args = ap.parse_args(argv)
    if args.selftest:
        selftest()
        return 0
    widths = [int(w) for w in args.widths.split(",")]
    layer = EquivariantLayer(widths, 1, 1, args.symmetry)
    print(f"widths {widths}, symmetry {args.symmetry}: {layer.num_terms()} terms per channel pair "
          f"in {len(layer.space.tensors) ** 2} blocks; linear parameters (Cin=Cout=1) "
          f"{count_parameters(widths, 1, 1, args.symmetry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
