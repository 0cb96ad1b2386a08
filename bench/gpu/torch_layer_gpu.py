#!/usr/bin/env python3
"""PyTorch reference for LayerCompiler's generated CUDA layer (tools/GpuCheck benchmarks layer-siren32-* and
layer-width-sweep): the same equivariant linear layer, Cin -> Cout channels over the weight space of an MLP
2 -> h -> h -> 1 under the hidden-neuron symmetry (docs: shared weight-space.md, sections 3-4), written the way the
reference projects (DWSNets, NFN) write it: one module per basis block, each pooling its input tensor, mixing
channels (and fixed axes) with a Linear, and materializing a full-size output with .repeat; the blocks' outputs are
summed per output tensor. Timed eager and under torch.compile with CUDA events (median of --runs after --warmup),
at the gpu-check sizes, with the same byte accounting (each input read once, each output written once).

Layout, as in LayerCompiler: one tensor per weight tensor (W1, b1, W2, b2, W3, b3), each [batch, axes..., channels]
with PyTorch orientation (a dense weight is (out, in)).

Self-checks (once, before timing): the parameter count per channel pair equals the enumerated basis size (75 for
2->h->h->1 with h >= 2), the layer commutes with random hidden-neuron permutations (relative error <= 1e-5), and a
permutation that does not couple W1's rows with W2's columns breaks it.

    python3 bench/gpu/torch_layer_gpu.py --out "$OUT/torch-layer.json"            # on the GPU machine
    python3 bench/gpu/torch_layer_gpu.py --device cpu --widths 8 --batch 4 --runs 2  # a dry run anywhere
"""
import argparse
import itertools
import json
import math
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn


class WeightTensor:
    """A tensor of the weight space: name and axes as (neuron layer, size, permuted)."""

    def __init__(self, name, axes):
        self.name = name
        self.axes = axes
        self.shape = [s for (_, s, _) in axes]

    def permuted_layers(self):
        return [l for (l, _, p) in self.axes if p]

    def fixed_size(self):
        return math.prod(s for (_, s, p) in self.axes if not p)


def mlp_space(widths):
    """Tensors of an MLP with the given neuron-layer widths; hidden layers are permuted, input/output fixed."""
    depth = len(widths) - 1
    permuted = lambda l: 0 < l < depth
    tensors = []
    for m in range(1, depth + 1):
        tensors.append(WeightTensor(f"W{m}", [(m, widths[m], permuted(m)), (m - 1, widths[m - 1], permuted(m - 1))]))
        tensors.append(WeightTensor(f"b{m}", [(m, widths[m], permuted(m))]))
    return tensors


def basis_blocks(tensors, widths):
    """(input index, output index, kept layers) of every basis block: for each layer both tensors carry, keep its
    index or pool-then-broadcast it; a layer of width 1 allows only keeping (the two coincide)."""
    blocks = []
    for ib, b in enumerate(tensors):
        for ia, a in enumerate(tensors):
            common = sorted(set(a.permuted_layers()) & set(b.permuted_layers()))
            for r in range(len(common) + 1):
                for kept in itertools.combinations(common, r):
                    if any(widths[l] == 1 and l not in kept for l in common):
                        continue
                    blocks.append((ia, ib, list(kept)))
    return blocks


