"""``hybridrl compare``: several methods on the same data, seed, model and budget, then a report."""

from __future__ import annotations

import argparse

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl compare --methods grpo,hpt --model tiny --task chain_sum --steps 2 --eval-size 8 --output-dir runs/cmp
  hybridrl compare --methods grpo,hpt,superrl --model smollm2-135m --task chain_sum --steps 50 \\
      --eval-task knights_knaves:2 --samples 8 --k 1,4,8 --output-dir runs/cmp-50
""" + EXAMPLE_NOTE


def cmd_compare(args: argparse.Namespace) -> int:
    from hybridrl.pipelines.compare import run_compare
    from hybridrl.report.tables import accuracy_table

    from hybridrl.commands.eval import parse_ks
    from hybridrl.config import ConfigError

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if len(set(methods)) != len(methods):
        raise ConfigError("--methods lists a method twice")
    cli = {"model": args.model, "task": args.task, "data": args.data, "steps": args.steps, "seed": args.seed}
    ks = parse_ks(args.k, args.samples)
    res = run_compare(methods, output_dir=args.output_dir, cli=cli, overrides=args.overrides, config=args.config,
                      eval_size=args.eval_size, eval_tasks=args.eval_task, eval_data=args.eval_data,
                      samples=args.samples, ks=ks, temperature=args.temperature, top_p=args.top_p,
                      evaluate_base=not args.no_base, eval_seed=args.eval_seed,
                      eval_task_size=args.eval_task_size, eval_batch_size=args.eval_batch_size)
    table = accuracy_table(res["evals"])
    print("\n" + table.to_markdown())
    print(f"  ({table.caption})")
    print(f"\nreport: {res['report']['html']}  (and {res['report']['markdown']}); "
          f"{res['wall_time_s'] / 60:.1f} min")
    return 0


def register(sub) -> None:
    c = sub.add_parser(
        "compare", help="train several methods on equal terms, evaluate them and the base model, write a report",
        formatter_class=HelpFormatter, epilog=EXAMPLES,
        description="Runs each method on the same data, seed, model and step budget (a finished run is not rerun, "
                    "a half-finished one resumes), evaluates each final model and the base model on the eval "
                    "set(s), and writes report.md and a self-contained report.html with tables and plots.")
    c.add_argument("--methods", required=True, help="comma-separated, e.g. grpo,hpt,superrl")
    c.add_argument("--config", default=None, help="YAML training config shared by every method (method is set per run)")
    src = c.add_mutually_exclusive_group()  # or task/data in --config
    src.add_argument("--task", help="built-in training task (its test split is the first eval set)")
    src.add_argument("--data", help="training file")
    c.add_argument("--model", default=None, help="tiny | smollm2-135m | HF folder (default: the config default)")
    c.add_argument("--steps", type=int, default=None, help="steps per method (default: the config's, 100)")
    c.add_argument("--seed", type=int, default=None, help="training seed (default 0)")
    c.add_argument("--output-dir", default="runs/compare",
                   help="one folder per method inside, evals/, report.md, report.html; a finished method is reused, "
                        "a half-finished one resumed, one with other settings refused")
    c.add_argument("--eval-size", type=int, default=64, help="questions per built-in eval task")
    c.add_argument("--eval-seed", type=int, default=None,
                   help="seed of the built-in eval sets (default: --seed); fix it to compare training seeds on one test set")
    c.add_argument("--eval-task", default=None, help="extra eval sets: NAME[:LEVEL],... (out-of-distribution columns)")
    c.add_argument("--eval-task-size", type=int, default=None,
                   help="questions per --eval-task set (default: --eval-size)")
    c.add_argument("--eval-batch-size", type=int, default=16,
                   help="questions generated together when evaluating; larger is faster on CPU, up to memory")
    c.add_argument("--eval-data", action="append", help="extra eval file; repeat for several")
    c.add_argument("--samples", type=int, default=0, help="sampled completions per eval question (avg@K, pass@k)")
    c.add_argument("--k", default=None, help="comma-separated k for pass@k (k <= --samples)")
    c.add_argument("--temperature", type=float, default=0.6, help="eval sampling temperature (HPT: 0.6)")
    c.add_argument("--top-p", type=float, default=0.95, help="eval nucleus sampling mass (with --samples)")
    c.add_argument("--no-base", action="store_true", help="do not evaluate the base model")
    c.add_argument("overrides", nargs="*", metavar="key=value", help="training config overrides for every method")
    c.set_defaults(func=cmd_compare)
