"""Study v3 (issue #30) item 1: at which completion budget is the base model not truncated?

Samples the base model's completions on a setting's *training* questions (the questions a run's
first steps see: the trainer's own prompt order, template and sampler), at the recipe's temperature
(1.0), once with a generous budget (--max-budget, default 512 tokens), and reports for each budget
B in --budgets the share of completions that would hit B: those not finished (EOS) within B tokens.
One sample serves every budget: sampling the first B tokens does not depend on the budget, so the
truncation at B is exactly the share of completions longer than B (or still unfinished at the cap).
Also the accuracy of the completions that finish within B (the reward a run at budget B would see).

  PYTHONPATH=. .venv-vllm/bin/python scripts/truncation_budget.py recipes/study/v2/mixed.yaml \
      --rollouts 128 --out docs/results/v3/truncation-mixed.json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipe")
    ap.add_argument("--rollouts", type=int, default=128, help="completions in all (prompts x group_size)")
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--budgets", default="64,128,192,256,320,384,512")
    ap.add_argument("--max-budget", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", default="vllm")
    ap.add_argument("--out", required=True)
    ap.add_argument("overrides", nargs="*", help="key=value")
    a = ap.parse_args(argv)

    from hybridrl.rewards.scoring import score_completions
    from hybridrl.config import build_config
    from hybridrl.training.loop.trainer import Trainer

    prompts = a.rollouts // a.group_size
    cfg = build_config(a.recipe, overrides=[f"seed={a.seed}", f"max_new_tokens={a.max_budget}",
                                            f"rollout_engine={a.engine}", f"group_size={a.group_size}",
                                            f"prompts_per_step={prompts}", "eval_size=0", "progress=false",
                                            "output_dir=/tmp/hybridrl-truncation", *a.overrides])
    t0 = time.time()
    trainer = Trainer(cfg)
    rows, _ = trainer.sampler.next()  # the first step's prompts, in the trainer's own order
    batch = trainer._generate(rows, a.group_size, step=0)
    results, _ = score_completions(batch.texts, [rows[int(i)] for i in batch.prompt_index],
                                   timeout_s=cfg.reward_timeout, reward_fn=cfg.reward_fn)
    lengths = batch.completion_mask.sum(1).long().tolist()
    finished = [f != "length" for f in batch.finish_reasons]
    correct = [bool(r.correct) for r in results]
    budgets = [int(b) for b in a.budgets.split(",")]
    n = len(lengths)
    table = []
    for b in budgets:
        done = [f and L <= b for f, L in zip(finished, lengths)]
        k = n - sum(done)
        row = {"budget": b, "truncated": k / n, "truncated_ci95": wilson(k, n),
               "mean_length": sum(min(L, b) for L in lengths) / n}
        row["accuracy"] = sum(1 for d, c in zip(done, correct) if d and c) / n
        table.append(row)
    res = {"recipe": a.recipe, "seed": a.seed, "rollouts": n, "prompts": len(rows), "group_size": a.group_size,
           "temperature": cfg.temperature, "max_budget": a.max_budget, "engine": a.engine,
           "lengths": lengths, "finished": finished, "correct": correct, "table": table,
           # what the longest completions look like (loops or long reasoning?): the last 300 characters
           # of every completion still unfinished at the cap
           "unfinished_tails": [x[-300:] for x, f in zip(batch.texts, finished) if not f],
           "machine": platform.processor() or platform.machine(), "wall_s": round(time.time() - t0, 1),
           "command": " ".join(["python", "scripts/truncation_budget.py", *(argv or sys.argv[1:])])}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{n} rollouts ({len(rows)} training questions x {a.group_size}), T = {cfg.temperature}:")
    print("| budget | truncated | 95% CI | mean length | correct and finished |")
    print("|---|---|---|---|---|")
    for r in table:
        acc = f"{100 * r['accuracy']:.1f}%"
        lo, hi = r["truncated_ci95"]
        print(f"| {r['budget']} | {100 * r['truncated']:.1f}% | [{100 * lo:.1f}, {100 * hi:.1f}] | "
              f"{r['mean_length']:.1f} | {acc} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
