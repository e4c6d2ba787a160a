"""Helpers for the CLI tests (a module name of its own: several folders have a conftest.py)."""

TINY = ["--model", "tiny", "--task", "chain_sum", "train_size=8", "eval_size=2", "prompts_per_step=2",
        "group_size=2", "max_new_tokens=8", "micro_batch_size=4", "progress=false", "reward_fn=cli_rewards:even_length"]
"""A tiny run: 2 prompts x 2 completions x 8 tokens per step, 2 eval questions (seconds per step)."""


def error_lines(err: str) -> list[str]:
    return [l for l in err.splitlines() if l.startswith("hybridrl: error:")]
