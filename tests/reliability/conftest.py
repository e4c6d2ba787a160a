"""rel_helpers must be importable by reward worker processes and CLI subprocesses.
The tiny-run fixtures ``tiny_args`` / ``tiny_overrides`` are in tests/conftest.py."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))
