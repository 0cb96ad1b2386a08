#!/usr/bin/env python3
"""Writes the PyTorch fixtures read by PyTorchStateDictTests.

Run from this directory with a Python that has torch (e.g. Debian's python3-torch):
    /usr/bin/python3 make_fixture.py

The safetensors files are written by the small writer below (struct + json), so the `safetensors`
package is not needed. Outputs:
  torch_mlp.safetensors         one nn.Sequential(Linear(2,3), ReLU, Linear(3,1)) held as `self.seq`
                                (keys seq.0.weight, seq.0.bias, seq.2.weight, seq.2.bias), the evaluation
                                points `points` [P, 2] and torch's outputs `outputs` [P, 1].
  torch_mlp_zoo.safetensors     three such networks stacked along a leading batch dimension
                                (seq.0.weight [3, 3, 2], ...), `points` [P, 2] and `outputs` [3, P, 1].
"""
import json
import os
import struct

import torch
from torch import nn


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: F32 tensors, sorted names, header padded with spaces to 8 bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        values = t.reshape(-1).tolist()
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - (8 + len(raw)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))

    def forward(self, x):
        return self.seq(x)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(1234)
    # Points spread over [-2, 2]^2 so that every ReLU is seen on and off.
    points = torch.tensor([[x / 2.0, y / 3.0] for x in range(-4, 5, 2) for y in range(-6, 7, 3)], dtype=torch.float32)
    meta = {"generator": "make_fixture.py", "torch": torch.__version__}

    with torch.no_grad():
        net = Mlp()
        for p in net.parameters():  # larger weights than the default init, so the outputs vary a lot
            p.mul_(2.0)
        state = dict(net.state_dict())
        state["points"] = points
        state["outputs"] = net(points)
        write_safetensors(os.path.join(here, "torch_mlp.safetensors"), state, meta)

        nets = [Mlp() for _ in range(3)]
        zoo = {k: torch.stack([n.state_dict()[k] for n in nets]) for k in nets[0].state_dict()}
        zoo["points"] = points
        zoo["outputs"] = torch.stack([n(points) for n in nets])
        write_safetensors(os.path.join(here, "torch_mlp_zoo.safetensors"), zoo, meta)


if __name__ == "__main__":
    main()
