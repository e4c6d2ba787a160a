"""The guarded worker pool: run module-level functions in worker processes, each call under
its own time limit (the mechanics behind :func:`hybridrl.rewards.scoring.score_completions`
and the guarded :func:`hybridrl.rewards.equivalence.answers_match`).

Design (oat-style): a persistent pool of worker *processes*, one call in flight per worker.
Each call has its own deadline, counted from the moment it is sent to a worker; a worker that
misses it is killed (``SIGKILL``: sympy stuck on ``10^{10^{10^{10}}}`` holds the GIL and
cannot be interrupted any other way) and replaced by a warm spare. The parent only waits on
pipes, so this works from any thread, unlike math-verify's ``signal.alarm``.

Workers are plain subprocesses (``python -m hybridrl.rewards._worker``) that talk pickles
over stdin/stdout, not ``multiprocessing`` children: they never re-import the user's
``__main__`` and inherit the parent's ``sys.path``. This module imports nothing of
``hybridrl``: it sits below everything that uses it.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["RewardPool", "default_workers", "map_guarded", "run_guarded", "shutdown_pool"]

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


def map_guarded(fn: Callable[..., Any], args_list: Sequence[tuple], timeout_s: float,
                workers: int | None = None) -> list[tuple[str, Any]]:
    """``fn(*args)`` for each ``args`` in the shared pool, each under ``timeout_s``:
    ``(status, value)`` per call as in :meth:`RewardPool.map`. Raises if the pool itself fails."""
    with _POOL_LOCK:
        return _get_pool(workers or default_workers()).map(fn, args_list, timeout_s)


def run_guarded(
    fn: Callable[..., Any], args: tuple, *, timeout_s: float, workers: int | None = None
) -> tuple[str, Any]:
    """Run one module-level ``fn(*args)`` in the shared pool: ``(status, value)`` as in
    :meth:`RewardPool.map`. Never raises."""
    try:
        return map_guarded(fn, [args], timeout_s, workers)[0]
    except Exception as e:
        return ("error", (f"{type(e).__name__}: {e}", None))


