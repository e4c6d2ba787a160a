"""``hybridrl data``: write a built-in task to .jsonl."""

from __future__ import annotations

import argparse

def _tasks_help() -> str:
    from hybridrl.data.tasks import describe_tasks

    return describe_tasks()


def cmd_data(args: argparse.Namespace) -> int:
    from hybridrl.data.loading import write_jsonl
    from hybridrl.data.tasks import build_task

    rows = build_task(args.task, size=args.size, seed=args.seed, difficulty=args.difficulty, split=args.split)
    write_jsonl(rows, args.out)
    with_demo = sum(1 for r in rows if r.demonstration)
    print(f"wrote {len(rows)} rows ({with_demo} with demonstrations) of task '{args.task}' "
          f"[split={args.split}, seed={args.seed}, difficulty={args.difficulty}] to {args.out}")
    return 0


def register(sub) -> None:
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