class Block(nn.Module):
    """One basis block A -> B: mean over A's permuted axes not kept, a dense mix of (A's fixed axes x Cin) into
    (B's fixed axes x Cout), then a full-size output of B's shape, broadcast along B's permuted axes not kept."""

    def __init__(self, a, b, kept, cin, cout):
        super().__init__()
        self.kept = kept
        self.a_kept = [[i for i, (l, _, p) in enumerate(a.axes) if p and l == k][0] for k in kept]
        self.a_pool = [i for i, (l, _, p) in enumerate(a.axes) if p and l not in kept]
        self.a_fixed = [i for i, (_, _, p) in enumerate(a.axes) if not p]
        self.a_rank = len(a.axes)
        self.b_fixed_sizes = [s for (_, s, p) in b.axes if not p]
        self.cout = cout
        # Where each axis of B comes from: a kept axis, a fixed axis of the mix, or a broadcast of size s.
        self.b_from = []
        fixed_j = 0
        for (l, s, p) in b.axes:
            if p and l in kept:
                self.b_from.append(("kept", kept.index(l), s))
            elif p:
                self.b_from.append(("bcast", None, s))
            else:
                self.b_from.append(("fixed", fixed_j, s))
                fixed_j += 1
        self.lin = nn.Linear(a.fixed_size() * cin, b.fixed_size() * cout, bias=False)

    def forward(self, xa):
        n = xa.shape[0]
        order = [0] + [1 + i for i in self.a_kept] + [1 + i for i in self.a_fixed] + [self.a_rank + 1] + [1 + i for i in self.a_pool]
        t = xa.permute(order)
        if self.a_pool:
            t = t.mean(dim=tuple(range(t.dim() - len(self.a_pool), t.dim())))
        kept_sizes = list(t.shape[1:1 + len(self.a_kept)])
        t = self.lin(t.reshape(n, *kept_sizes, -1))
        t = t.reshape(n, *kept_sizes, *self.b_fixed_sizes, self.cout)
        k = len(kept_sizes)
        src = [1 + j if kind == "kept" else 1 + k + j for (kind, j, _) in self.b_from if kind != "bcast"]
        t = t.permute([0] + src + [t.dim() - 1])
        reps = [1]
        for pos, (kind, _, s) in enumerate(self.b_from):
            if kind == "bcast":
                t = t.unsqueeze(1 + pos)
            reps.append(s if kind == "bcast" else 1)
        return t.repeat(*reps, 1)  # materialized, as the reference projects' blocks are


class EquivariantLayer(nn.Module):
    """Sum of the basis blocks into each output tensor, plus one bias per output tensor (x its fixed axes) and channel."""

    def __init__(self, tensors, widths, cin, cout):
        super().__init__()
        self.tensors = tensors
        self.pairs = basis_blocks(tensors, widths)
        self.blocks = nn.ModuleList(Block(tensors[ia], tensors[ib], kept, cin, cout) for (ia, ib, kept) in self.pairs)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(t.fixed_size() * cout)) for t in tensors)
        self.cout = cout
        fan_in = [0] * len(tensors)
        for (ia, ib, _) in self.pairs:
            fan_in[ib] += tensors[ia].fixed_size() * cin
        with torch.no_grad():
            for (ia, ib, _), blk in zip(self.pairs, self.blocks):
                blk.lin.weight.normal_(0.0, 1.0 / math.sqrt(fan_in[ib]))
            for p in self.biases:
                p.normal_(0.0, 1.0)

    def weights_per_channel_pair(self):
        return sum(self.tensors[ia].fixed_size() * self.tensors[ib].fixed_size() for (ia, ib, _) in self.pairs)

    def forward(self, xs):
        n = xs[0].shape[0]
        outs = [None] * len(self.tensors)
        for (ia, ib, _), blk in zip(self.pairs, self.blocks):
            o = blk(xs[ia])
            outs[ib] = o if outs[ib] is None else outs[ib] + o
        for ib, t in enumerate(self.tensors):
            fixed = [s for (_, s, p) in t.axes if not p]
            bias = self.biases[ib].reshape(*fixed, self.cout)
            # Fixed axes in B's order, permuted axes broadcast (materialized as well).
            view, reps, fi = [1], [n], 0
            for (_, s, p) in t.axes:
                view.append(1 if p else fixed[fi])
                reps.append(s if p else 1)
                fi += 0 if p else 1
            full = bias.reshape(*view, self.cout).repeat(*reps, 1)
            outs[ib] = full if outs[ib] is None else outs[ib] + full
        return outs


def random_batch(tensors, batch, channels, device, gen):
    return [torch.randn(batch, *t.shape, channels, device=device, generator=gen) for t in tensors]


