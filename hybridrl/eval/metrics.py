"""Accuracy metrics: unbiased pass@k (HPT §5 / Chen et al. 2021), avg@k, bootstrap CIs,
EMA smoothing of validation curves (SuperRL C.7) and exclusive solves (HPT Table 4)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 − C(n−c, k) / C(n, k) for n samples of which c are correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples, got n={n}")
    if n - c < k:
        return 1.0  # every k-subset holds a correct sample
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_curve(n: int, correct_counts: Sequence[int], ks: Iterable[int] | None = None) -> dict[int, float]:
    """Mean pass@k over questions for each k (default: powers of two up to n, and n itself)
    — the curve of HPT Fig. 2, from n samples per question."""
    if ks is None:
        ks = sorted({2 ** i for i in range(int(math.log2(n)) + 1)} | {n}) if n >= 1 else []
    m = max(1, len(correct_counts))
    return {k: sum(pass_at_k(n, c, k) for c in correct_counts) / m for k in ks if 1 <= k <= n}


def bootstrap_ci(values: Sequence[float], *, iters: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (over questions): resample the n
    values n times with replacement, ``iters`` times, sort the ``iters`` means and take the
    α/2 and 1 − α/2 order statistics. Vectorised (one ``iters × n`` index draw): 200 questions ×
    2000 resamples take milliseconds, so tables of many paired differences stay cheap."""
    import numpy as np  # transformers and datasets depend on it

    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.sort(v[rng.integers(0, v.size, size=(iters, v.size))].mean(axis=1))
    return float(means[int(alpha / 2 * iters)]), float(means[min(iters - 1, int((1 - alpha / 2) * iters))])


def ema(values: Sequence[float], alpha: float = 0.3) -> list[float]:
    """Exponential moving average s_0 = x_0, s_t = α·x_t + (1 − α)·s_{t−1} (SuperRL C.7 smooths
    noisy validation curves this way; α is the weight of the newest point)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"EMA alpha must be in (0, 1], got {alpha}")
    out: list[float] = []
    for x in values:
        out.append(float(x) if not out else alpha * float(x) + (1 - alpha) * out[-1])
    return out


def exclusive_solves(
    ours: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]], *, key: str = "greedy_correct"
) -> dict[str, dict[str, int]]:
    """HPT Table 4: per difficulty group, +X = questions ours solves and theirs does not, −Y =
    the reverse, N = questions in the group. Rows are per-question eval records (``id``,
    ``task``, ``difficulty``, ``key``) matched by ``id``; rows of one side only are ignored.
    Returns ``{group: {"n", "plus", "minus"}}`` with an ``overall`` entry last."""
    by_id = {r["id"]: r for r in theirs}
    groups: dict[str, dict[str, int]] = {}
    overall = {"n": 0, "plus": 0, "minus": 0}
    for r in ours:
        other = by_id.get(r["id"])
        if other is None:
            continue
        g = groups.setdefault(difficulty_label(r), {"n": 0, "plus": 0, "minus": 0})
        a, b = bool(r[key]), bool(other[key])
        for d in (g, overall):
            d["n"] += 1
            d["plus"] += int(a and not b)
            d["minus"] += int(b and not a)
    out = {k: groups[k] for k in sorted(groups, key=_natural)}
    out["overall"] = overall
    return out


def difficulty_label(row: dict[str, Any]) -> str:
    """``task/level`` (``task`` alone without a difficulty) — the breakdown key."""
    task = row.get("task") or "data"
    d = row.get("difficulty")
    return f"{task}/{d}" if d is not None else str(task)


def _natural(s: str) -> tuple:
    """Sort ``knights_knaves/10`` after ``knights_knaves/2``."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))
