"""``hybridrl demo``: the embedded default run."""

from __future__ import annotations

import argparse

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl demo --quick                  # a smoke run of a few minutes
  hybridrl demo --output-dir runs/demo2  # the full demo (GRPO vs HPT on SmolLM2-135M, then a report)
  .venv-vllm/bin/hybridrl demo --rollout-engine vllm   # the same on the vLLM engine
""" + EXAMPLE_NOTE


def cmd_demo(args: argparse.Namespace) -> int:
    from hybridrl.pipelines.demo import run_demo

    return run_demo(quick=args.quick, output_dir=args.output_dir, rollout_engine=args.rollout_engine,
                    rollout_dtype=args.rollout_dtype)


def register(sub) -> None:
    d = sub.add_parser("demo", help="the embedded default: a short real run on CPU with SmolLM2-135M, then a report",
                       formatter_class=HelpFormatter, epilog=EXAMPLES,
                       description="Train SmolLM2-135M-Instruct with GRPO and with HPT for the same short budget on "
                                   "chain_sum, evaluate the base and both final models on the same held-out "
                                   "questions, and write report.md / report.html.")
    d.add_argument("--output-dir", default=None, help="(default: runs/demo, or runs/demo-quick with --quick)")
    d.add_argument("--quick", action="store_true", help="a much smaller budget (smoke test)")
    d.add_argument("--rollout-engine", choices=("hf", "vllm", "auto"), default="auto",
                   help="what samples the rollouts and answers the evaluations: HF generate, a vLLM engine "
                        "(make install-vllm), or vLLM when it imports (else HF)")
    d.add_argument("--rollout-dtype", choices=("auto", "fp32", "bf16", "int8"), default="auto",
                   help="precision of the HF engine's rollout copy of the weights: auto = bf16 where the "
                        "machine has it natively, else fp32 (a bf16/int8 copy is importance-corrected)")
    d.set_defaults(func=cmd_demo)
