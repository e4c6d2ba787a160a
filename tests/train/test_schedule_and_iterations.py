"""GRPO's μ > 1 (the batch reused with importance ratios against log-probs frozen at the first
pass), the learning-rate schedule (warm-up + cosine) by hand, and the scheduler's state on
resume: each checked through the real loop on the tiny model against a hand-run oracle."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from hybridrl.core.aggregation import agg_loss
from hybridrl.core.policy_loss import policy_loss
from hybridrl.rollout.logprobs import sequence_logprobs
from hybridrl.config import build_config
from hybridrl.training.loop.trainer import Trainer

LR = 1e-3


def cfg_of(tiny_args, **kw):
    a = tiny_args(**{"eval_size": 0, "bf16": False, "save_every": 0, **kw})
    method = a.pop("method", "grpo")
    return build_config(None, {"method": method}, [f"{k}={v}" for k, v in a.items()])


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def record_used_lr(t: Trainer) -> list[float]:
    """The policy's learning rate at each ``optimizer.step()`` (what the update really used)."""
    used: list[float] = []
    t.optimizer.register_step_pre_hook(lambda opt, args, kwargs: used.append(opt.param_groups[0]["lr"]))
    return used


# --- num_iterations (μ) > 1 ---------------------------------------------------------------------


def oracle_mu_updates(model, optimizer_group, rollouts, advantages, mu, max_grad_norm, freeze_old=True):
    """A hand-run GRPO step with μ updates on one batch (one micro-batch, token-mean):

        old = log π(y) at the first pass, detached (frozen for all μ passes: TRL / DeepSeekMath)
        for it in 1..μ:  loss = token-mean( -min(A r, A clip(r, 0.8, 1.2)) ),  r = exp(logp - old)
                         backward, clip the grad norm, AdamW step

    ``freeze_old=False`` recomputes ``old`` every pass (then r ≡ 1): the defect to catch."""
    m = copy.deepcopy(model)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=optimizer_group["lr"], betas=optimizer_group["betas"],
                            eps=optimizer_group["eps"], weight_decay=optimizer_group["weight_decay"])
    mask = rollouts.completion_mask.float()
    old = None
    for it in range(mu):
        opt.zero_grad(set_to_none=True)
        logp = sequence_logprobs(m, rollouts.prompt_ids, rollouts.prompt_index, rollouts.completion_ids, mask,
                                 temperature=1.0)["logprobs"].float()
        if old is None or not freeze_old:
            old = logp.detach()
        ptl, _ = policy_loss(logp, old, advantages, mask, denominator="rollout", clip="ppo", eps_low=0.2)
        agg_loss(ptl, mask, "token-mean", num_tokens=float(mask.sum()), num_seqs=float(len(mask))).backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
    return weights(m)


def test_num_iterations_reuses_the_batch_with_frozen_old_logprobs(tiny_args):
    # lr 0.02: the first update moves log π by O(0.1), so the second pass's ratios are far from
    # 1 and some are clipped (with `old` recomputed they would all be 1)
    t = Trainer(cfg_of(tiny_args, steps=1, num_iterations=2, lr=0.02, micro_batch_size=8, group_size=4,
                       skip_zero_advantage=False))
    model0 = copy.deepcopy(t.model)
    group = {k: t.optimizer.param_groups[0][k] for k in ("lr", "betas", "eps", "weight_decay")}
    used_lr = record_used_lr(t)
    seen = []
    real_plan = t.controller.plan

    def plan(ctx, data):
        updates = real_plan(ctx, data)
        seen.append((data, updates))
        return updates

    t.controller.plan = plan
    rec = t.step(0)
    assert rec["update_skipped"] is False
    assert used_lr == [0.02, 0.02]  # two optimizer steps on one batch, at the step's lr
    (data, updates), = seen
    (term,) = [term for u in updates for term in u.terms]
    assert term.preset == "grpo" and len(term.indices) == 8
    adv = term.advantages
    assert bool(adv.abs().gt(0).any())  # some learning signal, else the test says nothing
    expected = oracle_mu_updates(model0, group, data.rollouts, adv, mu=2, max_grad_norm=1.0)
    got = weights(t.model)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], atol=2e-6, rtol=0)
    # the oracle can tell the difference: recomputing `old` at the second pass (ratio ≡ 1)
    # gives other weights, far outside the tolerance above
    recomputed = oracle_mu_updates(model0, group, data.rollouts, adv, mu=2, max_grad_norm=1.0, freeze_old=False)
    assert max((recomputed[k] - got[k]).abs().max().item() for k in got) > 1e-4
    # and μ = 2 is not μ = 1 twice from scratch: one AdamW state, two steps
    one = oracle_mu_updates(model0, group, data.rollouts, adv, mu=1, max_grad_norm=1.0)
    assert max((one[k] - got[k]).abs().max().item() for k in got) > 1e-4


