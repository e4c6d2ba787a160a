#!/usr/bin/env bash
# The study of docs/results.md (issue #7): every method on the dense and the sparse setting,
# 2 seeds for the main sparse comparison (grpo, hpt, superrl, sasr).
#
# Each setting is reproduced by ONE command, the `report` lines at the bottom:
#   hybridrl compare --config recipes/study/<setting>.yaml --seed S --methods ... (+ eval flags)
# This script reaches the same result faster on 2 cores: it runs the methods one `compare`
# call at a time (each trained and evaluated at once, so a cut-off study keeps what finished)
# in two parallel streams of 1 thread each, then runs the full commands, which find every
# run and evaluation done and only write the reports. Resumable: start it again and finished
# runs/evaluations are skipped, half-finished runs resume from their last checkpoint.
#   bash scripts/study.sh          (2-3 h on a 2-core CPU without AVX2)
set -uo pipefail
HY=${HY:-.venv/bin/hybridrl}
OUT=${OUT:-runs/study}
ALL=sft,grpo,dr_grpo,sft_then_rl,hpt,superrl,sasr,luffy,auto
MAIN=grpo,hpt,superrl,sasr
EVAL=(--eval-size 200 --eval-seed 1234 --eval-task basic_arithmetic:1 --eval-task-size 50 --eval-batch-size 32)

run() {  # run SETTING SEED METHODS [compare flags]
  $HY compare --config "recipes/study/$1.yaml" "${EVAL[@]}" --seed "$2" --methods "$3" \
      --output-dir "$OUT/$1-s$2" "${@:4}"
}
stream() {  # stream SETTING:SEED:METHOD ... (the base model is evaluated by the report commands below)
  for item in "$@"; do
    IFS=: read -r setting seed method <<< "$item"
    echo "=== $(date +%T) $setting seed $seed $method"
    run "$setting" "$seed" "$method" --no-base || echo "!!! $setting seed $seed $method failed"
  done
}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
stream sparse:0:grpo sparse:0:hpt sparse:0:superrl sparse:0:sasr sparse:0:sft sparse:0:sft_then_rl \
       sparse:1:grpo sparse:1:hpt sparse:0:dr_grpo sparse:0:auto sparse:0:luffy > "$OUT/stream-a.log" 2>&1 &
stream dense:0:grpo dense:0:hpt dense:0:superrl dense:0:sft dense:0:sasr dense:0:sft_then_rl \
       sparse:1:superrl sparse:1:sasr dense:0:dr_grpo dense:0:auto dense:0:luffy > "$OUT/stream-b.log" 2>&1 &
wait
# the reports: one command per setting (everything is found done; base is evaluated in -s0)
unset OMP_NUM_THREADS
run dense 0 "$ALL"  > "$OUT/dense-s0.log" 2>&1
run sparse 0 "$ALL" > "$OUT/sparse-s0.log" 2>&1
run sparse 1 "$MAIN" --no-base > "$OUT/sparse-s1.log" 2>&1
# extra runs of docs/results.md: dense seed 1 (sft, grpo, hpt) and the sparse setting at 24 steps
export OMP_NUM_THREADS=1
for m in grpo hpt sft; do run dense 1 "$m" --no-base >> "$OUT/dense-s1.log" 2>&1; done &
$HY compare --config recipes/study/sparse.yaml "${EVAL[@]}" --seed 0 --steps 24 --methods sft,hpt --no-base \
    --output-dir "$OUT/long-sparse-s0" > "$OUT/long-sparse-s0.log" 2>&1 &
wait
echo "study done: $OUT"
