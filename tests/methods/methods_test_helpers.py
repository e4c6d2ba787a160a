"""Scripted inputs for controller tests: configs, rows, fake rollout batches, a mini loop."""

from __future__ import annotations

import io
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any, Callable

import torch

from hybridrl.schema import Row
from hybridrl.methods.base import Controller, Feedback, StepContext, StepData, Update
from hybridrl.methods.registry import OPTION_CLASSES
from hybridrl.rollout.types import RolloutBatch


def make_config(**overrides: Any) -> SimpleNamespace:
    """Every method's options at their defaults + the general fields controllers read."""
    base = {k: v for cls in OPTION_CLASSES.values() for k, v in asdict(cls()).items()}
    base.update(group_size=8, prompts_per_step=4, seed=0, steps=100, rl_preset="grpo")
    for k in overrides:
        assert k in base, f"unknown config key {k}"
    base.update(overrides)
    return SimpleNamespace(**base)


def make_rows(num: int, demos: bool | list[bool] = True, ids: bool = True) -> list[Row]:
    has = demos if isinstance(demos, list) else [demos] * num
    return [
        Row(prompt=f"q{i}", answer=[str(i)], demonstration=f"solution {i}" if has[i] else None,
            id=f"r{i}" if ids else None)
        for i in range(num)
    ]


def make_batch(rows: list[Row], correct: list[list[int]], rewards: list[list[float]] | None = None,
               batch_reward_mean: float | None = None) -> StepData:
    """StepData whose prompt p has completions with correctness ``correct[p]`` (prompt-major);
    rewards default to the correctness. Token tensors are dummies."""
    flat_c = [c for group in correct for c in group]
    flat_r = [r for group in (rewards or correct) for r in group]
    index = [p for p, group in enumerate(correct) for _ in group]
    n = len(flat_c)
    rollouts = RolloutBatch(
        prompt_ids=[[1, 2]] * len(rows),
        prompt_index=torch.tensor(index, dtype=torch.long),
        completion_ids=torch.ones(n, 3, dtype=torch.long),
        completion_mask=torch.ones(n, 3),
        logprobs=torch.zeros(n, 3),
        texts=["x"] * n,
        finish_reasons=["stop"] * n,
    )
    return StepData(rows=rows, rollouts=rollouts, rewards=torch.tensor(flat_r, dtype=torch.float32),
                    correct=torch.tensor(flat_c, dtype=torch.bool), batch_reward_mean=batch_reward_mean)


def demo_only(rows: list[Row]) -> StepData:
    return StepData(rows=rows, rollouts=None, rewards=None, correct=None)


def ctx(step: int, total: int = 100, epoch: int = 0, steps_per_epoch: int = 10) -> StepContext:
    return StepContext(step=step, total_steps=total, epoch=epoch, steps_per_epoch=steps_per_epoch)


def terms_by_name(update: Update) -> dict[str, Any]:
    return {t.name: t for t in update.terms}


def as_list(x: torch.Tensor | None) -> list | None:
    return None if x is None else x.tolist()


def describe(updates: list[Update]) -> list:
    """A plain, exactly comparable description of a plan."""
    return [
        (u.kind, [(t.name, t.preset, t.source, t.indices.tolist(), as_list(t.advantages), as_list(t.seq_weights),
                   t.norm_group) for t in u.terms])
        for u in updates
    ]


# --- a mini loop: the order of calls of hybridrl.training.loop.trainer, with scripted rewards -----------

def scripted_correct(step: int, num_prompts: int, k: int) -> list[list[int]]:
    """Deterministic 0/1 pattern that varies by step and prompt; prompt p fails every
    rollout when (step + p) % 3 == 0."""
    return [[0 if (step + p) % 3 == 0 else int((step * 7 + p * 3 + j) % (p + 3) == 0) for j in range(k)]
            for p in range(num_prompts)]


def run_steps(c: Controller, config: SimpleNamespace, steps: range, *, num_prompts: int = 3,
              steps_per_epoch: int = 2, term_loss: Callable[[str, int], float] | None = None) -> list:
    """Drive ``c`` like the loop does; returns per step (needs, plan description, weights,
    regularizer, metrics). Learnable weights are trained by SGD on scripted term losses."""
    rows = make_rows(num_prompts)
    params = c.parameters()
    opt = torch.optim.SGD(params, lr=0.1) if params else None
    term_loss = term_loss or (lambda name, step: 1.0 + 0.5 * len(name) + 0.1 * step)
    out = []
    for s in steps:
        cx = ctx(s, total=12, epoch=s // steps_per_epoch, steps_per_epoch=steps_per_epoch)
        needs = c.needs(cx)
        if needs.rollouts:
            k = needs.rollouts_per_prompt or config.group_size
            correct = scripted_correct(s, num_prompts, k)
            flat = [x for g in correct for x in g]
            data = make_batch(rows, correct, batch_reward_mean=sum(flat) / len(flat))
        else:
            data = demo_only(rows)
        updates = c.plan(cx, data)
        weights_log, reg_log = [], []
        for j, u in enumerate(updates):
            weighting = c.weighting_of(u)  # what the loop uses: the update's own weighting
            losses = {t.name: term_loss(t.name, s) for t in u.terms}
            if opt is not None:
                opt.zero_grad()
                for name, value in losses.items():
                    wt = weighting.weight(name)
                    if isinstance(wt, torch.Tensor) and wt.requires_grad:
                        (wt * value).backward()
                reg = weighting.regularizer()
                if reg is not None:
                    reg.backward()
                opt.step()
            reg = weighting.regularizer()
            weights_log.append({k: float(torch.as_tensor(weighting.weight(k)).detach()) for k in losses
                                if isinstance(weighting.weight(k), torch.Tensor) or weighting.weight(k) != 1.0})
            reg_log.append(None if reg is None else float(reg.detach()))
            c.observe(cx, Feedback(kind=u.kind, grad_norm=1.0 + ((s * 5 + j) % 7) / 2, term_losses=losses))
        out.append((needs, describe(updates), weights_log, reg_log, c.metrics()))
    return out


def checkpoint_roundtrip(state: dict) -> dict:
    """state -> torch.save -> torch.load, as the loop's checkpoint does."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)
