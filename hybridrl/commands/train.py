"""``hybridrl train``: one method, one run (or ``--resume RUN``: continue one)."""

from __future__ import annotations

import argparse
import sys

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl train --method grpo --model tiny --task chain_sum --steps 2 group_size=2 prompts_per_step=2
  hybridrl train --config recipes/hpt.yaml --steps 50 --output-dir runs/hpt-50
  hybridrl train --method hpt --model smollm2-135m --data my.jsonl eval_data=my_test.jsonl
  hybridrl train --resume runs/hpt-50 --steps 100        # continue a run with its own config
  hybridrl train --list-keys                             # every config key: type, default, doc
""" + EXAMPLE_NOTE


def _methods_help() -> str:
    from hybridrl.methods.registry import METHODS

    return "\n".join(f"  {name:<17} {spec.doc} ({spec.paper})" for name, spec in METHODS.items())


def cmd_train(args: argparse.Namespace) -> int:
    from hybridrl.config import ConfigError, build_config, describe_keys
    from hybridrl.training.update.optimize import TrainingAborted
    from hybridrl.training.loop.runner import resume_config, run_training

    if args.list_keys is not None:
        print(describe_keys(keys=args.list_keys or None))
        return 0
    cli = {"method": args.method, "model": args.model, "task": args.task, "data": args.data, "steps": args.steps,
           "output_dir": args.output_dir, "seed": args.seed}
    if args.resume:
        if args.overwrite:
            raise ConfigError("--resume continues a run, --overwrite replaces one: pick one")
        cfg = resume_config(args.resume, args.config, cli, args.overrides)
    else:
        cfg = build_config(args.config, cli, args.overrides)
    try:
        summary = run_training(cfg, resume=args.resume, overwrite=args.overwrite)
    except TrainingAborted as e:  # e.g. repeated non-finite updates: the message says what was saved
        print(f"hybridrl: training aborted: {e}", file=sys.stderr)
        return 1
    ev = summary.get("final_eval") or {}
    print(f"\nrun: {cfg.output_dir}  method={cfg.method}  steps={cfg.steps}")
    if summary.get("reward_first") is not None:
        last = min(10, int(summary.get("steps") or 10))
        print(f"train reward: first step {summary['reward_first']:.3f} -> mean of last {last} "
              f"{summary['reward_mean_last_10']:.3f}")
    if ev:
        print(f"held-out greedy accuracy: {ev['greedy_accuracy']:.3f} (n={ev['n']})")
    print(f"checkpoint: {summary.get('checkpoint')}")
    return 0


def register(sub) -> None:
    t = sub.add_parser("train", help="train a model with one method",
                       formatter_class=HelpFormatter,
                       description="Train one model with one method. Methods:\n" + _methods_help() +
                                   "\n\nAny config key can be set as key=value (or in --config YAML); "
                                   "`hybridrl train --list-keys` lists them all with type, default and meaning. "
                                   "TRL/verl spellings (learning_rate, num_generations, max_steps, ...) are "
                                   "accepted. recipes/ has one YAML per method.",
                       epilog=EXAMPLES)
    t.add_argument("--config", help="YAML file of config keys (e.g. recipes/grpo.yaml)")
    t.add_argument("--method", help="training method (list above; default grpo)")
    t.add_argument("--model", help="tiny | smollm2-135m | local HF folder | hub id (default tiny)")
    t.add_argument("--task", help="built-in task name (`hybridrl data --help` lists them)")
    t.add_argument("--data", help=".jsonl / .parquet / HF datasets folder")
    t.add_argument("--steps", type=int, help="optimizer steps (default 100)")
    t.add_argument("--seed", type=int, help="seed (default 0)")
    t.add_argument("--output-dir", help="run folder (default: a new runs/<method>-<date>-<time>)")
    t.add_argument("--resume", metavar="RUN",
                   help="continue RUN (a run folder or one of its checkpoints) with its saved config; "
                        "only steps, logging, eval/save cadence and speed settings may change")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --output-dir (default: refuse, naming what differs)")
    t.add_argument("--list-keys", nargs="*", default=None, metavar="KEY",
                   help="list every config key with type, default and doc, then exit; with KEYs, their full docs")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    t.set_defaults(func=cmd_train)
