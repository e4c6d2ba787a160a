"""Test-wide settings: tests never touch the network (models are built in code or packaged)."""

import os

# read by huggingface_hub / transformers / datasets at import time: set before any test imports them
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
