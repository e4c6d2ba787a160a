"""#26: ``hybridrl train --method chord|relift|uft rollout_engine=vllm`` end to end on a tiny model
(runs where vLLM is installed; ~1.5 min each, most of it vLLM's start-up in the subprocess).
UFT's prefix rollouts go through the engine as token-id prompts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridrl.rollout.vllm_generator import vllm_available
from tests.rollout.conftest import tiny_pair

HERE = Path(__file__).resolve().parent
EXTRA = {"uft": ["uft_hint_steps=3", "uft_p_low=0.5", "uft_p_high=0.5"], "relift": ["relift_buffer_size=1"],
         "chord": ["chord_mu_warmup_steps=1", "chord_mu_decay_steps=1"]}


@pytest.mark.skipif(not vllm_available(), reason="vllm not installed")
@pytest.mark.parametrize("method", ["uft", pytest.param("chord", marks=pytest.mark.slow),
                                    pytest.param("relift", marks=pytest.mark.slow)])
def test_train_cli_new_hybrids_with_vllm_engine(tmp_path, method):
    model, tok = tiny_pair(seed=0)  # head size 32: one vLLM's CPU kernels support
    folder = tmp_path / "tiny128"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "hybridrl.cli", "train", "--method", method, "--model", str(folder),
           "--task", "chain_sum", "--steps", "3", "--output-dir", str(run), "rollout_engine=vllm",
           "prompts_per_step=2", "group_size=4", "max_new_tokens=12", "eval_size=0", "progress=false",
           "reward_fn=scripted_rewards:even_length", "vllm_kv_cache_gib=0.25", "lr=1e-3", *EXTRA[method]]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    key = {"uft": "prefix_fraction", "chord": "chord_mu", "relift": "relift_buffer_size"}[method]
    assert all(key in r for r in rows)
    if method == "uft":  # p = ½ per section: some prompt got a prefix in 3 steps (6 prompts)
        assert any(r["prefix/prompts"] > 0 for r in rows) and all("prefix_loss" in r for r in rows)
