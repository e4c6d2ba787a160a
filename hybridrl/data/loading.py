"""Load and validate dataset files (docs/design.md §3); write JSONL atomically.

Accepted inputs: ``.jsonl`` (one JSON object per line), ``.parquet``, a folder written by
``datasets.Dataset.save_to_disk`` (a ``DatasetDict`` uses ``split``, else its ``train`` split, or
its only split), a local folder of data files that ``datasets.load_dataset`` reads (works
offline), or a Hugging Face hub dataset name such as ``openai/gsm8k`` (needs network).
``columns`` maps our field names to the dataset's own (``{"prompt": "question"}``).

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
1-based line numbers for JSONL and 1-based row numbers for parquet and datasets
(``data.parquet: row 3: ...`` is the third row). Blank JSONL lines are skipped.

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

from hybridrl.schema import Row

__all__ = ["DataError", "load_rows", "write_jsonl", "write_rows", "row_from_record", "row_to_record",
           "verify_demonstrations"]

logger = logging.getLogger(__name__)

FIELDS = tuple(f.name for f in dataclasses.fields(Row))
_TYPO_CUTOFF = 0.85
"""difflib ratio above which an unknown field is taken for a misspelt known one
(``answers`` vs ``answer`` = 0.92; ``idx`` vs ``id`` = 0.8 is kept as metadata)."""
DEMO_VERIFY_TIMEOUT_S = 5.0
JSON_COLUMNS_KEY = b"hybridrl.json_columns"
"""Parquet schema metadata: the columns :func:`write_rows` stored as JSON text."""
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
            raise DataError(f"{where}: field '{name}': missing (the row has fields: {have}); if another column "
                            f"holds it, pass {name}_column=NAME")
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
    # "row N" counts from 1 like JSONL lines; the default id keeps the 0-based index (ids of
    # existing datasets do not change)
    for i, record in enumerate(records):
        yield record, f"{path}: row {i + 1}", i


def _parquet_records(path: Path) -> Iterator[tuple[Any, str, int]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: cannot read as parquet: {e}") from None
    records = table.to_pylist()
    json_columns = json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
    for r in records:  # columns write_rows stored as JSON text
        for k in json_columns:
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
    return _table_records(records, path)


def _pick_split(ds: Any, path: Path | str, split: str | None) -> Any:
    import datasets

    if not isinstance(ds, (datasets.DatasetDict, dict)):
        if split is not None and getattr(ds, "split", None) not in (None, split):
            raise DataError(f"{path}: holds split '{ds.split}', not '{split}'")
        return ds
    if split is not None:
        if split not in ds:
            raise DataError(f"{path}: no split '{split}'; it has {', '.join(sorted(ds))}")
        return ds[split]
    if "train" in ds:
        return ds["train"]
    if len(ds) == 1:
        return next(iter(ds.values()))
    raise DataError(f"{path}: splits {', '.join(sorted(ds))} and no 'train' split; choose one with data_split=NAME")


def _hf_records(path: Path, split: str | None = None) -> Iterator[tuple[Any, str, int]]:
    import datasets

    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as e:
            raise DataError(f"{path}: not a dataset saved with datasets' save_to_disk: {e}") from None
    else:  # a folder of data files (e.g. a hub dataset downloaded with git): load_dataset reads it offline
        try:
            ds = datasets.load_dataset(str(path))
        except Exception as e:
            raise DataError(f"{path}: neither a save_to_disk folder nor data files datasets can read: "
                            f"{type(e).__name__}: {e}") from None
    return _table_records(_pick_split(ds, path, split).to_list(), path)


def _hub_records(name: str, split: str | None) -> Iterator[tuple[Any, str, int]]:
    """A dataset on the Hugging Face hub (needs network, or its files in the local HF cache)."""
    import datasets

    try:
        ds = datasets.load_dataset(name)
    except Exception as e:
        raise DataError(f"{name}: not a file or folder here, and loading it from the Hugging Face hub failed "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return _table_records(_pick_split(ds, name, split).to_list(), Path(name))


def _looks_like_hub_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name)) and not name.endswith((".jsonl", ".parquet"))


def eval_split_of(path: str | os.PathLike[str]) -> str | None:
    """``test`` for a ``save_to_disk`` datasets folder that has a ``test`` split (evaluation
    reads the held-out part, not ``train``); None (the loader's default) otherwise."""
    dd = Path(path) / "dataset_dict.json"
    if dd.is_file():
        try:
            return "test" if "test" in json.loads(dd.read_text()).get("splits", []) else None
        except (OSError, json.JSONDecodeError):
            return None
    return None


def _csv_records(path: Path) -> Iterator[tuple[Any, str, int]]:
    """A ``.csv`` file with a header row (as ``datasets`` reads a folder of CSV files); empty
    cells are absent values. Places are 1-based data rows, as for parquet."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            records = [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read as CSV: {e}") from None
    return _table_records(records, path)


def _records(path: Path, split: str | None = None) -> Iterator[tuple[Any, str, int]]:
    if path.is_dir():
        return _hf_records(path, split)
    if not path.exists():
        if _looks_like_hub_name(str(path)):
            return _hub_records(str(path), split)
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_records(path)
    if suffix == ".parquet":
        return _parquet_records(path)
    if suffix == ".csv":  # a folder of the same CSV once trained while the file was refused
        return _csv_records(path)
    raise DataError(f"{path}: unsupported file type '{suffix}'; expected .jsonl, .parquet, .csv or a datasets folder")


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


def _rename_columns(record: Any, columns: dict[str, str], where: str) -> Any:
    """``columns`` = {our field: the dataset's column}; the record gets our names."""
    if not isinstance(record, dict) or not columns:
        return record
    out = dict(record)
    for field, column in columns.items():
        if column == field:
            continue
        if column not in out:
            raise DataError(f"{where}: no column '{column}' (mapped to '{field}'); the row has columns: "
                            f"{', '.join(sorted(map(str, record)))}")
        out[field] = out.pop(column)
    return out


def load_rows(path: str | os.PathLike[str], *, verify_demos: bool = True, columns: dict[str, str] | None = None,
              split: str | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Read and validate every row of ``path`` (see the module docstring). ``columns`` maps
    our fields to the dataset's columns (``{"prompt": "question", "answer": "final"}``);
    ``split`` picks a split of a datasets folder or hub dataset.

    Returns ``(rows, stats)`` with ``stats = {"rows", "demos_kept", "demos_dropped",
    "demos_unverified", "demos_dropped_ids" (at most 10)}``. With ``verify_demos=False`` every
    demonstration is kept unchecked (``demos_kept`` counts them).
    """
    path = Path(path)
    rows: list[Row] = []
    first_seen: dict[str, str] = {}
    columns = {k: v for k, v in (columns or {}).items() if v}
    for record, where, place in _records(path, split):
        row = row_from_record(_rename_columns(record, columns, where), where, default_id=f"{path.stem}-{place}")
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


def write_rows(rows: Iterable[Row], path: str | os.PathLike[str]) -> None:
    """Write rows to ``.jsonl`` or ``.parquet`` (by suffix), atomically; another suffix is a
    DataError (a file is never written in a format its name does not say)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return write_jsonl(rows, path)
    if suffix != ".parquet":
        raise DataError(f"{path}: cannot write '{suffix or 'no suffix'}' files; use .jsonl or .parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [row_to_record(r) for r in rows]
    # one schema for every row: nested values (metadata, message lists) as given, absent fields null
    names = list(dict.fromkeys(k for r in records for k in r))
    for k in names:
        kinds = {type(r[k]).__name__ for r in records if r.get(k) is not None}
        if len(kinds) > 1:
            raise DataError(f"{path}: field '{k}' mixes {' and '.join(sorted(kinds))} values; a parquet column has "
                            f"one type: write .jsonl instead")
    try:
        table = pa.Table.from_pylist([{k: r.get(k) for k in names} for r in records])
    except (pa.ArrowException, ValueError):
        # nested values of mixed shapes (knights_knaves' statement trees in metadata) have no
        # arrow type: those columns are stored as JSON text, marked in the schema, and decoded
        # again by the reader (`data --help`'s own parquet example once failed here)
        nested = [k for k in names if k != "prompt" and any(isinstance(r.get(k), (dict, list)) and k not in
                                                            ("answer",) for r in records)]
        try:
            table = pa.Table.from_pylist([{k: (json.dumps(r[k]) if k in nested and r.get(k) is not None else r.get(k))
                                           for k in names} for r in records])
        except (pa.ArrowException, ValueError) as e:
            raise DataError(f"{path}: these rows do not fit one parquet schema ({e}); write .jsonl instead") from None
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               JSON_COLUMNS_KEY: json.dumps(nested).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
