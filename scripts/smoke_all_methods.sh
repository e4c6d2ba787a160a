#!/bin/bash
# One real smollm2-135m run (2 steps, tiny budget) per method, one after another.
# Usage: OUT=/tmp/smoke [METHODS="hpt grpo"] [MODEL=tiny] scripts/smoke_all_methods.sh ; results: $OUT/results.tsv (method, exit code, seconds)
# With vLLM rollouts: HY=.venv-vllm/bin/hybridrl ARGS="rollout_engine=vllm" METHODS="chord relift uft" scripts/smoke_all_methods.sh
cd "$(dirname "$0")/.."
mkdir -p "${OUT:-/tmp/hybridrl-smoke}"
COMMON="prompts_per_step=2 group_size=2 max_new_tokens=24 bf16=auto eval_size=2 train_size=16 progress=false"
declare -A EXTRA=(
  [sft_then_rl]="sft_then_rl_sft_steps=1"
  [sasr]="sasr_warmup_steps=1"
  [superrl]="superrl_k=1 superrl_m=1 superrl_increase_threshold=1 superrl_avg_threshold=1.01"
  [superrl_theta]="superrl_k=1 superrl_m=1 superrl_increase_threshold=1 superrl_avg_threshold=1.01"
  [superrl_per_step]="superrl_k=1 superrl_m=1 superrl_increase_threshold=1 superrl_avg_threshold=1.01"
  [auto]="superrl_k=1 superrl_m=1 superrl_increase_threshold=1 superrl_avg_threshold=1.01"
  [static_hybrid]="static_hybrid_unit=step static_hybrid_sft=1"
  [superrl_ppo]="superrl_k=1 superrl_m=1 superrl_increase_threshold=1 superrl_avg_threshold=1.01 rl_preset=ppo"
  [chord]="chord_mu_warmup_steps=1 chord_mu_decay_steps=1"
  [relift]="relift_buffer_size=1"
  [uft]="uft_hint_steps=2"
)
touch ${OUT:-/tmp/hybridrl-smoke}/results.tsv
# superrl_ppo = superrl with rl_preset=ppo (the PPO hybrid of SuperRL Tables 3-4: a value head + GAE)
for M in ${METHODS:-sft grpo dr_grpo ppo reinforce rloo sft_then_rl hpt superrl superrl_ppo superrl_theta superrl_per_step sasr ssr ssr_cosine static_hybrid luffy srft auto chord relift uft}; do
  rm -rf ${OUT:-/tmp/hybridrl-smoke}/$M
  echo "=== $M $(date +%T)" >> ${OUT:-/tmp/hybridrl-smoke}/log.txt
  t0=$(date +%s.%N)
  ${HY:-.venv/bin/hybridrl} train --method ${M%_ppo} --model ${MODEL:-smollm2-135m} --task chain_sum --steps 2 --output-dir ${OUT:-/tmp/hybridrl-smoke}/$M $COMMON ${EXTRA[$M]} ${ARGS:-} >> ${OUT:-/tmp/hybridrl-smoke}/log.txt 2>&1
  rc=$?
  t1=$(date +%s.%N)
  printf "%s\t%s\t%.1f\n" $M $rc $(echo "$t1 - $t0" | bc) >> ${OUT:-/tmp/hybridrl-smoke}/results.tsv
  rm -rf ${OUT:-/tmp/hybridrl-smoke}/$M/checkpoints  # ~1.6 GB each (model + AdamW state); the logs stay
done
echo DONE >> ${OUT:-/tmp/hybridrl-smoke}/results.tsv
