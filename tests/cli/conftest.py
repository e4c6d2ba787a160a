"""Helpers for CLI tests: tiny runs through ``hybridrl.cli.main`` in-process (seconds each)."""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
# reward workers import cli_rewards by name
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))

TINY = ["--model", "tiny", "--task", "chain_sum", "train_size=8", "eval_size=2", "prompts_per_step=2",
        "group_size=2", "max_new_tokens=8", "micro_batch_size=4", "progress=false", "reward_fn=cli_rewards:even_length"]
"""A tiny run: 2 prompts x 2 completions x 8 tokens per step, 2 eval questions (seconds per step)."""


@pytest.fixture
def tiny():
    return list(TINY)


def error_lines(err: str) -> list[str]:
    return [l for l in err.splitlines() if l.startswith("hybridrl: error:")]
