"""``hybridrl demo`` / ``make demo``: the embedded default, a short real run on CPU.

Trains the packaged SmolLM2-135M-Instruct on a built-in task with a hybrid method (HPT)
and with GRPO for the same short budget, evaluates both and the base model on the same
held-out questions, and writes ``report.md`` with the table. The budget is small so that it
finishes in minutes on 2 CPU cores; the numbers show the pipeline working end to end,
not a converged comparison (see docs/results.md for that).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

DEMO = dict(task="chain_sum", difficulty=None, template="chat", max_new_tokens=128, temperature=1.0,
            prompts_per_step=4, group_size=4, micro_batch_size=8, lr=2e-6, eval_size=32, bf16=True)
METHODS = ("grpo", "hpt")


def run_demo(quick: bool = False, output_dir: str = "runs/demo") -> int:
    from hybridrl.data.tasks import build_task
    from hybridrl.eval.evaluate import evaluate_rows
    from hybridrl.models.loading import load_model_and_tokenizer
    from hybridrl.train.config import build_config
    from hybridrl.train.loop import train

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = 2 if quick else 8
    eval_size = 8 if quick else DEMO["eval_size"]
    t0 = time.time()
    print(f"hybridrl demo: SmolLM2-135M-Instruct on '{DEMO['task']}', methods {', '.join(METHODS)}, "
          f"{steps} steps each ({DEMO['prompts_per_step']} prompts x {DEMO['group_size']} completions), "
          f"eval on {eval_size} held-out questions", flush=True)
    eval_rows = build_task(DEMO["task"], size=eval_size, seed=0, difficulty=DEMO["difficulty"], split="test")

    def evaluate(model_name_or_path: str) -> float:
        model, tok = load_model_and_tokenizer(model_name_or_path)
        res = evaluate_rows(model, tok, eval_rows, template=DEMO["template"], max_new_tokens=DEMO["max_new_tokens"],
                            bf16=DEMO["bf16"], batch_size=16)
        return res["greedy_accuracy"]

    print("\n[1/3] base model", flush=True)
    table = {"base": {"greedy_accuracy": evaluate("smollm2-135m"), "train_reward_last": None}}
    for i, method in enumerate(METHODS, start=2):
        print(f"\n[{i}/3] training {method}", flush=True)
        overrides = [f"{k}={v}" for k, v in DEMO.items() if k not in ("task",) and v is not None]
        overrides += [f"eval_size={eval_size}", "save_every=0", "keep_last=1"]
        cfg = build_config(None, {"method": method, "model": "smollm2-135m", "task": DEMO["task"], "steps": steps,
                                  "output_dir": str(out / method)}, overrides)
        summary = train(cfg)
        table[method] = {"greedy_accuracy": (summary.get("final_eval") or {}).get("greedy_accuracy"),
                         "train_reward_last": summary.get("reward_mean_last_10"),
                         "sft_fraction_mean": _mean_metric(out / method / "metrics.jsonl", "sft_fraction")}
    minutes = (time.time() - t0) / 60
    lines = [
        "# hybridrl demo report", "",
        f"SmolLM2-135M-Instruct, task `{DEMO['task']}`, {steps} steps per method, "
        f"{DEMO['prompts_per_step']} prompts x {DEMO['group_size']} completions per step, "
        f"{DEMO['max_new_tokens']} new tokens, bf16 autocast on CPU; greedy accuracy on {eval_size} held-out questions. "
        f"Total wall time {minutes:.1f} min.", "",
        "| model | held-out greedy accuracy | train reward (last steps) | SFT fraction |",
        "|---|---|---|---|",
    ]
    for name, r in table.items():
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        lines.append(f"| {name} | {fmt(r['greedy_accuracy'])} | {fmt(r['train_reward_last'])} | {fmt(r.get('sft_fraction_mean'))} |")
    lines += ["", "A budget this small shows the pipeline end to end; differences of a few questions are noise "
              "(see the confidence intervals in `hybridrl eval`)."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    (out / "demo.json").write_text(json.dumps(table, indent=2))
    print("\n" + "\n".join(lines[4:4 + 2 + len(table)]))
    print(f"\nreport: {report}  ({minutes:.1f} min)")
    return 0


def _mean_metric(path: Path, key: str) -> float | None:
    vals = []
    if path.exists():
        for line in path.read_text().splitlines():
            v = json.loads(line).get(key)
            if isinstance(v, (int, float)):
                vals.append(float(v))
    return sum(vals) / len(vals) if vals else None
