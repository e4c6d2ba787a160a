"""``hybridrl demo`` / ``make demo``: the embedded default, a short real run on 2 CPU cores.

Trains the packaged SmolLM2-135M-Instruct on ``chain_sum`` level 1 (2 one-digit terms; the
base model solves ~20% of them — a dense-reward setting where both methods get signal) with
GRPO and with HPT for the same budget, evaluates the base model and both final models on the
same held-out questions, and writes ``report.md`` / ``report.html`` through the ``compare``
machinery (:func:`hybridrl.pipelines.compare.run_compare`). The training set is deliberately
small (16 questions, every question seen once per epoch of 4 steps) so that the per-prompt
heatmaps have several epochs; evaluation is on the disjoint test split.

Budget (chosen to take <= 8 minutes on a quiet 2-core CPU, conversion of the model included:
README, "make demo"): 8 steps x 4 prompts x 4 completions of <= 64 tokens per method, rollouts
from a bf16 copy of the weights and bf16 autocast where the hardware has native bf16 (else fp32:
:func:`fast_bf16`, ``rollout_dtype=auto``), 64 eval questions, greedy. It is a
demonstration of the pipeline end to end, not a converged comparison: differences of a
few questions are inside the confidence intervals the report prints.
"""

from __future__ import annotations

import time
from pathlib import Path

TASK = "chain_sum"
METHODS = ("grpo", "hpt")
FULL = dict(steps=8, eval_size=64, train_size=16, max_new_tokens=64)
QUICK = dict(steps=2, eval_size=8, train_size=8, max_new_tokens=48)
TRAIN = dict(difficulty=1, template="chat", temperature=1.0, prompts_per_step=4, group_size=4, micro_batch_size=8,
             lr=1e-5)


def fast_bf16(cpuinfo: str | None = None) -> bool:
    """bf16 autocast pays off on a GPU or on a CPU with native bf16 (AVX-512 BF16 or AMX);
    on other CPUs it is emulated and slower than fp32 (2.4x slower measured on an AVX2-only
    EPYC: docs/results.md)."""
    import torch

    if torch.cuda.is_available():
        return True
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def run_demo(quick: bool = False, output_dir: str | None = None, rollout_engine: str = "auto",
             rollout_dtype: str = "auto") -> int:
    """Run the demo; ``rollout_engine`` (hf | vllm | auto: vLLM when it imports) samples rollouts and
    answers the evaluations (vLLM needs ``make install-vllm``; ``benchmarks/demo_time.py`` times
    both); ``rollout_dtype`` is the HF engine's rollout precision (auto: bf16 where native, else
    fp32)."""
    from hybridrl.pipelines.compare import run_compare
    from hybridrl.report.tables import accuracy_table

    budget = QUICK if quick else FULL
    out = Path(output_dir or ("runs/demo-quick" if quick else "runs/demo"))
    t0 = time.time()
    print(f"hybridrl demo: SmolLM2-135M-Instruct on '{TASK}' level {TRAIN['difficulty']} on CPU; "
          f"{' and '.join(METHODS)} for {budget['steps']} steps each ({TRAIN['prompts_per_step']} prompts x "
          f"{TRAIN['group_size']} completions, <= {budget['max_new_tokens']} tokens), then greedy accuracy of the base "
          f"and both final models on {budget['eval_size']} held-out questions. Output: {out}", flush=True)
    overrides = [f"{k}={v}" for k, v in TRAIN.items()] + [f"bf16={fast_bf16()}", f"rollout_engine={rollout_engine}",
                                                        f"rollout_dtype={rollout_dtype}"]
    overrides += [f"train_size={budget['train_size']}", f"max_new_tokens={budget['max_new_tokens']}",
                  f"save_every={max(1, budget['steps'] // 2)}"]
    notes = [f"`hybridrl demo`{' --quick' if quick else ''}: a short CPU budget that shows the pipeline end to end; "
             "differences of a few questions are noise (see the confidence intervals)."]
    res = run_compare(list(METHODS), output_dir=out,
                      cli={"model": "smollm2-135m", "task": TASK, "steps": budget["steps"], "seed": 0},
                      overrides=overrides, eval_size=budget["eval_size"], title="hybridrl demo: GRPO vs HPT",
                      notes=notes)
    table = accuracy_table(res["evals"])
    minutes = (time.time() - t0) / 60
    print("\n" + table.to_markdown())
    print(f"  ({table.caption})")
    for m in METHODS:
        s = (res["runs"][m] / "summary.json")
        print(f"  {m}: run folder {res['runs'][m]} ({res['status'][m]})" + ("" if s.exists() else " — no summary"))
    print(f"\nreport: {res['report']['html']}  (and {res['report']['markdown']}); total {minutes:.1f} min")
    return 0
