"""The ``hybridrl`` command line (DESIGN §5). Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _methods_help() -> str:
    from hybridrl.methods.registry import METHODS

    return "\n".join(f"  {name:<17} {spec.doc} ({spec.paper})" for name, spec in METHODS.items())


def _tasks_help() -> str:
    try:
        from hybridrl.data.tasks import describe_tasks

        return describe_tasks()
    except ImportError:  # pragma: no cover - during development
        return ""


# ---------------------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    from hybridrl.data.loading import write_jsonl
    from hybridrl.data.tasks import build_task

    rows = build_task(args.task, size=args.size, seed=args.seed, difficulty=args.difficulty, split=args.split)
    write_jsonl(rows, args.out)
    with_demo = sum(1 for r in rows if r.demonstration)
    print(f"wrote {len(rows)} rows ({with_demo} with demonstrations) of task '{args.task}' "
          f"[split={args.split}, seed={args.seed}, difficulty={args.difficulty}] to {args.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hybridrl.train.config import build_config
    from hybridrl.train.loop import train

    cli = {"method": args.method, "model": args.model, "task": args.task, "data": args.data, "steps": args.steps,
           "output_dir": args.output_dir, "seed": args.seed}
    cfg = build_config(args.config, cli, args.overrides)
    summary = train(cfg, resume=args.resume)
    ev = summary.get("final_eval") or {}
    print(f"\nrun: {cfg.output_dir}  method={cfg.method}  steps={cfg.steps}")
    if summary.get("reward_first") is not None:
        print(f"train reward: first step {summary['reward_first']:.3f} -> mean of last 10 {summary['reward_mean_last_10']:.3f}")
    if ev:
        print(f"held-out greedy accuracy: {ev['greedy_accuracy']:.3f} (n={ev['n']})")
    print(f"checkpoint: {summary.get('checkpoint')}")
    return 0


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


def cmd_demo(args: argparse.Namespace) -> int:
    from hybridrl.demo import run_demo

    return run_demo(quick=args.quick, output_dir=args.output_dir)


# ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hybridrl",
        description="Post-train language models for reasoning with SFT, RL and their hybrids "
                    "(HPT, SuperRL, SASR, ...) on one loop and one loss.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the embedded default: a short real run on CPU with SmolLM2-135M, then a report")
    d.add_argument("--output-dir", default="runs/demo")
    d.add_argument("--quick", action="store_true", help="a much smaller budget (smoke test)")
    d.set_defaults(func=cmd_demo)

    d = sub.add_parser("data", help="write a built-in task's rows (with demonstrations) to a .jsonl file",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Built-in tasks (reasoning-gym, offline):\n" + _tasks_help())
    d.add_argument("--task", required=True)
    d.add_argument("--size", type=int, default=1000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--difficulty", default=None)
    d.add_argument("--split", default="train", choices=["train", "test"])
    d.add_argument("--out", required=True)
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train a model with one method",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Methods:\n" + _methods_help() +
                                   "\n\nAny config key can be set as key=value (see hybridrl/train/config.py "
                                   "and hybridrl/methods/options.py; recipes/ has one YAML per method).")
    t.add_argument("--config", help="YAML file of config keys")
    t.add_argument("--method")
    t.add_argument("--model", help="tiny | smollm2-135m | local HF folder | hub id")
    t.add_argument("--task", help="built-in task name")
    t.add_argument("--data", help=".jsonl / .parquet / HF datasets folder")
    t.add_argument("--steps", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--output-dir")
    t.add_argument("--resume", help="run folder or checkpoint folder to continue from")
    t.add_argument("overrides", nargs="*", help="key=value config overrides")
    t.set_defaults(func=cmd_train)

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hybridrl.train.config import ConfigError

    try:
        return args.func(args) or 0
    except ConfigError as e:
        print(f"hybridrl: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        if type(e).__name__ in ("DataError",) or isinstance(e, FileNotFoundError):
            print(f"hybridrl: error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
