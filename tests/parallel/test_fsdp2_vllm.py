"""FSDP2 + vLLM rollouts (#28 item 8): `accelerate launch` with 2 CPU processes (gloo) and
``rollout_engine=vllm`` gives the weights of the one-process run of the same global batch.

Each rank runs its own colocated vLLM engine (in-process, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``):
the ranks sample different prompts (every rank keeps its shard of the global batch), FSDP2's
``full_state_dict`` gathers the full weights on every rank anyway (a collective all ranks run at the
start of their next ``generate``), and an in-process engine takes them in place with no pickling
to another process. A single shared engine would need a server process, a transfer of every
rank's prompts and results, and a weight push across processes; docs/parallel.md says more.

The model is the tiny Llama with hidden size 128 (head size 32, one vLLM's CPU attention supports),
saved to a folder (vLLM is built from its config with dummy weights; hybridrl pushes the real ones).
Sampling is seeded per prompt (``sampling_seed=prompt``), so each prompt draws the same
completions whichever rank samples it and whatever else is in the engine's batch — up to the
kernels' batch-dependent rounding of the logits.

Needs vLLM (``make install-vllm``; run with the vLLM venv: ``.venv-vllm/bin/python -m pytest -m slow
tests/parallel/test_fsdp2_vllm.py``); skipped where it is not importable. ~4 min on 2 busy cores,
most of it importing vLLM in every process.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hybridrl.rollout.vllm_generator import vllm_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not vllm_available(), reason="vllm not installed")]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FSDP2 = ROOT / "examples/accelerate/cpu_fsdp2_2proc.yaml"
# One process vs two: the same samples (per-prompt seeds), so the difference is float32 sums in
# another order — the gradient all-reduce (as test_cli_equality's 1e-5) plus vLLM's rollout
# log-probs of each sample, computed in batches of other sizes (they enter the importance-sampling
# correction and the logged mismatch). AdamW moves each weight by ~lr = 1e-3 per step.
TOL = 1e-4


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer

    folder = tmp_path_factory.mktemp("tiny128")
    tok = build_tiny_tokenizer()
    build_tiny_model(tok, seed=0, hidden=128).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def train(model: Path, out: Path, two: bool, steps: int = 2) -> list[dict]:
    args = ["train", "--method", "grpo", "--model", str(model), "--task", "chain_sum", "--steps", str(steps),
            "--output-dir", str(out), "rollout_engine=vllm", "vllm_kv_cache_gib=0.25", "train_size=16",
            "eval_size=0", "prompts_per_step=2", "group_size=4", "max_new_tokens=12", "micro_batch_size=2",
            "lr=1e-3", "progress=false", "sampling_seed=prompt", "reward_fn=scripted_rewards:even_length",
            "bf16=false"]
    if two:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP2),
               "--main_process_port", str(_port()), "-m", "hybridrl.cli", *args]
    else:
        cmd = [sys.executable, "-m", "hybridrl.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), str(HERE), str(ROOT),
                                                       os.environ.get("PYTHONPATH", "")]))}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert r.returncode == 0, (two, r.stdout[-2000:], r.stderr[-4000:])
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def final_weights(out: Path, steps: int = 2) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = {}
    for f in sorted((out / "checkpoints" / f"step-{steps:06d}" / "model").glob("*.safetensors")):
        state.update(load_file(str(f)))
    assert state
    return state


def test_fsdp2_with_vllm_equals_one_process(tiny_folder, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = train(tiny_folder, one, two=False)
    r2 = train(tiny_folder, two, two=True)
    assert "parallel: auto" in (two / "config.yaml").read_text() and "rollout_engine: vllm" in (two / "config.yaml").read_text()
    w1, w2 = final_weights(one), final_weights(two)
    assert set(w1) == set(w2)
    d = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
    moved = max(float((w1[k].float() - v.float()).abs().max()) for k, v in _initial(tiny_folder).items())
    print(f"EQUALITY fsdp2+vllm: max |w1 - w2| = {d:.3g} (weights moved by up to {moved:.3g})")
    assert moved > 1e-4
    assert d < TOL, d
    # the same samples: the same rewards, every step
    assert [r["reward"] for r in r2] == pytest.approx([r["reward"] for r in r1], abs=1e-9)


def _initial(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = {}
    for f in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
    return state
