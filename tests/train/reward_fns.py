"""Scripted rewards for loop tests (imported by ``reward_fn=reward_fns:NAME``).

``even_length``, ``always_zero`` and ``always_one`` live in tests/scripted_rewards.py.
"""

from scripted_rewards import always_one, always_zero, even_length  # noqa: F401  (re-exported)


def even_length_on_odd_prompts(completion: str, row) -> float:
    # even_length on about half the questions, 0 on the rest: those groups have zero advantage
    return float(len(completion) % 2 == 0) if len(row.prompt) % 2 else 0.0
