"""CLI tests run ``hybridrl.cli.main`` in-process on the tiny model (seconds each)."""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
# processes started by the tests see this folder too (rewards: tests/scripted_rewards.py, on it already)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))

from cli_helpers import TINY  # noqa: E402


@pytest.fixture
def tiny():
    return list(TINY)
