import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
# subprocesses (accelerate launch) must import reward_fns too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def tiny_args(tmp_path):
    """Overrides for a fast run on the tiny model: 2 prompts x 4 completions x 12 tokens."""

    def make(**kw):
        base = dict(model="tiny", task="chain_sum", train_size=16, eval_size=4, prompts_per_step=2, group_size=4,
                    max_new_tokens=12, micro_batch_size=4, lr=1e-3, progress=False, output_dir=str(tmp_path / "run"),
                    reward_fn="reward_fns:even_length")
        base.update(kw)
        return base

    return make
