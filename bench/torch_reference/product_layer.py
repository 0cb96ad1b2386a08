#!/usr/bin/env python3
"""The product layer (docs/model.md, "Product layers") in PyTorch, written the way a PyTorch user would:
batched tensor ops per weight layer, autograd for the backward, the edge update's input [E; H'_src; H'_dst]
materialized per edge.

    m_l[j]      = (1/in_l)  sum_i (A_l E_l[j,i]) * (B_l H_{l-1}[i])
    m'_{l-1}[i] = (1/out_l) sum_j (A'_l E_l[j,i]) * (B'_l H_l[j])
    H'_k[v]     = H_k[v] + silu(U_k [H_k[v]; m_k[v]; m'_k[v]] + u_k)
    E'_l[j,i]   = E_l[j,i] + silu(V_l [E_l[j,i]; H'_{l-1}[i]; H'_l[j]] + v_l)

Parameter names are those of the C# ProductLayerParameters (edges.{l}.forward_edge, ..., nodes.{k}.update.bias).

Modes:
  (default)        time forward (no_grad) and forward+backward (loss = sum of every output) at --batch, --features,
                   --widths, on --threads intra-op threads (default: torch's own choice); one JSON line on stdout:
                   {"bench": "product", "impl": "torch", ...} with wall-clock and process CPU milliseconds (every
                   thread of the process, so a 2-thread run's spin-waiting counts) per repetition.
  --selftest       the batched layer against a loop-per-edge float64 implementation, and autograd gradients against
                   central differences; exit 1 on a mismatch.
  --check FILE     a safetensors file written by `LayerCompiler.Bench product` (parameters p.*, inputs x.*, the C#
                   fused kernel's outputs y.*): recompute y here in float32 and compare; exit 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F


def key(name):
    """Module parameter names may not contain '.'; the C# names do."""
    return name.replace(".", "__")


class ProductLayer(torch.nn.Module):
    def __init__(self, widths, d, dtype=torch.float32, seed=0):
        super().__init__()
        self.widths = list(widths)
        self.d = d
        m = len(widths) - 1
        g = torch.Generator().manual_seed(seed)

        def p(*shape, bias=False):
            t = torch.zeros(*shape, dtype=dtype) if bias else torch.randn(*shape, generator=g, dtype=dtype) / (shape[1] ** 0.5)
            return torch.nn.Parameter(t)

        self.params = torch.nn.ParameterDict()
        for l in range(m):
            for name in ("forward_edge", "forward_node", "backward_edge", "backward_node"):
                self.params[key(f"edges.{l}.{name}")] = p(d, d)
            self.params[key(f"edges.{l}.update.weight")] = p(d, 3 * d)
            self.params[key(f"edges.{l}.update.bias")] = p(d, bias=True)
        for k in range(m + 1):
            self.params[key(f"nodes.{k}.update.weight")] = p(d, 3 * d)
            self.params[key(f"nodes.{k}.update.bias")] = p(d, bias=True)

    def P(self, name):
        return self.params[key(name)]

    def named(self):
        """(C# name, parameter) pairs."""
        return [(k.replace("__", "."), v) for k, v in self.params.items()]

    def forward(self, nodes, edges):
        m = len(self.widths) - 1
        fwd = [None] * (m + 1)
        bwd = [None] * (m + 1)
        for l in range(1, m + 1):
            e = edges[l - 1]                                        # [B, out, in, D]
            hf = nodes[l - 1] @ self.P(f"edges.{l - 1}.forward_node").T   # [B, in, D]
            hb = nodes[l] @ self.P(f"edges.{l - 1}.backward_node").T      # [B, out, D]
            ef = e @ self.P(f"edges.{l - 1}.forward_edge").T
            eb = e @ self.P(f"edges.{l - 1}.backward_edge").T
            fwd[l] = (ef * hf[:, None, :, :]).mean(dim=2)
            bwd[l - 1] = (eb * hb[:, :, None, :]).mean(dim=1)
        out_nodes = []
        for k in range(m + 1):
            h = nodes[k]
            zero = torch.zeros_like(h)
            inp = torch.cat([h, fwd[k] if fwd[k] is not None else zero, bwd[k] if bwd[k] is not None else zero], dim=-1)
            z = inp @ self.P(f"nodes.{k}.update.weight").T + self.P(f"nodes.{k}.update.bias")
            out_nodes.append(h + F.silu(z))
        out_edges = []
        for l in range(1, m + 1):
            e = edges[l - 1]
            b, o, i, d = e.shape
            src = out_nodes[l - 1][:, None, :, :].expand(b, o, i, d)
            dst = out_nodes[l][:, :, None, :].expand(b, o, i, d)
            z = torch.cat([e, src, dst], dim=-1) @ self.P(f"edges.{l - 1}.update.weight").T + self.P(f"edges.{l - 1}.update.bias")
            out_edges.append(e + F.silu(z))
        return out_nodes, out_edges


