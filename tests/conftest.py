"""Test-wide settings: tests never touch the network (models are built in code or packaged).

- The Hugging Face libraries are put in offline mode (set before any test imports them).
- ``offline_guard.guard_connect`` replaces ``socket.socket.connect``/``connect_ex`` for the whole
  test session: a connection to anything but loopback or a Unix socket raises
  ``NetworkRefused`` *before* the system call, so no packet leaves the machine.
  Reward workers, CLI subprocesses and ``accelerate launch`` talk over pipes, Unix sockets or
  127.0.0.1 and are unaffected. (Checked in tests/reliability/test_safety.py.)
- ``tiny_args`` is the one tiny-run fixture (``tiny_overrides`` is the same as key=value strings);
  ``tests/`` is importable, so ``scripted_rewards`` holds the one copy of each scripted reward.
"""

import os
import sys
from pathlib import Path

import pytest

# read by huggingface_hub / transformers / datasets at import time: set before any test imports them
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
# reward worker processes and CLI / accelerate subprocesses import scripted_rewards too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))


# --- no network: refuse every non-loopback connection (tests/offline_guard.py) ----------------
from offline_guard import guard_connect  # noqa: E402  (tests/ is on sys.path now)
from tiny_run import tiny_run  # noqa: E402

guard_connect()


# --- one tiny run ----------------------------------------------------------------------------


@pytest.fixture
def tiny_args(tmp_path):
    """Settings for a fast run on the tiny model (tests/tiny_run.py): 2 prompts x 4 completions
    x 12 tokens, scored by ``scripted_rewards.even_length``. ``tiny_args(**kw)`` returns a dict (kw
    override); ``tiny_overrides`` gives the same as ``key=value`` strings."""

    def make(**kw):
        return tiny_run(**{"output_dir": str(tmp_path / "run"), **kw})

    return make


@pytest.fixture
def tiny_overrides(tiny_args):
    """The same settings as ``key=value`` strings (for the CLI and ``build_config``)."""
    return lambda **kw: [f"{k}={v}" for k, v in tiny_args(**kw).items()]