def permute_batch(xs, tensors, perm_of):
    """Applies perm_of(tensor index, axis index) (a permutation or None) to each axis: out[p[i]] = in[i]."""
    out = []
    for ti, (x, t) in enumerate(zip(xs, tensors)):
        y = x
        for ai in range(len(t.axes)):
            p = perm_of(ti, ai)
            if p is not None:
                inv = torch.argsort(p)
                y = y.index_select(1 + ai, inv)
        out.append(y)
    return out


def rel_error(a, b):
    num = sum(float(((x - y) ** 2).sum()) for x, y in zip(a, b))
    den = sum(float((y ** 2).sum()) for y in b)
    return math.sqrt(num / max(den, 1e-300))


def self_check(widths, cin, cout, device):
    """Basis size, equivariance under random hidden permutations, sensitivity to uncoupled ones."""
    gen = torch.Generator(device=device).manual_seed(7)
    tensors = mlp_space(widths)
    layer = EquivariantLayer(tensors, widths, cin, cout).to(device)
    per_pair = layer.weights_per_channel_pair()
    xs = random_batch(tensors, 3, cin, device, gen)
    depth = len(widths) - 1
    with torch.no_grad():
        y = layer(xs)
        errors = []
        for _ in range(3):
            perms = {l: torch.randperm(widths[l], device=device, generator=gen) for l in range(1, depth)}
            perm_of = lambda ti, ai: perms.get(tensors[ti].axes[ai][0]) if tensors[ti].axes[ai][2] else None
            errors.append(rel_error(layer(permute_batch(xs, tensors, perm_of)), permute_batch(y, tensors, perm_of)))
        # Rows of W1 (layer 1) by p, columns of W2 (also layer 1) by another q: not a symmetry.
        p = torch.randperm(widths[1], device=device, generator=gen)
        q = torch.roll(p, 1)
        unc = lambda ti, ai: (q if tensors[ti].name == "W2" else p) if tensors[ti].axes[ai][0] == 1 else None
        sensitivity = rel_error(layer(permute_batch(xs, tensors, unc)), permute_batch(y, tensors, unc))
    return {
        "widths": widths,
        "weights_per_channel_pair": per_pair,
        "blocks": len(layer.pairs),
        "equivariance_rel_error_max": max(errors),
        "uncoupled_rel_error": sensitivity,
        "passed": max(errors) <= 1e-5 and sensitivity > 1e-2,
    }


class Timer:
    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def time(self, fn, warmup, runs):
        for _ in range(warmup):
            fn()
        self.sync()
        samples = []
        for _ in range(runs):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                samples.append(1e3 * (time.perf_counter() - t0))
        return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples), "samples_ms": samples}


def d2d_bandwidth(device, timer):
    """Device-to-device copy, read + write GB/s (10^9 B), median of 10 copies of 256 MiB."""
    n = 64 << 20
    a = torch.ones(n, device=device)
    b = torch.empty_like(a)
    t = timer.time(lambda: b.copy_(a), 3, 10)
    del a, b
    return 2.0 * n * 4 / (t["median_ms"] * 1e-3) / 1e9


def is_oom(e):
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