def loop_forward(layer, nodes, edges):
    """The definition, one edge at a time (float64 oracle for the self-test)."""
    w = layer.widths
    m = len(w) - 1
    d = layer.d
    P = {k: v.detach() for k, v in layer.named()}
    silu = lambda z: z / (1 + torch.exp(-z))
    B = nodes[0].shape[0]
    on = [torch.zeros_like(n) for n in nodes]
    oe = [torch.zeros_like(e) for e in edges]
    for n in range(B):
        fwd = [torch.zeros(w[k], d, dtype=nodes[0].dtype) for k in range(m + 1)]
        bwd = [torch.zeros(w[k], d, dtype=nodes[0].dtype) for k in range(m + 1)]
        for l in range(1, m + 1):
            for j in range(w[l]):
                for i in range(w[l - 1]):
                    e = edges[l - 1][n, j, i]
                    fwd[l][j] += (P[f"edges.{l - 1}.forward_edge"] @ e) * (P[f"edges.{l - 1}.forward_node"] @ nodes[l - 1][n, i]) / w[l - 1]
                    bwd[l - 1][i] += (P[f"edges.{l - 1}.backward_edge"] @ e) * (P[f"edges.{l - 1}.backward_node"] @ nodes[l][n, j]) / w[l]
        for k in range(m + 1):
            for v in range(w[k]):
                inp = torch.cat([nodes[k][n, v], fwd[k][v], bwd[k][v]])
                on[k][n, v] = nodes[k][n, v] + silu(P[f"nodes.{k}.update.weight"] @ inp + P[f"nodes.{k}.update.bias"])
        for l in range(1, m + 1):
            for j in range(w[l]):
                for i in range(w[l - 1]):
                    e = edges[l - 1][n, j, i]
                    inp = torch.cat([e, on[l - 1][n, i], on[l][n, j]])
                    oe[l - 1][n, j, i] = e + silu(P[f"edges.{l - 1}.update.weight"] @ inp + P[f"edges.{l - 1}.update.bias"])
    return on, oe


