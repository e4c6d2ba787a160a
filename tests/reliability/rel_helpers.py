"""Importable helpers for the reliability tests (reward worker processes import them by name)."""

import math


def faulty(completion: str, row) -> float:
    """A buggy user reward: raises on lengths 1 mod 4, returns garbage (NaN) on lengths 3 mod 4,
    else (even lengths) a valid score of 1. Half the samples fail, so a step where *every*
    sample fails (which aborts the run, #14) needs all 8 lengths odd."""
    n = len(completion)
    if n % 4 == 1:
        raise ZeroDivisionError("user reward bug")
    if n % 4 == 3:
        return math.nan
    return 1.0


def parse_float(completion: str, row) -> float:
    """A naive user reward that trusts the model's output: ``float()`` of the last word
    (raises on most strings; the pool turns that into score 0 + an error count)."""
    words = completion.split()
    return float(float(words[-1]) == float(row.answer[0])) if words else 0.0
