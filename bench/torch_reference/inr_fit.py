#!/usr/bin/env python3
"""PyTorch reference of INR fitting, to compare with LayerCompiler's fitters at equal work.

The same problem as `WeightTasks inr-zoo bench` (Runtime/InputNetworks/InrFitter.cs) and gpu-check's
`inr-fit-throughput` (CudaInrFitter): one SIREN 2->H->H->1 per Fashion-MNIST training image
(the first --count images), sin(omega0 * (W h + b)) hidden layers, a linear last layer plus 0.5,
the protocol's initialization (sine layers U(+-sqrt(6/fan_in)/omega0) with zero biases, the last
layer U(+-1/sqrt(fan_in))), the 28 x 28 grid on [-1, 1]^2 (x along columns), full-batch MSE,
Adam lr 5e-4 (betas 0.9/0.999, eps 1e-8), --steps steps, no early stop.

Written as a PyTorch user would batch it: every INR's parameters stacked into [count, ...] leaf
tensors, the layers as batched matmuls (torch.baddbmm), loss = sum over INRs of each INR's MSE (so
each INR gets exactly its own gradient), one torch.optim.Adam over the stacked tensors (elementwise,
so identical to one Adam per INR). --impl compile wraps the loss in torch.compile (PyTorch >= 2).

Reported (one JSON line on stdout, appended to --out FILE): INR-steps/s min / median / max over
--repeats timed runs after one untimed warm-up run (each run starts from the same initialization),
and the mean and 5th-percentile PSNR of the fitted INRs (a cross-check that both implementations fit
the same problem: compare with `inr-zoo bench`'s PSNR line on the same images).

  --selftest   the batched fit equals fitting each INR on its own (per-INR tensors and Adam)

Examples:
  /usr/bin/python3 bench/torch_reference/inr_fit.py --selftest
  /usr/bin/python3 bench/torch_reference/inr_fit.py --count 256 --steps 300 --repeats 5
  python3 bench/torch_reference/inr_fit.py --device cuda --synthetic --count 16384 --steps 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import struct
import sys
import time

import torch

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist/"
OMEGA0 = 30.0
OUTPUT_OFFSET = 0.5


def load_images(data_dir: str, count: int) -> torch.Tensor:
    """The first `count` Fashion-MNIST training images as [count, 784] floats in [0, 1] (pixel / 255)."""
    path = os.path.join(data_dir, "train-images-idx3-ubyte.gz")
    if not os.path.isfile(path):
        sys.exit(f"inr_fit: {path} not found (install the Debian package dataset-fashion-mnist or pass --data DIR)")
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803 or rows != 28 or cols != 28:
            sys.exit(f"inr_fit: {path} is not a 28x28 IDX image file (magic {magic:#x}, {rows}x{cols})")
        if count > n:
            sys.exit(f"inr_fit: --count {count} exceeds the {n} training images")
        raw = f.read(count * rows * cols)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(count, rows * cols).float() / 255.0


def smooth_images(count: int, points: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """[count, P] smooth images in [0, 1] on the grid, 0.5 + 0.4 sin(a x + phi) cos(b y) (gpu-check's targets, for a
    machine without the dataset; throughput does not depend on what is fitted)."""
    r = torch.rand(count, 3, generator=generator, dtype=torch.float64)
    a, b, phi = 1 + 3 * r[:, :1], 1 + 3 * r[:, 1:2], 6.28 * r[:, 2:]
    x, y = points[:, 0].double().unsqueeze(0), points[:, 1].double().unsqueeze(0)
    return (0.5 + 0.4 * torch.sin(a * x + phi) * torch.cos(b * y)).float()


def image_grid(height: int = 28, width: int = 28) -> torch.Tensor:
    """[height*width, 2] points, row-major, (x, y) = (linspace over columns, linspace over rows) on [-1, 1]."""
    ys = torch.linspace(-1.0, 1.0, height, dtype=torch.float64)
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).float()


def init_params(count: int, width: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Stacked SIREN parameters [W1, b1, W2, b2, W3, b3], each [count, ...], protocol initialization."""
    def uniform(shape, bound):
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul_(bound).float()

    w1 = uniform((count, width, 2), math.sqrt(6.0 / 2) / OMEGA0)
    b1 = torch.zeros(count, width)
    w2 = uniform((count, width, width), math.sqrt(6.0 / width) / OMEGA0)
    b2 = torch.zeros(count, width)
    w3 = uniform((count, 1, width), 1.0 / math.sqrt(width))
    b3 = uniform((count, 1), 1.0 / math.sqrt(width))
    return [w1, b1, w2, b2, w3, b3]


def per_inr_mse(params, points, targets):
    """[count] MSE of each INR over the points: the batched SIREN forward."""
    w1, b1, w2, b2, w3, b3 = params
    pts = points.unsqueeze(0).expand(w1.shape[0], -1, -1)                        # [B, P, 2]
    h = torch.sin(OMEGA0 * torch.baddbmm(b1.unsqueeze(1), pts, w1.transpose(1, 2)))
    h = torch.sin(OMEGA0 * torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2)))
    out = torch.baddbmm(b3.unsqueeze(1), h, w3.transpose(1, 2)).squeeze(-1) + OUTPUT_OFFSET
    return ((out - targets) ** 2).mean(dim=1)


