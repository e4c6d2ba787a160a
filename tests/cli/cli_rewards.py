"""Rewards for CLI tests (imported by the reward workers as ``cli_rewards:NAME``)."""


def even_length(completion: str, row) -> float:
    # dense and model-independent: about half the samples score 1
    return float(len(completion) % 2 == 0)


def one_arg(completion):  # wrong signature: no row
    return 1.0


def always_raises(completion: str, row) -> float:
    raise RuntimeError("reward bug")


def returns_true(completion: str, row) -> bool:
    return True
