import random

import numpy as np
import torch

from hybridrl.train import checkpoint as ck


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def save_pretrained(self, path, safe_serialization=True):
        from safetensors.torch import save_file

        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / "model.safetensors"))


def test_atomic_save_prune_and_latest(tmp_path):
    m = Tiny()
    for step in (1, 2, 3):
        ck.save_checkpoint(tmp_path, step, m, None, {"step": step}, keep_last=2)
    done = ck.complete_checkpoints(tmp_path)
    assert [p.name for p in done] == ["step-000002", "step-000003"]
    # a half-written checkpoint (no marker, as after a crash mid-write) is never picked
    half = tmp_path / "checkpoints" / "step-000009"
    (half / "model").mkdir(parents=True)
    assert ck.latest_checkpoint(tmp_path).name == "step-000003"
    assert ck.load_state(ck.latest_checkpoint(tmp_path))["step"] == 3


def test_weights_roundtrip_and_rng(tmp_path):
    m = Tiny()
    c = ck.save_checkpoint(tmp_path, 1, m, None, {"step": 1, "rng": ck.rng_state()}, keep_last=1)
    state = ck.load_state(c)  # weights_only=True load must work for everything we store
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    ck.set_rng_state(state["rng"])
    b = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    assert a == b
    m2 = Tiny()
    ck.load_model_weights(m2, c)
    assert torch.equal(m2.lin.weight, m.lin.weight)