# --- learning-rate schedule ---------------------------------------------------------------------


def cosine_with_warmup(step, steps, warmup):
    # linear warm-up (s + 1) / W for s < W, then 0.5 (1 + cos(π (s - W) / (S - W)))
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (steps - warmup))))


# steps = 6, warm-up 2, cosine:
#   s=0: 1/2 = 0.5              s=1: 2/2 = 1
#   s=2: (1 + cos 0) / 2 = 1    s=3: (1 + cos π/4) / 2 = 0.8535534
#   s=4: (1 + cos π/2) / 2 = 0.5  s=5: (1 + cos 3π/4) / 2 = 0.1464466
COSINE_6_WARMUP_2 = [0.5, 1.0, 1.0, 0.8535534, 0.5, 0.1464466]


def test_cosine_schedule_with_warmup_by_hand(tiny_args):
    assert [cosine_with_warmup(s, 6, 2) for s in range(6)] == pytest.approx(COSINE_6_WARMUP_2, abs=1e-7)
    t = Trainer(cfg_of(tiny_args, steps=6, warmup_steps=2, lr_scheduler="cosine", lr=LR, group_size=2,
                       max_new_tokens=4, skip_zero_advantage=False))
    used = record_used_lr(t)
    for s in range(6):
        t.step(s)
    assert used == pytest.approx([LR * f for f in COSINE_6_WARMUP_2], rel=1e-6)


def test_constant_schedule_after_warmup(tiny_args):
    # warm-up 2 then constant: 1/2, 1, 1, 1
    t = Trainer(cfg_of(tiny_args, steps=4, warmup_steps=2, lr=LR, group_size=2, max_new_tokens=4,
                       skip_zero_advantage=False))
    used = record_used_lr(t)
    for s in range(4):
        t.step(s)
    assert used == pytest.approx([LR * 0.5, LR, LR, LR], rel=1e-6)


def test_scheduler_state_is_restored_on_resume(tiny_args, tmp_path):
    # a 6-step run stopped after 3 steps (checkpoint), then resumed for steps 3-5: the resumed
    # updates must use the schedule's lr for steps 3, 4, 5 (a fresh scheduler would restart
    # the warm-up: 0.5, 1, 1)
    run = tmp_path / "run"
    kw = dict(steps=6, warmup_steps=2, lr_scheduler="cosine", lr=LR, group_size=2, max_new_tokens=4,
              skip_zero_advantage=False, output_dir=str(run))
    first = Trainer(cfg_of(tiny_args, **kw))
    used = record_used_lr(first)
    for s in range(3):
        first.step(s)
    first.save(3)
    assert used == pytest.approx([LR * f for f in COSINE_6_WARMUP_2[:3]], rel=1e-6)
    resumed = Trainer(cfg_of(tiny_args, **kw), resume=run)
    assert resumed.start_step == 3
    used = record_used_lr(resumed)
    for s in range(3, 6):
        resumed.step(s)
    assert used == pytest.approx([LR * f for f in COSINE_6_WARMUP_2[3:]], rel=1e-6)
