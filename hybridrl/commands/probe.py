"""``hybridrl probe``: the Adaptive Switch only (SuperRL §3.3): dense or sparse, with the numbers."""

from __future__ import annotations

import argparse

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl probe --model tiny --task chain_sum --steps 3 prompts_per_step=2 group_size=2 max_new_tokens=8
  hybridrl probe --model smollm2-135m --task knights_knaves difficulty=2
  hybridrl probe --config recipes/superrl.yaml
""" + EXAMPLE_NOTE


def cmd_probe(args: argparse.Namespace) -> int:
    import dataclasses
    import sys
    from pathlib import Path

    from hybridrl.pipelines.probe import format_result, run_probe
    from hybridrl.config import build_config

    cli = {"method": args.method, "model": args.model, "task": args.task, "data": args.data,
           "superrl_k": args.steps, "output_dir": args.output_dir, "seed": args.seed}
    notes: list[str] = []
    cfg = build_config(args.config, cli, args.overrides, notes=notes)
    for line in notes:  # the Adaptive Switch's own keys are this command's, whatever the RL method
        if "superrl_" in line.split("=")[0] and "ignores it" in line:
            continue
        print(f"hybridrl: {line}" if line.startswith("warning: ") else f"hybridrl: note: {line}", file=sys.stderr)
    if args.output_dir is None and not any(o.replace("-", "_").startswith("output_dir=") for o in args.overrides):
        # never the training run's own folder: runs/probe, or <recipe's output_dir>/probe
        out = Path(cfg.output_dir) / "probe" if args.config else Path("runs/probe")
        cfg = dataclasses.replace(cfg, output_dir=str(out))
    res = run_probe(cfg)
    print("\n" + format_result(res))
    print(f"wrote {res['output_dir']}/probe.json")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "probe", help="Adaptive Switch only: are the rewards dense or sparse for this model and task?",
        formatter_class=HelpFormatter, epilog=EXAMPLES,
        description="Run k pure-RL steps (SuperRL §3.3 Adaptive Switch) and report dense or sparse with the "
                    "numbers:\nper-step batch-mean rewards, increase_num (rises between adjacent steps), "
                    "recent_avg (mean of\nthe last m), the thresholds and the decision. Sparse iff increase_num < "
                    "increase_threshold and\nrecent_avg < avg_threshold. Defaults by batch size (SuperRL §3.3): "
                    "prompts_per_step > 32 ->\nk=10, m=10, thresholds 3 and 0.1; otherwise k=50, m=10, 20 and 0.2. "
                    "Override with\nsuperrl_k= superrl_m= superrl_increase_threshold= superrl_avg_threshold=.\n"
                    "Writes probe.json, metrics.jsonl and config.yaml to the output directory.")
    p.add_argument("--config", help="YAML file of config keys (e.g. a recipe: a hybrid probes with its rl_preset)")
    p.add_argument("--model", help="tiny | smollm2-135m | local HF folder | hub id (default: tiny)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="built-in task name")
    src.add_argument("--data", help=".jsonl / .parquet / HF datasets folder")
    p.add_argument("--steps", type=int, help="probe length k (= superrl_k; default by batch size: 50, or 10 above 32 prompts)")
    p.add_argument("--method", help="RL method to probe with (grpo, dr_grpo, reinforce, rloo, ppo; default grpo)")
    p.add_argument("--seed", type=int)
    p.add_argument("--output-dir", help="default runs/probe (with --config: <its output_dir>/probe)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (prompts_per_step=, group_size=, ...)")
    p.set_defaults(func=cmd_probe)
