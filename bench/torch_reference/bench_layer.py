#!/usr/bin/env python3
"""Times the reference PyTorch equivariant layer (equivariant_layer.py) on CPU.

Modes (--mode):
  layer  (default) forward (torch.no_grad) and forward+backward (loss = sum of all outputs;
         gradients for the parameters and the input) at batch 256, 32 -> 32 channels,
         on the 2->32->32->1 weight space; --widths / --depth sweep other MLP shapes.
  sgemm  1024^3 float32 matmul (torch.mm), GFLOP/s.
  copy   streaming copy and triad over 256 MB float32 tensors, GB/s (bytes read + written).
  all    sgemm, copy, then layer.

Every figure is min / median / max over --reps timed repetitions after --warmup untimed ones,
on random normal data. Results are JSON lines on stdout (and appended to --out FILE).

Examples:
  python3 bench_layer.py                                   # reference size
  python3 bench_layer.py --widths 32 64 128 256 512        # 2->w->w->1, w swept
  python3 bench_layer.py --depth 3 5 8                     # 3, 5, 8 linear layers of width 32
  python3 bench_layer.py --mode sgemm
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from equivariant_layer import EquivariantLayer, count_parameters_analytic  # noqa: E402

JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def summary(times_s):
    ms = sorted(t * 1e3 for t in times_s)
    return {"min": round(ms[0], 4), "median": round(statistics.median(ms), 4),
            "max": round(ms[-1], 4), "reps": len(ms)}


GATE = {"idle_pct": 0.0, "max_wait_s": 120.0, "waited_s": 0.0}


def cpu_idle_pct(seconds):
    """Idle share of all CPUs over `seconds`, from /proc/stat (100 when unavailable)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]
    try:
        t0, i0 = read()
        time.sleep(seconds)
        t1, i1 = read()
    except OSError:
        return 100.0
    return 100.0 * (i1 - i0) / max(t1 - t0, 1)


def wait_for_idle():
    """--gate-idle: before a timed run, wait (up to --gate-max-wait s per run) until the machine,
    which this process leaves idle meanwhile, is at least that idle: on a shared machine the timed
    runs then mostly see no other load."""
    if GATE["idle_pct"] <= 0:
        return
    t0 = time.perf_counter()
    time.sleep(0.2)  # let BLAS / OpenMP worker threads stop spinning
    while cpu_idle_pct(0.3) < GATE["idle_pct"] and time.perf_counter() - t0 < GATE["max_wait_s"]:
        time.sleep(1.0)
    GATE["waited_s"] += time.perf_counter() - t0


