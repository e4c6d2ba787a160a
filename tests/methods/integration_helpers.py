"""The tiny-model runs of the integration tests (``make_cfg`` / ``make_trainer``, which
tests/test_method_coverage.py reads to see which method each test trains) and the spies and
oracles they assert with. A method's integration test may sit in tests/methods/test_integration.py
or in its own tests/methods/test_<method>.py."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hybridrl.config import build_config
from hybridrl.training.loop.trainer import Trainer
from integration_rewards import answer_is_even, reward_fn
from tiny_run import tiny_run

# the suite's tiny run (tests/tiny_run.py) with 8-token completions, one micro-batch a step and no
# held-out split; rewards are chosen per test (make_cfg's ``reward``)
BASE = tiny_run(eval_size=0, max_new_tokens=8, micro_batch_size=8, reward_fn=None)
LR = BASE["lr"]
# a 2-step Adaptive Switch probe: sparse iff no rise in 2 steps and mean reward < 0.5
PROBE = dict(superrl_k=2, superrl_m=2, superrl_increase_threshold=1, superrl_avg_threshold=0.5)


def make_cfg(tmp_path, method: str, reward: str = "even_length", **kw):
    opts = {**BASE, "reward_fn": reward_fn(reward), "output_dir": str(tmp_path / method), **kw}
    return build_config(None, {"method": method}, [f"{k}={v}" for k, v in opts.items()])


def make_trainer(tmp_path, method: str, reward: str = "even_length", **kw) -> Trainer:
    return Trainer(make_cfg(tmp_path, method, reward, **kw))


def spy_plans(t: Trainer, hook=None) -> list:
    """Wrap ``t.controller.plan``: each call appends (ctx, data, updates). ``hook(data)`` runs
    before the real plan, while the model is still the one that sampled."""
    seen = []
    real = t.controller.plan

    def plan(ctx, data):
        if hook is not None:
            hook(data)
        updates = real(ctx, data)
        seen.append((ctx, data, updates))
        return updates

    t.controller.plan = plan
    return seen


def run(t: Trainer, steps: int = 3) -> list[dict]:
    return [t.step(s) for s in range(steps)]


def terms(updates) -> dict:
    return {term.name: term for u in updates for term in u.terms}


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def demo_logprobs(t: Trainer, rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log π, token entropy, mask), each (R, T), of the rows' demonstrations under the current
    model: one plain no-grad forward pass, as an oracle for the loop's demonstration terms."""
    from hybridrl.rollout.logprobs import sequence_logprobs
    from hybridrl.training.update.terms import demo_sequences

    seqs = demo_sequences([t.prompt_ids(r) for r in rows], [t.demo_ids(r) for r in rows], torch.arange(len(rows)))
    with torch.no_grad():
        out = sequence_logprobs(t.model, seqs.prompt_ids, seqs.prompt_index, seqs.completion_ids, seqs.mask,
                                temperature=t.cfg.temperature, return_entropy=True)
    return out["logprobs"].double(), out["entropy"].double(), seqs.mask.double()
