"""The data contract (docs/design.md §3): one row = one question."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One question of a dataset.

    Fields follow docs/design.md §3. ``answer`` is always normalised to a list of accepted
    references; ``prompt`` is the raw question (string) or a list of chat messages
    (``[{"role": ..., "content": ...}]``) before any template is applied.
    """

    prompt: str | list[dict[str, str]]
    """The question, or chat messages. Never empty."""
    answer: list[str]
    """Accepted reference answers (at least one)."""
    demonstration: str | None = None
    """A full worked solution ending in the final answer (used by SFT terms)."""
    task: str | None = None
    """Name of the verifier / data source (e.g. ``chain_sum``); None = generic math verifier."""
    difficulty: str | int | float | None = None
    """Free-form difficulty label used for per-difficulty breakdowns."""
    id: str | None = None
    """Stable identifier (per-prompt heatmaps, exclusive solves)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Task-specific data a verifier needs (e.g. a reasoning-gym entry's metadata), and every
    other column of a data file (``source``, ...)."""

    def get(self, key: str, default: Any = None) -> Any:
        """A field, else a column kept in ``metadata``, else ``default``: reward functions can read
        a row as the dict of its file's columns (``row.get("answer")``, ``row.get("source")``)."""
        if key in self.__dataclass_fields__:
            return getattr(self, key)
        return self.metadata.get(key, default)

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value


_MISSING = object()
