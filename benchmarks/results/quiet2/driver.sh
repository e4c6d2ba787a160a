#!/usr/bin/env bash
# Issue #28's quiet-window measurements, one job at a time (the study streams are paused by the
# caller with SIGSTOP and resumed after). Writes everything beside this script.
set -x
cd /work/main || exit 1
R=benchmarks/results/quiet2
V=.venv-vllm/bin/python
T=.venv-trl/bin/python
export OMP_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ; uptime
$V benchmarks/matmul_peak.py --out $R/matmul_peak.json > $R/matmul_peak.log 2>&1
$V benchmarks/decode_speed.py --out $R/decode_speed.json > $R/decode_speed.log 2>&1
date -u +%FT%TZ; uptime
# `make demo` from a fresh clone (its venv installed beforehand; the model conversion is timed: an
# empty HYBRIDRL_CACHE)
rm -rf /tmp/fresh-cache; cd /tmp/fresh && git pull -q && \
  { /usr/bin/time -v env HYBRIDRL_CACHE=/tmp/fresh-cache make demo > /work/main/$R/make_demo.log 2>&1; } 2> /work/main/$R/make_demo.time
cd /work/main; date -u +%FT%TZ; uptime
# hybridrl's HF path and TRL in one process (.venv-trl: TRL and transformers of the default install),
# then the vLLM engine in the venv that has it
$T benchmarks/step_time.py --engines hf,trl --rollout-dtype fp32,bf16,int8 --prompts 1,4 --steps 3 \
   --out $R/step_fp32_hf_trl.json > $R/step_fp32_hf_trl.log 2>&1
date -u +%FT%TZ; uptime
$V benchmarks/step_time.py --engines vllm --prompts 1,4 --steps 3 --out $R/step_fp32_vllm.json > $R/step_fp32_vllm.log 2>&1
date -u +%FT%TZ; uptime
# bf16 is native on this CPU: bf16 autocast on both sides (ours with bf16 / int8 rollout copies)
$T benchmarks/step_time.py --engines hf,trl --bf16 --rollout-dtype bf16,int8 --prompts 1,4 --steps 3 \
   --out $R/step_bf16_hf_trl.json > $R/step_bf16_hf_trl.log 2>&1
date -u +%FT%TZ; uptime
