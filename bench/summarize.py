#!/usr/bin/env python3
"""Prints markdown tables from the JSON lines written by bench_layer.py (--out) and by the C# ceilings
smoke run (bench/Ceilings, --out). Usage: python3 bench/summarize.py FILE.jsonl [...]"""
import json
import sys


def f(s, nd=1):
    return f"{s['min']:.{nd}f} / {s['median']:.{nd}f} / {s['max']:.{nd}f}"


def main(paths):
    layers, other = [], []
    for p in paths:
        with open(p) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    r = json.loads(line)
                    (layers if r.get("bench") == "layer" else other).append(r)
    for r in other:
        b = r.get("bench")
        if b == "sgemm":
            print(f"- {r.get('config', '')} sgemm {r['n']}^3 ({', '.join(x.split('/')[-1] for x in r.get('blas', []))}): "
                  f"{f(r['gflops'])} GFLOP/s (min / median / max, {r['ms']['reps']} runs)")
        elif b == "bandwidth":
            print(f"- torch {r['kernel']} 256 MB: {f(r['gbs'])} GB/s")
        elif b == "ceilings":
            print(f"- ceilings (C#): bandwidth {r['bandwidth_gbs']:.1f} GB/s ({r.get('bandwidth_kernel', '')}), "
                  f"FMA {r['fma_gflops']:.1f} GFLOP/s, {r['isa']}; copy {f(r['copy_gbs'])}"
                  + (f", copy-nt {f(r['copy_nt_gbs'])}" if r.get("copy_nt_gbs") else "")
                  + f", triad {f(r['triad_gbs'])} GB/s; V256 {f(r['fma256_gflops'])}"
                  + (f", V512 {f(r['fma512_gflops'])}" if r.get("fma512_gflops") else "") + " GFLOP/s")
    if layers:
        print()
        print("| widths | batch | alloc | forward ms (min / med / max) | fwd+bwd ms (min / med / max) | io MB | mix GFLOP | load | config |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in layers:
            alloc = "jemalloc" if r.get("allocator", "").startswith("jemalloc") else "glibc"
            fb = f(r["fwd_bwd_ms"]) if "fwd_bwd_ms" in r else "-"
            print(f"| {'→'.join(map(str, r['widths']))} | {r['batch']} | {alloc} | {f(r['forward_ms'])} | {fb} "
                  f"| {r['io_bytes'] / 1e6:.1f} | {r['mix_flops'] / 1e9:.2f} | {r.get('loadavg_1m', '')} "
                  f"| {r.get('config', '')} |")


if __name__ == "__main__":
    main(sys.argv[1:])