def fit(init, points, targets, steps, lr, loss_fn):
    """Fits every INR for `steps` Adam steps from copies of `init`; returns the parameters."""
    params = [p.clone().requires_grad_(True) for p in init]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(params, points, targets).sum()
        loss.backward()
        opt.step()
    return params


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def selftest(device):
    """Batched fitting == fitting each INR alone (its own tensors and Adam), and the loss goes down."""
    gen = torch.Generator().manual_seed(7)
    count, width, steps = 3, 16, 25
    points = image_grid().to(device)
    targets = torch.rand(count, 784, generator=gen).to(device)
    init = [p.to(device) for p in init_params(count, width, gen)]
    before = per_inr_mse(init, points, targets)
    batched = fit(init, points, targets, steps, 5e-4, per_inr_mse)
    after = per_inr_mse([p.detach() for p in batched], points, targets)
    worst = 0.0
    for i in range(count):
        alone = fit([p[i:i + 1] for p in init], points, targets[i:i + 1], steps, 5e-4, per_inr_mse)
        for pb, pa in zip(batched, alone):
            diff = (pb.detach()[i:i + 1] - pa.detach()).abs().max().item()
            scale = pa.detach().abs().max().item()
            worst = max(worst, diff / max(scale, 1e-12))
    ok_equal = worst <= 1e-4
    ok_down = bool((after < before).all())
    print(f"selftest: batched vs per-INR fit, {count} INRs x {steps} steps: largest relative parameter difference "
          f"{worst:.2e} (limit 1e-4) {'ok' if ok_equal else 'FAILED'}; MSE went down for every INR: "
          f"{'ok' if ok_down else 'FAILED'}")
    return 0 if ok_equal and ok_down else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=64, help="INRs fitted at once (the first COUNT training images)")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps per INR")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs after one untimed warm-up run")
    ap.add_argument("--width", type=int, default=32, help="hidden width H of the SIREN 2->H->H->1")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: one per logical CPU)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--impl", choices=["eager", "compile"], default="eager")
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory of the Fashion-MNIST .gz files")
    ap.add_argument("--synthetic", action="store_true",
                    help="fit smooth synthetic images instead of Fashion-MNIST (machines without the dataset)")
    ap.add_argument("--seed", type=int, default=0, help="initialization seed")
    ap.add_argument("--out", help="also append the JSON line to this file")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv)

    for name in ("count", "steps", "repeats", "width"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name} must be positive, got {getattr(a, name)}")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("inr_fit: --device cuda but torch.cuda.is_available() is False")
    if device.type == "cpu":
        torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    if a.selftest:
        return selftest(device)

    loss_fn = per_inr_mse
    if a.impl == "compile":
        if not hasattr(torch, "compile"):
            sys.exit(f"inr_fit: --impl compile needs PyTorch >= 2 (this is {torch.__version__})")
        loss_fn = torch.compile(per_inr_mse)

    points = image_grid()
    targets = (smooth_images(a.count, points, torch.Generator().manual_seed(a.seed + 1)) if a.synthetic
               else load_images(a.data, a.count)).to(device)
    points = points.to(device)
    init = [p.to(device) for p in init_params(a.count, a.width, torch.Generator().manual_seed(a.seed))]

    rates, seconds, params = [], [], None
    for run in range(a.repeats + 1):
        synchronize(device)
        t0 = time.perf_counter()
        params = fit(init, points, targets, a.steps, a.lr, loss_fn)
        synchronize(device)
        dt = time.perf_counter() - t0
        rate = a.count * a.steps / dt
        print(f"  {'warm-up' if run == 0 else f'run {run}'}: {dt:.2f} s, {rate:.0f} INR-steps/s", file=sys.stderr)
        if run > 0:
            rates.append(rate)
            seconds.append(dt)
    with torch.no_grad():
        mse = per_inr_mse([p.detach() for p in params], points, targets).double().cpu()
    psnr = sorted((10.0 * math.log10(1.0 / m) if m > 0 else float("inf")) for m in mse.tolist())
    rates.sort()
    rec = {
        "bench": "inr_fit", "impl": a.impl, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "targets": "synthetic" if a.synthetic else "fashion-mnist", "count": a.count, "steps": a.steps, "width": a.width, "repeats": a.repeats,
        "inr_steps_per_s": {"min": round(rates[0], 1), "median": round(statistics.median(rates), 1), "max": round(rates[-1], 1)},
        "inrs_per_s_median": round(statistics.median(rates) / a.steps, 3),
        "seconds_median": round(statistics.median(seconds), 4),
        "psnr_mean": round(statistics.fmean(psnr), 3), "psnr_p5": round(psnr[int(0.05 * (len(psnr) - 1))], 3),
    }
    line = json.dumps(rec)
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
