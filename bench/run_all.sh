#!/usr/bin/env bash
# Runs every benchmark of bench/ and writes JSON lines into a results folder:
#   ceilings (C#: bandwidth, FMA peak), sgemm + torch copy/triad + reference layer, glibc-malloc
#   reference layer, hidden-width sweep, depth sweep, ceilings again.
# Usage: bash bench/run_all.sh [RESULTS_DIR] (default bench/results/reference-cpu; appends)
# Env: QUIET_WAIT=SECONDS (default 600): before each step, wait up to that long for the CPUs to be
#      idle (>= 90 % idle over 3 s) — the machine is shared; 0 disables the wait.
#      GATE_IDLE=PCT (default 85): bench_layer.py --gate-idle PCT (0 disables).
#      QUICK=1: fewer repetitions, no sweeps.
set -euo pipefail
cd "$(dirname "$0")/.."
R="${1:-bench/results/reference-cpu}"
mkdir -p "$R"
PY=/usr/bin/python3
QUIET_WAIT="${QUIET_WAIT:-600}"
GATE="--gate-idle ${GATE_IDLE:-85}"  # the same wait before every timed run of bench_layer.py

idle_pct() { # percentage of idle CPU time over $1 seconds, from /proc/stat
  local a b
  a=($(head -n1 /proc/stat)); sleep "$1"; b=($(head -n1 /proc/stat))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  local idle=$(( (b[4] - a[4]) + (b[5] - a[5]) ))
  echo $(( total > 0 ? 100 * idle / total : 100 ))
}

wait_quiet() {
  [ "$QUIET_WAIT" = 0 ] && return 0
  local waited=0 p
  while [ "$waited" -lt "$QUIET_WAIT" ]; do
    p=$(idle_pct 3)
    if [ "$p" -ge 90 ]; then return 0; fi
    waited=$((waited + 3))
  done
  echo "run_all.sh: machine still busy after ${QUIET_WAIT}s (idle ${p}%), measuring anyway" >&2
}

dotnet build -c Release -v q -nologo bench/Ceilings/Ceilings.csproj >/dev/null
CEIL="dotnet bench/Ceilings/bin/Release/net10.0/LayerCompiler.Bench.Ceilings.dll"
lscpu > "$R/lscpu.txt"
git rev-parse HEAD > "$R/commit.txt" 2>/dev/null || true

if [ "${QUICK:-0}" = 1 ]; then
  wait_quiet; $CEIL --budget 5 --out "$R/ceilings.jsonl"
  wait_quiet; $PY bench/torch_reference/bench_layer.py $GATE --mode all --reps 10 --out "$R/reference.jsonl"
  exit 0
fi

wait_quiet; $CEIL --budget 10 --out "$R/ceilings.jsonl"
wait_quiet; $PY bench/torch_reference/bench_layer.py $GATE --mode all --reps 20 --out "$R/reference.jsonl"
wait_quiet; $PY bench/torch_reference/bench_layer.py $GATE --allocator system --reps 5 --warmup 1 --out "$R/reference_system_malloc.jsonl"
for d in 3 5 8; do
  wait_quiet; $PY bench/torch_reference/bench_layer.py $GATE --depth "$d" --reps 10 --warmup 2 --out "$R/depth.jsonl"
done
for w in 32 64 128 256 512; do
  wait_quiet; $PY bench/torch_reference/bench_layer.py $GATE --widths "$w" --reps 5 --warmup 1 --budget 20 --out "$R/widths.jsonl"
done
wait_quiet; $CEIL --budget 10 --out "$R/ceilings.jsonl"
$PY bench/summarize.py "$R"/*.jsonl
