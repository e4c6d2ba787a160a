"""Step-by-step demonstrations templated from reasoning-gym entries (for the SFT terms).

Each ``*_demo(entry) -> str`` is a pure function of one reasoning-gym entry (``question``,
``answer``, ``metadata``) and returns a worked solution that ends in
``The answer is \\boxed{...}.``. Only ``gsm_symbolic`` ships a natural-language chain of thought
(``metadata['answer_cot']``); every other demonstration is computed from the entry's structured
metadata, so it is correct by construction (``tests/data`` checks every one against the task's
own reasoning-gym scorer).

Arithmetic is evaluated by a small parser (never ``eval``) that mirrors Python's precedence:
``*`` and ``/`` before ``+`` and ``-``, left to right, unary ``-(`` binds tightest. reasoning-gym
computes ``basic_arithmetic`` answers with floor division; entries where a division is not
exact raise :class:`InexactDivision` and are skipped by :mod:`hybridrl.data.tasks` (~1% of
entries at difficulty 3, none at 1), so every demonstration is exact integer arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "InexactDivision",
    "boxed",
    "arithmetic_steps",
    "chain_sum_demo",
    "basic_arithmetic_demo",
    "gsm_symbolic_demo",
    "leg_counting_demo",
    "products_demo",
    "gcd_demo",
    "lcm_demo",
    "knights_knaves_demo",
    "kk_statement_text",
]


class InexactDivision(ValueError):
    """An expression divides two integers that do not divide exactly (or divides by zero)."""


def boxed(answer: str) -> str:
    """The closing sentence every demonstration ends with."""
    return f"The answer is \\boxed{{{answer}}}."


# --------------------------------------------------------------------------- arithmetic


@dataclass(frozen=True)
class _Num:
    value: int


@dataclass(frozen=True)
class _Neg:  # -( child )
    child: Any


@dataclass(frozen=True)
class _Bin:
    op: str
    left: Any
    right: Any


_INT_RE = re.compile(r"-?\d+")


class _Parser:
    """Recursive descent over whitespace-separated tokens (reasoning-gym's ``single`` style).

    expr := term (("+" | "-") term)* ; term := factor (("*" | "/") factor)* ;
    factor := INT | "(" expr ")" | "-(" expr ")"
    """

    def __init__(self, expression: str):
        self.tokens = expression.split()
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise ValueError("unexpected end of expression")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        node = self._expr()
        if self._peek() is not None:
            raise ValueError(f"unexpected token {self._peek()!r}")
        return node

    def _expr(self) -> Any:
        node = self._term()
        while self._peek() in ("+", "-"):
            op = self._take()
            node = _Bin(op, node, self._term())
        return node

    def _term(self) -> Any:
        node = self._factor()
        while self._peek() in ("*", "/"):
            op = self._take()
            node = _Bin(op, node, self._factor())
        return node

    def _factor(self) -> Any:
        tok = self._take()
        if tok in ("(", "-("):
            inner = self._expr()
            if self._take() != ")":
                raise ValueError("missing ')'")
            return _Neg(inner) if tok == "-(" else inner
        if _INT_RE.fullmatch(tok):
            return _Num(int(tok))
        raise ValueError(f"unexpected token {tok!r}")


def _operand(v: int) -> str:
    """A right operand: negatives in brackets (``3 - (-5)``)."""
    return f"({v})" if v < 0 else str(v)


def _apply(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 or a % b != 0:
        raise InexactDivision(f"{a} / {b} is not an exact integer division")
    return a // b


def _evaluate(node: Any, steps: list[str]) -> int:
    """Post-order evaluation; appends one ``"a op b = c"`` string per operation."""
    if isinstance(node, _Num):
        return node.value
    if isinstance(node, _Neg):
        v = _evaluate(node.child, steps)
        steps.append(f"-({v}) = {-v}")
        return -v
    a = _evaluate(node.left, steps)
    b = _evaluate(node.right, steps)
    c = _apply(node.op, a, b)
    steps.append(f"{a} {node.op} {_operand(b)} = {c}")
    return c


def arithmetic_steps(expression: str) -> tuple[list[str], int]:
    """``("12 + 7 - 3") -> (["12 + 7 = 19", "19 - 3 = 16"], 16)``.

    Raises :class:`InexactDivision` for a division that is not exact, ``ValueError`` for a
    malformed expression.
    """
    steps: list[str] = []
    value = _evaluate(_Parser(expression).parse(), steps)
    return steps, value


def _needs_precedence_note(expression: str) -> bool:
    toks = expression.split()
    has_mul = any(t in ("*", "/") for t in toks)
    has_add = any(t in ("+", "-") for t in toks)
    return any(t in ("(", "-(") for t in toks) or (has_mul and has_add)


def _arithmetic_demo(expression: str, answer: str) -> str:
    steps, value = arithmetic_steps(expression)
    if str(value) != answer:  # our evaluator and reasoning-gym's must agree
        raise ValueError(f"{expression} evaluates to {value}, reasoning-gym says {answer}")
    lines = []
    if _needs_precedence_note(expression):
        lines.append("Brackets first, then * and /, then + and -, each from left to right.")
    lines.append(" ".join(f"{s}." for s in steps) if steps else f"The expression is just {value}.")
    lines.append(boxed(answer))
    return " ".join(lines)


def chain_sum_demo(entry: dict[str, Any]) -> str:
    """``12 + 7 - 3`` → ``12 + 7 = 19. 19 - 3 = 16. The answer is \\boxed{16}.``"""
    return _arithmetic_demo(entry["metadata"]["expression"], entry["answer"])


def basic_arithmetic_demo(entry: dict[str, Any]) -> str:
    """One step per operation in precedence order, with a one-line precedence reminder when
    the expression mixes levels or has brackets."""
    return _arithmetic_demo(entry["metadata"]["expression"], entry["answer"])


def products_demo(entry: dict[str, Any]) -> str:
    """Multiply left to right; a multi-digit factor is split by place value.

    ``23 * 45`` → ``23 * 45 = 23 * 40 + 23 * 5 = 920 + 115 = 1035. The answer is \\boxed{1035}.``
    """
    factors = [int(t) for t in entry["metadata"]["expression"].split() if t != "*"]
    acc, sentences = factors[0], []
    for f in factors[1:]:
        parts = [int(d) * 10**p for p, d in enumerate(reversed(str(abs(f)))) if d != "0"][::-1]
        product = acc * f
        if f >= 0 and abs(acc) >= 10 and len(parts) >= 2:
            split = " + ".join(f"{acc} * {p}" for p in parts)
            partial = " + ".join(str(acc * p) for p in parts)
            sentences.append(f"{acc} * {f} = {split} = {partial} = {product}.")
        else:
            sentences.append(f"{acc} * {_operand(f)} = {product}.")
        acc = product
    if str(acc) != entry["answer"]:
        raise ValueError(f"products: computed {acc}, reasoning-gym says {entry['answer']}")
    return " ".join(sentences + [boxed(entry["answer"])])


# --------------------------------------------------------------------------- word problems


_GSM_FINAL_RE = re.compile(r"\n#### .*\Z")


def gsm_symbolic_demo(entry: dict[str, Any]) -> str:
    """reasoning-gym's own chain of thought, its GSM8K-style ``#### 288`` trailer replaced by
    ``The answer is \\boxed{288}.`` (the trailer sometimes reads ``15.0`` for answer ``15``)."""
    cot = entry["metadata"]["answer_cot"].rstrip()
    if not _GSM_FINAL_RE.search(cot):
        raise ValueError("gsm_symbolic answer_cot does not end in '#### <answer>'")
    return _GSM_FINAL_RE.sub("", cot).rstrip() + "\n" + boxed(entry["answer"])


def leg_counting_demo(entry: dict[str, Any]) -> str:
    """One line per animal (count × legs), then the sum.

    ``2 spiders, 1 snake`` → ``A spider has 8 legs, so 2 spiders have 2 * 8 = 16 legs.`` …
    ``Total: 16 + 0 = 16.``
    """
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    lines, totals = [], []
    for animal, count in entry["metadata"]["animals"].items():
        legs = ANIMALS[animal]
        total = count * legs
        totals.append(total)
        article = "An" if animal[0] in "aeiou" else "A"
        group = f"{count} {animal}{'s' if count > 1 else ''}"  # reasoning-gym's own plural
        verb = "have" if count > 1 else "has"
        lines.append(f"{article} {animal} has {legs} legs, so {group} {verb} {count} * {legs} = {total} legs.")
    if len(totals) > 1:
        lines.append(f"Total: {' + '.join(map(str, totals))} = {sum(totals)}.")
    if str(sum(totals)) != entry["answer"]:
        raise ValueError(f"leg_counting: computed {sum(totals)}, reasoning-gym says {entry['answer']}")
    return "\n".join(lines + [boxed(entry["answer"])])


# --------------------------------------------------------------------------- number theory


def _euclid(a: int, b: int) -> tuple[list[str], int]:
    """Euclid's algorithm with one ``a = q * b + r`` line per division."""
    a, b = max(a, b), min(a, b)
    lines = []
    while b:
        q, r = divmod(a, b)
        lines.append(f"{a} = {q} * {b} + {r}")
        a, b = b, r
    return lines, a


def gcd_demo(entry: dict[str, Any]) -> str:
    """Euclid's algorithm, pairwise for more than two numbers."""
    numbers = entry["metadata"]["numbers"]
    g, out = numbers[0], []
    for n in numbers[1:]:
        lines, new = _euclid(g, n)
        out.append(f"Euclid on {g} and {n}: " + "; ".join(lines) + f". So GCD({g}, {n}) = {new}.")
        g = new
    if str(g) != entry["answer"]:
        raise ValueError(f"gcd: computed {g}, reasoning-gym says {entry['answer']}")
    return "\n".join(out + [boxed(entry["answer"])])


def _factorize(n: int) -> dict[int, int]:
    factors: dict[int, int] = {}
    p = 2
    while p * p <= n:
        while n % p == 0:
            factors[p] = factors.get(p, 0) + 1
            n //= p
        p += 1
    if n > 1:
        factors[n] = factors.get(n, 0) + 1
    return factors


def _power_product(factors: dict[int, int]) -> str:
    return " * ".join(f"{p}^{k}" if k > 1 else str(p) for p, k in sorted(factors.items()))


def lcm_demo(entry: dict[str, Any]) -> str:
    """Prime factorisation of each number, then each prime at its highest power.

    ``98, 58`` → ``98 = 2 * 7^2. 58 = 2 * 29. Highest powers: 2 * 7^2 * 29 = 2842.``
    """
    numbers = entry["metadata"]["numbers"]
    highest: dict[int, int] = {}
    lines = []
    for n in numbers:
        f = _factorize(n)
        lines.append(f"{n} = {_power_product(f)}." if f else f"{n} has no prime factors.")
        for p, k in f.items():
            highest[p] = max(highest.get(p, 0), k)
    value = 1
    for p, k in highest.items():
        value *= p**k
    if highest:
        lines.append(f"Take each prime at its highest power: {_power_product(highest)} = {value}.")
    else:
        lines.append("No primes at all, so the LCM is 1.")
    if str(value) != entry["answer"]:
        raise ValueError(f"lcm: computed {value}, reasoning-gym says {entry['answer']}")
    return "\n".join(lines + [boxed(entry["answer"])])


# --------------------------------------------------------------------------- knights and knaves

_ATOMS = ("telling-truth", "lying")


def _kk_atom(stmt: list, names: list[str], terms: dict[str, str]) -> str:
    return f"{names[stmt[1]]} is {terms['a_knight'] if stmt[0] == 'telling-truth' else terms['a_knave']}"


def kk_statement_text(stmt: list, names: list[str], terms: dict[str, str]) -> str:
    """A statement as reasoning-gym words it in the question (mirrors its formatter)."""

    def sub(s: list) -> str:
        text = kk_statement_text(s, names, terms)
        return text if s[0] in _ATOMS else f"({text})"

    kind = stmt[0]
    if kind in _ATOMS:
        return _kk_atom(stmt, names, terms)
    if kind == "not":
        inner = stmt[1]
        if inner[0] in _ATOMS:  # "not lying" is worded as "is a knight"
            return _kk_atom(["lying" if inner[0] == "telling-truth" else "telling-truth", inner[1]], names, terms)
        return f"it is not the case that {sub(inner)}"
    if kind in ("and", "or"):
        return f" {kind} ".join(sub(s) for s in stmt[1:])
    if kind == "->":
        return f"if {sub(stmt[1])} then {sub(stmt[2])}"
    if kind == "<=>":
        return f"{sub(stmt[1])} if and only if {sub(stmt[2])}"
    raise ValueError(f"unknown knights_knaves statement {kind!r}")


def _kk_truth(stmt: list, solution: list[bool]) -> bool:
    kind = stmt[0]
    if kind == "telling-truth":
        return bool(solution[stmt[1]])
    if kind == "lying":
        return not solution[stmt[1]]
    if kind == "not":
        return not _kk_truth(stmt[1], solution)
    if kind == "and":
        return all(_kk_truth(s, solution) for s in stmt[1:])
    if kind == "or":
        return any(_kk_truth(s, solution) for s in stmt[1:])
    if kind == "->":
        return (not _kk_truth(stmt[1], solution)) or _kk_truth(stmt[2], solution)
    if kind == "<=>":
        return _kk_truth(stmt[1], solution) == _kk_truth(stmt[2], solution)
    raise ValueError(f"unknown knights_knaves statement {kind!r}")


def _kk_people(stmt: list) -> list[int]:
    """Indices of the people a statement mentions, in order of first mention."""
    if stmt[0] in _ATOMS:
        return [stmt[1]]
    seen: list[int] = []
    for s in stmt[1:]:
        seen += [i for i in _kk_people(s) if i not in seen]
    return seen


def knights_knaves_demo(entry: dict[str, Any]) -> str:
    """One line per person: their statement, its truth value under the solution (with the
    roles it depends on), and the role that follows; then the answer.

    A statement is true exactly when its speaker is a knight, so each line checks one
    person's consistency; together they show the assignment satisfies every statement.
    """
    md = entry["metadata"]
    names, solution, terms = md["names"], md["solution"], md["knight_knave_terms"]

    def role(i: int) -> str:
        return terms["a_knight"] if solution[i] else terms["a_knave"]

    lines = [
        f"{terms['a_knight'].capitalize()} always tells the truth and {terms['a_knave']} always lies, "
        f"so a statement is true exactly when its speaker is {terms['a_knight']}. "
        "Check each statement with the assignment "
        + ", ".join(f"{names[i]} is {role(i)}" for i in range(len(names)))
        + "."
    ]
    for i, stmt in enumerate(md["statements"]):
        truth = _kk_truth(stmt, solution)
        if truth != bool(solution[i]):
            raise ValueError("knights_knaves: the solution does not satisfy the statements")
        facts = " and ".join(f"{names[j]} is {role(j)}" for j in _kk_people(stmt))
        lines.append(
            f'{names[i]} says "{kk_statement_text(stmt, names, terms)}". Since {facts}, '
            f"this is {'true' if truth else 'false'}, so {names[i]} is {role(i)}."
        )
    lines.append("Every statement is consistent. " + boxed(entry["answer"].rstrip(".")))
    return "\n".join(lines)
