"""Rewards: answer extraction, verified rewards and time-outs (docs/design.md §3).

- :mod:`.extract`      ``extract_answer(text)``: ``<answer>`` tags, else last box, else last number.
- :mod:`.equivalence`  ``answers_match(pred, refs)``: string, exact numeric, math-verify.
- :mod:`.verifiers`    ``Verifier.score(completion, row) -> RewardResult``; ``get_verifier(task)``.
- :mod:`.scoring`      ``score_completions(completions, rows)``: per-sample time limits in a
  process pool; the function the training loop calls.

Importing this package is light: math-verify, sympy and reasoning-gym are imported lazily
(in the pool's worker processes, in practice).
"""

from hybridrl.rewards.equivalence import answers_match
from hybridrl.rewards.extract import extract_answer
from hybridrl.rewards.scoring import score_completions, shutdown_pool
from hybridrl.rewards.types import RewardResult
from hybridrl.rewards.verifiers import (
    FormatReward,
    KnightsKnavesVerifier,
    MathVerifier,
    ReasoningGymVerifier,
    UserReward,
    Verifier,
    WeightedSum,
    get_verifier,
    load_user_reward,
    register_verifier,
)

__all__ = [
    "RewardResult",
    "extract_answer",
    "answers_match",
    "Verifier",
    "MathVerifier",
    "KnightsKnavesVerifier",
    "ReasoningGymVerifier",
    "FormatReward",
    "WeightedSum",
    "UserReward",
    "load_user_reward",
    "get_verifier",
    "register_verifier",
    "score_completions",
    "shutdown_pool",
]
