"""``hybridrl demo``: the embedded default run."""

from __future__ import annotations

import argparse


def cmd_demo(args: argparse.Namespace) -> int:
    from hybridrl.demo import run_demo

    return run_demo(quick=args.quick, output_dir=args.output_dir)


def register(sub) -> None:
    d = sub.add_parser("demo", help="the embedded default: a short real run on CPU with SmolLM2-135M, then a report")
    d.add_argument("--output-dir", default=None, help="default: runs/demo (runs/demo-quick with --quick)")
    d.add_argument("--quick", action="store_true", help="a much smaller budget (smoke test)")
    d.set_defaults(func=cmd_demo)
