#!/usr/bin/env bash
# Study v2 (issue #16, docs/results-v2.md): sparse / mixed / dense settings on SmolLM2-135M,
# 40 steps x 4 prompts x 4 completions = 640 rollouts per run, 3 seeds for the main methods
# (2 for SASR, LUFFY and dense as the issue's minimum; a third for those at the end of the queue).
#
# Every run is one `hybridrl compare` call for one method (trained, then evaluated on the shared
# held-out set of 200 questions, eval seed 1234, and the out-of-distribution set), so a study cut
# off by the end of a session keeps every finished run, and a half-finished run resumes from its
# last checkpoint (compare resumes it). Streams claim the next unfinished run from one ordered
# queue (most important first: seed 0 of every method, then seeds 1 and 2), so starting this
# script again carries on where it stopped:
#   bash scripts/study_v2.sh            # STREAMS=2 parallel streams of 1 thread each
#   bash scripts/study_v2.sh report     # the base model on the same held-out and OOD questions
#   bash scripts/study_v2.sh passk      # pass@k (k = 1, 4, 8) of the final models (sparse, mixed)
# The queue is the same command each time: to reproduce one run by hand, e.g.
#   hybridrl compare --config recipes/study/v2/mixed.yaml --seed 0 --methods hpt --no-base \
#     --eval-size 200 --eval-seed 1234 --eval-task <ood> --eval-task-size 100 --output-dir runs/study2/mixed-s0
# Finished runs' metrics and evals are copied to docs/results/v2/raw (checkpoints are not).
set -uo pipefail
cd "$(dirname "$0")/.."
HY=${HY:-.venv-vllm/bin/hybridrl}       # the vLLM engine (make install-vllm); HY=.venv/bin/hybridrl + rollout_engine=hf works too
OUT=${OUT:-runs/study2}
RAW=${RAW:-docs/results/v2/raw}
STREAMS=${STREAMS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}

ood() {  # the out-of-distribution set of a setting
  case $1 in
    sparse|dense) echo "basic_arithmetic:1" ;;
    mixed) echo "chain_sum:1" ;;   # the training task of dense
  esac
}
eval_flags() {
  echo --eval-size 200 --eval-seed 1234 --eval-task "$(ood "$1")" --eval-task-size 100 --eval-batch-size 64
}

# The queue, most important first. SETTING:SEED:METHOD.
MAIN_SM="grpo sft sft_then_rl hpt superrl"       # 3 seeds on sparse and mixed
EXTRA_SM="sasr luffy"                           # 2 seeds
DENSE="grpo sft hpt superrl auto"               # 2 seeds
queue() {
  { echo sparse:0:grpo; echo dense:0:grpo; echo dense:0:hpt   # GRPO stalls? and #17's vLLM-trains-like-HF check
  for seed in 0 1 2; do
    for setting in sparse mixed; do
      for m in $MAIN_SM; do echo "$setting:$seed:$m"; done
      if [ "$seed" -lt 2 ]; then for m in $EXTRA_SM; do echo "$setting:$seed:$m"; done; fi
    done
    if [ "$seed" -lt 2 ]; then for m in $DENSE; do echo "dense:$seed:$m"; done; fi
  done
  # beyond the issue's minimum (>= 2 seeds elsewhere), where a session has the time: a third seed
  # for dense (its two seeds disagreed on GRPO: 50.0 vs 72.0), then for SASR and LUFFY
  for m in $DENSE; do echo "dense:2:$m"; done
  for setting in sparse mixed; do for m in $EXTRA_SM; do echo "$setting:2:$m"; done; done
  } | awk '!seen[$0]++'   # the three runs put first are not listed again
}

done_run() { [ -f "$OUT/$1-s$2/evals/$3.json" ] || [ -f "$RAW/$1-s$2/evals/$3.json" ]; }  # RAW: runs of an earlier machine

