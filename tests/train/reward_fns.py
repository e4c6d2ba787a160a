"""Scripted rewards for loop tests (imported by ``reward_fn=reward_fns:NAME``)."""


def even_length(completion: str, row) -> float:
    # a dense, model-independent signal: about half the samples score 1
    return float(len(completion) % 2 == 0)


def always_zero(completion: str, row) -> float:
    return 0.0


def always_one(completion: str, row) -> float:
    return 1.0
