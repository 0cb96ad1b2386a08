#!/usr/bin/env bash
# Sets up the PyTorch reference benchmark on Debian (bookworm): idempotent, safe to re-run.
#   - python3-torch        Debian's PyTorch (CPU); run the benchmarks with /usr/bin/python3
#   - libopenblas0-openmp  OpenBLAS built on OpenMP; Debian's torch calls the system libblas.so.3 /
#     libopenblas0-pthread liblapack.so.3, which otherwise resolve to the reference BLAS (~4-6 GFLOP/s
#                          on a 1024^3 sgemm)
#   - libjemalloc2         allocator used by bench_layer.py (--allocator auto/jemalloc)
# and points the libblas.so.3 / liblapack.so.3 alternatives at OpenBLAS, by default the openmp
# variant: it shares torch's OpenMP (libgomp) thread pool. The pthread variant has its own worker
# threads, which spin after each call and then compete with torch's OpenMP threads for the cores:
# on 2 cores the reference layer's forward+backward took 400 ms (median; 300-500) with it against
# 120 ms with the openmp variant (bench/README.md). BLAS_VARIANT=pthread selects it anyway.
# Usage: [BLAS_VARIANT=openmp|pthread] bash bench/setup.sh [--no-check]
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup.sh: needs root (apt-get, update-alternatives)" >&2; exit 1; fi
fi

VARIANT="${BLAS_VARIANT:-openmp}"
case "$VARIANT" in openmp|pthread) ;; *) echo "setup.sh: BLAS_VARIANT must be openmp or pthread" >&2; exit 2;; esac
PACKAGES="python3-torch libopenblas0-openmp libopenblas0-pthread libjemalloc2"
missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  echo "setup.sh: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
else
  echo "setup.sh: packages already installed ($PACKAGES)"
fi

# Point libblas.so.3 and liblapack.so.3 at OpenBLAS. In "auto" mode Debian would pick the pthread
# variant (priority 100 > openmp 95 > reference 10); --set selects the wanted one (manual mode).
for lib in libblas.so.3 liblapack.so.3; do
  for name in $(update-alternatives --get-selections | awk -v l="$lib" 'index($1, l "-") == 1 {print $1}'); do
    target=$(update-alternatives --list "$name" | grep "/openblas-$VARIANT/" | head -n1 || true)
    if [ -z "$target" ]; then
      echo "setup.sh: no openblas-$VARIANT alternative for $name" >&2; exit 1
    fi
    current=$(update-alternatives --query "$name" | awk '/^Value:/ {print $2}')
    if [ "$current" != "$target" ]; then
      $SUDO update-alternatives --set "$name" "$target"
    fi
    echo "setup.sh: $name -> $target"
  done
done

if [ "${1:-}" != "--no-check" ]; then
  # The check: 1024^3 float32 matmul on 2 threads should reach tens of GFLOP/s with OpenBLAS.
  /usr/bin/python3 - <<'EOF'
import time, torch
torch.set_num_threads(2)
n = 1024
a, b = torch.randn(n, n), torch.randn(n, n)
for _ in range(3):
    a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(10))
gf = 2 * n ** 3 / best / 1e9
print(f"setup.sh: torch {torch.__version__} sgemm {n}^3: {gf:.1f} GFLOP/s (best of 10)")
if gf < 15:
    print("setup.sh: WARNING: sgemm is slow; is torch using the reference BLAS? "
          "(check: update-alternatives --display libblas.so.3-$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu))")
EOF
fi
