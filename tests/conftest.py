"""Test-wide settings: tests never touch the network (models are built in code or packaged).

- The Hugging Face libraries are put in offline mode (set before any test imports them).
- :func:`guard_connect` replaces ``socket.socket.connect``/``connect_ex`` for the whole test
  session: a connection to anything but loopback or a Unix socket raises
  :class:`NetworkRefused` *before* the system call, so no packet leaves the machine.
  Reward workers, CLI subprocesses and ``accelerate launch`` talk over pipes, Unix sockets or
  127.0.0.1 and are unaffected. (Checked in tests/reliability/test_safety.py.)
- ``tiny_args`` is the one tiny-run fixture (``tiny_overrides`` is the same as key=value strings);
  ``tests/`` is importable, so ``scripted_rewards`` holds the one copy of each scripted reward.
"""

import ipaddress
import os
import socket
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


# --- no network ----------------------------------------------------------------------------


class NetworkRefused(ConnectionRefusedError):
    """A test tried to connect to a non-loopback address (the suite must run offline)."""


def is_local_address(address) -> bool:
    """True for a Unix socket path, ``localhost`` or a loopback IP (127.0.0.0/8, ::1);
    False for every other host, names included (they are never resolved here)."""
    if isinstance(address, (str, bytes)):  # AF_UNIX path (or abstract namespace)
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:  # a host name other than localhost
        return False


_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex


def _refuse(address):
    raise NetworkRefused(f"tests run offline: connection to {address!r} refused by tests/conftest.py")


def guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local_address(address):
        _refuse(address)
    return _REAL_CONNECT(self, address)


def guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local_address(address):
        _refuse(address)
    return _REAL_CONNECT_EX(self, address)


def guard_connect() -> None:
    """Install the guard (idempotent). ``socket.create_connection`` and every HTTP client
    built on the ``socket`` module go through ``socket.socket.connect``."""
    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex


guard_connect()


# --- one tiny run ----------------------------------------------------------------------------


@pytest.fixture
def tiny_args(tmp_path):
    """Settings for a fast run on the tiny model: 2 prompts x 4 completions x 12 tokens,
    scored by ``scripted_rewards.even_length``. ``tiny_args(**kw)`` returns a dict (kw
    override); ``tiny_overrides`` gives the same as ``key=value`` strings."""

    def make(**kw):
        base = dict(model="tiny", task="chain_sum", train_size=16, eval_size=4, prompts_per_step=2, group_size=4,
                    max_new_tokens=12, micro_batch_size=4, lr=1e-3, progress=False, output_dir=str(tmp_path / "run"),
                    reward_fn="scripted_rewards:even_length")
        base.update(kw)
        return base

    return make


@pytest.fixture
def tiny_overrides(tiny_args):
    """The same settings as ``key=value`` strings (for the CLI and ``build_config``)."""
    return lambda **kw: [f"{k}={v}" for k, v in tiny_args(**kw).items()]
