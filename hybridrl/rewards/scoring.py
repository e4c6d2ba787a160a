"""Score a batch of completions under a per-sample time limit (the loop's entry point).

The pool itself lives in :mod:`hybridrl.rewards.pool` (re-exported here). Design (oat-style): a persistent pool of worker *processes* scores the samples, one sample
in flight per worker. Each sample has its own deadline, counted from the moment it is sent
to a worker; a worker that misses it is killed (``SIGKILL``: sympy stuck on
``10^{10^{10^{10}}}`` holds the GIL and cannot be interrupted any other way) and replaced,
and the sample scores 0 with ``timed_out=True``. The parent only waits on pipes, so this
works from any thread, unlike math-verify's ``signal.alarm``.

Workers are plain subprocesses (``python -m hybridrl.rewards._worker``) that talk pickles
over stdin/stdout, not ``multiprocessing`` children: they never re-import the user's
``__main__`` (no ``if __name__ == "__main__"`` guard needed, works in notebooks) and inherit
the parent's ``sys.path``. A worker imports math-verify and reasoning-gym before it says
"ready" (~1–2 s, not counted in any sample's limit); a worker killed on a time-out is replaced
at once by a warm spare (and a new spare starts in the background).

Every sample goes through the pool (no in-process fast path): a sample costs ~0.1 ms of IPC
on top of the ~0.3–3 ms of verification, and there is no way to tell in advance which
string will make sympy hang. ``workers=0`` scores in-process with **no** time limit
(debugging only).
"""

from __future__ import annotations

import logging
import sys  # noqa: F401  (tests replace sys.executable through this module)
import time
from collections.abc import Callable
from typing import Any

from hybridrl.schema import Row
from hybridrl.rewards.extract import extract_answer
from hybridrl.rewards.pool import RewardPool, default_workers, map_guarded, run_guarded, shutdown_pool
from hybridrl.rewards.types import RewardResult

__all__ = ["score_completions", "run_guarded", "RewardPool", "shutdown_pool", "default_workers"]

logger = logging.getLogger(__name__)

_LOGGED_TRACEBACK = False


def _log_first_traceback(message: str, tb: str | None) -> None:
    global _LOGGED_TRACEBACK
    if not _LOGGED_TRACEBACK:
        _LOGGED_TRACEBACK = True
        logger.warning("reward scoring error (logged once; later ones are only counted): %s\n%s",
                       message, tb or "")


def score_completions(
    completions: list[str],
    rows: list[Row],
    *,
    timeout_s: float = 2.0,
    workers: int | None = None,
    verifier: Any | None = None,
    reward_fn: str | None = None,
) -> tuple[list[RewardResult], dict[str, float]]:
    """Score ``completions[i]`` against ``rows[i]``; each sample gets at most ``timeout_s``.

    The verifier is ``verifier`` if given (a picklable object), else
    ``get_verifier(row.task, reward_fn=reward_fn)`` resolved in the worker. A time-out or an
    error scores 0 (``timed_out`` / ``error`` set). Never raises.

    Returns the results and counts: ``reward/timeouts``, ``reward/errors``,
    ``reward/extract_failed`` (no answer found, among samples that did not fail) and
    ``reward/score_time_s``.
    """
    t0 = time.monotonic()
    n = min(len(completions), len(rows))
    if len(completions) != len(rows):
        logger.error("score_completions: %d completions for %d rows; scoring the first %d",
                     len(completions), len(rows), n)
    from hybridrl.rewards._worker import score_one

    args = [
        (verifier if verifier is not None else (rows[i].task, reward_fn), completions[i], rows[i])
        for i in range(n)
    ]
    if workers == 0:
        outs = [_run_inline(score_one, a) for a in args]
    else:
        try:
            outs = map_guarded(score_one, args, timeout_s, workers)
        except Exception as e:  # the pool itself failed: score 0, say so loudly
            logger.error("reward pool failed: %s: %s", type(e).__name__, e)
            outs = [("error", (f"reward pool failed: {type(e).__name__}: {e}", None))] * n

    results = [_result_of(status, value, completion) for (status, value), completion in zip(outs, completions)]
    metrics = {
        "reward/timeouts": float(sum(r.timed_out for r in results)),
        "reward/errors": float(sum(r.error is not None and not r.timed_out for r in results)),
        "reward/extract_failed": float(
            sum(r.extracted is None and r.error is None and not r.timed_out for r in results)
        ),
        "reward/score_time_s": time.monotonic() - t0,
    }
    return results, metrics


def _result_of(status: str, value: Any, completion: str) -> RewardResult:
    """A worker's outcome (``ok`` / ``timeout`` / ``error``) as a RewardResult; a time-out or an
    error scores 0, the first traceback is logged."""
    if status == "ok":
        result, tb = value
        if result.error:
            _log_first_traceback(result.error, tb)
        return result
    if status == "timeout":
        return RewardResult(0.0, False, _safe_extract(completion), timed_out=True, error="timeout")
    message, tb = value
    _log_first_traceback(message, tb)
    return RewardResult(0.0, False, _safe_extract(completion), error=message)


def _run_inline(fn: Callable[..., Any], args: tuple) -> tuple[str, Any]:
    import traceback

    try:
        return ("ok", fn(*args))
    except Exception as e:
        return ("error", (f"{type(e).__name__}: {e}", traceback.format_exc()))


def _safe_extract(completion: Any) -> str | None:
    return extract_answer(completion) if isinstance(completion, str) else None
