"""Verifiers: ``score(completion, row) -> RewardResult`` (docs/design.md §3).

A verifier is a pure function of the completion and the row. It never raises for a bad
completion (that scores 0); time limits are not its job but the pool's
(:func:`hybridrl.rewards.scoring.score_completions`), so verifiers may call math-verify and
reasoning-gym directly. Verifiers are small picklable objects: the pool ships them to worker
processes.

Which verifier a task gets (:func:`get_verifier`):

- ``None`` / ``"math"`` / any name that is neither registered nor a reasoning-gym task (e.g. a
  user's ``"gsm8k"``): :class:`MathVerifier` (extract + :func:`answers_match`).
- reasoning-gym tasks whose answer is one plain number (``chain_sum``, ``basic_arithmetic``,
  ``leg_counting``, ``gsm_symbolic``, ``products``): :class:`MathVerifier`. It accepts every
  answer reasoning-gym scores 1.0 on these tasks (tested on generated entries) and also
  harmless formatting (``1,000``, ``500.0``, ``\\frac{8}{2}``) that reasoning-gym's exact
  string scorer of ``leg_counting`` would reject.
- ``knights_knaves``: :class:`KnightsKnavesVerifier` (role assignment as a set).
- every other reasoning-gym task: :class:`ReasoningGymVerifier` (its own scorer, 1.0 only).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
import re
import traceback
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from hybridrl.schema import Row
from hybridrl.rewards.equivalence import answers_match
from hybridrl.rewards.extract import extract_answer, extract_boxed, extract_tagged
from hybridrl.rewards.types import RewardResult

__all__ = [
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
    "NUMERIC_RG_TASKS",
    "SAFE_RG_ANSWERS",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Verifier(Protocol):
    """Anything with ``score(completion, row) -> RewardResult``."""

    def score(self, completion: str, row: Row) -> RewardResult: ...


def _binary(correct: bool, extracted: str | None) -> RewardResult:
    return RewardResult(score=1.0 if correct else 0.0, correct=correct, extracted=extracted)


class MathVerifier:
    """Extract the final answer (:func:`extract_answer`) and compare with ``row.answer``.

    Score 1.0 if equivalent to any accepted reference (:func:`answers_match`), else 0.0.
    """

    def score(self, completion: str, row: Row) -> RewardResult:
        extracted = extract_answer(completion)
        if extracted is None:
            return _binary(False, None)
        return _binary(answers_match(extracted, row.answer, timeout_s=None), extracted)


# --------------------------------------------------------------------------- knights & knaves

_DEFAULT_ROLES = {"knight": True, "knave": False}


class KnightsKnavesVerifier:
    """Correct iff the name → role assignment equals the reference's, for every person.

    Parses sentences like ``"Zoey is a knight, and Oliver is a knave"`` in any order, also
    ``"Oliver is not a knight"``, ``"Zoey: knight"`` and the task's renamed roles
    (``hero``/``villain`` … from ``row.metadata['knight_knave_terms']``). The region parsed is
    the ``<answer>`` block or last box when present, else the whole completion; when a person
    is named several times the last statement wins (the conclusion comes last). Missing or
    extra people make the answer wrong; there is no partial credit.
    """

    def _roles(self, row: Row) -> dict[str, bool]:
        roles = dict(_DEFAULT_ROLES)
        terms = row.metadata.get("knight_knave_terms") if isinstance(row.metadata, dict) else None
        if isinstance(terms, dict):
            if terms.get("knight"):
                roles[str(terms["knight"]).lower()] = True
            if terms.get("knave"):
                roles[str(terms["knave"]).lower()] = False
        return roles

    def parse(self, text: str, roles: dict[str, bool], names: list[str] | None = None) -> dict[str, bool]:
        """``{name (lower case): is_knight}`` from the statements in ``text``."""
        role_alt = "|".join(sorted((re.escape(r) for r in roles), key=len, reverse=True))
        name_alt = "|".join(re.escape(n) for n in names) if names else r"[A-Za-z][\w'-]*"
        pattern = re.compile(
            rf"\b({name_alt})\s*(?:\bis\b|:|=|-)\s*(\bnot\b\s*)?(?:\b(?:a|an|the)\b\s*)?({role_alt})s?\b",
            re.IGNORECASE,
        )
        out: dict[str, bool] = {}
        for m in pattern.finditer(text):
            is_knight = roles[m.group(3).lower()]
            out[m.group(1).lower()] = (not is_knight) if m.group(2) else is_knight
        return out

    def score(self, completion: str, row: Row) -> RewardResult:
        roles = self._roles(row)
        names = [str(n) for n in row.metadata.get("names", [])] if isinstance(row.metadata, dict) else []
        ref = self.parse(row.answer[0], roles, names or None)
        if not ref:
            return RewardResult(0.0, False, None, error=f"unparseable reference {row.answer[0]!r}")
        text = completion if isinstance(completion, str) else ""
        region = extract_tagged(text) or extract_boxed(text) or text
        pred = self.parse(region, roles, names or list(ref))
        if not pred:
            return _binary(False, None)
        extracted = ", ".join(f"{n} is a {'knight' if k else 'knave'}" for n, k in sorted(pred.items()))
        return _binary(pred == ref, extracted)


# --------------------------------------------------------------------------- reasoning-gym


_MATH_NAMES = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                         "asinh", "acosh", "atanh", "exp", "log", "ln", "sqrt", "pi", "oo", "Abs", "Integral"})
_ARITHMETIC_RE = re.compile(r"[\d\s+\-*/().]*")
_SYMBOLIC_RE = re.compile(r"[A-Za-z\d\s+\-*/^().,]*")
_WORD_RE = re.compile(r"[A-Za-z]+")


def _symbolic_ok(answer: str) -> bool:
    """Letters, digits, operators; every name a one-letter variable or a known math function."""
    return bool(_SYMBOLIC_RE.fullmatch(answer)) and all(
        len(w) == 1 or w in _MATH_NAMES for w in _WORD_RE.findall(answer))


SAFE_RG_ANSWERS: dict[str, Callable[[str], bool]] = {
    # these reasoning-gym scorers pass the model's answer to eval() or sympy's parse_expr (which
    # calls eval): "__import__('os').system(...)" would run. An answer reaches them only if it
    # is made of the characters their correct answers use, which cannot call anything.
    "countdown": lambda a: bool(_ARITHMETIC_RE.fullmatch(a)),
    "puzzle24": lambda a: bool(_ARITHMETIC_RE.fullmatch(a)),
    "polynomial_multiplication": _symbolic_ok,
    "simple_integration": _symbolic_ok,
    "intermediate_integration": _symbolic_ok,
    # eval() is only their partial-credit path (a Python list): plain grids/strings only
    "spiral_matrix": lambda a: bool(re.fullmatch(r"[\d\s\-]*", a)),
    "binary_matrix": lambda a: bool(re.fullmatch(r"[\d\s]*", a)),
    "n_queens": lambda a: bool(re.fullmatch(r"[Q_\s]*", a)),
    "string_insertion": lambda a: bool(re.fullmatch(r"[A-Za-z\s]*", a)),
}
"""reasoning-gym tasks whose scorer evaluates the answer as code -> the answers it may see
(tests/reliability/test_safety.py checks this list against reasoning-gym's source)."""


class ReasoningGymVerifier:
    """Score the extracted answer with reasoning-gym's own ``score_answer`` for ``task_name``.

    ``entry = {"question": row.prompt, "answer": row.answer[0], "metadata": row.metadata}``.
    Correct iff the scorer returns exactly 1.0. Partial credit (reasoning-gym gives e.g. 0.01
    or 0.3 + 0.7·k/n for near misses) is **not** correct and scores 0: rewards stay binary so
    that every method sees the same signal (the method specs of docs/methods.md assume binary R_i).

    Model output is never evaluated as code: for the tasks of :data:`SAFE_RG_ANSWERS`, whose
    scorers call ``eval``, an answer outside the task's safe alphabet scores 0 unscored.
    """

    def __init__(self, task_name: str):
        self.task_name = task_name
        self._fn: Callable[[str, dict], float] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"task_name": self.task_name, "_fn": None}  # the scorer is rebuilt per process

    def _scorer(self) -> Callable[[str, dict], float]:
        if self._fn is None:
            import reasoning_gym

            self._fn = reasoning_gym.get_score_answer_fn(self.task_name)
        return self._fn

    def score(self, completion: str, row: Row) -> RewardResult:
        extracted = extract_answer(completion)
        if extracted is None:
            return _binary(False, None)
        safe = SAFE_RG_ANSWERS.get(self.task_name)
        if safe is not None and not safe(extracted):
            return _binary(False, extracted)
        entry = {"question": row.prompt, "answer": row.answer[0], "metadata": row.metadata}
        value = float(self._scorer()(extracted, entry))
        return _binary(value == 1.0, extracted)


