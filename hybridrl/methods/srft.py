"""SRFT: single-stage supervised + reinforcement fine-tuning with entropy-aware weights
(Fu et al. 2025; HPT baseline run through the HPT repository's official code:
exp_scripts/train_srft.sh, ``offline_loss_type="srft"`` in mix_actor.py; docs/methods.md, SRFT).

Per prompt the group is n − 1 = 7 rollouts + 1 demonstration τ* (official rollout.n = 8 with
n_prefix = 1 and the whole demonstration as the prefix). Every step has three terms:

- ``sft`` on the demonstrations, preset ``srft_sft``: NLL weighted 0.5·exp(−H_i), H_i the
  detached entropy of demonstration i under the policy (masked mean over its tokens, as the
  official ``masked_mean(entropy, response_mask, axis=-1)``); token mean over demonstration
  tokens (official ``compute_sft_pure_loss``);
- ``off`` on the same demonstrations, preset ``srft_off_policy``: off-policy RL with π_ref ≡ 1
  shaped by f(π) = π/(π + 0.1) (official ``off_policy_reshape="p_div_p_0.1"``), no clipping,
  advantage A* = 1 − mean of the group of 7 rollouts ∪ τ* (official GRPO with
  ``grpo_use_std=False``; τ* has reward 1);
- ``pg`` on the rollouts, preset ``srft``: the binary reward (``StepData.correct``, the official
  ``token_level_scores.sum(-1) == 1``) selects the weight: 0.1·exp(H_i) for a correct rollout,
  −1 for a wrong one, on log π (plain policy gradient, official ``srft_type="paper"``).

``off`` and ``pg`` share one normaliser (``norm_group``): the official
``loss_remove_token_mean=True`` sums their per-token losses over the mixed micro-batch and
divides by max_len; here Σ / max_len / (number of rollouts + demonstrations of the step), so
rollout and demonstration tokens weigh alike, as in the official code, and the scale does not
depend on the batch layout. The SFT term is its own token mean (official: added unweighted).
The recipe sets ``entropy_coef=0.001`` (official ``entropy_coeff``).

Departures: the official entropy bonus is a token mean over the whole micro-batch
(demonstrations included), ours covers the rollouts only; the official SFT-to-RL ratio depends
on how many sequences a micro-batch holds (SFT is a mean, RL a sum), ours does not
(docs/methods.md "SRFT").
"""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.luffy import luffy_advantages
from hybridrl.methods.plain import demo_term

NORM_GROUP = "mixed"
"""The on-policy (rollouts) and off-policy (demonstrations) RL terms share one Σ/max_len."""


class SRFTController(Controller):
    """Entropy-weighted SFT + shaped off-policy RL on τ*, entropy-weighted PG on 7 rollouts."""

    def __init__(self, config: Any):
        super().__init__(config)
        # official group: n = 8 samples of which one is the demonstration
        self.rollouts_per_prompt = max(1, int(config.group_size) - 1)

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True, rollouts_per_prompt=self.rollouts_per_prompt)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.correct is not None
        binary = data.correct.float()  # (N,) R ∈ {0, 1}
        pg = LossTerm("pg", "srft", "rollout", torch.arange(len(binary)), advantages=binary,
                      norm_group=NORM_GROUP)
        sft = demo_term(data, preset="srft_sft", name="sft")
        # the demonstration's advantage over its group of rollouts ∪ τ* (R(τ*) = 1), no std
        on_group = data.rollouts.prompt_index.long()
        _, a_off = luffy_advantages(binary, on_group, torch.ones(len(sft.indices)), sft.indices,
                                    len(data.rows))
        off = LossTerm("off", "srft_off_policy", "demo", sft.indices, advantages=a_off, norm_group=NORM_GROUP)
        n_demo, n_roll = len(sft.indices), len(binary)
        self._metrics = {"sft_fraction": n_demo / max(1, n_demo + n_roll),
                         "sft_prompt_share": n_demo / max(1, len(data.rows)),
                         "srft/num_pos": int(binary.sum()), "srft/num_neg": int((binary == 0).sum())}
        return [Update([pg, sft, off], kind="hybrid")]


SPECS = {
    "srft": MethodSpec(SRFTController, "entropy-weighted SFT + RL terms", "SRFT (HPT baseline)", needs_demos=True),
}