copy_raw() {  # copy_raw SETTING SEED METHOD: metrics, config, evals (no checkpoints)
  local src="$OUT/$1-s$2" dst="$RAW/$1-s$2"
  mkdir -p "$dst/$3" "$dst/evals"
  for f in config.yaml metrics.jsonl eval.jsonl summary.json group_accuracy.jsonl; do
    [ -f "$src/$3/$f" ] && cp "$src/$3/$f" "$dst/$3/$f"
  done
  cp "$src/evals/$3.json" "$dst/evals/$3.json"
  rm -f "$src/$3"/checkpoints/*/optimizer.pt   # 1 GB each; the final model (pass@k) stays
}

stream() {  # one stream: claim and run unfinished items in queue order
  local id=$1
  for item in $(queue); do
    IFS=: read -r setting seed method <<< "$item"
    done_run "$setting" "$seed" "$method" && continue
    mkdir "$OUT/.claims/$item" 2>/dev/null || continue     # another stream has it
    echo "=== $(date -u +%FT%TZ) stream $id: $setting seed $seed $method"
    # shellcheck disable=SC2046
    if $HY compare --config "recipes/study/v2/$setting.yaml" --seed "$seed" --methods "$method" --no-base \
         $(eval_flags "$setting") --output-dir "$OUT/$setting-s$seed" >> "$OUT/logs/$setting-s$seed-$method.log" 2>&1; then
      copy_raw "$setting" "$seed" "$method"
      # pass@k at once: a session's machine keeps no weights for the next one
      case $setting in sparse|mixed) passk_one "$setting" "$seed" "$method" ;; esac
      echo "=== $(date -u +%FT%TZ) stream $id: done $item"
    else
      echo "!!! $(date -u +%FT%TZ) stream $id: $item failed (log: $OUT/logs/$setting-s$seed-$method.log)"
    fi
  done
}

report() {  # the base model on every setting's held-out and OOD sets (the questions compare evaluates runs on)
  for setting in sparse mixed dense; do
    local dst="$RAW/$setting-s0/evals/base.json" d="$OUT/base/$setting"
    [ -f "$dst" ] && continue
    $HY eval --model smollm2-135m --task "$(task_of "$setting")" --size 200 --seed 1234 --batch-size 64 --bf16 false \
      --rollout-engine vllm --label base --output-dir "$d/in" > "$OUT/logs/base-$setting.log" 2>&1 \
    && $HY eval --model smollm2-135m --task "$(ood "$setting")" --size 100 --seed 1234 --batch-size 64 --bf16 false \
      --rollout-engine vllm --label base --output-dir "$d/ood" >> "$OUT/logs/base-$setting.log" 2>&1 \
    || { echo "!!! base eval $setting failed (log: $OUT/logs/base-$setting.log)"; continue; }
    mkdir -p "$(dirname "$dst")"
    # one evals/base.json as compare writes it: the two sets side by side
    python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a["sets"].update(b["sets"]); a["questions_digest"] = {**a.get("questions_digest", {}), **b.get("questions_digest", {})}
a["wall_time_s"] = a.get("wall_time_s", 0) + b.get("wall_time_s", 0)
json.dump(a, open(sys.argv[3], "w"), indent=1)' "$d/in/eval.json" "$d/ood/eval.json" "$dst"
  done
}

# a setting's training task as NAME:LEVEL (its held-out set)
task_of() { grep -E '^(task|difficulty):' "recipes/study/v2/$1.yaml" | awk '{print $2}' | tr -d '"' | paste -sd:; }

passk_one() {  # passk_one SETTING SEED METHOD: pass@k of one final model (METHOD=base: the base model)
  local model="$OUT/$1-s$2/$3" dst="$OUT/passk/$1-s$2-$3"
  [ "$3" = base ] && model=smollm2-135m
  [ -f "$RAW/passk/$1-s$2-$3.json" ] && return 0
  [ "$3" = base ] || [ -d "$model/checkpoints" ] || { echo "passk: no final model at $model (runs of an earlier machine keep no weights)"; return 0; }
  $HY eval --model "$model" --task "$(task_of "$1")" --size 64 --seed 1234 --samples 8 --k 1,4,8 --max-new-tokens 64 \
    --batch-size 64 --bf16 false --rollout-engine vllm --label "$3" --output-dir "$dst" \
    >> "$OUT/logs/passk.log" 2>&1 || { echo "!!! passk $1 $2 $3 failed"; return 0; }
  mkdir -p "$RAW/passk" && cp "$dst/eval.json" "$RAW/passk/$1-s$2-$3.json"
}

passk() {  # pass@k of the final models: 64 questions of the shared held-out set, 8 samples each (T 0.6, top-p 0.95)
  for setting in sparse mixed; do
    passk_one "$setting" 0 base
    for seed in 0 1 2; do
      for m in $MAIN_SM $EXTRA_SM; do
        done_run "$setting" "$seed" "$m" && passk_one "$setting" "$seed" "$m"
      done
    done
  done
}

mkdir -p "$OUT/logs" "$RAW"
case "${1:-run}" in
  run)   # (re)start: stale claims of a killed session are cleared
    rm -rf "$OUT/.claims"; mkdir -p "$OUT/.claims"
    for i in $(seq 1 "$STREAMS"); do stream "$i" >> "$OUT/logs/stream-$i.log" 2>&1 & done
    wait; echo "queue done: $OUT" ;;
  more)  # add STREAMS streams beside running ones (claims kept)
    for i in $(seq 1 "$STREAMS"); do stream "more$i-$$" >> "$OUT/logs/stream-more$i-$$.log" 2>&1 & done
    wait ;;
  report) report ;;
  passk) passk ;;
  queue) queue ;;
  *) echo "usage: $0 [run|more|report|passk|queue]" >&2; exit 2 ;;
esac
