"""Records produced by verifiers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RewardResult:
    """The score of one completion.

    ``score`` is what the loss sees; ``correct`` is exact-match correctness (score == 1.0
    for binary verifiers). ``timed_out`` / ``error`` are set when the verifier failed: the
    score is then 0 and the failure is counted in metrics, never raised into the loop.
    """

    score: float
    correct: bool
    extracted: str | None = None
    timed_out: bool = False
    error: str | None = None
