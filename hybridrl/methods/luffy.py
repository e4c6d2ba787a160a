"""LUFFY: off-policy guidance by mixing demonstrations into the rollout group (Yan et al. 2025;
HPT baseline, HPT Table 1).

Of the n = ``group_size`` samples per prompt, ``luffy_n_off`` are copies of the prompt's
demonstration τ* (reward 1, correct) and n − n_off are sampled. Per prompt the group is
on ∪ off, and one advantage computation covers both:

    A_j = R_j − mean_{on ∪ off}(R)        (official code: no std normalisation)

(``luffy_adv_on_only``: the mean over the on-policy samples only). Two terms share these
advantages:

- ``pg``  (rollouts): preset ``luffy_on_policy``, i.e. the PPO-clipped ratio π_θ/π_old with
  token-mean aggregation (as ``grpo``); the advantages we pass are the preset's. LUFFY's
  on-policy part is fixed by the paper, so ``rl_preset`` is not used.
- ``off`` (demonstrations, ``n_off`` copies of each row's τ*): preset ``luffy_off_policy``:
  reference denominator 1 (ratio = π_θ), policy shaping f(π) = π/(π + 0.1), no clipping.

Departures: the official code reduces on- and off-policy tokens in one token mean over the
whole mixed batch; here each term is a token mean over its own tokens and the two are
summed (the loop reduces each term once, DESIGN §4, and the demonstration token counts are
only known to the loop). A row without a demonstration keeps an on-policy-only group.
"""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update


def luffy_advantages(
    on_rewards: torch.Tensor,
    on_group: torch.Tensor,
    off_rewards: torch.Tensor,
    off_group: torch.Tensor,
    num_groups: int,
    on_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A = R − mean of the group; the group of prompt g is its on-policy samples ∪ its
    off-policy samples (``on_only``: the mean over on-policy samples only). No std.

    Args:
        on_rewards: (N_on,) float; on_group: (N_on,) long prompt of each rollout.
        off_rewards: (N_off,) float; off_group: (N_off,) long prompt of each demo copy.
        num_groups: number of prompts P.
    Returns:
        (A_on (N_on,), A_off (N_off,)).
    """
    total = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, on_group, on_rewards.double())
    size = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, on_group, torch.ones(len(on_group)).double())
    if not on_only:  # the demonstrations join their prompt's group
        total.index_add_(0, off_group, off_rewards.double())
        size.index_add_(0, off_group, torch.ones(len(off_group)).double())
    mean = total / size.clamp(min=1)  # (P,)
    a_on = on_rewards.double() - mean[on_group]
    a_off = off_rewards.double() - mean[off_group]
    return a_on.to(on_rewards.dtype), a_off.to(off_rewards.dtype)


class LUFFYController(Controller):
    """n − n_off rollouts + n_off demonstrations per group; shaped off-policy term."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.n_off = int(config.luffy_n_off)
        self.n = int(config.group_size)
        self.on_only = bool(config.luffy_adv_on_only)
        if not 0 <= self.n_off < self.n:
            raise ValueError(f"luffy_n_off must be in [0, group_size) (got {self.n_off}, group_size={self.n})")

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True, rollouts_per_prompt=self.n - self.n_off, demos=True)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.rewards is not None
        num_rows = len(data.rows)
        on_group = data.rollouts.prompt_index.long()  # (N_on,)
        demo_rows = [i for i, r in enumerate(data.rows) if r.demonstration]
        # n_off copies of each demonstration, row-major: [r0, r0, r1, r1, ...] for n_off = 2
        off_group = torch.tensor(demo_rows, dtype=torch.long).repeat_interleave(self.n_off)  # (N_off,)
        off_rewards = torch.ones(len(off_group))  # a demonstration is correct: R(τ*) = 1
        a_on, a_off = luffy_advantages(data.rewards.float(), on_group, off_rewards, off_group, num_rows, self.on_only)
        pg = LossTerm("pg", "luffy_on_policy", "rollout", torch.arange(len(on_group)), advantages=a_on)
        off = LossTerm("off", "luffy_off_policy", "demo", off_group, advantages=a_off)
        total = len(on_group) + len(off_group)
        self._metrics = {"offline_fraction": len(off_group) / total if total else 0.0,
                         "luffy/num_off": len(off_group)}
        return [Update([pg, off], kind="hybrid")]
