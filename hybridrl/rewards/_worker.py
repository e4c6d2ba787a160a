"""Worker-process side of the guarded reward pool (see :mod:`hybridrl.rewards.pool`).

Run as ``python -m hybridrl.rewards._worker``. Kept light: the parent imports this module
only to pickle a reference to :func:`score_one`.
"""

from __future__ import annotations

import signal
import traceback
from typing import Any

from hybridrl.schema import Row


def warm_up() -> None:
    """Import math-verify and reasoning-gym and run one comparison, so that the first real
    task of a fresh worker does not pay ~1 s of imports inside its time limit."""
    try:
        from hybridrl.rewards.equivalence import _answers_match_unguarded

        _answers_match_unguarded("\\frac{1}{2}", ["x+1"])
        import reasoning_gym  # noqa: F401
    except Exception:  # a broken optional import shows up later, as a per-sample error
        pass


_VERIFIERS: dict[tuple[str | None, str | None], Any] = {}


def score_one(verifier: Any, completion: str, row: Row) -> tuple[Any, str | None]:
    """Score one sample. ``verifier`` is a verifier object or a ``(task, reward_fn)`` spec
    resolved here (cached per worker). Returns ``(RewardResult, traceback or None)``."""
    if isinstance(verifier, tuple):
        if verifier not in _VERIFIERS:
            from hybridrl.rewards.verifiers import get_verifier

            _VERIFIERS[verifier] = get_verifier(verifier[0], reward_fn=verifier[1])
        verifier = _VERIFIERS[verifier]
    result = verifier.score(completion, row)
    tb = getattr(verifier, "last_traceback", None) if result.error else None
    return result, tb


def worker_main(conn) -> None:
    """Loop: receive ``(index, fn, args)``, send ``(index, "ok", value)`` or
    ``(index, "error", (message, traceback))``. ``None`` or a closed pipe ends the loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    warm_up()
    conn.send("ready")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, fn, args = msg
        try:
            reply = (index, "ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - report everything, the parent decides
            reply = (index, "error", (f"{type(e).__name__}: {e}", traceback.format_exc()))
        try:
            conn.send(reply)
        except Exception as e:  # e.g. an unpicklable return value
            conn.send((index, "error", (f"cannot send result: {type(e).__name__}: {e}", None)))


def _main() -> None:
    """Entry point of ``python -m hybridrl.rewards._worker``: pickled messages on stdin/stdout.

    The protocol gets its own copy of fd 1 and fd 1 is pointed at stderr, so a stray
    ``print`` in a verifier or a library cannot corrupt the stream.
    """
    import os

    from multiprocessing.connection import Connection

    import logging

    # the parent logs the first failure's traceback once; workers (several, replaced on
    # time-outs) would each print their own copy
    logging.getLogger("hybridrl.rewards").setLevel(logging.ERROR)
    out_fd = os.dup(1)
    os.dup2(2, 1)
    reader = Connection(os.dup(0), writable=False)
    writer = Connection(out_fd, readable=False)

    class _Duplex:  # the two one-way pipes seen as one connection
        recv = staticmethod(reader.recv)
        send = staticmethod(writer.send)

    worker_main(_Duplex())


if __name__ == "__main__":
    _main()
