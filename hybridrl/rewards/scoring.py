"""Score a batch of completions under a per-sample time limit (the loop's entry point).

Design (oat-style): a persistent pool of worker *processes* scores the samples, one sample
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

import atexit
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from hybridrl.data.schema import Row
from hybridrl.rewards.extract import extract_answer
from hybridrl.rewards.types import RewardResult

__all__ = ["score_completions", "run_guarded", "RewardPool", "shutdown_pool", "default_workers"]

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0
"""How long a fresh worker may take to import its libraries (not counted in sample limits)."""
MAX_STARTUP_FAILURES = 3
"""Consecutive workers dying during start-up after which a batch gives up (scores 0, errors)."""


def default_workers() -> int:
    """Pool size when none is given: the CPU count, capped at 4 (verification is ~ms)."""
    return max(1, min(4, os.cpu_count() or 1))


def _child_env() -> dict[str, str]:
    """The parent's environment, with its ``sys.path`` so that the worker imports the same
    ``hybridrl`` and the user's reward modules."""
    env = dict(os.environ)
    paths = [p or os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if os.path.isdir(p))
    return env


class _Worker:
    """One worker process (``python -m hybridrl.rewards._worker``), its pipes, and the sample
    it is working on. Pickled messages travel over the child's stdin/stdout."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hybridrl.rewards._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        # Connection frames pickles with a length prefix; we own the pipe fds from here on.
        self.send_conn = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.conn = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.ready = False
        self.started = time.monotonic()
        self.task: int | None = None  # index of the sample in flight
        self.sent_at = 0.0

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # already gone
            pass
        self.send_conn.close()
        self.conn.close()

    def close(self) -> None:
        try:
            self.send_conn.send(None)
            self.proc.wait(timeout=1)
        except Exception:
            pass
        self.kill()


class RewardPool:
    """Persistent worker processes that run ``fn(*args)`` with a per-call time limit."""

    def __init__(self, workers: int):
        self.n_workers = max(1, workers)
        self._env = _child_env()
        self._workers = [_Worker(self._env) for _ in range(self.n_workers)]
        # A warm spare takes a killed worker's place at once, so a time-out does not also
        # cost the rest of the batch a worker start-up (~1–2 s of imports).
        self._spare = _Worker(self._env)
        self.n_replaced = 0
        self._startup_failures = 0  # consecutive workers that died before saying "ready"

    def _replace(self, w: _Worker) -> None:
        w.kill()
        spare, self._spare = self._spare, _Worker(self._env)
        self._workers[self._workers.index(w)] = spare
        self.n_replaced += 1

    def map(self, fn: Callable[..., Any], arglist: Sequence[tuple], timeout_s: float) -> list[tuple[str, Any]]:
        """``[(status, value)]`` in input order. status ``"ok"`` (value = the return value),
        ``"timeout"`` (value None) or ``"error"`` (value = ``(message, traceback)``)."""
        out: list[tuple[str, Any] | None] = [None] * len(arglist)
        todo = deque(range(len(arglist)))
        while todo or any(w.task is not None for w in self._workers):
            now = time.monotonic()
            for w in self._workers:  # hand out work
                if w.ready and w.task is None and todo:
                    i = todo.popleft()
                    try:
                        w.send_conn.send((i, fn, arglist[i]))
                        w.task, w.sent_at = i, time.monotonic()
                    except Exception as e:  # broken pipe or unpicklable argument
                        out[i] = ("error", (f"cannot send task: {type(e).__name__}: {e}", None))
                        if not isinstance(e, (TypeError, AttributeError)) and not _is_pickle_error(e):
                            self._replace(w)
            if self._startup_failures >= MAX_STARTUP_FAILURES or (
                not any(w.ready for w in self._workers)
                and all(now - w.started > STARTUP_TIMEOUT_S for w in self._workers)
            ):
                for i in todo:
                    out[i] = ("error", ("reward workers failed to start (see their stderr)", None))
                for w in self._workers:
                    if w.task is not None:
                        out[w.task] = ("error", ("reward workers failed to start", None))
                        self._replace(w)
                todo.clear()
                break
            deadlines = [w.sent_at + timeout_s for w in self._workers if w.task is not None]
            deadlines += [w.started + STARTUP_TIMEOUT_S for w in self._workers if not w.ready]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 0.0
            by_handle: dict[Any, _Worker] = {}
            for w in self._workers:
                by_handle[w.conn] = w
            fired = {id(by_handle[h]): by_handle[h] for h in wait(list(by_handle), timeout=wait_s)}
            for w in fired.values():
                self._receive(w, out)
            now = time.monotonic()
            for w in list(self._workers):  # enforce deadlines
                if w.task is not None and now - w.sent_at > timeout_s:
                    out[w.task] = ("timeout", None)
                    self._replace(w)
                elif not w.ready and now - w.started > STARTUP_TIMEOUT_S:
                    self._replace(w)
        return [r if r is not None else ("error", ("lost", None)) for r in out]

    def _receive(self, w: _Worker, out: list) -> None:
        try:
            msg = w.conn.recv()  # EOF when the process died
        except (EOFError, OSError):
            if w.task is not None:
                code = w.proc.poll()
                out[w.task] = ("error", (f"reward worker died (exit code {code})", None))
            elif not w.ready:  # died while starting: its traceback is on stderr
                self._startup_failures += 1
            self._replace(w)
            return
        if msg == "ready":
            w.ready = True
            self._startup_failures = 0
            return
        i, status, value = msg
        if i == w.task:
            out[i] = (status, value)
            w.task = None

    def close(self) -> None:
        for w in self._workers + [self._spare]:
            w.close()
        self._workers = []


def _is_pickle_error(e: Exception) -> bool:
    import pickle

    return isinstance(e, pickle.PicklingError)


_POOL: RewardPool | None = None
_POOL_LOCK = threading.Lock()
_LOGGED_TRACEBACK = False


def _get_pool(workers: int) -> RewardPool:
    global _POOL
    if _POOL is None or _POOL.n_workers != workers:
        if _POOL is not None:
            _POOL.close()
        _POOL = RewardPool(workers)
    return _POOL


def shutdown_pool() -> None:
    """Stop the worker processes (also done at interpreter exit)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None


