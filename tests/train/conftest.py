"""The loop tests' reward module (reward_fns) must be importable by reward workers and
``accelerate launch`` subprocesses. The tiny-run fixture ``tiny_args`` is in tests/conftest.py."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))
