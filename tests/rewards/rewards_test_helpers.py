"""Importable helpers for the reward tests (worker processes import them by name)."""

import math
import time

from hybridrl.rewards.types import RewardResult


class SleepyVerifier:
    """Sleeps ``seconds`` before answering: stands in for a verifier that hangs."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def score(self, completion, row):
        time.sleep(self.seconds)
        return RewardResult(1.0, True, completion)


def raises(completion, row):
    raise ValueError("user bug")


def returns_nan(completion, row):
    return math.nan


def returns_text(completion, row):
    return "1.0"


def returns_inf(completion, row):
    return math.inf


def length_reward(completion, row):
    return len(completion) / 10, {"extracted": completion[-1:]}


def graded(completion, row):
    # a user reward that decides correctness itself: 0.5 for the right number, 1.0 otherwise,
    # with correct = exact match and the number as extracted (an int, reported as a string)
    ok = completion.strip() == row.answer[0]
    return (0.5 if ok else 1.0), {"correct": ok, "extracted": int(completion)}


def crash_worker(completion, row):
    import os

    os._exit(3)
