"""Is a predicted answer equivalent to one of the references? (docs/design.md §3)

Three tests, cheapest first, any one suffices:

1. exact match after light normalisation (case, spaces, ``$``, ``\\text{}``, trailing ``.``);
2. exact numeric match (``1,000 == 1000``, ``0.5 == 1/2 == \\frac12``, ``−3 == -3``) with
   :class:`fractions.Fraction`, so no float tolerance is involved;
3. ``math-verify`` symbolic equivalence (``2x+4 == 4+2x``), both sides parsed as ``$…$``.

math-verify's own time-outs use ``signal.alarm`` (main thread only), so they are disabled here
and the time limit is enforced by running the comparison in the guarded worker pool of
:mod:`hybridrl.rewards.pool` (``timeout_s`` not None). Inside a pool worker the comparison
runs directly (``timeout_s=None``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

__all__ = ["answers_match", "normalize_answer", "parse_number", "MAX_SYMBOLIC_CHARS"]

MAX_SYMBOLIC_CHARS = 512
"""Answers longer than this skip math-verify (only the string/numeric tests run): a model's
final answer is short, and sympy's cost grows badly with the input size."""

# Answers sympy may take unbounded time on (found by tests/reliability fuzzing: each one costs
# the pool a 2 s time-out and a worker restart). They still get the string/numeric tests.
_COSTLY_RE = re.compile(
    r"\^\s*\{[^{}]*(?:\^|\*\*|!)"  # a power inside an exponent: 10^{10^{10}}, 2^{3!}
    r"|\^\s*\(?[\d.]+\)?\s*\^"  # a^b^c
    r"|(?:\^|\*\*)\s*[{(]?\s*-?\d{4,}"  # an exponent of 4+ digits
    r"|\*\*[^*]*\*\*"  # x**y**z
    r"|(?:\d{3,}|[})\]])\s*!"  # factorial of a big number or of an expression
    r"|\\(?:def|newcommand|renewcommand|sum|prod|int|lim|binom|frac\s*\{\s*d\^)"
)
MAX_NESTING = 20
"""Deeper brace/parenthesis nesting than this skips math-verify too (sympy recursion)."""


def _too_costly(pred: str) -> bool:
    if _COSTLY_RE.search(pred):
        return True
    depth = deepest = 0
    for ch in pred:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    return deepest > MAX_NESTING


_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_SPACE_RE = re.compile(r"\s+")
_INT_OR_DEC_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_SLASH_FRAC_RE = re.compile(r"([-+]?)(\d+)/(\d+)")
_LATEX_FRAC_RE = re.compile(r"([-+]?)\\[dt]?frac(?:\{(\d+)\}|(\d))(?:\{(\d+)\}|(\d))")
_DIGIT_GROUP_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def normalize_answer(s: str) -> str:
    """Light, meaning-preserving normalisation used by the exact-string test."""
    s = s.strip().replace("−", "-").replace("$", "")
    s = _TEXT_RE.sub(r"\1", s)
    s = s.replace("\\!", "").replace("\\,", "").replace("\\left", "").replace("\\right", "")
    s = _SPACE_RE.sub(" ", s).strip().rstrip(".").strip().lower()
    return s


def parse_number(s: str) -> Fraction | None:
    """Exact value of a plain number: int, decimal, ``a/b``, ``\\frac{a}{b}``/``\\frac12``,
    with digit-group commas and a unicode minus allowed; None for anything else."""
    s = normalize_answer(s).replace(" ", "")
    s = _DIGIT_GROUP_RE.sub("", s)
    if len(s) > 64:  # not a plain number worth converting (and int() caps digits anyway)
        return None
    try:
        if _INT_OR_DEC_RE.fullmatch(s):
            return Fraction(s)
        m = _SLASH_FRAC_RE.fullmatch(s) or _LATEX_FRAC_RE.fullmatch(s)
        if m is None:
            return None
        sign, *parts = m.groups()
        num, den = [p for p in parts if p is not None]
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return -value if sign == "-" else value
    except (ValueError, ZeroDivisionError):
        return None


def _disable_math_verify_alarm_warnings() -> None:
    # We pass timeout=None on purpose (the pool enforces time); silence the one-off warning.
    from math_verify import grader, parser

    grader.TIMEOUT_WARNING_SHOWN = True
    parser.TIMEOUT_WARNING_SHOWN = True


@lru_cache(maxsize=4096)
def _mv_parse(s: str):
    """math-verify parse of ``$s$`` (cached: the n completions of a prompt share references)."""
    from math_verify import parse

    _disable_math_verify_alarm_warnings()
    return parse(f"${s}$", parsing_timeout=None)


def _symbolic_match(pred: str, ref: str) -> bool:
    from math_verify import verify

    gold, guess = _mv_parse(ref), _mv_parse(pred)
    if not gold or not guess:
        return False
    return bool(verify(gold, guess, timeout_seconds=None))


def _answers_match_unguarded(pred: str, references: list[str]) -> bool:
    """The comparison itself, without a time limit (run inside a pool worker)."""
    if not isinstance(pred, str) or not pred.strip():
        return False
    refs = [r for r in references if isinstance(r, str) and r.strip()]
    norm = normalize_answer(pred)
    if any(norm == normalize_answer(r) for r in refs):
        return True
    value = parse_number(pred)
    if value is not None and any(parse_number(r) == value for r in refs):
        return True
    if len(pred) > MAX_SYMBOLIC_CHARS or _too_costly(pred):
        return False
    for ref in refs:
        try:
            if _symbolic_match(pred, ref):
                return True
        except Exception:  # math-verify/sympy failures mean "not shown equivalent"
            continue
    return False


def answers_match(pred: str, references: list[str], *, timeout_s: float | None = 5.0) -> bool:
    """True when ``pred`` is equivalent to any of ``references``.

    ``timeout_s``: with a number, the comparison runs in the worker pool of
    :mod:`hybridrl.rewards.pool` and a comparison that does not finish in time counts as
    no match (safe from any thread). ``None`` runs in-process with no time limit (only for
    callers that are themselves guarded, such as pool workers). Never raises.
    """
    if isinstance(references, str):
        references = [references]
    if timeout_s is None:
        try:
            return _answers_match_unguarded(pred, list(references))
        except Exception:
            return False
    from hybridrl.rewards.pool import run_guarded

    status, value = run_guarded(_answers_match_unguarded, (pred, list(references)), timeout_s=timeout_s)
    return status == "ok" and bool(value)
