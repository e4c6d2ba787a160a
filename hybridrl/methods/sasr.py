"""SASR and its step-schedule baselines (SASR: Step-wise Adaptive Integration of SFT and RL).

Each step is either a pure SFT step (demonstrations, no rollouts) or a pure GRPO step
(``config.rl_preset``, default ``grpo``); the choice is made in :meth:`needs` so an SFT step
never samples. The four controllers differ only in the rule:

- :class:`SASRController` (Alg. 1, eq. 12): W warm-up SFT steps; G_warmup = ‖∇L_SFT‖ of the
  last warm-up step. Then p = G_last / (G_last + γ G_warmup), G_last the grad norm of the most
  recent SFT step; u ~ U(0, 1); SFT step iff u < p.
- :class:`SSRController` (§3.3 "SSR"): SFT and GRPO steps alternate, starting with SFT.
- :class:`SSRCosineController` (eq. 13): SFT step with probability
  I(s) = 0.5 (1 + cos(π s / S)) (U − L) + L, s the step, S the total steps.
- :class:`StaticHybridController` (§4 "Model Training"): 2 data epochs of SFT, then 1 epoch
  of GRPO (lengths in epochs, steps or fractions of the run; one cycle unless
  ``static_hybrid_repeat``).

Decisions and departures:

- The paper states no values for W, γ, U, L; see the options dataclasses below (``SASROptions``, ``SSRCosineOptions``).
- The grad norm is the loop's total gradient norm before clipping (``Feedback.grad_norm``).
  An SFT update that was skipped (non-finite) does not update G_last / G_warmup.
- With W = 0 there is no warm-up gradient yet: p = 1 until the first SFT step has reported
  its grad norm, which then serves as G_warmup (so the first step is SFT).
- SSR and SSR-cosine have no separate warm-up: the paper describes them as the schedule of
  the training stage, and the cosine schedule starts at U (mostly SFT) by itself.
- Random draws use the controller's own ``torch.Generator`` seeded from ``config.seed``
  (same draws on every process); its state is checkpointed.
- An SFT step whose batch holds no demonstration trains nothing; its grad norm (0) is not
  recorded as G_last (it would make p = 0 for ever).
- KL to the reference (eq. 4, β > 0): the loop adds β·KL(π_θ ‖ π_ref) to every on-policy
  term, so SASR's GRPO steps carry it whenever ``beta > 0``; π_ref is the initial model
  π_θ^(0) of Alg. 1 (the paper: "typically the initial SFT model"). The paper gives no β.
- SFT loss (``sasr_sft_loss``): eq. 2's −E[Σ_t log π(y_t)], a token *sum* per demonstration
  averaged over demonstrations, by default; ``mean`` is the token mean over the step's
  demonstration tokens (the default before). SSR, SSR-cosine and the static hybrid keep the
  token mean (the paper gives them no loss of their own; they are schedules).
- G+ / G− (eq. 3, Alg. 1 line 19): the split of tokens at the median advantage is named but
  used by no term of eq. 4, whose sum runs over all G outputs alike; splitting would change
  nothing in the update, so it is not built.
"""

from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any, ClassVar

import torch

from hybridrl.methods.base import Controller, Feedback, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import demo_term, rollout_term


@dataclass
class SASROptions:
    """Options of SASR (Alg. 1, eq. 12).

    Config section ``sasr`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "sasr"

    sasr_warmup_steps: int = 10
    """W: SFT steps before adaptive switching (Alg. 1). The paper states no value; 10 is 10%
    of the default 100-step run."""
    sasr_gamma: float = 1.0
    """γ in p = G_last / (G_last + γ·G_warmup) (eq. 12, Alg. 1 line 9). Not stated in the
    paper; 1.0 makes p = 0.5 when the SFT gradient norm equals its warm-up value."""
    sasr_sft_loss: str = "sum"
    """SASR's SFT loss. ``sum`` (eq. 2: −E[Σ_t log π], a token sum per demonstration averaged
    over demonstrations); ``mean`` (the token mean over the step's demonstration tokens, the
    behaviour before this option). The G_last / G_warmup ratio cancels the scale, but SFT and
    GRPO steps share AdamW's moments and the gradient clip, so the two differ."""