atexit.register(shutdown_pool)


def run_guarded(
    fn: Callable[..., Any], args: tuple, *, timeout_s: float, workers: int | None = None
) -> tuple[str, Any]:
    """Run one module-level ``fn(*args)`` in the shared pool: ``(status, value)`` as in
    :meth:`RewardPool.map`. Never raises."""
    try:
        with _POOL_LOCK:
            return _get_pool(workers or default_workers()).map(fn, [args], timeout_s)[0]
    except Exception as e:
        return ("error", (f"{type(e).__name__}: {e}", None))


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
            with _POOL_LOCK:
                outs = _get_pool(workers or default_workers()).map(score_one, args, timeout_s)
        except Exception as e:  # the pool itself failed: score 0, say so loudly
            logger.error("reward pool failed: %s: %s", type(e).__name__, e)
            outs = [("error", (f"reward pool failed: {type(e).__name__}: {e}", None))] * n

    results: list[RewardResult] = []
    for (status, value), completion in zip(outs, completions):
        if status == "ok":
            result, tb = value
            if result.error:
                _log_first_traceback(result.error, tb)
        elif status == "timeout":
            result = RewardResult(0.0, False, _safe_extract(completion), timed_out=True, error="timeout")
        else:
            message, tb = value
            _log_first_traceback(message, tb)
            result = RewardResult(0.0, False, _safe_extract(completion), error=message)
        results.append(result)
    metrics = {
        "reward/timeouts": float(sum(r.timed_out for r in results)),
        "reward/errors": float(sum(r.error is not None and not r.timed_out for r in results)),
        "reward/extract_failed": float(
            sum(r.extracted is None and r.error is None and not r.timed_out for r in results)
        ),
        "reward/score_time_s": time.monotonic() - t0,
    }
    return results, metrics


def _run_inline(fn: Callable[..., Any], args: tuple) -> tuple[str, Any]:
    import traceback

    try:
        return ("ok", fn(*args))
    except Exception as e:
        return ("error", (f"{type(e).__name__}: {e}", traceback.format_exc()))


def _safe_extract(completion: Any) -> str | None:
    return extract_answer(completion) if isinstance(completion, str) else None
