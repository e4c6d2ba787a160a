"""The plain methods: SFT, the RL presets (GRPO, Dr. GRPO, REINFORCE, RLOO, PPO), SFT→RL.

Each is a few lines over the controller interface; the estimator preset does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from hybridrl.core import advantages as adv
from hybridrl.core.presets import get_preset
from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec


@dataclass
class SFTThenRLOptions:
    """Options of the SFT→RL baseline.

    Config section ``sft_then_rl`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "sft_then_rl"

    sft_then_rl_sft_steps: int = 20
    """SFT→RL: steps of SFT before the RL phase (the reference becomes the SFT model)."""

    def check(self) -> None:
        if self.sft_then_rl_sft_steps < 0:
            raise ValueError(f"config key 'sft_then_rl_sft_steps': must be >= 0, got {self.sft_then_rl_sft_steps!r}")


def rollout_term(name: str, preset: str, data: StepData, indices: torch.Tensor | None = None) -> LossTerm:
    """An RL term on the step's rollouts with the preset's advantage estimator.

    Advantages are computed per prompt group over the selected samples (``indices``, default
    all). Presets whose advantage is ``gae`` get ``advantages=None``: the loop computes GAE
    from the critic.
    """
    assert data.rollouts is not None and data.rewards is not None
    if indices is None:
        indices = torch.arange(data.rollouts.num_samples)
    rewards = data.rewards[indices].float()
    groups = data.rollouts.prompt_index[indices]
    kind = get_preset(preset).advantage
    if kind == "gae":
        a = None
    elif kind in ("given", "constant"):
        a = rewards.clone()
    elif kind == "reinforce":
        a = adv.reinforce_advantages(rewards)  # ±1, no baseline: groups play no part
    else:
        a = adv.ADVANTAGES[kind](rewards, groups)
    return LossTerm(name=name, preset=preset, source="rollout", indices=indices, advantages=a)


def demo_term(data: StepData, rows: list[int] | None = None, preset: str = "sft", name: str = "sft") -> LossTerm:
    """An SFT-like term on the demonstrations of the given rows (default: all rows with one)."""
    if rows is None:
        rows = [i for i, r in enumerate(data.rows) if r.demonstration]
    return LossTerm(name=name, preset=preset, source="demo", indices=torch.tensor(rows, dtype=torch.long))


class SFTController(Controller):
    """Supervised fine-tuning on demonstrations (HPT eq. 12: token-mean NLL)."""

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=False)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        return [Update([demo_term(data)], kind="sft")]

    def metrics(self) -> dict[str, Any]:
        return {"sft_fraction": 1.0}


class RLController(Controller):
    """Pure RL with one estimator preset: grpo, dr_grpo, reinforce, rloo, ppo, dapo, ..."""

    def __init__(self, config: Any, preset: str | None = None):
        super().__init__(config)
        self.preset = preset or config.rl_preset

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        return [Update([rollout_term("pg", self.preset, data)], kind="rl")]

    def metrics(self) -> dict[str, Any]:
        return {"sft_fraction": 0.0}


class SFTThenRLController(Controller):
    """SFT for ``sft_then_rl_sft_steps`` steps, then RL (``rl_preset``) from that model.

    At the first RL step the loop copies the policy into the KL reference
    (``Needs.reset_reference``), so KL (when ``beta > 0``) is measured to the SFT model.
    """

    def __init__(self, config: Any):
        super().__init__(config)
        self.sft_steps = config.sft_then_rl_sft_steps
        self.preset = config.rl_preset
        self._phase = "sft"

    def needs(self, ctx: StepContext) -> Needs:
        if ctx.step < self.sft_steps:
            self._phase = "sft"
            return Needs(rollouts=False)
        self._phase = "rl"
        return Needs(rollouts=True, reset_reference=ctx.step == self.sft_steps)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        if self._phase == "sft":
            return [Update([demo_term(data)], kind="sft")]
        return [Update([rollout_term("pg", self.preset, data)], kind="rl")]

    def metrics(self) -> dict[str, Any]:
        return {"sft_fraction": 1.0 if self._phase == "sft" else 0.0, "phase": self._phase}


def sft_then_rl_warnings(cfg: Any) -> list[str]:
    if cfg.sft_then_rl_sft_steps >= cfg.steps:
        return [f"method 'sft_then_rl': sft_then_rl_sft_steps={cfg.sft_then_rl_sft_steps} >= steps={cfg.steps}: "
                f"the RL phase never starts."]
    return []


SPECS = {
    "sft": MethodSpec(SFTController, "token-mean NLL on demonstrations", "HPT eq. 12", needs_demos=True,
                      uses_group_baseline=False, reads_rl_preset=False),
    "grpo": MethodSpec(RLController, "group-normalised advantages, PPO clip", "DeepSeekMath; HPT Table 1",
                       kwargs={"preset": "grpo"}),
    "dr_grpo": MethodSpec(RLController, "GRPO without std / length bias", "Dr. GRPO (Liu et al. 2025)",
                          kwargs={"preset": "dr_grpo"}),
    "ppo": MethodSpec(RLController, "critic + GAE + clipped value loss", "Schulman et al. 2017",
                      kwargs={"preset": "ppo"}, uses_group_baseline=False, critic=True),
    "reinforce": MethodSpec(RLController, "±1 advantages, plain policy gradient", "HPT Table 1",
                            kwargs={"preset": "reinforce"}, uses_group_baseline=False),
    "rloo": MethodSpec(RLController, "leave-one-out baseline", "Ahmadian et al. 2024", kwargs={"preset": "rloo"}),
    "sft_then_rl": MethodSpec(SFTThenRLController, "SFT phase, then RL from the SFT model", "HPT / SuperRL baseline",
                              needs_demos=True, options=(SFTThenRLOptions,), warnings=sft_then_rl_warnings),
}
