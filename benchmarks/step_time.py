"""GRPO step time: hybridrl vs TRL's GRPOTrainer, side by side in one process.

Same model (the packaged SmolLM2-135M-Instruct), same prompts (chain_sum questions in the
chat template), same group size and completion length (EOS suppressed until the length
is reached, so both sides do exactly the same work), same dtype, same trivial reward,
1 prompt x G completions per step, one update per batch, no KL, no gradient
checkpointing on either side. Each side runs ``--steps`` steps; the first is warm-up and
is dropped. Then our step time as prompts per step, group size and completion length
double.

    pip install -e '.[bench]'          # TRL
    python benchmarks/step_time.py --steps 4 --out benchmarks/results/step_time.json

Prints both step times, their ratio, tokens/s and the peak RSS of each phase.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so reward workers can import this module's reward


def parity_reward(completion: str, row) -> float:
    """The same trivial reward on both sides (reward cost is not what we measure)."""
    return float(len(completion) % 2 == 0)


class PeakRSS:
    """Samples this process's RSS every 50 ms while active."""

    def __enter__(self):
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop = True
        self.t.join()

    @property
    def gib(self) -> float:
        return self.peak / 2**30


def ours(model_dir: str, P: int, G: int, L: int, bf16: bool, steps: int) -> dict:
    from hybridrl.train.config import build_config
    from hybridrl.train.loop import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config(None, {"method": "grpo", "model": model_dir, "task": "chain_sum", "steps": steps,
                                  "output_dir": tmp},
                           [f"prompts_per_step={P}", f"group_size={G}", f"max_new_tokens={L}", f"min_new_tokens={L}",
                            f"micro_batch_size={P * G}", f"bf16={bf16}", "reward_fn=step_time:parity_reward",
                            "eval_size=0", "progress=false", "lr=1e-6", "train_size=64"])
        t = Trainer(cfg)
        times, parts = [], []
        with PeakRSS() as mem:
            for s in range(steps):
                t0 = time.perf_counter()
                rec = t.step(s)
                times.append(time.perf_counter() - t0)
                parts.append({k: rec[k] for k in ("time/generate", "time/reward", "time/update")})
        tokens = P * G * L
    keep = times[1:] or times
    return {"step_s": statistics.median(keep), "all_steps_s": times, "tokens_per_s": tokens / statistics.median(keep),
            "breakdown_s": {k: statistics.median(p[k] for p in parts[1:] or parts) for k in parts[0]},
            "peak_rss_gib": mem.gib}


def trl(model_dir: str, P: int, G: int, L: int, bf16: bool, steps: int) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from hybridrl.data.tasks import build_task
    from hybridrl.data.templates import format_prompt

    rows = build_task("chain_sum", size=64, seed=0, split="train")
    # the same user message our chat template builds (question + boxed instruction)
    prompts = [[{"role": "user", "content": format_prompt(r, "vanilla").strip()}] for r in rows]

    def reward(prompts, completions, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [parity_reward(t, None) for t in texts]

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(output_dir=tmp, per_device_train_batch_size=P * G, num_generations=G,
                          max_completion_length=L, generation_kwargs={"min_new_tokens": L}, use_cpu=True,
                          bf16=bf16, gradient_checkpointing=False, max_steps=steps, logging_steps=1,
                          report_to="none", save_strategy="no", learning_rate=1e-6, beta=0.0,
                          disable_tqdm=True, seed=0, dataloader_num_workers=0)
        trainer = GRPOTrainer(model=model_dir, reward_funcs=reward, args=args,
                              train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), callbacks=[timer])
        with PeakRSS() as mem:
            trainer.train()
    keep = timer.times[1:] or timer.times
    return {"step_s": statistics.median(keep), "all_steps_s": timer.times,
            "tokens_per_s": P * G * L / statistics.median(keep), "peak_rss_gib": mem.gib}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on both sides")
    ap.add_argument("--no-trl", action="store_true", help="skip the TRL side")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling sweep")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    import torch

    from hybridrl.models.smollm2 import smollm2_folder

    model_dir = str(smollm2_folder())
    res: dict = {"model": "SmolLM2-135M-Instruct", "threads": torch.get_num_threads(), "bf16": a.bf16,
                 "prompts": 1, "group": a.group, "length": a.length, "steps": a.steps}
    print(f"1 prompt x {a.group} completions x {a.length} tokens, bf16={a.bf16}, {a.steps} steps (first dropped)",
          flush=True)
    res["hybridrl"] = ours(model_dir, 1, a.group, a.length, a.bf16, a.steps)
    print(f"hybridrl: {res['hybridrl']['step_s']:.2f} s/step  {res['hybridrl']['tokens_per_s']:.0f} tok/s  "
          f"peak RSS {res['hybridrl']['peak_rss_gib']:.1f} GiB  breakdown {res['hybridrl']['breakdown_s']}", flush=True)
    if not a.no_trl:
        res["trl"] = trl(model_dir, 1, a.group, a.length, a.bf16, a.steps)
        res["ratio_hybridrl_over_trl"] = res["hybridrl"]["step_s"] / res["trl"]["step_s"]
        print(f"TRL GRPOTrainer: {res['trl']['step_s']:.2f} s/step  {res['trl']['tokens_per_s']:.0f} tok/s  "
              f"peak RSS {res['trl']['peak_rss_gib']:.1f} GiB", flush=True)
        print(f"ratio hybridrl / TRL = {res['ratio_hybridrl_over_trl']:.2f}", flush=True)
    if not a.no_scaling:
        res["scaling"] = []
        base = (1, a.group, a.length)
        grid = [base, (2, a.group, a.length), (4, a.group, a.length), (1, a.group * 2, a.length),
                (1, a.group, a.length * 2)]
        for P, G, L in grid:
            r = ours(model_dir, P, G, L, a.bf16, max(2, a.steps - 1))
            res["scaling"].append({"prompts": P, "group": G, "length": L, **r})
            print(f"scaling P={P} G={G} L={L}: {r['step_s']:.2f} s/step  {r['tokens_per_s']:.0f} tok/s  "
                  f"breakdown {r['breakdown_s']}  peak RSS {r['peak_rss_gib']:.1f} GiB", flush=True)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
