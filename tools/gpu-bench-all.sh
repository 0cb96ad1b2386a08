#!/usr/bin/env bash
# One run on a GPU machine (NVIDIA driver, Python with PyTorch, no .NET): the GPU checks and benchmarks of both CUDA
# backends (the NVRTC kernels and the ILGPU kernels, from the published gpu-check) and PyTorch eager/torch.compile of the
# same layer, merged into one JSON report. Prints results as it goes; each step has its own time limit (together 460 s)
# so the whole run stays under 8 minutes including compilation (NVRTC, ILGPU's PTX, torch.compile).
#
#   tools/publish-gpu-check.sh                     # on a machine with .NET: → .device-carry/gpu-check (< 64 MiB)
#   tools/gpu-bench-all.sh [--require-gpu] [--out DIR] [--gpu-check PATH] [--quick]
#
# Exit codes: 0 = every step passed (or no GPU and no --require-gpu: SKIP); 1 = a check, benchmark or step failed;
# 2 = --require-gpu and no usable GPU (SKIP is printed with the reason), or bad arguments.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-"$root/gpu-report"}
gpucheck="$root/.device-carry/gpu-check/GpuCheck"
require=""
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --require-gpu) require="--require-gpu" ;;
    --out) out="$2"; shift ;;
    --gpu-check) gpucheck="$2"; shift ;;
    --quick) quick=1 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "gpu-bench-all: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
[ -x "$gpucheck" ] || { echo "gpu-bench-all: $gpucheck not found: run tools/publish-gpu-check.sh first" >&2; exit 2; }
start=$(date +%s)
status=0
elapsed() { echo $(( $(date +%s) - start )); }

runs=20; warmup=3
[ "$quick" = 1 ] && { runs=5; warmup=1; }

# 1. Both CUDA backends (NVRTC and ILGPU), in five gpu-check runs so that a run over its limit loses only its own part:
#    checks (each kernel against the C# kernels), NVRTC timings, ILGPU timings, training, INR fitting on ILGPU.
parts=()
run_part() {   # name, time limit (s), gpu-check arguments...
  local name=$1 limit=$2; shift 2
  echo "== [$(elapsed) s] gpu-check $name (limit ${limit} s)"
  timeout "$limit" "$gpucheck" $require --runs "$runs" --warmup "$warmup" --out "$out/gpu-check-$name.json" "$@"
  local rc=$?
  if [ $rc -eq 2 ]; then echo "SKIP: no usable GPU (see the gpu-check line above); nothing else was run"; exit 2; fi
  if grep -q '"status": *"skipped"' "$out/gpu-check-$name.json" 2>/dev/null; then echo "SKIP: no usable GPU; nothing else was run"; exit 0; fi
  if [ $rc -ne 0 ]; then echo "gpu-bench-all: gpu-check $name exited $rc (124: over its limit)"; status=1; fi
  parts+=("gpu-check-$name")
}
run_part checks 100 --no-bench --only device-info,layer-siren32-32x32,inr-network-siren32,ilgpu-device,ilgpu-layer-siren32-1x32,ilgpu-layer-siren32-32x32,ilgpu-layer-cnn-16x16,ilgpu-inr-network-siren32,ilgpu-train-step
run_part nvrtc 70 --only d2d-copy-bandwidth,layer-siren32-fwd,layer-siren32-fwdbwd,layer-width-sweep
run_part ilgpu 80 --only d2d-copy-bandwidth,ilgpu-layer-siren32-fwd,ilgpu-layer-siren32-fwdbwd,ilgpu-layer-width-sweep,ilgpu-inr-gradient-throughput
run_part train 70 --only ilgpu-train-epoch,train-throughput
# INR fitting on ILGPU: the fitter against the CPU fitter, then its throughput (4096 SIRENs, 100 steps each). Its 40 s
# come from the ILGPU timings (90 → 80 s) and PyTorch (eager 40 → 30 s, torch.compile 90 → 70 s): still 460 s in all.
run_part ilgpu-inr 40 --only ilgpu-inr-fit-siren32,ilgpu-inr-fit-throughput

# 2. PyTorch on the same device: the same layer, eager and torch.compile, same sizes and byte counts.
if command -v python3 >/dev/null && python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "== [$(elapsed) s] PyTorch eager"
  timeout 30 python3 "$root/bench/gpu/torch_layer_gpu.py" --impl eager --runs "$runs" --warmup "$warmup" --out "$out/torch-eager.json" || { echo "gpu-bench-all: torch eager failed or timed out"; status=1; }
  echo "== [$(elapsed) s] PyTorch torch.compile"
  timeout 70 python3 "$root/bench/gpu/torch_layer_gpu.py" --impl compile --runs "$runs" --warmup "$warmup" --out "$out/torch-compile.json" || { echo "gpu-bench-all: torch.compile failed or timed out"; status=1; }
else
  echo "gpu-bench-all: no PyTorch with CUDA here; the torch comparison is left out"
fi

# 3. One report: every part's JSON under its name, plus the ILGPU / NVRTC ratios the decision rule reads (docs/gpu.md).
echo "== [$(elapsed) s] merging into $out/report.json"
python3 - "$out" <<'PY' || { echo "gpu-bench-all: merge failed"; status=1; }
import json, os, sys
out = sys.argv[1]
report = {"schema": 1, "parts": {}}
for name in ("gpu-check-checks", "gpu-check-nvrtc", "gpu-check-ilgpu", "gpu-check-train", "gpu-check-ilgpu-inr", "torch-eager", "torch-compile"):
    p = os.path.join(out, name + ".json")
    if os.path.exists(p):
        with open(p) as f:
            text = f.read().strip()
        try:
            report["parts"][name] = json.loads(text)
        except json.JSONDecodeError:
            report["parts"][name] = [json.loads(l) for l in text.splitlines() if l.strip()]
bench = {}
for name, part in report["parts"].items():
    if name.startswith("gpu-check") and isinstance(part, dict):
        for b in part.get("benchmarks", []):
            bench[b["name"]] = b
ratios = {}
for nv, il in (("layer-siren32-fwd", "ilgpu-layer-siren32-fwd"), ("layer-siren32-fwdbwd", "ilgpu-layer-siren32-fwdbwd")):
    if nv in bench and il in bench and bench[nv].get("value") and bench[il].get("value"):
        ratios[il + "/" + nv] = bench[il]["value"] / bench[nv]["value"]
report["ilgpu_vs_nvrtc_time_ratio"] = ratios
report["rule"] = "ILGPU within 1.25x of NVRTC (ratio <= 1.25 on forward and forward+backward) -> remove the NVRTC path"
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f, indent=1)
for k, v in ratios.items():
    print(f"  {k}: {v:.2f}x {'(within 1.25x)' if v <= 1.25 else '(slower than 1.25x)'}")
PY
echo "== [$(elapsed) s] done: $out/report.json (status $status)"
exit $status
