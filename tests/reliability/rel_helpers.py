"""Importable helpers for the reliability tests (reward worker processes import them by name)."""

import math


def faulty(completion: str, row) -> float:
    """A buggy user reward: raises on odd lengths, returns garbage for lengths divisible by 4,
    else a valid score."""
    n = len(completion)
    if n % 2:
        raise ZeroDivisionError("user reward bug")
    if n % 4 == 0:
        return math.nan
    return 1.0


def parse_float(completion: str, row) -> float:
    """A naive user reward that trusts the model's output: ``float()`` of the last word
    (raises on most strings; the pool turns that into score 0 + an error count)."""
    words = completion.split()
    return float(float(words[-1]) == float(row.answer[0])) if words else 0.0