# --------------------------------------------------------------------------- format and sums


class FormatReward:
    """1.0 if the completion states exactly one final answer and then stops, else 0.0.

    Exactly one closed ``<answer>…</answer>`` block, or (with no answer tags) exactly one
    ``\\boxed``/``\\fbox``; at most ``max_tail_chars`` characters (ignoring whitespace and a
    closing ``$``/``.``/end-of-think markup) after it. Not a correctness signal
    (``correct`` is always False); combine it with a verifier through :class:`WeightedSum`.
    """

    def __init__(self, max_tail_chars: int = 32):
        self.max_tail_chars = max_tail_chars

    def score(self, completion: str, row: Row) -> RewardResult:
        text = completion if isinstance(completion, str) else ""
        lower = text.lower()
        n_open, n_close = lower.count("<answer>"), lower.count("</answer>")
        if n_open or n_close:
            ok = n_open == 1 and n_close == 1 and lower.index("<answer>") < lower.index("</answer>")
            end = lower.rfind("</answer>") + len("</answer>")
        else:
            boxes = list(re.finditer(r"\\(?:boxed|fbox)", text))
            ok = len(boxes) == 1 and extract_boxed(text) is not None
            end = _box_end(text, boxes[0].end()) if ok else len(text)
        tail = re.sub(r"[\s$.\\\])]|</think>", "", text[end:])
        ok = ok and len(tail) <= self.max_tail_chars
        return RewardResult(score=1.0 if ok else 0.0, correct=False, extracted=None)


