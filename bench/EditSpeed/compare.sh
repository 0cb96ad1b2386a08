#!/usr/bin/env bash
# Paired old-vs-new timing of `WeightTasks inr-edit train` (1 epoch, one model per run), interleaved in one go.
# Usage: bench/EditSpeed/compare.sh BASE_COMMIT REPEATS ZOO   (ZOO: a Fashion-MNIST INR zoo, e.g. runs/fashion-zoo built by
#   `WeightTasks inr-zoo build --out runs/fashion-zoo --per-split 1000 --steps 400 --shard-size 250`)
# Builds BASE_COMMIT (git archive into /tmp/editspeed-base) and this tree's samples/WeightTasks and bench/EditSpeed in
# Release, then for each repeat and model runs old, then new, and prints wall seconds; then the per-phase profile
# (bench/EditSpeed profile: steady-state µs per training INR) old and new, interleaved.
set -euo pipefail
base=${1:?base commit}; reps=${2:?repeats}; zoo=${3:?zoo directory}
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
old=${TMPDIR:-/tmp}/editspeed-base
if [ ! -f "$old/.commit" ] || [ "$(cat "$old/.commit")" != "$base" ]; then
  rm -rf "$old"; mkdir -p "$old"; git -C "$root" archive "$base" | tar -x -C "$old"; echo "$base" > "$old/.commit"
fi
# The profiler of this tree, built against the base's sources (it only uses what both have).
rm -rf "$old/bench/EditSpeed"; cp -r "$root/bench/EditSpeed" "$old/bench/EditSpeed"; rm -rf "$old/bench/EditSpeed/bin" "$old/bench/EditSpeed/obj"
sed -i 's/, reference: args\[0\] == "profile-reference")/)/' "$old/bench/EditSpeed/Program.cs"
rm "$old/bench/EditSpeed/RenderBench.cs"; sed -i '/RenderBench.Run/d' "$old/bench/EditSpeed/Program.cs"
for d in "$old" "$root"; do
  dotnet build "$d/samples/WeightTasks" -c Release -v q -nologo | grep -E "rror\(s\)"
  dotnet build "$d/bench/EditSpeed" -c Release -v q -nologo | grep -E "rror\(s\)"
done
uptime
out=$(mktemp -d)
for r in $(seq 1 "$reps"); do
  for m in hidden pointwise mlp all hidden,pointwise,mlp,all; do
    for v in old new; do
      d=$([ $v = old ] && echo "$old" || echo "$root")
      rm -rf "$out/$v-$m"
      s=$(date +%s.%N)
      dotnet "$d/samples/WeightTasks/bin/Release/net10.0/WeightTasks.dll" inr-edit train --zoo "$zoo" --models $m --seeds 0 --epochs 1 --out "$out/$v-$m" > "$out/$v-$m.log" 2>&1
      e=$(date +%s.%N)
      mse=$(grep -o "test MSE [0-9.]*" "$out/$v-$m.log" | tr '\n' ' ')
      printf "run %s %-28s %s %.2f s  (%s)\n" "$r" "$m" "$v" "$(echo "$e - $s" | bc)" "$mse"
    done
  done
done
uptime
for r in $(seq 1 "$reps"); do
  for v in old new; do
    d=$([ $v = old ] && echo "$old" || echo "$root")
    echo "profile $r $v"; dotnet "$d/bench/EditSpeed/bin/Release/net10.0/LayerCompiler.Bench.EditSpeed.dll" profile "$zoo" mlp,hidden,pointwise,mlp,all | sed -n '3,$p' | grep "train step"
  done
done
uptime
rm -rf "$out"
