"""Load and validate dataset files (DESIGN §3); write JSONL atomically.

Accepted inputs: ``.jsonl`` (one JSON object per line), ``.parquet``, or a folder written by
``datasets.Dataset.save_to_disk`` (a ``DatasetDict`` uses its ``train`` split, or its only split).

Per row:

- ``prompt`` (required): a non-empty string, or a non-empty list of ``{"role", "content"}``
  messages (string values; other keys are dropped).
- ``answer`` (required): a string or a non-empty list of strings; numbers become strings
  (``42`` -> ``"42"``); empty strings, booleans, NaN and anything else are errors.
- ``demonstration``, ``task`` (optional strings; empty means absent), ``difficulty`` (optional
  string or number), ``id`` (optional string or integer; default ``f"{file stem}-{line}"``;
  duplicates are an error), ``metadata`` (optional object).
- Any other field is kept in ``row.metadata`` (users' columns such as ``source`` survive a
  round trip), except a name that looks like a misspelt field (``answers``, ``demonstations``):
  that is an error, since silently ignoring it would, e.g., train without demonstrations.

A bad row raises :class:`DataError` naming the file, the place and the field:
``data.jsonl:17: field 'answer': expected a string or a list of strings, got dict``. Places are
1-based line numbers for JSONL and 0-based row indices for parquet and datasets folders
(``data.parquet: row 3: ...``). Blank JSONL lines are skipped.

Text fields (``prompt``, each ``answer``, ``demonstration``) longer than
:data:`MAX_TEXT_CHARS` are an error: no model's context holds them, and they usually mean a
broken export (a whole file pasted into one cell) that would otherwise surface as an
out-of-memory crash in the middle of training.

Demonstrations are then checked with the row's verifier (``hybridrl.rewards``, each under a
time limit): one whose final answer does not verify against ``answer`` is dropped
(``demonstration = None``) and counted (SuperRL C.3 "stringent answer filtering").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hybridrl.data.schema import Row

__all__ = ["DataError", "load_rows", "write_jsonl", "row_from_record", "row_to_record", "verify_demonstrations"]

logger = logging.getLogger(__name__)

FIELDS = tuple(f.name for f in dataclasses.fields(Row))
_TYPO_CUTOFF = 0.85
"""difflib ratio above which an unknown field is taken for a misspelt known one
(``answers`` vs ``answer`` = 0.92; ``idx`` vs ``id`` = 0.8 is kept as metadata)."""
DEMO_VERIFY_TIMEOUT_S = 5.0
MAX_TEXT_CHARS = 1_000_000
"""Longest accepted ``prompt`` / ``answer`` item / ``demonstration`` (≈ 250k tokens)."""


class DataError(ValueError):
    """A dataset file or row breaks the data contract; the message says where and why."""


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --------------------------------------------------------------------------- validation


def _prompt(value: Any, where: str) -> str | list[dict[str, str]]:
    def fail(msg: str) -> DataError:
        return DataError(f"{where}: field 'prompt': {msg}")

    if isinstance(value, str):
        if not value.strip():
            raise fail("empty string")
        return value
    if isinstance(value, list):
        if not value:
            raise fail("empty list of messages")
        messages = []
        for k, m in enumerate(value):
            if not isinstance(m, dict):
                raise fail(f"message {k} is {_type_name(m)}, expected an object with 'role' and 'content'")
            for key in ("role", "content"):
                if not isinstance(m.get(key), str):
                    raise fail(f"message {k}: '{key}' must be a string, got {_type_name(m.get(key))}")
            if not m["role"].strip():
                raise fail(f"message {k}: empty 'role'")
            messages.append({"role": m["role"], "content": m["content"]})
        return messages
    raise fail(f"expected a string or a list of messages, got {_type_name(value)}")


def _answer_item(value: Any) -> str | None:
    """A string for a string or finite number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def _answer(value: Any, where: str) -> list[str]:
    def fail(msg: str) -> DataError:
        return DataError(f"{where}: field 'answer': {msg}")

    if isinstance(value, list):
        if not value:
            raise fail("empty list")
        out = []
        for k, v in enumerate(value):
            item = _answer_item(v)
            if item is None:
                raise fail(f"item {k}: expected a non-empty string or a number, got {_type_name(v)} {v!r}"[:200])
            out.append(item)
        return out
    item = _answer_item(value)
    if item is None:
        if isinstance(value, str):
            raise fail("empty string")
        raise fail(f"expected a string or a list of strings, got {_type_name(value)}")
    return [item]


