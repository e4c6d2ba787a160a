"""LUFFY: off-policy guidance by mixing demonstrations into the rollout group (Yan et al. 2025;
HPT baseline, HPT Table 1; official code ElliottYan/LUFFY and the HPT repository's
exp_scripts/train_luffy.sh).

Of the n = ``group_size`` samples per prompt, ``luffy_n_off`` are copies of the prompt's
demonstration τ* (reward 1, correct) and n − n_off are sampled. Per prompt the group is
on ∪ off, and one advantage computation covers both:

    A_j = R_j − mean_{on ∪ off}(R)        (official: grpo_use_std False, no std)

(``luffy_adv_on_only``: the mean over the on-policy samples only). Two terms share these
advantages and one normaliser:

- ``pg``  (rollouts): preset ``luffy_on_policy``: the ratio π_θ/π_old *unclipped*
  (official ``loss_remove_clip=True``). LUFFY's on-policy part is fixed, so ``rl_preset``
  is not used.
- ``off`` (demonstrations, ``n_off`` copies of each row's τ*): preset ``luffy_off_policy``:
  reference denominator 1 (ratio = π_θ), policy shaping f(π) = π/(π + γ), γ =
  ``shaping_gamma`` = 0.1 (official ``off_policy_reshape="p_div_p_0.1"``), no clipping.

Normaliser: the official scripts set ``loss_remove_token_mean=True``: per micro-batch the
per-token losses of on- *and* off-policy samples are summed and divided by the padded
response length (``eos_mask.shape[-1]`` = max_response_length), one Σ/max_len over the mixed
batch, so every token, on or off, weighs 1/max_len. Here both terms use
``seq-mean-token-sum-norm`` in one ``norm_group`` ("mixed"): Σ over all on + off tokens /
max_len / (number of on + off sequences of the step). Every token weighs the same
1/(max_len · N) as every other: the official on:off balance exactly; the extra 1/N (N the
step's sequence count) makes the scale independent of the batch size and layout (the
official scale grows with the micro-batch; docs/methods.md, LUFFY). Recipes set ``entropy_coef=0.001``
(official ``entropy_coeff``).

Departures: the official entropy bonus also covers the demonstration tokens (it is a token
mean over the whole micro-batch); ours covers rollout tokens only. A row without a
demonstration keeps an on-policy-only group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from hybridrl.core.advantages import dr_grpo_advantages
from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec


@dataclass
class LUFFYOptions:
    """Options of LUFFY (Yan et al. 2025; HPT baseline).

    Config section ``luffy`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "luffy"

    luffy_n_off: int = 1
    """Demonstrations per group: of the n = group_size samples per prompt, n_off are copies
    of the demonstration and n − n_off are sampled (LUFFY default 1 of 8)."""
    luffy_adv_on_only: bool = False
    """Group mean over the on-policy samples only (default: over on ∪ off, LUFFY/HPT Table 1)."""

NORM_GROUP = "mixed"
"""The on- and off-policy terms share one Σ/max_len normaliser (official loss_remove_token_mean)."""


def luffy_advantages(
    on_rewards: torch.Tensor,
    on_group: torch.Tensor,
    off_rewards: torch.Tensor,
    off_group: torch.Tensor,
    num_groups: int,
    on_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A = R − mean of the group (``core.advantages.dr_grpo_advantages``); the group of prompt
    g is its on-policy samples ∪ its off-policy samples (``on_only``: the mean over on-policy
    samples only, applied to the off-policy samples too). No std.

    Args:
        on_rewards: (N_on,) float; on_group: (N_on,) long prompt of each rollout.
        off_rewards: (N_off,) float; off_group: (N_off,) long prompt of each demo copy.
        num_groups: number of prompts P (kept for the signature; groups are by id).
    Returns:
        (A_on (N_on,), A_off (N_off,)).
    """
    n_on = len(on_rewards)
    if not on_only:  # the demonstrations join their prompt's group
        adv = dr_grpo_advantages(torch.cat([on_rewards, off_rewards.to(on_rewards.dtype)]),
                                 torch.cat([on_group, off_group]))
        return adv[:n_on], adv[n_on:].to(off_rewards.dtype)
    a_on = dr_grpo_advantages(on_rewards, on_group)  # A = R − mean_on
    mean_on = on_rewards.new_zeros(num_groups).index_add_(0, on_group, on_rewards - a_on)
    size = on_rewards.new_zeros(num_groups).index_add_(0, on_group, torch.ones_like(on_rewards))
    mean_on = mean_on / size.clamp(min=1)  # each rollout's R − A_i is its group's mean
    return a_on, (off_rewards - mean_on[off_group].to(off_rewards.dtype))


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
        return Needs(rollouts=True, rollouts_per_prompt=self.n - self.n_off)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.rewards is not None
        num_rows = len(data.rows)
        on_group = data.rollouts.prompt_index.long()  # (N_on,)
        demo_rows = [i for i, r in enumerate(data.rows) if r.demonstration]
        # n_off copies of each demonstration, row-major: [r0, r0, r1, r1, ...] for n_off = 2
        off_group = torch.tensor(demo_rows, dtype=torch.long).repeat_interleave(self.n_off)  # (N_off,)
        off_rewards = torch.ones(len(off_group))  # a demonstration is correct: R(τ*) = 1
        a_on, a_off = luffy_advantages(data.rewards.float(), on_group, off_rewards, off_group, num_rows, self.on_only)
        pg = LossTerm("pg", "luffy_on_policy", "rollout", torch.arange(len(on_group)), advantages=a_on,
                      norm_group=NORM_GROUP)
        off = LossTerm("off", "luffy_off_policy", "demo", off_group, advantages=a_off, norm_group=NORM_GROUP)
        total = len(on_group) + len(off_group)
        self._metrics = {"offline_fraction": len(off_group) / total if total else 0.0,
                         "luffy/num_off": len(off_group)}
        return [Update([pg, off], kind="hybrid")]


SPECS = {
    "luffy": MethodSpec(LUFFYController, "demonstrations replace n_off rollouts; shaped off-policy term",
                        "LUFFY (HPT baseline)", needs_demos=True, options=(LUFFYOptions,)),
}
