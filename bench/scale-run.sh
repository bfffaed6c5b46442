#!/bin/sh
# The issue-14 scale run: 1M items, 200k users, 10M synthetic interactions, 2 threads, no sample cap.
# Each step in its own process under /usr/bin/time -v (wall, user+sys CPU, max RSS), logs to $OUT.
#   1. one full two-tower epoch over all 10M positives (bench train)
#   2. the same after holding out 2,000 users' latest events, then the engine's item index (HNSW) and
#      recall@100 of the held-out items (index, exact scan, popularity)
#   3. tandem train of the two-stage engine end to end (TT_EPOCHS two-tower epochs; the default is 10)
# Usage: sh bench/scale-run.sh [OUT_DIR] [steps: 1 2 3]   e.g. sh bench/scale-run.sh /tmp/scale 3
set -eu
OUT=${1:-/tmp/tandem-scale}
shift 2>/dev/null || true
STEPS=${*:-1 2 3}
TT_EPOCHS=${TT_EPOCHS:-1}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
DATA="--synthetic --items 1000000 --users 200000 --interactions 10000000"
for s in $STEPS; do
  echo "step $s: $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/steps.log"
  case $s in
    1) /usr/bin/time -v node bin/tandem.mjs bench train $DATA --threads 2 --json "$OUT/epoch.json" > "$OUT/epoch.log" 2>&1 ;;
    2) /usr/bin/time -v node bin/tandem.mjs bench train $DATA --threads 2 --recall-users 2000 --json "$OUT/recall.json" > "$OUT/recall.log" 2>&1 ;;
    3) rm -rf "$OUT/model"
       /usr/bin/time -v node bin/tandem.mjs train $DATA --seed 1 --threads 2 --holdout 0 --param "twoTowerEpochs=$TT_EPOCHS" --out "$OUT/model" > "$OUT/train.log" 2>&1 ;;
  esac
  echo "step $s done: $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/steps.log"
done
