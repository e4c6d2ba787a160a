"""Scripted rewards for loop tests (imported by ``reward_fn=reward_fns:NAME``)."""


def even_length(completion: str, row) -> float:
    # a dense, model-independent signal: about half the samples score 1
    return float(len(completion) % 2 == 0)


def always_zero(completion: str, row) -> float:
    return 0.0


def always_one(completion: str, row) -> float:
    return 1.0


def even_length_on_odd_prompts(completion: str, row) -> float:
    # even_length on about half the questions, 0 on the rest: those groups have zero advantage
    return float(len(completion) % 2 == 0) if len(row.prompt) % 2 else 0.0
