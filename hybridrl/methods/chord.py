"""CHORD: on-policy RL and expert SFT in one loss with a scheduled weight and token-wise φ
(Zhang et al. 2025, "On-Policy RL Meets Off-Policy Experts: Harmonizing SFT and RL via Dynamic
Weighting", arXiv 2508.11408; official code modelscope/Trinity-RFT ``chord_policy_loss.py``, ``examples/mix_chord``;
also ms-swift's GRPO trainer ``compute_chord_loss``).

Every step:

    L = (1 − μ_t) · L_GRPO + μ_t · L_SFT*
    L_SFT* = token-mean over demonstration tokens of −sg(φ(p_t)) · log p_t,  φ(p) = p(1 − p)
    μ_t = μ_peak · t / W                                   for t < W        (linear warm-up)
        = μ_valley + (μ_peak − μ_valley) · ½(1 + cos(π (t − W) / D))  for W ≤ t < W + D
        = μ_valley                                         for t ≥ W + D   (official mu_schedule_function)

- ``pg`` term: the step's rollouts with ``rl_preset`` (GRPO: A = (R − mean)/std, clip 0.2,
  token mean; official PPOPolicyLossFn + GRPO advantages).
- ``sft`` term: the demonstrations of the step's prompts, preset ``chord_sft`` (φ-weighted NLL,
  token mean) or, with ``chord_phi=false`` (CHORD-μ), the plain ``sft`` preset, which follows
  ``sft_loss_type`` (``dft`` = Trinity's ``sft_is``).

μ_t is the update's :class:`ConstantWeights` ``{"pg": 1 − μ_t, "sft": μ_t}``; t = ``ctx.step``
(0-based optimizer step; Trinity passes its global step). Logged: ``chord_mu``,
``sft/token_weight_mean`` (mean φ over the demonstration tokens), ``sft_fraction``
(demonstrations ÷ all samples of the step, as HPT's).

Departures (docs/methods.md, CHORD table): the expert batch is the step's own prompts'
demonstrations (the official trainer draws it from a separate SFT set, 64 expert sequences per
256 rollouts); each term is reduced over the whole step (official: a token mean per micro-batch
rescaled by the micro-batch's share of sequences, which depends on the batch layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any, ClassVar

from hybridrl.methods.base import ConstantWeights, Controller, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import demo_term, rollout_term


@dataclass
class CHORDOptions:
    """Options of CHORD (Zhang et al. 2025, arXiv 2508.11408; official Trinity-RFT mix_chord).

    Config section ``chord`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "chord"

    chord_mu_warmup_steps: int = 200
    """Steps of the linear warm-up of μ from 0 to ``chord_mu_peak`` (official mix_chord.yaml
    ``mu_warmup_steps: 200``; 0 for the paper's CHORD-μ and CHORD-φ settings)."""
    chord_mu_decay_steps: int = 400
    """Steps of the cosine decay from the peak to ``chord_mu_valley`` after the warm-up
    (mix_chord.yaml 400; 200 for CHORD-μ, 0 = μ stays at the valley for CHORD-φ)."""
    chord_mu_peak: float = 0.5
    """μ at the end of the warm-up (mix_chord.yaml 0.5; CHORD-μ 0.9, CHORD-φ 0.1)."""
    chord_mu_valley: float = 0.02
    """μ after the decay (mix_chord.yaml 0.02; CHORD-μ 0.05, CHORD-φ 0.1)."""
    chord_phi: bool = True
    """Weight each demonstration token by sg(φ(p_t)), φ(p) = p(1 − p) (official
    ``enable_phi_function: true``, CHORD-φ). False: the plain SFT term (φ ≡ 1, CHORD-μ), which
    then follows ``sft_loss_type`` (``dft`` gives Trinity-RFT's ``sft_is`` variant)."""


def chord_mu(step: int, warmup_steps: int, decay_steps: int, peak: float, valley: float) -> float:
    """μ_t of CHORD: linear warm-up 0 -> peak over ``warmup_steps``, cosine decay peak -> valley
    over ``decay_steps``, then valley (Trinity-RFT ``mu_schedule_function``, same corners)."""
    if step < warmup_steps:
        return peak * step / warmup_steps
    if step >= warmup_steps + decay_steps:
        return valley
    cos = 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / decay_steps))
    return valley + (peak - valley) * cos


def check_chord_options(config: Any) -> None:
    """Fail early on values the schedule cannot use."""
    if config.chord_mu_warmup_steps < 0 or config.chord_mu_decay_steps < 0:
        raise ValueError("chord_mu_warmup_steps and chord_mu_decay_steps must be >= 0 "
                         f"(got {config.chord_mu_warmup_steps}, {config.chord_mu_decay_steps})")
    for key in ("chord_mu_peak", "chord_mu_valley"):
        if not 0.0 <= getattr(config, key) <= 1.0:
            raise ValueError(f"{key} must be in [0, 1] (got {getattr(config, key)}): μ weighs SFT against RL")


class CHORDController(Controller):
    """(1 − μ_t)·GRPO on the rollouts + μ_t·φ-weighted SFT on the demonstrations, one update."""

    def __init__(self, config: Any):
        super().__init__(config)
        check_chord_options(config)
        self.preset = config.rl_preset
        self.sft_preset = "chord_sft" if config.chord_phi else "sft"
        self.schedule = dict(warmup_steps=config.chord_mu_warmup_steps, decay_steps=config.chord_mu_decay_steps,
                             peak=config.chord_mu_peak, valley=config.chord_mu_valley)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        mu = chord_mu(ctx.step, **self.schedule)
        pg = rollout_term("pg", self.preset, data)
        sft = demo_term(data, preset=self.sft_preset)
        n_demo, n_roll = len(sft.indices), len(pg.indices)
        # sft_fraction as HPT logs it: demonstration samples ÷ all samples of the step
        self._metrics = {"chord_mu": mu, "sft_fraction": n_demo / max(1, n_demo + n_roll)}
        return [Update([pg, sft], kind="hybrid", weighting=ConstantWeights({"pg": 1.0 - mu, "sft": mu}))]


SPECS = {
    "chord": MethodSpec(CHORDController, "(1 − μ_t)·GRPO + μ_t·φ-weighted SFT, μ warm-up then cosine decay",
                        "CHORD (Zhang et al. 2025)", needs_demos=True, options=(CHORDOptions,)),
}
