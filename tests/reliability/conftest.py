import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
# reward worker processes and CLI subprocesses must import rel_helpers too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def tiny_overrides(tmp_path):
    """key=value overrides for a fast run on the tiny model: 2 prompts x 4 completions x 12 tokens."""

    def make(**kw):
        base = dict(train_size=16, eval_size=0, prompts_per_step=2, group_size=4, max_new_tokens=12,
                    micro_batch_size=4, lr=1e-3, progress="false", output_dir=str(tmp_path / "run"),
                    reward_fn="rel_helpers:even_length")
        base.update(kw)
        return [f"{k}={v}" for k, v in base.items()]

    return make
