"""Built-in tasks: reasoning-gym generators with templated demonstrations (works offline).

``build_task(name, size=, seed=, difficulty=, split=)`` turns reasoning-gym entries into
:class:`~hybridrl.schema.Row` s: ``prompt`` = the question, ``answer`` = [the entry's answer],
``demonstration`` = a worked solution ending in ``\\boxed{}`` (:mod:`hybridrl.data.demos`),
``task`` = the task name (the verifier key), ``difficulty`` = the level, ``id`` =
``f"{task}-{split}-{i}"``, ``metadata`` = the entry's metadata (JSON-safe) so reasoning-gym's
scorer can be called later with :func:`rg_entry`.

Train and test never share a question, at any sizes: a question belongs to the test split iff
``blake2b(question) % TEST_BUCKETS == 0`` (1 in 5 of the question space is reserved for test),
and each split draws from its own reasoning-gym seed derived from ``(task, split, seed)``. So
the test rows do not depend on the train size, and small question spaces (``chain_sum`` at
difficulty 1 has 200 distinct questions) are still split cleanly. Within a split, repeated
questions are kept, as reasoning-gym generates them. Entries are skipped when reasoning-gym's
own scorer does not give its own answer 1.0 (rare broken ``gsm_symbolic`` templates) and, for
``basic_arithmetic``, when a division is not exact (see :mod:`hybridrl.data.demos`).

Difficulty is a level ``1 | 2 | 3`` (default 1) mapped to reasoning-gym config overrides per
task (``TaskSpec.levels``). Level 1 is the setting measured in docs/design.md §2 for SmolLM2-135M where
there is one (``chain_sum`` 2 terms of 1 digit: dense rewards; the others: sparse).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridrl.data import demos
from hybridrl.schema import Row

__all__ = ["TaskSpec", "TASKS", "SPLITS", "TEST_BUCKETS", "build_task", "describe_tasks", "rg_entry", "split_of"]

SPLITS = ("train", "test")
TEST_BUCKETS = 5
"""A question is test-only iff its hash is 0 modulo this (1/5 of the question space)."""
_MAX_DRAWS_PER_ROW = 50
"""Give up (with an error) after ``size * this + 1000`` reasoning-gym draws."""


@dataclass(frozen=True)
class TaskSpec:
    """A built-in task."""

    name: str
    """The task (and verifier) name, e.g. ``chain_sum``."""
    description: str
    """One line for ``hybridrl data --help``."""
    rg_name: str
    """The reasoning-gym dataset it draws from."""
    levels: dict[int, dict[str, Any]]
    """Difficulty level -> reasoning-gym config overrides."""
    knob: str
    """What the difficulty levels change, in words (one short line)."""
    demo: Callable[[dict[str, Any]], str] = field(repr=False)
    """``entry -> demonstration``; raises :class:`demos.InexactDivision` to skip an entry."""
    default_difficulty: int = 1


def _task(name, description, levels, knob, demo, rg_name=None) -> TaskSpec:
    return TaskSpec(name, description, rg_name or name, levels, knob, demo)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        _task(
            "chain_sum", "add and subtract integers left to right (12 + 7 - 3)",
            {1: dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
             2: dict(min_terms=3, max_terms=4, min_digits=2, max_digits=2),
             3: dict(min_terms=5, max_terms=6, min_digits=3, max_digits=3)},
            "terms x digits: 1 = 2x1, 2 = 3-4x2, 3 = 5-6x3", demos.chain_sum_demo,
        ),
        _task(
            "basic_arithmetic", "+ - * / with precedence, brackets and negation, exact integer results",
            {1: dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
             2: dict(min_terms=3, max_terms=4, min_digits=1, max_digits=2),
             3: dict(min_terms=4, max_terms=6, min_digits=2, max_digits=3)},
            "terms x digits: 1 = 2x1, 2 = 3-4x1-2, 3 = 4-6x2-3", demos.basic_arithmetic_demo,
        ),
        _task(
            "leg_counting", "total legs of a list of animals (3 spiders, 2 cows)",
            {1: dict(min_animals=1, max_animals=2, min_instances=1, max_instances=5),
             2: dict(min_animals=3, max_animals=5, min_instances=1, max_instances=10),
             3: dict(min_animals=6, max_animals=10, min_instances=1, max_instances=15)},
            "animal kinds x count each: 1 = 1-2x1-5, 2 = 3-5x1-10, 3 = 6-10x1-15", demos.leg_counting_demo,
        ),
        _task(
            "gsm_symbolic", "grade-school word problems (GSM8K templates), demo = their chain of thought",
            {1: {}},
            "one level (reasoning-gym supports difficulty 1.0 only)", demos.gsm_symbolic_demo,
        ),
        _task(
            "knights_knaves", "who tells the truth? assign knight/knave roles from statements",
            {1: dict(n_people=2, depth_constraint=2, width_constraint=2),
             2: dict(n_people=3, depth_constraint=2, width_constraint=2),
             3: dict(n_people=4, depth_constraint=2, width_constraint=2)},
            "people: 1 = 2, 2 = 3, 3 = 4", demos.knights_knaves_demo,
        ),
        _task(
            "products", "multiply integers (demo splits a factor by place value)",
            {1: dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
             2: dict(min_terms=2, max_terms=2, min_digits=2, max_digits=2),
             3: dict(min_terms=2, max_terms=3, min_digits=2, max_digits=3)},
            "factors x digits: 1 = 2x1, 2 = 2x2, 3 = 2-3x2-3", demos.products_demo,
        ),
        _task(
            "gcd", "greatest common divisor (demo = Euclid's algorithm)",
            {1: dict(min_numbers=2, max_numbers=2, min_value=1, max_value=50),
             2: dict(min_numbers=2, max_numbers=2, min_value=1, max_value=1000),
             3: dict(min_numbers=3, max_numbers=3, min_value=1, max_value=10000)},
            "numbers x max value: 1 = 2x50, 2 = 2x1000, 3 = 3x10000", demos.gcd_demo,
        ),
        _task(
            "lcm", "least common multiple (demo = prime factorisations)",
            {1: dict(min_numbers=2, max_numbers=2, min_value=1, max_value=20),
             2: dict(min_numbers=2, max_numbers=2, min_value=1, max_value=100),
             3: dict(min_numbers=3, max_numbers=3, min_value=1, max_value=100)},
            "numbers x max value: 1 = 2x20, 2 = 2x100, 3 = 3x100", demos.lcm_demo,
        ),
    ]
}


def describe_tasks() -> str:
    """One line per built-in task (for ``hybridrl data --help``)."""
    width = max(map(len, TASKS))
    return "\n".join(
        f"{t.name:<{width}}  {t.description}; difficulty {'|'.join(map(str, t.levels))} ({t.knob})"
        for t in TASKS.values()
    )


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def split_of(question: str) -> str:
    """``"test"`` for the reserved fifth of the question space, else ``"train"``."""
    return "test" if _hash_int(question) % TEST_BUCKETS == 0 else "train"


def _split_seed(name: str, split: str, seed: int) -> int:
    # A hash, not seed + k: reasoning-gym seeds entry i with Random(seed + i), so nearby seeds
    # would give shifted copies of the same stream.
    return _hash_int(f"{name}/{split}/{seed}") % 2**31


def _level(spec: TaskSpec, difficulty: int | str | None) -> int:
    if difficulty is None:
        return spec.default_difficulty
    try:
        level = int(difficulty)
    except (TypeError, ValueError):
        level = None
    if level not in spec.levels or isinstance(difficulty, bool):
        from hybridrl.data.loading import DataError

        raise DataError(
            f"task '{spec.name}': difficulty must be one of {sorted(spec.levels)} ({spec.knob}), got {difficulty!r}"
        )
    return level


def _json_safe(obj: Any) -> Any:
    """Tuples -> lists, numpy scalars -> Python scalars (metadata must survive JSONL)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def rg_entry(row: Row) -> dict[str, Any]:
    """The reasoning-gym entry a row came from, as its ``score_answer`` expects it."""
    return {"question": row.prompt, "answer": row.answer[0], "metadata": row.metadata}


