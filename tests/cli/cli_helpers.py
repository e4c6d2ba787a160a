"""Helpers for the CLI tests (a module name of its own: several folders have a conftest.py)."""

from tiny_run import as_overrides, tiny_run

TINY = as_overrides(tiny_run(train_size=8, eval_size=2, group_size=2, max_new_tokens=8, lr=None, bf16=None),
                    flags=("model", "task"))
"""The suite's tiny run (tests/tiny_run.py) smaller still: 2 prompts x 2 completions x 8 tokens per
step, 2 eval questions, the default lr and bf16 (seconds per step)."""


def error_lines(err: str) -> list[str]:
    return [l for l in err.splitlines() if l.startswith("hybridrl: error:")]
