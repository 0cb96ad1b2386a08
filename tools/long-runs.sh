#!/usr/bin/env bash
# The project's long CPU runs (hours to days on 2 cores), as one resumable queue.
#
#   tools/long-runs.sh            # start or resume the queue in the background (nice 19), print where it stands
#   tools/long-runs.sh status     # where it stands; nothing started
#   tools/long-runs.sh stop       # stop the running step (it resumes from its last shard / epoch checkpoint)
#
# Every step is a command of the WeightTasks tool that resumes by itself when run again (zoo builds shard by shard,
# training from its per-epoch checkpoints; a finished table only re-evaluates), so stopping at any moment loses at most
# the shard or epoch in flight. Steps run one after the other; a finished step leaves runs/long-runs/STEP.done and is
# skipped. The tool is published once per queue start into runs/long-runs/bin, so rebuilding the repository does not
# disturb a running step. Logs: runs/long-runs/STEP.log. Results land where docs/results.md says.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=runs/long-runs
mkdir -p "$Q"

# Steps that finished in earlier sessions (their results and commands are in docs/results.md; the machine does not keep
# runs/ between sessions, so a later queue would rebuild them from scratch): sine-freq-zoo, sine-regress-100, inr-zoo-full,
# ablation-full-ps, ensemble-full-ps, ablation-full-hp-seed1/2, ablation-full-seed0, ablation-full-ln-seeds12,
# ablation-full, ensemble-full-ln, inr-edit-full. Dropped: cnn-zoo-full (the --full-every-epoch zoo, about 5.5 h idle;
# it had 3 of its 20 shards when runs/ was lost) and wide-aug-full-seed0 (needs the 3-hour INR zoo rebuilt).
#
# name | arguments of the WeightTasks tool (in the order they run)
STEPS=(
  "cnn-zoo-10k|classifier-zoo build --arch cnn --full-every-epoch --train-pool 7500 --out runs/cnn-zoo-10k"
  "cnn-generalization-10k|classifier-zoo generalization --zoo runs/cnn-zoo-10k --seeds 3 --train-epochs 50 --jobs 2 --out runs/cnn-generalization-10k"
  # the quick modes of the classifier-zoo tasks, timed on the otherwise idle machine (STEP.log start line → STEP.done)
  "quick-czoo-build|classifier-zoo build --arch cnn --seed 1 --out runs/quick/cnn-zoo"
  "quick-czoo-generalization|classifier-zoo generalization --zoo runs/quick/cnn-zoo --out runs/quick/cnn-generalization"
  "quick-tickets|tickets run --quick --out runs/quick/tickets"
  "quick-domain-adapt|domain-adapt run --quick --out runs/quick/domain-adapt"
  "mlp5-zoo-quick|classifier-zoo build --arch mlp5 --out runs/mlp5-quick --seed 1"
  "mlp5-generalization-50ep|classifier-zoo generalization --zoo runs/mlp5-quick --models hnp,np,statnn --seeds 3 --train-epochs 50 --jobs 2 --out runs/mlp5-generalization-50ep"
)

status() {
  for s in "${STEPS[@]}"; do
    n=${s%%|*}
    if [ -f "$Q/$n.done" ]; then st="done $(cat "$Q/$n.done")"
    elif [ -f "$Q/$n.log" ]; then st="started: $(grep -v '^\s*$' "$Q/$n.log" | tail -1 | cut -c1-110)"
    else st="waiting"; fi
    printf '%-26s %s\n' "$n" "$st"
  done
  if [ -f "$Q/queue.pid" ] && kill -0 "$(cat "$Q/queue.pid")" 2>/dev/null; then echo "queue running (pid $(cat "$Q/queue.pid"))"; else echo "queue not running"; fi
}

case "${1:-start}" in
  status) status; exit 0 ;;
  stop)
    if [ -f "$Q/queue.pid" ]; then kill -- -"$(cat "$Q/queue.pid")" 2>/dev/null || kill "$(cat "$Q/queue.pid")" 2>/dev/null || true; fi
    pkill -f "$PWD/$Q/bin/WeightTasks" 2>/dev/null || true
    echo "stopped; run tools/long-runs.sh to resume"; exit 0 ;;
  start) ;;
  run) # the queue itself (started by 'start' in the background)
    # setsid gave the queue its own scheduler autogroup, and the kernel shares the CPU fairly between autogroups
    # whatever the nice values inside them: lower the group's own weight so the queue really yields to interactive work.
    echo 19 > /proc/self/autogroup 2>/dev/null || true
    for s in "${STEPS[@]}"; do
      n=${s%%|*}; args=${s#*|}
      [ -f "$Q/$n.done" ] && continue
      echo "==> $(date -u +%FT%TZ) $n: WeightTasks $args" >> "$Q/$n.log"
      # shellcheck disable=SC2086
      if nice -n 19 "$Q/bin/WeightTasks" $args >> "$Q/$n.log" 2>&1; then
        date -u +%FT%TZ > "$Q/$n.done"
      else
        echo "==> $(date -u +%FT%TZ) $n failed (exit $?); the queue stops here: read the log, fix, rerun tools/long-runs.sh" >> "$Q/$n.log"
        exit 1
      fi
    done
    exit 0 ;;
  *) echo "usage: tools/long-runs.sh [start|status|stop]" >&2; exit 2 ;;
esac

if [ -f "$Q/queue.pid" ] && kill -0 "$(cat "$Q/queue.pid")" 2>/dev/null; then echo "already running"; status; exit 0; fi
echo "publishing the tool into $Q/bin ..."
dotnet publish samples/WeightTasks -c Release -o "$Q/bin" --nologo -v q > "$Q/publish.log" 2>&1 || { echo "publish failed: $Q/publish.log" >&2; exit 1; }
setsid nohup "$0" run > /dev/null 2>&1 &
echo $! > "$Q/queue.pid"
echo "queue started (pid $!)"
status