@dataclass
class SSRCosineOptions:
    """Options of the SSR-cosine baseline (SASR eq. 13).

    Config section ``ssr_cosine`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "ssr_cosine"

    ssr_cosine_upper: float = 1.0
    """SSR-cosine U: probability of an SFT step at s = 0 (eq. 13). Not stated in the paper."""
    ssr_cosine_lower: float = 0.0
    """SSR-cosine L: probability of an SFT step at s = S (eq. 13). Not stated in the paper."""


@dataclass
class StaticHybridOptions:
    """Options of the static hybrid baseline (SASR §4).

    Config section ``static_hybrid`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "static_hybrid"

    static_hybrid_unit: str = "epoch"
    """Unit of the static hybrid's phase lengths: ``epoch`` (data epochs, SASR §4),
    ``step`` (optimizer steps) or ``fraction`` (of the run's ``steps``). With 1,000 rows and 8
    prompts per step an epoch is 125 steps, so a 100-step run in epochs is pure SFT: use
    ``step`` or ``fraction`` for short runs."""
    static_hybrid_sft: float = 2.0
    """Length of the SFT phase, in ``static_hybrid_unit`` (SASR §4: 2 epochs of SFT ...)."""
    static_hybrid_rl: float = 1.0
    """Length of the GRPO phase that follows (SASR §4: ... followed by 1 epoch of GRPO)."""
    static_hybrid_repeat: bool = False
    """Start the SFT-then-GRPO cycle over when it ends. SASR §4 describes one cycle (2 epochs
    SFT, then 1 epoch GRPO) and says nothing of repeating; False = GRPO after the first cycle
    for the rest of the run (DeepSeek-R1's order: SFT, then RL)."""


SFT_LOSSES = {"sum": "sft_seq_sum", "mean": "sft"}
"""``sasr_sft_loss`` -> preset: eq. 2's token sum per sequence (default), or the token mean."""


class _StepSwitchController(Controller):
    """A step is SFT or RL, chosen by :meth:`_choose_sft` in :meth:`needs`."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.preset = config.rl_preset
        self.sft_preset = "sft"  # the token mean (SSR, SSR-cosine, static hybrid)
        self._sft = False  # this step's choice
        self._sft_rows = 0  # demonstrations in this step's SFT update (0: nothing was trained)

    def _choose_sft(self, ctx: StepContext) -> bool:
        raise NotImplementedError

    def needs(self, ctx: StepContext) -> Needs:
        self._sft = self._choose_sft(ctx)
        return Needs(rollouts=False) if self._sft else Needs(rollouts=True)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        if self._sft:
            term = demo_term(data, preset=self.sft_preset)
            self._sft_rows = len(term.indices)
            return [Update([term], kind="sft")]
        return [Update([rollout_term("pg", self.preset, data)], kind="rl")]

    def metrics(self) -> dict[str, Any]:
        return {"sft_fraction": 1.0 if self._sft else 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"sft": self._sft}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sft = bool(state["sft"])


def sasr_probability(g_last: float, g_warmup: float, gamma: float) -> float:
    """SASR eq. 12 / Alg. 1 line 9: p = G_last / (G_last + γ · G_warmup)."""
    denom = g_last + gamma * g_warmup
    return g_last / denom if denom > 0 else 1.0


def ssr_cosine_probability(step: int, total_steps: int, upper: float, lower: float) -> float:
    """SASR eq. 13: I(s) = 0.5 (1 + cos(π s / S)) (U − L) + L."""
    return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total_steps))) * (upper - lower) + lower


class SASRController(_StepSwitchController):
    """SFT warm-up, then SFT with probability p = G_last / (G_last + γ G_warmup) (SASR Alg. 1)."""

    def __init__(self, config: Any):
        super().__init__(config)
        if config.sasr_sft_loss not in SFT_LOSSES:
            raise ValueError(f"sasr_sft_loss: unknown '{config.sasr_sft_loss}'; choose one of {', '.join(SFT_LOSSES)}")
        self.sft_preset = SFT_LOSSES[config.sasr_sft_loss]
        self.warmup_steps = int(config.sasr_warmup_steps)
        self.gamma = float(config.sasr_gamma)
        self.g_warmup: float | None = None
        self.g_last: float | None = None
        self.p = 1.0
        self.rng = torch.Generator().manual_seed(int(config.seed))

    def _choose_sft(self, ctx: StepContext) -> bool:
        if ctx.step < self.warmup_steps or self.g_warmup is None or self.g_last is None:
            self.p = 1.0  # warm-up (or no SFT gradient measured yet)
            return True
        self.p = sasr_probability(self.g_last, self.g_warmup, self.gamma)
        u = float(torch.rand((), generator=self.rng))  # u ~ U(0, 1)
        return u < self.p

    def observe(self, ctx: StepContext, feedback: Feedback) -> None:
        if feedback.kind != "sft" or feedback.skipped or not math.isfinite(feedback.grad_norm):
            return
        if self._sft_rows == 0:
            # an SFT step whose batch held no demonstration trained nothing: its grad norm 0 says
            # nothing about ‖∇L_SFT‖, and G_last = 0 would make p = 0 for the rest of the run
            return
        self.g_last = float(feedback.grad_norm)
        if ctx.step == self.warmup_steps - 1 or self.g_warmup is None:
            self.g_warmup = self.g_last  # ‖∇L_SFT‖ at the last warm-up step

    def metrics(self) -> dict[str, Any]:
        return {
            "sft_fraction": 1.0 if self._sft else 0.0,
            "sasr_p": self.p,
            "grad_norm_sft": self.g_last,
            "sasr/g_warmup": self.g_warmup,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"sft": self._sft, "p": self.p, "g_warmup": self.g_warmup, "g_last": self.g_last,
                "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sft, self.p = bool(state["sft"]), float(state["p"])
        self.g_warmup, self.g_last = state["g_warmup"], state["g_last"]
        self.rng.set_state(state["rng"].clone())


class SSRController(_StepSwitchController):
    """Alternate SFT and GRPO steps, starting with SFT (SASR §3.3, SSR)."""

    def _choose_sft(self, ctx: StepContext) -> bool:
        return ctx.step % 2 == 0


class SSRCosineController(_StepSwitchController):
    """SFT step with probability I(s) = 0.5 (1 + cos(π s/S)) (U − L) + L (SASR eq. 13)."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.upper = float(config.ssr_cosine_upper)
        self.lower = float(config.ssr_cosine_lower)
        self.p = self.upper
        self.rng = torch.Generator().manual_seed(int(config.seed))

    def _choose_sft(self, ctx: StepContext) -> bool:
        self.p = ssr_cosine_probability(ctx.step, ctx.total_steps, self.upper, self.lower)
        return float(torch.rand((), generator=self.rng)) < self.p

    def metrics(self) -> dict[str, Any]:
        return {"sft_fraction": 1.0 if self._sft else 0.0, "ssr_cosine/p_sft": self.p}

    def state_dict(self) -> dict[str, Any]:
        return {"sft": self._sft, "p": self.p, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sft, self.p = bool(state["sft"]), float(state["p"])
        self.rng.set_state(state["rng"].clone())


UNITS = ("epoch", "step", "fraction")


def static_hybrid_is_sft(position: float, sft: float, rl: float, repeat: bool) -> bool:
    """Whether ``position`` (in the phase unit, 0-based) falls in an SFT phase of the cycle
    [SFT for ``sft``, then GRPO for ``rl``]; without ``repeat`` everything after the first
    cycle is GRPO."""
    cycle = sft + rl
    if not repeat and position >= cycle:
        return False
    return position % cycle < sft


class StaticHybridController(_StepSwitchController):
    """SFT for ``static_hybrid_sft`` units, then GRPO for ``static_hybrid_rl`` units (SASR §4:
    2 epochs of SFT followed by 1 epoch of GRPO, after DeepSeek-R1); the unit is a data epoch
    (``ctx.epoch``, the epoch of the step's prompts), a step, or a fraction of the run;
    ``static_hybrid_repeat`` starts the cycle over, else GRPO continues after it."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.unit = config.static_hybrid_unit
        self.sft_len = float(config.static_hybrid_sft)
        self.rl_len = float(config.static_hybrid_rl)
        self.repeat = bool(config.static_hybrid_repeat)
        if self.unit not in UNITS:
            raise ValueError(f"static_hybrid_unit: unknown '{self.unit}'; choose one of {', '.join(UNITS)}")
        if self.sft_len < 0 or self.rl_len < 0 or self.sft_len + self.rl_len <= 0:
            raise ValueError("static_hybrid_sft / static_hybrid_rl: need >= 0 and a positive sum")
        if self.unit == "fraction" and self.sft_len + self.rl_len > 1.0 + 1e-9 and not self.repeat:
            raise ValueError("static_hybrid_unit=fraction: static_hybrid_sft + static_hybrid_rl must be <= 1 "
                             f"(got {self.sft_len + self.rl_len:g})")

    def _choose_sft(self, ctx: StepContext) -> bool:
        if self.unit == "epoch":
            position = float(ctx.epoch)
        elif self.unit == "step":
            position = float(ctx.step)
        else:  # fraction of the run reached at the start of this step
            position = ctx.step / max(1, ctx.total_steps)
        return static_hybrid_is_sft(position, self.sft_len, self.rl_len, self.repeat)


def sasr_warnings(cfg: Any) -> list[str]:
    if cfg.sasr_warmup_steps >= cfg.steps:
        return [f"method 'sasr': sasr_warmup_steps={cfg.sasr_warmup_steps} >= steps={cfg.steps}: the whole run "
                f"is SFT warm-up. Set sasr_warmup_steps= below steps."]
    return []


def static_hybrid_warnings(cfg: Any) -> list[str]:
    """An SFT phase in epochs that covers the whole run makes it pure SFT."""
    per_epoch = -(-cfg.train_size // cfg.prompts_per_step)  # ceil: steps per epoch of a built-in task
    sft_steps = {"epoch": cfg.static_hybrid_sft * per_epoch if cfg.data is None else None,
                 "step": cfg.static_hybrid_sft}.get(cfg.static_hybrid_unit)
    if sft_steps is None or sft_steps < cfg.steps:
        return []
    return [f"method 'static_hybrid': its SFT phase ({cfg.static_hybrid_sft:g} {cfg.static_hybrid_unit}s = "
            f"{sft_steps:g} steps) covers the whole {cfg.steps}-step run: it is pure SFT. Set "
            f"static_hybrid_unit=fraction (e.g. static_hybrid_sft=0.67 static_hybrid_rl=0.33) or =step."]


SPECS = {
    "sasr": MethodSpec(SASRController, "SFT warm-up, then grad-norm adaptive SFT/GRPO switching", "SASR Alg. 1",
                       needs_demos=True, options=(SASROptions,), warnings=sasr_warnings),
    "ssr": MethodSpec(SSRController, "alternate SFT and GRPO steps", "SASR baseline", needs_demos=True),
    "ssr_cosine": MethodSpec(SSRCosineController, "cosine-scheduled probability of an SFT step", "SASR baseline",
                             needs_demos=True, options=(SSRCosineOptions,)),
    "static_hybrid": MethodSpec(StaticHybridController, "2 epochs SFT then 1 epoch GRPO, repeating", "SASR baseline",
                                needs_demos=True, options=(StaticHybridOptions,), warnings=static_hybrid_warnings),
}
