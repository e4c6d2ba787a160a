"""SRFT: single-stage supervised + reinforcement fine-tuning with entropy-aware weights
(Fu et al. 2025; HPT baseline, as in its official code; DESIGN §4).

Every step has two terms:

- ``sft`` on the step's demonstrations, preset ``srft_sft``: NLL weighted 0.5·exp(−H), H the
  (detached) policy entropy;
- ``pg`` on the rollouts, preset ``srft``: the binary reward (``StepData.correct``) is passed
  as the advantage; the preset weights positive samples 0.1·exp(H) and negative samples −1
  (plain policy gradient).

The entropy weights need the policy's entropy, so they live in the presets; the controller
only chooses the sequences and the binary rewards.
"""

from __future__ import annotations


import torch

from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.plain import demo_term


class SRFTController(Controller):
    """SFT (0.5·exp(−H)) on demonstrations + entropy-weighted policy gradient on rollouts."""

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True, demos=True)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.correct is not None
        binary = data.correct.float()  # (N,) R ∈ {0, 1}
        pg = LossTerm("pg", "srft", "rollout", torch.arange(len(binary)), advantages=binary)
        sft = demo_term(data, preset="srft_sft", name="sft")
        self._metrics = {"sft_fraction": len(sft.indices) / max(1, len(data.rows)),
                         "srft/num_pos": int(binary.sum()), "srft/num_neg": int((binary == 0).sum())}
        return [Update([pg, sft], kind="hybrid")]