def _box_end(text: str, pos: int) -> int:
    """Index just after the box whose name ends at ``pos``."""
    if pos < len(text) and text[pos] == "{":
        depth = 0
        for i in range(pos, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return i + 1
        return len(text)
    m = re.compile(r"\s+[^\s$]+").match(text, pos)
    return m.end() if m else pos


class WeightedSum:
    """``score = Σ w_i · score_i`` over ``(verifier, weight)`` terms.

    ``correct``/``extracted`` come from the first (primary) term; an error or time-out in any
    term is reported.  Example: ``WeightedSum([(MathVerifier(), 1.0), (FormatReward(), 0.1)])``.
    """

    def __init__(self, terms: list[tuple[Verifier, float]]):
        if not terms:
            raise ValueError("WeightedSum needs at least one (verifier, weight) term")
        self.terms = list(terms)

    def score(self, completion: str, row: Row) -> RewardResult:
        results = [(v.score(completion, row), w) for v, w in self.terms]
        primary = results[0][0]
        errors = [r.error for r, _ in results if r.error]
        return RewardResult(
            score=sum(r.score * w for r, w in results),
            correct=primary.correct,
            extracted=primary.extracted,
            timed_out=any(r.timed_out for r, _ in results),
            error="; ".join(errors) if errors else None,
        )


# --------------------------------------------------------------------------- user rewards

_USER_FN_CACHE: dict[str, Callable[..., Any]] = {}


def resolve_reward(path: str) -> Callable[..., Any]:
    """``"pkg.module:function"`` or ``"/abs/file.py:function"`` → the function (cached)."""
    fn = _USER_FN_CACHE.get(path)
    if fn is not None:
        return fn
    module_name, sep, attr = path.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"reward function must look like 'module:function', got {path!r}")
    if module_name.endswith(".py"):
        spec = importlib.util.spec_from_file_location(f"_hybridrl_user_reward_{abs(hash(path))}", module_name)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load reward file {module_name!r}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    fn = getattr(module, attr)
    if not callable(fn):
        raise TypeError(f"{path!r} is not callable")
    _USER_FN_CACHE[path] = fn
    return fn


