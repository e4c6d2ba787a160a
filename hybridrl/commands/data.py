"""``hybridrl data``: write a built-in task's rows to a .jsonl or .parquet file."""

from __future__ import annotations

import argparse
from pathlib import Path

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl data --task chain_sum --size 200 --out data/chain_sum.jsonl
  hybridrl data --task knights_knaves --difficulty 2 --split test --size 64 --out data/kk_test.parquet
  hybridrl train --method hpt --data data/chain_sum.jsonl eval_data=data/kk_test.parquet
""" + EXAMPLE_NOTE


def _tasks_help() -> str:
    from hybridrl.data.tasks import describe_tasks

    return describe_tasks()


def cmd_data(args: argparse.Namespace) -> int:
    from hybridrl.data.loading import DataError, write_rows
    from hybridrl.data.tasks import build_task

    if args.size < 1:
        raise DataError(f"--size must be >= 1, got {args.size}")
    if not args.out.lower().endswith((".jsonl", ".parquet")):
        raise DataError(f"--out {args.out}: use a .jsonl or .parquet file name (the suffix picks the format)")
    if Path(args.out).exists() and not args.overwrite:  # like runs: never replace a file silently
        raise DataError(f"--out {args.out} already exists; use another file name or --overwrite")
    rows = build_task(args.task, size=args.size, seed=args.seed, difficulty=args.difficulty, split=args.split)
    write_rows(rows, args.out)
    with_demo = sum(1 for r in rows if r.demonstration)
    print(f"wrote {len(rows)} rows ({with_demo} with demonstrations) of task '{args.task}' "
          f"[split={args.split}, seed={args.seed}, difficulty={args.difficulty or 'default'}] to {args.out}")
    return 0


def register(sub) -> None:
    d = sub.add_parser("data", help="write a built-in task's rows (with demonstrations) to a .jsonl/.parquet file",
                       formatter_class=HelpFormatter,
                       description="Generate rows of a built-in task (reasoning-gym, offline), each with a "
                                   "prompt, its answer and a worked demonstration, for `hybridrl train --data` "
                                   "or `eval --data`.\n\nBuilt-in tasks:\n" + _tasks_help(),
                       epilog=EXAMPLES)
    d.add_argument("--task", required=True, help="built-in task name (listed above)")
    d.add_argument("--size", type=int, default=1000, help="number of rows")
    d.add_argument("--seed", type=int, default=0,
                   help="seed of the questions (train and test splits never share a question)")
    d.add_argument("--difficulty", default=None,
                   help="task level (see 'difficulty' above; default: the task's level 1)")
    d.add_argument("--split", default="train", choices=["train", "test"], help="which split to draw from")
    d.add_argument("--out", required=True, help="output file: .jsonl or .parquet (written atomically)")
    d.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else that is refused)")
    d.set_defaults(func=cmd_data)
