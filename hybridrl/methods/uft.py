"""UFT: Unified Fine-Tuning, RL from demonstration-prefix (hint) rollouts whose prefix shrinks to
nothing, plus a log-likelihood term on the prefix (Liu, Farina, Ozdaglar 2025, "UFT: Unifying
Supervised and Reinforcement Fine-Tuning", arXiv 2505.16984; official code liumy2010/UFT:
``verl/utils/dataset/rl_dataset.py`` (hint schedule), ``verl/workers/actor/dp_actor.py`` (loss),
``run.py`` / ``scripts/train.sh`` (defaults)).

Every step t, for each prompt x with demonstration τ*:

1. τ* (its tokens, without the final EOS) is cut into S = min(5, |τ*|) near-equal sections; the
   prompt gets the first K sections as a prefix h, K ~ Binomial(S, p_t),
   p_t = p_low + ½(p_high − p_low)(1 + cos(π t / T_hint)) (0.95 -> 0.05), and no prefix after
   T_hint (``uft_schedule=stage``: a deterministic staircase S -> 0; ``uniform``: the r3 baseline).
   All n rollouts of the prompt share its prefix (the official hint is part of the prompt).
2. The n rollouts continue x + h; the verifier scores h + continuation (the official reward
   decodes prompt + response, the hint included).
3. L = L_GRPO(continuation | x, h) + β · NLL(h | x)                   (official
   ``policy_loss = pg_loss − c·H + β·sft_loss`` with β = ``sft_loss_coef`` = 0.001, + KL)

   - ``pg``: ``rl_preset`` on the continuations, conditioned on x + h (the prefix tokens are
     prompt, never sampled: no ratio, advantage, KL or entropy on them);
   - ``prefix``: the ``sft`` preset on the first |h| tokens of τ* after x (token mean over all
     prefix tokens, as the official ``masked_mean(·, hint_mask)``), weight β. The official term
     averages over the n rollouts' copies of the same h; with every prompt sampled n times that is
     the same mean.

Logged: ``uft_hint_prob`` (p_t), ``prefix_fraction`` (mean |h| / |τ*|, the official
``hint_slice_prop``), ``prefix/prompts``, ``prefix/tokens``.

Departures (docs/methods.md, UFT table): sections are cut over the demonstration's *tokens*
(the official hint is a list of solution steps, cut by steps); a hint that is the whole
demonstration leaves the model only the end of sequence to write, as officially.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from hybridrl.methods.base import ConstantWeights, Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import rollout_term
from hybridrl.rollout.prefix import PrefixPlan, stage_sections, uft_hint_prob

SCHEDULES = ("cosine", "stage", "uniform")


@dataclass
class UFTOptions:
    """Options of UFT (Liu et al. 2025, arXiv 2505.16984; official liumy2010/UFT).

    Config section ``uft`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "uft"
    choices: ClassVar[dict[str, tuple]] = {"uft_schedule": SCHEDULES}

    uft_hint_steps: int | None = None
    """T_hint: steps with demonstration-prefix (hint) rollouts; afterwards no prefix. None =
    60% of ``steps`` (official run.py: T_hint 300 of T = 500)."""
    uft_schedule: str = "cosine"
    """How long the prefix is. ``cosine`` (UFT): each of the ``uft_sections`` sections is kept
    with probability p_t = p_low + ½(p_high − p_low)(1 + cos(π t / T_hint)), the prefix is the
    first Binomial(sections, p_t) sections; ``stage``: a deterministic staircase from all
    sections to none (official --algo stage); ``uniform``: a uniformly drawn number of sections
    (official --algo r3, with ``uft_beta=0``)."""
    uft_p_low: float = 0.05
    """p_low of the cosine schedule (official LOWER_PROB 0.05)."""
    uft_p_high: float = 0.95
    """p_high of the cosine schedule (official UPPER_PROB 0.95)."""
    uft_sections: int = 5
    """The demonstration is cut into min(sections, its length) sections of (almost) equal
    length, and a prefix is a whole number of sections (official: 5 sections of the hint's
    solution steps)."""
    uft_beta: float = 0.001
    """β of UFT's log-likelihood term on the prefix tokens: L = L_GRPO + β·NLL(prefix | x)
    (official ``sft_loss_coef`` 0.001)."""

def hint_steps_of(config: Any) -> int:
    """T_hint: ``uft_hint_steps``, or 60% of the run (official T_hint 300 of T = 500)."""
    return int(config.uft_hint_steps) if config.uft_hint_steps is not None else int(round(0.6 * config.steps))


def check_uft_options(config: Any) -> None:
    if config.uft_schedule not in SCHEDULES:
        raise ValueError(f"uft_schedule: unknown '{config.uft_schedule}'; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= config.uft_p_low <= config.uft_p_high <= 1.0:
        raise ValueError(f"need 0 <= uft_p_low <= uft_p_high <= 1 (got {config.uft_p_low}, {config.uft_p_high})")
    if config.uft_sections < 1 or config.uft_beta < 0:
        raise ValueError(f"uft_sections must be >= 1 and uft_beta >= 0 (got {config.uft_sections}, {config.uft_beta})")
    if config.uft_hint_steps is not None and config.uft_hint_steps < 0:
        raise ValueError(f"uft_hint_steps must be >= 0 (got {config.uft_hint_steps})")


class UFTController(Controller):
    """GRPO on hint-prefixed rollouts + β · NLL of the hint."""

    def __init__(self, config: Any):
        super().__init__(config)
        check_uft_options(config)
        self.preset = config.rl_preset
        self.schedule = config.uft_schedule
        self.hint_steps = hint_steps_of(config)
        self.p_low, self.p_high = float(config.uft_p_low), float(config.uft_p_high)
        self.sections = int(config.uft_sections)
        self.beta = float(config.uft_beta)
        self.seed = int(config.seed)

    def plan_prefix(self, step: int) -> tuple[PrefixPlan, float]:
        """This step's prefix plan and p_t (the stage staircase reports its share of sections)."""
        seed = (self.seed * 1_000_003 + step) * 4096 + 17  # distinct from the sampling seeds of the step
        if self.schedule == "cosine":
            p = uft_hint_prob(step, self.hint_steps, self.p_low, self.p_high)
            return PrefixPlan("binomial", self.sections, prob=p, seed=seed), p
        if self.schedule == "stage":
            k = stage_sections(step, self.hint_steps, self.sections)
            return PrefixPlan("fixed", self.sections, count=k, seed=seed), k / self.sections
        on = step <= self.hint_steps
        return PrefixPlan("uniform" if on else "fixed", self.sections, seed=seed), 0.5 if on else 0.0

    def needs(self, ctx: StepContext) -> Needs:
        plan, self._p = self.plan_prefix(ctx.step)
        return Needs(rollouts=True, demo_prefix=plan)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None
        pg = rollout_term("pg", self.preset, data)
        lengths = data.rollouts.prefix_lengths
        if lengths is None:
            lengths = torch.zeros(len(data.rows), dtype=torch.long)
        rows = (lengths > 0).nonzero()[:, 0]  # prompts that got a prefix
        prefix = LossTerm("prefix", "sft", "demo", rows, demo_lengths=lengths[rows])
        self._metrics = {"uft_hint_prob": getattr(self, "_p", 0.0), "uft/num_prefixed": len(rows)}
        return [Update([pg, prefix], kind="hybrid", weighting=ConstantWeights({"prefix": self.beta}))]


SPECS = {
    "uft": MethodSpec(UFTController, "GRPO from demonstration-prefix rollouts (prefix shrinks to 0) + β·NLL(prefix)",
                      "UFT (Liu et al. 2025)", needs_demos=True, options=(UFTOptions,)),
}