def _optional_str(record: dict[str, Any], name: str, where: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}': expected a string, got {_type_name(value)}")
    return value if value.strip() else None


def row_from_record(record: Any, where: str, default_id: str) -> Row:
    """Validate one raw record (a dict) into a :class:`Row`; raise :class:`DataError` at ``where``."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {_type_name(record)}")
    extras = {k: v for k, v in record.items() if k not in FIELDS}
    for key in extras:
        close = difflib.get_close_matches(str(key).lower(), FIELDS, n=1, cutoff=_TYPO_CUTOFF)
        if close:
            raise DataError(f"{where}: field '{key}': unknown field (did you mean '{close[0]}'?)")
    for name in ("prompt", "answer"):
        if record.get(name) is None:
            have = ", ".join(map(str, record)) or "none"
            raise DataError(f"{where}: field '{name}': missing (the row has fields: {have})")
    difficulty = record.get("difficulty")
    if difficulty is not None and (
        isinstance(difficulty, bool) or not isinstance(difficulty, (str, int, float))
    ):
        raise DataError(f"{where}: field 'difficulty': expected a string or a number, got {_type_name(difficulty)}")
    row_id = record.get("id")
    if row_id is None:
        row_id = default_id
    elif isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        raise DataError(f"{where}: field 'id': expected a string or an integer, got {_type_name(row_id)}")
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise DataError(f"{where}: field 'metadata': expected an object, got {_type_name(metadata)}")
    row = Row(
        prompt=_prompt(record["prompt"], where),
        answer=_answer(record["answer"], where),
        demonstration=_optional_str(record, "demonstration", where),
        task=_optional_str(record, "task", where),
        difficulty=difficulty,
        id=str(row_id),
        metadata={**extras, **metadata},
    )
    prompt_chars = len(row.prompt) if isinstance(row.prompt, str) else sum(len(m["content"]) for m in row.prompt)
    for name, n in [("prompt", prompt_chars), ("answer", max(map(len, row.answer))),
                    ("demonstration", len(row.demonstration or ""))]:
        if n > MAX_TEXT_CHARS:
            raise DataError(f"{where}: field '{name}': {n:,} characters, over the limit of {MAX_TEXT_CHARS:,} "
                            "(no model context holds it; a broken export?)")
    return row


def row_to_record(row: Row) -> dict[str, Any]:
    """The JSON object for a row (absent optional fields and empty metadata are left out)."""
    record = {k: v for k, v in dataclasses.asdict(row).items() if v is not None}
    if not record.get("metadata"):
        record.pop("metadata", None)
    return record


# --------------------------------------------------------------------------- readers


def _jsonl_records(path: Path) -> Iterator[tuple[Any, str, int]]:
    """(record, where, line) per non-blank line."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    last = len(lines) - 1  # index of the text after the final newline ("" if the file ends in one)
    for k, raw in enumerate(lines):
        lineno = k + 1
        where = f"{path}:{lineno}"
        if k == 0 and raw.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad = raw[e.start : e.start + 1]
            raise DataError(f"{where}: not valid UTF-8 (byte {e.start + 1} of the line: {bad!r})") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            if k == last:  # no newline after it: the writer was probably cut off
                raise DataError(
                    f"{where}: truncated last line (no final newline; invalid JSON at column {e.colno}: {e.msg})"
                ) from None
            raise DataError(f"{where}: invalid JSON at column {e.colno}: {e.msg}") from None
        yield record, where, lineno


def _table_records(records: Iterable[dict[str, Any]], path: Path) -> Iterator[tuple[Any, str, int]]:
    for i, record in enumerate(records):
        yield record, f"{path}: row {i}", i