class UserReward:
    """Wraps a user function ``fn(completion, row) -> float | (float, dict)``.

    The float is the score; ``correct`` is ``info["correct"]`` when given, else
    ``score >= 1.0``; ``info["extracted"]`` (if any) is reported; other info keys are ignored.
    Exceptions and garbage returns (not a number, bool, NaN, ±inf) score 0 with ``error`` set
    and are counted in ``n_errors``; the first traceback is logged once per process.
    """

    def __init__(self, path: str):
        self.path = path
        self.n_errors = 0
        self.last_traceback: str | None = None
        self._logged = False

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "n_errors": 0, "last_traceback": None, "_logged": True}

    def _fail(self, message: str, tb: str | None = None) -> RewardResult:
        # a message may quote the whole completion (100 KB): keep what a reader needs
        message = message if len(message) <= 300 else message[:300] + "..."
        self.n_errors += 1
        self.last_traceback = (tb if len(tb) <= 4000 else tb[:4000] + "...") if tb else message
        if not self._logged:
            self._logged = True
            logger.warning("user reward %s failed (logged once; later failures are only counted):\n%s",
                           self.path, self.last_traceback)
        return RewardResult(score=0.0, correct=False, extracted=None, error=message)

    def score(self, completion: str, row: Row) -> RewardResult:
        try:
            out = resolve_reward(self.path)(completion, row)
        except Exception as e:  # a user bug must not stop training; it is counted instead
            return self._fail(f"{type(e).__name__}: {e}", traceback.format_exc())
        info: dict[str, Any] = {}
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
            out, info = out
        if isinstance(out, bool):  # True / False: correct or not (a bool was once refused)
            out = float(out)
        if not isinstance(out, (int, float)) or not math.isfinite(out):
            return self._fail(f"user reward {self.path} returned {out!r}, expected a finite float")
        score = float(out)
        correct = info.get("correct")
        extracted = info.get("extracted")
        return RewardResult(
            score=score,
            correct=bool(correct) if isinstance(correct, bool) else score >= 1.0,
            extracted=str(extracted) if extracted is not None else None,
        )


def load_user_reward(path: str) -> UserReward:
    """Load ``"module:function"`` (or ``"file.py:function"``) as a verifier.

    Fails loudly now (bad path, missing function) rather than at the first training step.
    """
    module_name, sep, attr = path.rpartition(":")
    if sep and module_name.endswith(".py"):
        path = f"{os.path.abspath(module_name)}:{attr}"  # workers may run in another cwd
    resolve_reward(path)
    return UserReward(path)


# --------------------------------------------------------------------------- registry

NUMERIC_RG_TASKS = frozenset({"chain_sum", "basic_arithmetic", "leg_counting", "gsm_symbolic", "products"})
"""reasoning-gym tasks whose reference is one plain number: scored by :class:`MathVerifier`."""

_REGISTRY: dict[str, Callable[[], Verifier]] = {
    "math": MathVerifier,
    "knights_knaves": KnightsKnavesVerifier,
    **{name: MathVerifier for name in NUMERIC_RG_TASKS},
}
_WARNED_UNKNOWN: set[str] = set()


def register_verifier(name: str, factory: Callable[[], Verifier]) -> None:
    """Make ``get_verifier(name)`` return ``factory()``."""
    _REGISTRY[name] = factory


def _is_reasoning_gym_task(name: str) -> bool:
    try:
        from reasoning_gym.factory import DATASETS
    except ImportError:
        return False
    return name in DATASETS


def get_verifier(task: str | None, *, reward_fn: str | None = None) -> Verifier:
    """The verifier for a row's ``task`` (see the module docstring for the mapping).

    ``reward_fn="module:function"`` overrides the task's verifier with a user function.
    """
    if reward_fn is not None:
        return load_user_reward(reward_fn)
    if task is None:
        return MathVerifier()
    factory = _REGISTRY.get(task)
    if factory is not None:
        return factory()
    if _is_reasoning_gym_task(task):
        return ReasoningGymVerifier(task)
    if task not in _WARNED_UNKNOWN:
        _WARNED_UNKNOWN.add(task)
        logger.info("task %r has no registered verifier: using the generic MathVerifier", task)
    return MathVerifier()
