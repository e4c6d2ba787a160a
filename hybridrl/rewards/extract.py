"""Final-answer extraction from a completion (docs/design.md §3, SuperRL C.4–C.5).

Priority: the last ``<answer>…</answer>`` block, else the last ``\\boxed{…}`` / ``\\fbox{…}``,
else the last number in the text. Every step is a single left-to-right scan or a regex
without nested quantifiers, so the cost is linear in the input length (≈ a few ms for 100 KB),
and nothing here raises.
"""

from __future__ import annotations

import re

__all__ = ["extract_answer", "extract_boxed", "extract_tagged", "extract_last_number"]

_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"
_BOX_RE = re.compile(r"\\(?:boxed|fbox)")
_BRACE_RE = re.compile(r"[{}]")
# `\boxed 5` form: the token after the space, up to whitespace or `$`.
_BARE_BOX_TOKEN_RE = re.compile(r"\s+([^\s$]+)")
# A number: `1,000` (groups of three), `-3`, `−3` (unicode minus), `2.5`, `.5`. A minus sign
# only counts when it is not a binary minus, i.e. not preceded by a word character or `)`:
# "5-3" ends in the number 3, "= -3" in -3.
_NUMBER_RE = re.compile(
    r"(?:(?<![\w)\]}.])[-−])?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?![\d])|"
    r"(?:(?<![\w)\]}.])[-−])?(?<!\d)\.\d+"
)


def extract_tagged(text: str) -> str | None:
    """Content of the last *closed* ``<answer>…</answer>`` block (case-insensitive), stripped.

    An unclosed ``<answer>`` (a truncated completion) does not count. Empty blocks give None.
    """
    lower = text.lower()
    end = lower.rfind(_ANSWER_CLOSE)
    if end < 0:
        return None
    start = lower.rfind(_ANSWER_OPEN, 0, end)
    if start < 0:
        return None
    content = text[start + len(_ANSWER_OPEN) : end].strip()
    return content or None


def extract_boxed(text: str) -> str | None:
    """Content of the last well-formed, non-empty ``\\boxed{…}`` / ``\\fbox{…}`` / ``\\boxed x``.

    Nested braces are matched. An unclosed last box (``\\boxed{\\frac{1}{2}``) is skipped and
    the previous well-formed one is used; brace matching is precomputed in one pass so this
    stays linear however many boxes there are.
    """
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    if not starts:
        return None
    # One pass over the braces after the first box: closing position for each opening one.
    match: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_RE.finditer(text, starts[0]):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            match[stack.pop()] = m.start()
    for pos in reversed(starts):
        if pos < len(text) and text[pos] == "{":
            close = match.get(pos)
            if close is None:
                continue  # unclosed box
            content = text[pos + 1 : close].strip()
        else:
            token = _BARE_BOX_TOKEN_RE.match(text, pos)
            content = token.group(1) if token else ""
        if content:
            return content
    return None


def extract_last_number(text: str) -> str | None:
    """The last number in ``text``, with digit-group commas removed and ``−`` mapped to ``-``."""
    last = None
    for last in _NUMBER_RE.finditer(text):
        pass
    if last is None:
        return None
    return last.group().replace(",", "").replace("−", "-")


def extract_answer(text: str) -> str | None:
    """The final answer of a completion: ``<answer>`` tags, else last box, else last number.

    A box inside the answer tags is unwrapped (``<answer>\\boxed{5}</answer>`` gives ``5``).
    Returns None when nothing is found or the input is not a string; never raises.
    """
    if not isinstance(text, str):
        return None
    try:
        tagged = extract_tagged(text)
        if tagged is not None:
            return extract_boxed(tagged) or tagged
        boxed = extract_boxed(text)
        if boxed is not None:
            return boxed
        return extract_last_number(text)
    except Exception:  # defensive: extraction must never take the training loop down
        return None
