#!/usr/bin/env bash
# The new hybrids of issue #26 (CHORD, ReLIFT, UFT) under study v2's protocol, budget, data, held-out and
# OOD sets and commands (docs/results-v2.md): seeds 0-2 on mixed, seed 0 on sparse and dense. Only
# `method` differs from the v2 runs; the short-run scalings of their schedules are in the v2 recipes
# (chord_mu_warmup_steps 13 / chord_mu_decay_steps 27, relift_buffer_size 4, uft_hint_steps = 60%).
# Same streams, claims, resume and pass@k as scripts/study_v2_fix.sh; raw copies go to raw-new.
#   bash scripts/study_v2_new.sh            # 2 streams
#   bash scripts/study_v2_new.sh more       # one more stream beside running ones
# One run by hand, e.g. CHORD on mixed seed 0:
#   hybridrl compare --config recipes/study/v2/mixed.yaml --seed 0 --methods chord --no-base \
#     --eval-size 200 --eval-seed 1234 --eval-task chain_sum:1 --eval-task-size 100 --eval-batch-size 64 \
#     --output-dir runs/study2new/mixed-s0
cd "$(dirname "$0")/.." || exit 1
# first, for issue #28: study v2's dense seed 0 GRPO run with int8 rollout weights (HF engine; the
# committed v2 run is fp32 on vLLM), to show whether it learns the same
q="dense:0:grpo_int8"
for seed in 0 1 2; do
  for m in chord relift uft; do
    q="$q mixed:$seed:$m"
    [ "$seed" = 0 ] && q="$q sparse:0:$m dense:0:$m"
  done
done
QUEUE="$q" OUT=${OUT:-runs/study2new} RAW=${RAW:-docs/results/v2/raw-new} exec bash scripts/study_v2_fix.sh "$@"
