"""Ctrl-C and ``kill`` (SIGINT / SIGTERM) stop a run cleanly instead of losing it.

The first signal only sets a flag (:attr:`InterruptGuard.requested`); the training loop gets the
guard with :func:`active` and looks at the flag at two safe points: before a step's update (the step is *abandoned*: nothing has touched
the weights or the optimizer yet, so the sampler, RNG and controller are put back and the
step is redone on resume) and after a step (it is *finished*). Either way the loop writes a
checkpoint and raises :class:`RunInterrupted`, whose message holds the resume command; the
CLI prints it and exits 130. A second SIGINT raises ``KeyboardInterrupt`` at once (no
checkpoint: the user asked to stop now). Handlers are installed only in the main thread of
the main interpreter (``signal`` allows no other), and the previous handlers come back on exit.

A resumed run ends with the same weights as an uninterrupted one (tested in
``tests/reliability/test_run_safety.py``: SIGINT/SIGTERM at random moments).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class RunInterrupted(Exception):
    """The run stopped on SIGINT/SIGTERM after saving a checkpoint; ``str(e)`` says how to resume."""

    def __init__(self, signame: str, step: int, checkpoint, run_dir, resume_with: str | None = None):
        self.signame, self.step, self.checkpoint, self.run_dir = signame, step, checkpoint, run_dir
        self.resume_with = resume_with or f"hybridrl train --resume {run_dir}"
        super().__init__(f"interrupted ({signame}) after {step} steps; checkpoint {checkpoint}; "
                         f"resume with: {self.resume_with}")


class StepAbandoned(Exception):
    """Raised inside a step (before its update) when an interrupt was requested."""


class InterruptGuard:
    """``with InterruptGuard() as g:`` — ``g.requested`` is the first signal's name (or None)."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, enabled: bool = True, out=None):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: str | None = None
        self._previous: dict[int, object] = {}
        self._out = out

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and name == "SIGINT":
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, no checkpoint
        if self.requested is None:
            self.requested = name
            print(f"\nhybridrl: {name} received: finishing or abandoning the current step, then saving a "
                  f"checkpoint (Ctrl-C again to stop at once, without one)", file=self._out or sys.stderr, flush=True)

    def check(self) -> None:
        """Raise :class:`StepAbandoned` if an interrupt is pending (call where a step may be abandoned)."""
        if self.requested is not None:
            raise StepAbandoned(self.requested)

    def __enter__(self) -> "InterruptGuard":
        if self.enabled:
            for name in self.SIGNALS:
                sig = getattr(signal, name)
                self._previous[sig] = signal.signal(sig, self._handler)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)
        self._previous.clear()
        if self in _ACTIVE:
            _ACTIVE.remove(self)


_ACTIVE: list[InterruptGuard] = []


def active() -> InterruptGuard:
    """The guard the current run is under (installed by :func:`hybridrl.training.loop.runner.run_training`
    before the model loads, so a signal during start-up is caught too), or a disabled one
    (``requested`` stays None) when the loop runs without it."""
    return _ACTIVE[-1] if _ACTIVE else InterruptGuard(enabled=False)