def timed(fn, warmup, reps, budget_s, before=None):
    """Runs fn warmup times, then up to reps timed times (at least 3, stopping early once
    budget_s of timed work is spent). `before` runs untimed before every call."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    times = []
    spent = 0.0
    while len(times) < reps and (len(times) < 3 or spent < budget_s):
        if before:
            before()
        wait_for_idle()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return times


def loaded_blas():
    """The BLAS / LAPACK shared objects mapped into this process (after torch's import)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if any(k in base for k in ("blas", "lapack", "mkl_rt", "libdnnl")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def jemalloc_path():
    """The jemalloc shared object of this system (Debian: libjemalloc2), or None."""
    import sysconfig
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in (f"/usr/lib/{multiarch}", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, "libjemalloc.so.2")
        if os.path.exists(p):
            return p
    return None


def allocator_in_use():
    try:
        with open("/proc/self/maps") as f:
            if "libjemalloc" in f.read():
                return "jemalloc (MALLOC_CONF=" + os.environ.get("MALLOC_CONF", "") + ")"
    except OSError:
        pass
    return "system (glibc malloc)"


def maybe_reexec_with_allocator(choice):
    """--allocator jemalloc: re-run this script with jemalloc preloaded and page purging disabled,
    so that freed tensors are reused instead of being returned to the kernel and page-faulted
    back in on every allocation (glibc mmaps every block > 32 MB)."""
    if choice == "system" or "libjemalloc" in os.environ.get("LD_PRELOAD", ""):
        return
    path = jemalloc_path()
    if path is None:
        if choice == "jemalloc":
            raise SystemExit("libjemalloc2 is not installed (bash bench/setup.sh)")
        return  # auto: fall back to the system allocator, recorded in the JSON
    env = dict(os.environ)
    env["LD_PRELOAD"] = (path + " " + env.get("LD_PRELOAD", "")).strip()
    env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def machine_info():
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(), "blas": loaded_blas(),
            "allocator": allocator_in_use()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if commit:
            info["commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def emit(record, out_file):
    try:
        # 1-minute load average when the record is written: on a shared machine, figures taken
        # under a load above the core count are contaminated by other processes.
        record = {**record, "loadavg_1m": round(os.getloadavg()[0], 2)}
    except OSError:
        pass
    if GATE["idle_pct"] > 0:
        record["gate_idle_pct"] = GATE["idle_pct"]
        record["gate_waited_s"] = round(GATE["waited_s"], 1)
    line = json.dumps(record)
    print(line, flush=True)
    if out_file:
        with open(out_file, "a") as f:
            f.write(line + "\n")


# ---------------------------------------------------------------------------------------------


def bench_sgemm(args, info):
    n = 1024
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    c = torch.empty(n, n)
    times = timed(lambda: torch.mm(a, b, out=c), args.warmup, max(args.reps, 10), args.budget)
    flops = 2.0 * n ** 3
    gf = sorted(flops / t / 1e9 for t in times)
    return {"bench": "sgemm", "n": n, "ms": summary(times),
            "gflops": {"min": round(gf[0], 2), "median": round(statistics.median(gf), 2),
                       "max": round(gf[-1], 2)}, **info}


def bench_copy(args, info):
    n = 64 * 1024 * 1024  # 256 MB of float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, generator=g)
    b = torch.randn(n, generator=g)
    c = torch.randn(n, generator=g)
    out = []
    for name, fn, nbytes in [
        ("copy", lambda: b.copy_(a), 2 * 4 * n),
        ("triad", lambda: torch.add(b, c, alpha=1.5, out=a), 3 * 4 * n),
    ]:
        times = timed(fn, args.warmup, max(args.reps, 5), args.budget)
        gbs = sorted(nbytes / t / 1e9 for t in times)
        out.append({"bench": "bandwidth", "kernel": name, "bytes": nbytes, "ms": summary(times),
                    "gbs": {"min": round(gbs[0], 2), "median": round(statistics.median(gbs), 2),
                            "max": round(gbs[-1], 2)}, **info})
    return out


def layer_cost(layer, batch, cin, cout):
    """io_bytes: the floor on memory traffic (input read once, output written once, float32).
    mix_flops: FLOPs of the per-entry channel mixes alone (each entry of each output tensor times
    its dense Cin*fixedA -> Cout*fixedB matrix, identity term), a lower bound on any schedule."""
    s = layer.space
    n_in = n_out = 0
    mix = 0
    for t in s.tensors:
        shape = s.shape(t)
        numel = math.prod(shape)
        n_in += numel * cin
        n_out += numel * cout
        fixed = math.prod(s.widths[l] for l in t.layers if not s.permuted(l))
        mix += 2 * (numel // fixed) * (fixed * cin) * (fixed * cout)
    return 4 * batch * (n_in + n_out), batch * mix


def bench_layer_one(widths, batch, args, info):
    torch.manual_seed(args.seed)
    cin, cout = args.cin, args.cout
    layer = EquivariantLayer(widths, cin, cout, args.symmetry)
    g = torch.Generator().manual_seed(args.seed + 1)
    xs = layer.space.random_features(batch, cin, generator=g)
    params = list(layer.parameters())
    io_bytes, mix_flops = layer_cost(layer, batch, cin, cout)
    rec = {"bench": "layer", "impl": "torch-reference-per-block", "symmetry": args.symmetry,
           "widths": list(widths), "depth": len(widths) - 1, "batch": batch, "cin": cin,
           "cout": cout, "blocks": len(layer.space.tensors) ** 2,
           "term_modules": layer.num_terms(),
           "basis_per_channel_pair": count_parameters_analytic(widths, 1, 1, args.symmetry),
           "params": sum(p.numel() for p in params),
           "weight_space_numel": layer.space.numel(),
           "io_bytes": io_bytes, "mix_flops": mix_flops,
           "input_grad": not args.no_input_grad}

    def fwd():
        with torch.no_grad():
            layer(xs)

    rec["forward_ms"] = summary(timed(fwd, args.warmup, args.reps, args.budget))

    if not args.forward_only:
        xg = [x.clone().requires_grad_(not args.no_input_grad) for x in xs]

        def clear():
            for p in params:
                p.grad = None
            for x in xg:
                x.grad = None

        def fwd_bwd():
            ys = layer(xg)
            loss = ys[0].sum()
            for y in ys[1:]:
                loss = loss + y.sum()
            loss.backward()

        rec["fwd_bwd_ms"] = summary(timed(fwd_bwd, args.warmup, args.reps, args.budget,
                                          before=clear))
        clear()
    for k in ("forward_ms", "fwd_bwd_ms"):
        if k in rec:
            rec[k.replace("_ms", "_ms_per_sample_median")] = round(rec[k]["median"] / batch, 6)
    rec.update(info)
    return rec


def parse_int_list(values):
    out = []
    for v in values or []:
        out += [int(x) for x in str(v).split(",") if x.strip()]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="layer", choices=["layer", "sgemm", "copy", "all"])
    ap.add_argument("--widths", nargs="+", default=None,
                    help="hidden widths to sweep (space or comma separated); MLP 2->w->..->w->1")
    ap.add_argument("--depth", nargs="+", default=None,
                    help="numbers of linear layers to sweep (default 3)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--cin", type=int, default=32)
    ap.add_argument("--cout", type=int, default=32)
    ap.add_argument("--in-dim", type=int, default=2, help="input width d_0 of the MLPs")
    ap.add_argument("--out-dim", type=int, default=1, help="output width d_M of the MLPs")
    ap.add_argument("--symmetry", default="hidden", choices=["hidden", "all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget", type=float, default=30.0,
                    help="seconds of timed work per measurement after which fewer reps are taken (min 3)")
    ap.add_argument("--max-input-mb", type=float, default=600.0,
                    help="halve the batch until the input features fit (memory of large sweeps)")
    ap.add_argument("--forward-only", action="store_true")
    ap.add_argument("--no-input-grad", action="store_true",
                    help="backward computes parameter gradients only")
    ap.add_argument("--allocator", default="auto", choices=["auto", "jemalloc", "system"],
                    help="auto (default): jemalloc without page purging when libjemalloc2 is installed, "
                         "else the system malloc; system: glibc malloc, which returns every block "
                         "> 32 MB to the kernel and page-faults it in again on the next allocation")
    ap.add_argument("--gate-idle", type=float, default=0.0, metavar="PCT",
                    help="shared machines: before each timed run wait until all CPUs are >= PCT %% idle "
                         "(0 = off; the wait is untimed and recorded as gate_waited_s)")
    ap.add_argument("--gate-max-wait", type=float, default=120.0, metavar="S",
                    help="longest wait per timed run for --gate-idle")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = ap.parse_args(argv)
    maybe_reexec_with_allocator(args.allocator)

    GATE["idle_pct"], GATE["max_wait_s"] = args.gate_idle, args.gate_max_wait
    torch.set_num_threads(args.threads)
    info = machine_info()

    if args.mode in ("sgemm", "all"):
        emit(bench_sgemm(args, info), args.out)
    if args.mode in ("copy", "all"):
        for r in bench_copy(args, info):
            emit(r, args.out)
    if args.mode in ("layer", "all"):
        widths_list = parse_int_list(args.widths) or [32]
        depths = parse_int_list(args.depth) or [3]
        for depth in depths:
            if depth < 1:
                raise SystemExit("--depth must be >= 1")
            for w in widths_list:
                widths = [args.in_dim] + [w] * (depth - 1) + [args.out_dim]
                numel = sum(widths[m] * widths[m - 1] + widths[m] for m in range(1, len(widths)))
                batch = args.batch
                while batch > 1 and batch * numel * args.cin * 4 / 1e6 > args.max_input_mb:
                    batch //= 2
                emit(bench_layer_one(widths, batch, args, info), args.out)


if __name__ == "__main__":
    main()