def measure(width, impl, batch, args, device, timer):
    """Forward and forward + backward of the 32 -> 32 layer on 2 -> width -> width -> 1; halves the batch on OOM."""
    widths = [2, width, width, 1]
    tensors = mlp_space(widths)
    while True:
        try:
            gen = torch.Generator(device=device).manual_seed(11)
            layer = EquivariantLayer(tensors, widths, args.channels, args.channels).to(device)
            run = torch.compile(layer, dynamic=False) if impl == "compile" else layer
            xs = random_batch(tensors, batch, args.channels, device, gen)
            gys = random_batch(tensors, batch, args.channels, device, gen)

            def forward():
                with torch.no_grad():
                    return run(xs)

            xg = [x.clone().requires_grad_(True) for x in xs]
            params = list(layer.parameters())

            def forward_backward():
                ys = run(xg)
                return torch.autograd.grad(ys, xg + params, gys)

            fwd = timer.time(forward, args.warmup, args.runs)
            fb = timer.time(forward_backward, args.warmup, args.runs)
            x_floats = sum(x.numel() for x in xs)
            y_floats = x_floats  # Cin = Cout: the output has the input's size
            p_floats = sum(p.numel() for p in params)
            fwd_bytes = 4.0 * (x_floats + y_floats + p_floats)
            fb_bytes = fwd_bytes + 4.0 * (2 * x_floats + y_floats + 2 * p_floats)
            return {
                "width": width, "impl": impl, "batch": batch, "channels": args.channels,
                "weights": p_floats, "fwd": fwd, "fwdbwd": fb,
                "fwd_ideal_bytes": fwd_bytes, "fwdbwd_ideal_bytes": fb_bytes,
                "fwd_gbps": fwd_bytes / (fwd["median_ms"] * 1e-3) / 1e9,
                "fwdbwd_gbps": fb_bytes / (fb["median_ms"] * 1e-3) / 1e9,
            }
        except Exception as e:  # OOM: retry smaller; anything else (e.g. a compile failure) is recorded
            if is_oom(e) and batch > 1:
                layer = run = xs = gys = xg = params = None
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                batch //= 2
                continue
            return {"width": width, "impl": impl, "batch": batch, "error": f"{type(e).__name__}: {e}"[:2000]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="32,64,128,256,512", help="hidden widths h of 2 -> h -> h -> 1")
    ap.add_argument("--batch", type=int, default=512, help="networks per batch (halved on out-of-memory)")
    ap.add_argument("--channels", type=int, default=32, help="Cin = Cout")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--impl", default="eager,compile", help="eager, compile, or both")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", help="write the JSON report here")
    args = ap.parse_args()

    device = torch.device(args.device)
    timer = Timer(device)
    report = {
        "tool": "torch_layer_gpu", "schema": 1, "torch": torch.__version__, "python": platform.python_version(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "protocol": {"runs": args.runs, "warmup": args.warmup, "timing": "CUDA events" if device.type == "cuda" else "perf_counter",
                     "bytes": "fwd: x + y + params; fwd+bwd: fwd + x + gy + gx + params + grads (float32)"},
    }
    check = self_check([2, 8, 8, 1], 3, 2, device)
    report["self_check"] = check
    print(f"self-check: {check['weights_per_channel_pair']} weights per channel pair in {check['blocks']} blocks, "
          f"equivariance error {check['equivariance_rel_error_max']:.1e}, uncoupled {check['uncoupled_rel_error']:.1e}: "
          f"{'passed' if check['passed'] else 'FAILED'}", flush=True)
    if check["weights_per_channel_pair"] != 75 or not check["passed"]:
        print("self-check failed; not timing", file=sys.stderr)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(report, f, indent=2)
        return 1
    if device.type == "cuda":
        report["d2d_gbps"] = d2d_bandwidth(device, timer)
        print(f"device-to-device copy: {report['d2d_gbps']:.0f} GB/s", flush=True)
    impls = [s.strip() for s in args.impl.split(",") if s.strip()]
    if "compile" in impls and not hasattr(torch, "compile"):
        report["compile_skipped"] = f"torch {torch.__version__} has no torch.compile"
        impls.remove("compile")
    results = []
    for width in [int(w) for w in args.widths.split(",")]:
        for impl in impls:
            r = measure(width, impl, args.batch, args, device, timer)
            if "d2d_gbps" in report and "error" not in r:
                r["fwd_fraction_of_d2d"] = r["fwd_gbps"] / report["d2d_gbps"]
                r["fwdbwd_fraction_of_d2d"] = r["fwdbwd_gbps"] / report["d2d_gbps"]
            results.append(r)
            if "error" in r:
                print(f"h={width} {impl}: batch {r['batch']}: {r['error'][:200]}", flush=True)
            else:
                print(f"h={width} {impl}: batch {r['batch']}: fwd {r['fwd']['median_ms']:.3f} ms ({r['fwd_gbps']:.0f} GB/s), "
                      f"fwd+bwd {r['fwdbwd']['median_ms']:.3f} ms ({r['fwdbwd_gbps']:.0f} GB/s)", flush=True)
    report["results"] = results
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