def unknown_task(name: str) -> ValueError:
    """The one-line error for a task name that is not built in (with a suggestion)."""
    import difflib

    from hybridrl.data.loading import DataError

    close = difflib.get_close_matches(str(name), list(TASKS), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return DataError(f"unknown task '{name}'{hint}; built-in tasks: {', '.join(TASKS)} (`hybridrl data --help` "
                     f"describes them)")


def check_difficulty(name: str, difficulty: int | str | None) -> int:
    """The level ``difficulty`` stands for in task ``name``; DataError if it has no such level."""
    if name not in TASKS:
        raise unknown_task(name)
    return _level(TASKS[name], difficulty)


def build_task(
    name: str, *, size: int, seed: int, difficulty: int | str | None = None, split: str = "train"
) -> list[Row]:
    """``size`` rows of a built-in task (see the module docstring for splits and difficulty).

    Deterministic in ``(name, size, seed, difficulty, split)``; a larger ``size`` extends a
    smaller one (same prefix).
    """
    if name not in TASKS:
        raise unknown_task(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    spec = TASKS[name]
    level = _level(spec, difficulty)
    import reasoning_gym  # lazy: a heavy import, not needed to import hybridrl.data

    max_draws = size * _MAX_DRAWS_PER_ROW + 1000
    ds = reasoning_gym.create_dataset(
        spec.rg_name, seed=_split_seed(name, split, seed), size=max_draws, **spec.levels[level]
    )
    rows: list[Row] = []
    for i in range(max_draws):
        if len(rows) == size:
            return rows
        entry = ds[i]
        if split_of(entry["question"]) != split:
            continue
        if ds.score_answer(entry["answer"], entry) != 1.0:
            # reasoning-gym cannot score its own answer (seen: gsm_symbolic "-2", a negative
            # age, which its scorer reads as 2): a broken entry, skipped
            continue
        try:
            demonstration = spec.demo(entry)
        except demos.InexactDivision:  # reasoning-gym's floor division; see demos docstring
            continue
        rows.append(
            Row(
                prompt=entry["question"],
                answer=[str(entry["answer"])],
                demonstration=demonstration,
                task=name,
                difficulty=level,
                id=f"{name}-{split}-{len(rows)}",
                metadata=_json_safe(entry["metadata"]),
            )
        )
    if len(rows) < size:
        raise ValueError(f"task '{name}': only {len(rows)} of {size} {split} rows after {max_draws} draws")
    return rows
