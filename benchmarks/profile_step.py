"""cProfile of one GRPO step: hybridrl with HF generate vs TRL's GRPOTrainer (default, HF generate),
at the same settings as benchmarks/step_time.py (SmolLM2-135M-Instruct, P prompts x G completions
x L tokens, EOS suppressed until L, fp32, one micro-batch, no KL) — #28 item 1: what do we spend
that TRL does not?

    .venv-trl/bin/python benchmarks/profile_step.py --side hf  --out /tmp/prof-hf.txt
    .venv-trl/bin/python benchmarks/profile_step.py --side trl --out /tmp/prof-trl.txt

Each side runs a warm-up step, then profiles one step and prints the functions with the largest
cumulative and own times (``--top``). One side per process (memory; and neither side's warm caches
help the other). The profile's absolute times include cProfile's overhead (per Python call): read
them as shares, and compare sides run on the same machine under the same load.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def profile_ours(P: int, G: int, L: int, rollout_dtype: str) -> tuple[cProfile.Profile, dict]:
    from hybridrl.models.smollm2 import smollm2_folder
    from hybridrl.config import build_config
    from hybridrl.training.loop.trainer import Trainer

    tmp = tempfile.mkdtemp()
    cfg = build_config(None, {"method": "grpo", "model": str(smollm2_folder()), "task": "chain_sum", "steps": 2,
                              "output_dir": tmp},
                       [f"prompts_per_step={P}", f"group_size={G}", f"max_new_tokens={L}", f"min_new_tokens={L}",
                        f"micro_batch_size={P * G}", "bf16=false", "reward_fn=step_time:parity_reward", "eval_size=0",
                        "progress=false", "lr=1e-6", "train_size=64", "rollout_engine=hf",
                        f"rollout_dtype={rollout_dtype}"])
    t = Trainer(cfg)
    t.step(0)  # warm-up
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    rec = t.step(1)
    prof.disable()
    wall = time.perf_counter() - t0
    return prof, {"wall_s": wall, **{k: v for k, v in rec.items() if k.startswith("time/")}}


def profile_trl(P: int, G: int, L: int) -> tuple[cProfile.Profile, dict]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from hybridrl.data.tasks import build_task
    from hybridrl.data.templates import format_prompt
    from hybridrl.models.smollm2 import smollm2_folder
    from step_time import parity_reward

    rows = build_task("chain_sum", size=64, seed=0, split="train")
    prompts = [[{"role": "user", "content": format_prompt(r, "vanilla").strip()}] for r in rows]

    def reward(prompts, completions, **kw):
        return [parity_reward(c[-1]["content"] if isinstance(c, list) else c, None) for c in completions]

    prof = cProfile.Profile()
    times: dict = {}

    class Prof(TrainerCallback):  # profile the second step only
        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == 1:
                times["t0"] = time.perf_counter()
                prof.enable()

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:
                prof.disable()
                times["wall_s"] = time.perf_counter() - times.pop("t0")

    tmp = tempfile.mkdtemp()
    args = GRPOConfig(output_dir=tmp, per_device_train_batch_size=P * G, num_generations=G, max_completion_length=L,
                      generation_kwargs={"min_new_tokens": L}, use_cpu=True, bf16=False, gradient_checkpointing=False,
                      max_steps=2, logging_steps=1, report_to="none", save_strategy="no", learning_rate=1e-6,
                      beta=0.0, disable_tqdm=True, seed=0, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=str(smollm2_folder()), reward_funcs=reward, args=args,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), callbacks=[Prof()])
    trainer.train()
    return prof, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=("hf", "trl"), required=True)
    ap.add_argument("--prompts", type=int, default=1)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--rollout-dtype", default="fp32")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", default=None, help="text file for the report (and OUT.prof for pstats)")
    a = ap.parse_args()
    if a.side == "hf":
        prof, times = profile_ours(a.prompts, a.group, a.length, a.rollout_dtype)
    else:
        prof, times = profile_trl(a.prompts, a.group, a.length)
    buf = io.StringIO()
    buf.write(f"side={a.side} P={a.prompts} G={a.group} L={a.length} load={os.getloadavg()} {times}\n")
    for key in ("cumulative", "tottime"):
        st = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key)
        buf.write(f"\n=== by {key} ===\n")
        st.print_stats(a.top)
    print(buf.getvalue())
    if a.out:
        Path(a.out).write_text(buf.getvalue())
        prof.dump_stats(a.out + ".prof")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
