#!/usr/bin/env bash
# Study v3 (issue #30, docs/results-v3.md): study v2's mixed setting at a 256-token completion budget
# (recipes/study/v3/mixed.yaml; v2: 64), for GRPO, SFT, SFT->GRPO, HPT (corrected default: one vote per
# question) and CHORD, seeds 0-2. Same streams, claims, resume, raw copies and pass@k (at 256 tokens)
# as scripts/study_v2_fix.sh; the held-out and OOD evaluations use the run's own 256-token budget.
#   bash scripts/study_v3.sh            # 2 streams
#   bash scripts/study_v3.sh more       # one more stream beside running ones
# One run by hand, e.g. GRPO seed 0:
#   hybridrl compare --config recipes/study/v3/mixed.yaml --seed 0 --methods grpo --no-base \
#     --eval-size 200 --eval-seed 1234 --eval-task chain_sum:1 --eval-task-size 100 --eval-batch-size 64 \
#     --output-dir runs/study3/mixed-s0
cd "$(dirname "$0")/.." || exit 1
q=""
for seed in 0 1 2; do
  for m in grpo sft hpt sft_then_rl chord; do q="$q mixed:$seed:$m"; done
done
QUEUE="$q" RECIPES=recipes/study/v3 PASSK_TOKENS=256 OUT=${OUT:-runs/study3} RAW=${RAW:-docs/results/v3/raw} \
  exec bash scripts/study_v2_fix.sh "$@"