def _parquet_records(path: Path) -> Iterator[tuple[Any, str, int]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: cannot read as parquet: {e}") from None
    return _table_records(table.to_pylist(), path)


def _hf_records(path: Path) -> Iterator[tuple[Any, str, int]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise DataError(f"{path}: not a dataset saved with datasets' save_to_disk: {e}") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" in ds:
            ds = ds["train"]
        elif len(ds) == 1:
            ds = next(iter(ds.values()))
        else:
            raise DataError(f"{path}: a DatasetDict with splits {sorted(ds)} and no 'train' split; save one split")
    return _table_records(ds.to_list(), path)


def _records(path: Path) -> Iterator[tuple[Any, str, int]]:
    if path.is_dir():
        return _hf_records(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_records(path)
    if suffix == ".parquet":
        return _parquet_records(path)
    raise DataError(f"{path}: unsupported file type '{suffix}'; expected .jsonl, .parquet or a datasets folder")


# --------------------------------------------------------------------------- demonstrations


def verify_demonstrations(rows: list[Row], *, timeout_s: float = DEMO_VERIFY_TIMEOUT_S) -> dict[str, Any]:
    """Drop (set to None) every demonstration whose final answer does not verify against the
    row's ``answer`` with the row's verifier. Mutates ``rows``; returns the counts.

    A demonstration whose check times out or errors is dropped too and counted in
    ``demos_unverified`` (a subset of ``demos_dropped``).
    """
    from hybridrl.rewards.scoring import score_completions  # lazy: starts worker processes

    with_demo = [r for r in rows if r.demonstration is not None]
    stats: dict[str, Any] = {"demos_kept": 0, "demos_dropped": 0, "demos_unverified": 0, "demos_dropped_ids": []}
    if not with_demo:
        return stats
    results, _ = score_completions([r.demonstration for r in with_demo], with_demo, timeout_s=timeout_s)
    failed = [res for res in results if res.timed_out or res.error]
    if len(failed) == len(with_demo):  # nothing could be checked: do not silently drop them all
        raise DataError(
            f"could not verify any of {len(with_demo)} demonstrations ({failed[0].error}); "
            "pass verify_demos=False to keep them unchecked"
        )
    for row, res in zip(with_demo, results):
        if res.correct:
            stats["demos_kept"] += 1
            continue
        stats["demos_dropped"] += 1
        stats["demos_unverified"] += bool(res.timed_out or res.error)
        if len(stats["demos_dropped_ids"]) < 10:
            stats["demos_dropped_ids"].append(row.id)
        row.demonstration = None
    return stats


# --------------------------------------------------------------------------- public API


def load_rows(path: str | os.PathLike[str], *, verify_demos: bool = True) -> tuple[list[Row], dict[str, Any]]:
    """Read and validate every row of ``path`` (see the module docstring).

    Returns ``(rows, stats)`` with ``stats = {"rows", "demos_kept", "demos_dropped",
    "demos_unverified", "demos_dropped_ids" (at most 10)}``. With ``verify_demos=False`` every
    demonstration is kept unchecked (``demos_kept`` counts them).
    """
    path = Path(path)
    rows: list[Row] = []
    first_seen: dict[str, str] = {}
    for record, where, place in _records(path):
        row = row_from_record(record, where, default_id=f"{path.stem}-{place}")
        if row.id in first_seen:
            raise DataError(f"{where}: field 'id': duplicate id {row.id!r} (first at {first_seen[row.id]})")
        first_seen[row.id] = where
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: empty file (no rows)")
    if verify_demos:
        stats = verify_demonstrations(rows)
        if stats["demos_dropped"]:
            logger.warning(
                "%s: dropped %d of %d demonstrations whose final answer does not verify (e.g. ids %s)",
                path, stats["demos_dropped"], stats["demos_dropped"] + stats["demos_kept"], stats["demos_dropped_ids"],
            )
    else:
        n = sum(r.demonstration is not None for r in rows)
        stats = {"demos_kept": n, "demos_dropped": 0, "demos_unverified": 0, "demos_dropped_ids": []}
    return rows, {"rows": len(rows), **stats}


def write_jsonl(rows: Iterable[Row], path: str | os.PathLike[str]) -> None:
    """Write rows as JSONL atomically: a temporary file in the same folder, then a rename, so a
    reader never sees a half-written file. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row_to_record(row), ensure_ascii=False, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
