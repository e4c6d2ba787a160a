"""``hybridrl train``: one method, one run."""

from __future__ import annotations

import argparse
import sys

def _methods_help() -> str:
    from hybridrl.methods.registry import METHODS

    return "\n".join(f"  {name:<17} {spec.doc} ({spec.paper})" for name, spec in METHODS.items())


def cmd_train(args: argparse.Namespace) -> int:
    from hybridrl.train.config import build_config
    from hybridrl.train.loop import TrainingAborted, train

    cli = {"method": args.method, "model": args.model, "task": args.task, "data": args.data, "steps": args.steps,
           "output_dir": args.output_dir, "seed": args.seed}
    cfg = build_config(args.config, cli, args.overrides)
    try:
        summary = train(cfg, resume=args.resume)
    except TrainingAborted as e:  # e.g. repeated non-finite updates: the message says what was saved
        print(f"hybridrl: training aborted: {e}", file=sys.stderr)
        return 1
    ev = summary.get("final_eval") or {}
    print(f"\nrun: {cfg.output_dir}  method={cfg.method}  steps={cfg.steps}")
    if summary.get("reward_first") is not None:
        print(f"train reward: first step {summary['reward_first']:.3f} -> mean of last 10 {summary['reward_mean_last_10']:.3f}")
    if ev:
        print(f"held-out greedy accuracy: {ev['greedy_accuracy']:.3f} (n={ev['n']})")
    print(f"checkpoint: {summary.get('checkpoint')}")
    return 0


def register(sub) -> None:
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
