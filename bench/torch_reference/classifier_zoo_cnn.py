#!/usr/bin/env python3
"""PyTorch reference of classifier-zoo training, one network at a time, to compare with LayerCompiler's batched zoo trainer.

The network is the Small CNN Zoo's CNN as Tasks/ClassifierZoo/ZooArchitectures.cs declares it: Conv 1->16 3x3 stride 2
-> act -> Conv 16->16 3x3 s2 -> act -> Conv 16->16 3x3 s2 -> act -> global average pooling -> Dense 16->10 (4,970
parameters; valid padding; 28x28 -> 13x13 -> 6x6 -> 2x2). Each network is trained the way a PyTorch user trains a zoo
without batching networks: a loop over networks, each with its own model, optimizer and data order; softmax
cross-entropy, batch 32, the network's optimizer (SGD / Adam / RMSprop, lr, L2 as weight_decay) drawn like the zoo's
(log-uniform lr in [5e-4, 5e-2], L2 in [1e-8, 1e-2]), dropout on the pooled features, a training fraction of the pool.

Measured: network-epochs/s, one network-epoch = --pool images (the zoo's "pool epoch"), compared with
  dotnet bench/ClassifierZoo/bin/Release/net10.0/LayerCompiler.Bench.ClassifierZoo.dll throughput --networks N --epochs E --pool P
(the same quantity, test evaluation of 100 images included there; here --test images per network are evaluated too).
Reported as one JSON line (min / median / max over --repeats timed runs after one warm-up network; the peak resident set
of the process in MiB).

Needs torch and Fashion-MNIST (/usr/share/datasets/fashion-mnist, `apt-get install -y dataset-fashion-mnist`);
--synthetic uses random images instead.

  /usr/bin/python3 bench/torch_reference/classifier_zoo_cnn.py --networks 8 --epochs 1 --pool 640 --repeats 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import resource
import statistics
import struct
import time


def load_images(path: str, count: int):
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and rows == 28 and cols == 28, f"{path}: not a 28x28 IDX image file"
        data = f.read(count * 784)
    return data


def load_labels(path: str, count: int):
    with gzip.open(path, "rb") as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 0x801, f"{path}: not an IDX label file"
        return f.read(count)


def main() -> int:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    p = argparse.ArgumentParser()
    p.add_argument("--networks", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--pool", type=int, default=640)
    p.add_argument("--test", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    random.seed(0)
    if a.synthetic:
        x = torch.rand(a.pool, 1, 28, 28)
        y = torch.randint(0, 10, (a.pool,))
        xt = torch.rand(a.test, 1, 28, 28)
        yt = torch.randint(0, 10, (a.test,))
    else:
        def images(name, n):
            return torch.frombuffer(bytearray(load_images(os.path.join(a.data, name), n)), dtype=torch.uint8).float().div(255).view(n, 1, 28, 28)

        def labels(name, n):
            return torch.frombuffer(bytearray(load_labels(os.path.join(a.data, name), n)), dtype=torch.uint8).long()

        x, y = images("train-images-idx3-ubyte.gz", a.pool), labels("train-labels-idx1-ubyte.gz", a.pool)
        xt, yt = images("t10k-images-idx3-ubyte.gz", a.test), labels("t10k-labels-idx1-ubyte.gz", a.test)

    class Cnn(nn.Module):
        def __init__(self, act, dropout):
            super().__init__()
            self.c1 = nn.Conv2d(1, 16, 3, stride=2)
            self.c2 = nn.Conv2d(16, 16, 3, stride=2)
            self.c3 = nn.Conv2d(16, 16, 3, stride=2)
            self.fc = nn.Linear(16, 10)
            self.act = act
            self.drop = nn.Dropout(dropout)

        def forward(self, v):
            v = self.act(self.c1(v))
            v = self.act(self.c2(v))
            v = self.act(self.c3(v))
            return self.fc(self.drop(v.mean(dim=(2, 3))))

    assert sum(t.numel() for t in Cnn(torch.relu, 0).parameters()) == 4970

    def train_one(seed: int):
        r = random.Random(seed)
        lr = math.exp(r.uniform(math.log(5e-4), math.log(5e-2)))
        l2 = math.exp(r.uniform(math.log(1e-8), math.log(1e-2)))
        net = Cnn(torch.relu if r.random() < 0.5 else torch.tanh, r.uniform(0, 0.5))
        opt = [torch.optim.SGD, torch.optim.Adam, torch.optim.RMSprop][r.randrange(3)](net.parameters(), lr=lr, weight_decay=l2)
        subset = torch.randperm(a.pool)[: max(a.batch, math.ceil(r.uniform(0.1, 1) * a.pool))]
        steps = a.epochs * (a.pool // a.batch)
        order, k = subset[torch.randperm(len(subset))], 0
        net.train()
        for _ in range(steps):
            if k + a.batch > len(order):
                order, k = subset[torch.randperm(len(subset))], 0
            idx = order[k : k + a.batch]
            k += a.batch
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            return (net(xt).argmax(1) == yt).float().mean().item()

    train_one(12345)  # warm-up
    rates, cpu = [], []
    for rep in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for n in range(a.networks):
            train_one(rep * 100000 + n)
        rates.append(a.networks * a.epochs / (time.perf_counter() - t0))
        # CPU seconds of the process (all threads, OpenMP's spin-waiting included) per network-epoch: on an oversubscribed
        # machine it moves far less than the wall time.
        cpu.append((time.process_time() - c0) / (a.networks * a.epochs))
    print(json.dumps({
        "bench": "classifier_zoo_cnn_torch_one_at_a_time", "networks": a.networks, "epochs": a.epochs, "pool": a.pool,
        "batch": a.batch, "test": a.test, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "network_epochs_per_s": {"min": min(rates), "median": statistics.median(rates), "max": max(rates)},
        "cpu_s_per_network_epoch": {"min": min(cpu), "median": statistics.median(cpu), "max": max(cpu)},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
