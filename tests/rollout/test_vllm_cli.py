"""``hybridrl train ... rollout_engine=vllm`` end to end on a tiny model (runs where vLLM is installed:
``make test-vllm``; ~1.5 min, most of it vLLM's import and start-up in the subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridrl.rollout.vllm_generator import vllm_available
from tests.rollout.conftest import tiny_pair

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(not vllm_available(), reason="vllm not installed")
def test_train_cli_with_vllm_engine(tmp_path):
    model, tok = tiny_pair(seed=0)  # head size 32: one vLLM's CPU kernels support
    folder = tmp_path / "tiny128"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    run = tmp_path / "run"
    cmd = [str(Path(sys.executable).parent / "hybridrl"), "train", "--method", "grpo", "--model", str(folder),
           "--task", "chain_sum", "--steps", "3", "--output-dir", str(run), "rollout_engine=vllm",
           "prompts_per_step=2", "group_size=4", "max_new_tokens=12", "eval_size=4", "progress=false",
           "reward_fn=scripted_rewards:even_length", "vllm_kv_cache_gib=0.25", "lr=1e-3"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rollout_engine: vllm" in (run / "config.yaml").read_text()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3  # one metrics line per step
    # the parity reward varies within groups, so the policy moved and the engine had to re-sync
    assert any(r["grad_norm"] and r["grad_norm"] > 0 for r in rows)
    assert (run / "eval.jsonl").exists()