def random_features(widths, batch, d, dtype, seed, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    nodes = [torch.randn(batch, wk, d, generator=g, dtype=dtype, requires_grad=requires_grad) for wk in widths]
    edges = [torch.randn(batch, widths[l], widths[l - 1], d, generator=g, dtype=dtype, requires_grad=requires_grad)
             for l in range(1, len(widths))]
    return nodes, edges


def selftest():
    widths, d = [2, 3, 4, 1], 3
    layer = ProductLayer(widths, d, dtype=torch.float64, seed=1)
    with torch.no_grad():
        for v in layer.params.values():
            v.add_(0.1 * torch.randn_like(v))
    nodes, edges = random_features(widths, 2, d, torch.float64, seed=2)
    yn, ye = layer(nodes, edges)
    rn, re = loop_forward(layer, nodes, edges)
    err = max(max((a - b).abs().max().item() for a, b in zip(yn, rn)), max((a - b).abs().max().item() for a, b in zip(ye, re)))
    ok = err < 1e-12
    print(f"batched vs loop forward: max |diff| = {err:.3e} {'ok' if ok else 'FAIL'}")
    nodes, edges = random_features(widths, 2, d, torch.float64, seed=3, requires_grad=True)
    ok_grad = torch.autograd.gradcheck(lambda *xs: sum(t.sum() for ts in layer(list(xs[:4]), list(xs[4:])) for t in ts),
                                       tuple(nodes + edges), eps=1e-6, atol=1e-6)
    print(f"autograd vs central differences: {'ok' if ok_grad else 'FAIL'}")
    return 0 if ok and ok_grad else 1


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: dtype {info['dtype']}"
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + start:base + end]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"]) if info["shape"] else t
    return out, header.get("__metadata__", {})


def check(path):
    t, meta = read_safetensors(path)
    widths = [int(w) for w in meta["widths"].split(",")]
    d = int(meta["features"])
    layer = ProductLayer(widths, d)
    with torch.no_grad():
        for name, p in layer.named():
            p.copy_(t["p." + name].reshape(p.shape))
        m = len(widths) - 1
        nodes = [t[f"x.nodes.{k}"] for k in range(m + 1)]
        edges = [t[f"x.edges.{l}"] for l in range(m)]
        yn, ye = layer(nodes, edges)
        worst = 0.0
        for k in range(m + 1):
            worst = max(worst, ((yn[k] - t[f"y.nodes.{k}"]).abs() / (1 + t[f"y.nodes.{k}"].abs())).max().item())
        for l in range(m):
            worst = max(worst, ((ye[l] - t[f"y.edges.{l}"]).abs() / (1 + t[f"y.edges.{l}"].abs())).max().item())
    ok = worst < 1e-4
    print(json.dumps({"bench": "product-check", "max_rel_diff": worst, "ok": ok}))
    return 0 if ok else 1


def summary(times_s):
    ms = sorted(t * 1e3 for t in times_s)
    return {"min": round(ms[0], 4), "median": round(statistics.median(ms), 4), "max": round(ms[-1], 4), "reps": len(ms)}


def timed(fn, reps, warmup):
    """Wall-clock and process CPU seconds (time.process_time: every thread) of each repetition, after warmup calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return summary(wall), summary(cpu)


def bench(widths, batch, d, reps, warmup):
    layer = ProductLayer(widths, d)
    nodes, edges = random_features(widths, batch, d, torch.float32, seed=4)

    def fwd():
        with torch.no_grad():
            layer(nodes, edges)

    xs = [t.clone().requires_grad_(True) for t in nodes + edges]

    def fwd_bwd():
        layer.zero_grad(set_to_none=True)
        yn, ye = layer(xs[:len(nodes)], xs[len(nodes):])
        sum(t.sum() for t in yn + ye).backward()

    (f_wall, f_cpu), (fb_wall, fb_cpu) = timed(fwd, reps, warmup), timed(fwd_bwd, reps, warmup)
    r = {"bench": "product", "impl": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
         "widths": widths, "batch": batch, "features": d,
         "forward_ms": f_wall, "fwd_bwd_ms": fb_wall, "forward_cpu_ms": f_cpu, "fwd_bwd_cpu_ms": fb_cpu}
    print(json.dumps(r))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--check", metavar="FILE")
    ap.add_argument("--widths", type=int, nargs="+", default=[2, 32, 32, 1])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads < 0:
        ap.error("--threads must be 0 (torch's default) or a positive count")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.selftest:
        return selftest()
    if a.check:
        return check(a.check)
    return bench(a.widths, a.batch, a.features, a.reps, a.warmup)


if __name__ == "__main__":
    sys.exit(main())
