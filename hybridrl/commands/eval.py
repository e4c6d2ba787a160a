"""``hybridrl eval``: accuracy of a model on a task or file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from hybridrl.data.loading import load_rows
    from hybridrl.data.tasks import build_task
    from hybridrl.eval.evaluate import evaluate_rows
    from hybridrl.models.loading import load_model_and_tokenizer

    if args.data:
        rows, _ = load_rows(args.data)
    else:
        rows = build_task(args.task, size=args.size, seed=args.seed, difficulty=args.difficulty, split="test")
    ks = tuple(int(k) for k in args.k.split(",")) if args.k else (1,)
    model, tok = load_model_and_tokenizer(args.model)
    if torch.cuda.is_available():
        model.cuda()
    res = evaluate_rows(model, tok, rows, template=args.template, max_new_tokens=args.max_new_tokens,
                        samples=args.samples, temperature=args.temperature, top_p=args.top_p, ks=ks,
                        bf16=args.bf16, batch_size=args.batch_size, seed=args.seed)
    lo, hi = res["greedy_ci95"]
    print(f"\nmodel: {args.model}  data: {args.data or args.task} (n={res['n']})")
    print(f"greedy accuracy: {res['greedy_accuracy']:.3f}  [95% CI {lo:.3f}-{hi:.3f}]")
    if args.samples:
        print(f"avg@{args.samples} (T={args.temperature}, top-p={args.top_p}): {res[f'avg@{args.samples}']:.3f}")
        for k in ks:
            if f"pass@{k}" in res:
                print(f"pass@{k}: {res[f'pass@{k}']:.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2, default=str))
        print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    e = sub.add_parser("eval", help="greedy accuracy, avg@k and pass@k of a model on a task or file")
    e.add_argument("--model", required=True, help="tiny | smollm2-135m | HF folder (e.g. a checkpoint's model/)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--task")
    src.add_argument("--data")
    e.add_argument("--size", type=int, default=64, help="questions from the task's test split")
    e.add_argument("--difficulty", default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--samples", type=int, default=0, help="sampled completions per question (avg@k, pass@k)")
    e.add_argument("--k", default=None, help="comma-separated k for pass@k, e.g. 1,4,8")
    e.add_argument("--temperature", type=float, default=0.6)
    e.add_argument("--top-p", type=float, default=0.95)
    e.add_argument("--template", default="chat", choices=["vanilla", "chat", "r1"])
    e.add_argument("--max-new-tokens", type=int, default=256)
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--bf16", action="store_true")
    e.add_argument("--out", help="write the full results (per question) as JSON")
    e.set_defaults(func=cmd_eval)
