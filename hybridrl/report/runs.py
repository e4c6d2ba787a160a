"""Reading a run folder (written by :mod:`hybridrl.training.loop.trainer`): metrics, evals, per-prompt accuracy.

Every reader tolerates missing files and a torn last line (a run killed mid-write) and returns
empty data instead of raising, so a report can be built from whatever a run has.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON objects, one per line; stops at the first unparsable line."""
    out: list[dict[str, Any]] = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.yaml as one flat mapping (nested by section, or flat as written
    before the sections)."""
    import yaml

    from hybridrl.config import flatten

    p = Path(run_dir) / "config.yaml"
    d = (yaml.safe_load(p.read_text()) or {}) if p.exists() else {}
    return flatten(d, strict=False) if isinstance(d, dict) else {}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of a numeric key; steps without it (or non-finite) are left out."""
    xs, ys = [], []
    for i, r in enumerate(records):
        v = _num(r.get(key))
        if v is not None:
            xs.append(int(r.get("step", i)))
            ys.append(v)
    return xs, ys


def kl_stats(records: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """SuperRL Table 2: min, max, range (max − min) and population variance of the per-step
    ``kl``; None when the run logged no KL (beta = 0)."""
    _, kl = series(records, "kl")
    if not kl:
        return None
    mean = sum(kl) / len(kl)
    return {"min": min(kl), "max": max(kl), "range": max(kl) - min(kl),
            "variance": sum((x - mean) ** 2 for x in kl) / len(kl), "steps": len(kl)}


def accuracy_grid(group_acc: Sequence[dict[str, Any]], step_epoch: dict[int, int] | None = None,
                  max_columns: int = 60) -> tuple[list[str], list[int], list[list[float]], str]:
    """Per-prompt rollout accuracy over training (HPT Fig. 3) from ``group_accuracy.jsonl``.

    Columns are epochs when the prompts repeat (``step_epoch`` maps step -> epoch and
    there are >= 2 epochs), else bins of consecutive steps (at most ``max_columns``).
    A cell is the mean accuracy of the prompt's rollout groups in that column, NaN when the
    prompt was not drawn there. Returns (prompt ids, column start labels, grid[prompt][column], unit).
    """
    if not group_acc:
        return [], [], [], "step"
    steps = [int(r["step"]) for r in group_acc]
    epochs = {s: int(step_epoch[s]) for s in steps if step_epoch and s in step_epoch}
    if epochs and len(set(epochs.values())) >= 2 and len(epochs) == len(steps):
        col_of = {s: epochs[s] - min(epochs.values()) for s in steps}
        labels = sorted(set(epochs.values()))
        unit = "epoch"
    else:
        lo, hi = min(steps), max(steps)
        width = max(1, math.ceil((hi - lo + 1) / max_columns))
        col_of = {s: (s - lo) // width for s in steps}
        labels = [lo + c * width for c in range(max(col_of.values()) + 1)]
        unit = "step"
    ids: list[str] = []
    seen: set[str] = set()
    cells: dict[tuple[str, int], list[float]] = {}
    for r in group_acc:
        for pid, acc in zip(r["ids"], r["acc"]):
            pid = str(pid)
            if pid not in seen:
                seen.add(pid)
                ids.append(pid)
            cells.setdefault((pid, col_of[int(r["step"])]), []).append(float(acc))
    grid = [[(sum(v) / len(v)) if (v := cells.get((pid, c))) else math.nan for c in range(len(labels))]
            for pid in ids]
    return ids, labels, grid, unit


def step_to_epoch(records: Sequence[dict[str, Any]]) -> dict[int, int]:
    return {int(r["step"]): int(r["epoch"]) for r in records if "step" in r and isinstance(r.get("epoch"), int)}


def load_run(run_dir: Path) -> dict[str, Any]:
    """Everything a report reads from one run folder (missing parts are empty)."""
    run_dir = Path(run_dir)
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    return {
        "dir": run_dir,
        "config": read_config(run_dir),
        "metrics": metrics,
        "eval": read_jsonl(run_dir / "eval.jsonl"),
        "group_accuracy": read_jsonl(run_dir / "group_accuracy.jsonl"),
        "summary": read_json(run_dir / "summary.json"),
        "step_epoch": step_to_epoch(metrics),
    }


def superrl_weights(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """SuperRL's learned loss weights over its Hybrid Actor phase, from ``metrics.jsonl``.

    Returns None when the run never reached the hybrid phase (no ``superrl/phase == "hybrid"``,
    e.g. the probe said dense or the run was shorter than the probe). Otherwise the first hybrid
    step, σ_pg / σ_sft there and at the last step (None for a variant without them), and the
    RL-to-SFT weight ratio w_pg / w_sft = (σ_sft / σ_pg)² at both ends (e^{-2 s} = σ^{-2}); a
    ratio that grows means the weighting shifted towards the reward-driven term (the paper's
    reading of its Table 11 runs: supervised signals first, then reward-driven fine-tuning)."""
    hybrid = [r for r in records if r.get("superrl/phase") == "hybrid"]
    if not hybrid:
        return None
    first, last = hybrid[0], hybrid[-1]

    def ratio(r: dict[str, Any]) -> float | None:
        pg, sft = _num(r.get("sigma_pg")), _num(r.get("sigma_sft"))
        if pg is None or sft is None:
            w = _num(r.get("w_pg"))
            return None if w is None or w >= 1 else w / (1 - w)  # theta variant: w_pg / w_sft
        return (sft / pg) ** 2

    return {
        "hybrid_from": int(first["step"]),
        "steps": len(hybrid),
        "sigma_pg": (_num(first.get("sigma_pg")), _num(last.get("sigma_pg"))),
        "sigma_sft": (_num(first.get("sigma_sft")), _num(last.get("sigma_sft"))),
        "ratio": (ratio(first), ratio(last)),
    }
