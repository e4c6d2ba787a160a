"""Scripted rewards shared by the loop, method, reliability and CLI tests: the one copy of each.

Reward workers import them by name (``reward_fn="scripted_rewards:even_length"``; tests/ is on
PYTHONPATH, see tests/conftest.py) or through the modules that re-export them
(``reward_fns``, ``rel_helpers``, ``integration_rewards``).
"""


def even_length(completion: str, row) -> float:
    # dense, model-dependent but prompt-independent: about half the samples score 1
    return float(len(completion) % 2 == 0)


def always_zero(completion: str, row) -> float:
    # every rollout fails: the sparse-reward regime
    return 0.0


def always_one(completion: str, row) -> float:
    # every rollout succeeds: the dense (saturated) regime
    return 1.0


# --- for the checks of a user's reward function (CLI and Python API) -----------------------------


def one_arg(completion):  # wrong signature: no row
    return 1.0


def always_raises(completion: str, row) -> float:
    raise RuntimeError("reward bug")


def returns_true(completion: str, row) -> bool:
    return True
