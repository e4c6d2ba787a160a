"""SuperRL: Adaptive Switch + uncertainty-weighted Hybrid Actor (SuperRL §3.2-3.3, D.6).

*Adaptive Switch* (§3.3, §4.5, App. C.8): the first k steps are pure RL; each step's
batch-mean reward is recorded. After k steps

    increase_num = #{t in 2..k : r_t > r_{t-1}}      (rises between adjacent steps)
    recent_avg   = mean(r_{k-m+1..k})

and the task is *sparse* iff increase_num < increase_threshold AND recent_avg < avg_threshold.
Sparse -> the Hybrid Actor for the rest of training; dense -> vanilla RL. The decision is
taken once and never revisited.

Counting, and the Table 7 discrepancy: we count strict rises between adjacent steps, so k
steps give at most k − 1 rises. Table 7 (Qwen2.5-1.5B, batch 256) reports increase_num = 10
for GSM8K, whose series 0.0617 0.0570 0.0828 0.1305 0.1820 0.2398 0.3148 0.3695 0.4609 0.4984
has 8 adjacent rises (step 2 falls); counting a rise from 0 before step 1 would give 9, so no
convention gives 10. Its HiTab recent_avg 0.0031 does not match its own series either
(mean of 0.0008 0.0008 0.0023 0 ... 0 = 0.00039). The decisions are unaffected: GSM8K 8 >= 3
-> dense, HiTab 1 < 3 and 0.00039 < 0.1 -> sparse (tests/methods/test_superrl.py).

*Hybrid Actor* (§3.2): every update mixes the step's rollouts with its demonstrations,

    L = e^{-2 s_pg} L_pg + e^{-2 s_sft} L_sft + s_pg + s_sft,     s = log σ learnable.

L_pg is the whole actor loss of the RL term, its KL penalty (β > 0) and entropy bonus
included: the paper's L_actor is verl's actor loss, which holds both, so the loop multiplies
them by e^{-2 s_pg} too (``Update.weighting``).

Variants (D.6): ``theta``: L = sigmoid(α) L_pg + (1 − sigmoid(α)) L_sft; ``per_step``: an RL
update on L_pg, then a separate update on e^{-2 s_sft} L_sft + s_sft.

Departures, and why (docs/methods.md "SuperRL"):

- Learning rate of s_pg, s_sft, α: ``loss_weight_lr`` (default 0.02), not the policy's. The
  paper trains them with its policy optimizer (lr 1e-6, App. C.7), with which AdamW moves each
  by ≈ 1e-6 per step: the weights stay at 1 for any run and the "adaptive" loss is plain
  L_pg + L_sft. AdamW moves a scalar by ≈ lr per step whatever its gradient's scale, so 0.02
  lets s cross its range (|s| ≤ 1.15) in ≈ 60 steps and settle s_sft near 0.5 ln(2 L_sft) in
  ≈ 20 (runs here are 40–200 steps).
- Guard: s is projected onto [−``superrl_s_bound``, +``superrl_s_bound``] after every update
  (see :class:`SuperRLController`). Kendall et al.'s weighting assumes L ≥ 0 (a negative
  log-likelihood; its optimum is σ² = 2L); the PG surrogate is ≈ 0 or negative, so the
  unguarded s_pg falls without limit. ``superrl_s_bound=inf`` gives the paper's loss as is.
- ``sft_fraction`` is sample-level (demonstrations ÷ (demonstrations + rollouts) of the step,
  as HPT's); ``sft_prompt_share`` is the share of the step's prompts with a demonstration.

The learnable scalars exist from construction (the optimizer is built once, before the
probe); they receive no gradient while probing or on the dense path, so AdamW leaves them
untouched. Their values are part of :meth:`SuperRLController.state_dict` (the optimizer
state holds only their moments).
"""

from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any, ClassVar

import torch

from hybridrl.methods.base import Controller, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import demo_term, rollout_term


@dataclass
class SuperRLOptions:
    """Options of SuperRL (§3.2-3.3, App. C.8, D.6); ``auto`` runs its Adaptive Switch probe with them.

    Config section ``superrl`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "superrl"

    superrl_k: int | None = None
    """Adaptive Switch probe length: pure-RL steps before deciding. None = by batch size
    (SuperRL §3.3/§4.5): prompts_per_step > 32 -> 10, otherwise 50."""
    superrl_m: int | None = None
    """Window of the recent average reward (last m probe steps). None = 10 (both regimes)."""
    superrl_increase_threshold: int | None = None
    """Sparse needs increase_num < this. None = by batch size: > 32 -> 3, otherwise 20."""
    superrl_avg_threshold: float | None = None
    """Sparse needs recent_avg < this. None = by batch size: > 32 -> 0.1, otherwise 0.2."""
    superrl_variant: str = "logsigma"
    """Hybrid Actor loss (SuperRL D.6). ``logsigma``: L = e^{-2 s_pg} L_pg + e^{-2 s_sft} L_sft
    + s_pg + s_sft (§3.2, the paper's method); ``theta``: w_pg = sigmoid(α), w_sft = 1 − w_pg;
    ``per_step``: an RL update, then a separate update on e^{-2 s_sft} L_sft + s_sft."""
    superrl_init_s_pg: float = 0.0
    """Initial s_pg = log σ_pg (SuperRL App. C.8: (0, 0) works best)."""
    superrl_init_s_sft: float = 0.0
    """Initial s_sft = log σ_sft."""
    superrl_init_alpha: float = 0.0
    """``theta`` variant: initial α (0 -> equal weights 0.5/0.5; D.6 states no value)."""
    superrl_s_bound: float = 1.15
    """Guard of the log-sigma weights: after every update s_pg, s_sft are projected onto
    [−b, b], so each weight e^{-2s} stays in [e^{-2b}, e^{2b}] = [0.1, 10] for b = 1.15. Not in
    the paper: its formula assumes losses ≥ 0, but the PG surrogate is ≈ 0 or negative, so
    s_pg would fall without bound (docs/methods.md). ``inf`` = the paper's unguarded loss."""


@dataclass
class LossWeightOptions:
    """The learnable loss weights of SuperRL's Hybrid Actor (s_pg, s_sft, θ).

    Config section ``loss_weights`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "loss_weights"

    loss_weight_lr: float | None = 0.02
    """AdamW learning rate of learnable loss weights (SuperRL's s_pg, s_sft, θ); None = the
    policy's ``lr`` (the default of run folders written before 0.02 was). The paper uses
    its policy lr (1e-6, App. C.7), which leaves them at their initial values for a whole run
    (measured: σ_pg 1 -> 0.999996 in 4 steps); AdamW moves a scalar ≈ lr per step, so 0.02
    moves s across its range (±1.15) in ≈ 60 steps. They share the optimizer, not the
    policy's gradient clipping."""

    def check(self) -> None:
        if self.loss_weight_lr is not None and not self.loss_weight_lr > 0:
            raise ValueError(f"config key 'loss_weight_lr': must be > 0, got {self.loss_weight_lr!r}")

VARIANTS = ("logsigma", "theta", "per_step")


class AdaptiveSwitch:
    """The reward-density probe (SuperRL §3.3). Feed it one batch-mean reward per RL step.

    Pure bookkeeping: no tensors, no config; ``state_dict`` is plain Python.
    """

    def __init__(self, k: int, m: int, increase_threshold: int, avg_threshold: float):
        if k < 1 or m < 1:
            raise ValueError(f"Adaptive Switch needs k >= 1 and m >= 1 (got k={k}, m={m})")
        self.k, self.m = int(k), int(m)
        self.increase_threshold = int(increase_threshold)
        self.avg_threshold = float(avg_threshold)
        self.rewards: list[float] = []
        self.decision: str | None = None
        """None while probing, then ``dense`` or ``sparse``."""

    @classmethod
    def from_config(cls, config: Any) -> "AdaptiveSwitch":
        """Thresholds from ``superrl_*`` options; None = SuperRL §3.3's by batch size:
        prompts_per_step > 32 -> (k, m, inc, avg) = (10, 10, 3, 0.1), else (50, 10, 20, 0.2)."""
        large = config.prompts_per_step > 32
        default = (10, 10, 3, 0.1) if large else (50, 10, 20, 0.2)
        given = (config.superrl_k, config.superrl_m, config.superrl_increase_threshold, config.superrl_avg_threshold)
        k, m, inc, avg = (d if v is None else v for v, d in zip(given, default))
        return cls(k, m, inc, avg)

    @property
    def decided(self) -> bool:
        return self.decision is not None

    @property
    def increase_num(self) -> int:
        """Rises between adjacent recorded steps: #{t : r_t > r_{t-1}}."""
        r = self.rewards
        return sum(1 for a, b in zip(r, r[1:]) if b > a)

    @property
    def recent_avg(self) -> float:
        """Mean of the last m recorded rewards (0 before any)."""
        tail = self.rewards[-self.m:]
        return sum(tail) / len(tail) if tail else 0.0

    def record(self, step_mean_reward: float) -> str | None:
        """Add one step's batch-mean reward; decide after the k-th. Returns the decision (None
        while probing). Rewards after the decision are ignored."""
        if self.decided:
            return self.decision
        self.rewards.append(float(step_mean_reward))
        if len(self.rewards) >= self.k:
            sparse = self.increase_num < self.increase_threshold and self.recent_avg < self.avg_threshold
            self.decision = "sparse" if sparse else "dense"
        return self.decision

    def reason(self) -> str:
        """The decision and its inputs in words."""
        inc, avg = self.increase_num, self.recent_avg
        head = f"after {len(self.rewards)}/{self.k} probe steps: increase_num={inc}, recent_avg={avg:.4g}"
        if not self.decided:
            return "probing " + head
        if self.decision == "sparse":
            return (f"sparse: {head}; increase_num < {self.increase_threshold} and "
                    f"recent_avg < {self.avg_threshold:g}")
        why = [f"increase_num >= {self.increase_threshold}"] if inc >= self.increase_threshold else []
        why += [f"recent_avg >= {self.avg_threshold:g}"] if avg >= self.avg_threshold else []
        return f"dense: {head}; " + " and ".join(why)

    def metrics(self, prefix: str) -> dict[str, Any]:
        return {
            "switch_decision": self.decision or "probing",
            f"{prefix}/increase_num": self.increase_num,
            f"{prefix}/recent_avg": self.recent_avg,
            f"{prefix}/k": self.k,
            f"{prefix}/increase_threshold": self.increase_threshold,
            f"{prefix}/avg_threshold": self.avg_threshold,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "m": self.m, "increase_threshold": self.increase_threshold,
                "avg_threshold": self.avg_threshold, "rewards": list(self.rewards), "decision": self.decision}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k, self.m = int(state["k"]), int(state["m"])
        self.increase_threshold = int(state["increase_threshold"])
        self.avg_threshold = float(state["avg_threshold"])
        self.rewards = [float(r) for r in state["rewards"]]
        self.decision = state["decision"]


def uncertainty_weight(s: torch.Tensor) -> torch.Tensor:
    """w = e^{-2 s} (SuperRL §3.2). Built afresh at each call: the loop backpropagates each
    micro-batch's loss separately, which frees the graph it ran through."""
    return torch.exp(-2.0 * s)


def sigmoid_weight(a: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """sigmoid(a) (sign=+1) or 1 − sigmoid(a) (sign=−1): the theta variant's weights."""
    p = torch.sigmoid(a)
    return p if sign > 0 else 1.0 - p


class UncertaintyWeights:
    """The log-sigma Hybrid Actor as a :class:`~hybridrl.methods.base.Weighting` (SuperRL §3.2):

        L = Σ_k e^{-2 s_k} L_k + Σ_k s_k       over the learnable terms k (``pg``, ``sft``)

    ``L_k`` is the whole term, its KL penalty and entropy bonus included (the loop multiplies
    them by the weight): the paper's L_actor is verl's actor loss, which holds both. Terms not
    in ``params`` weigh 1 (per_step's RL update has none)."""

    def __init__(self, params: dict[str, torch.nn.Parameter]):
        self.params = params

    def weight(self, name: str) -> torch.Tensor | float:
        s = self.params.get(name)
        return 1.0 if s is None else uncertainty_weight(s)

    def regularizer(self) -> torch.Tensor | None:
        if not self.params:
            return None
        return sum(self.params.values(), torch.zeros(()))


class SigmoidWeights:
    """The theta variant (SuperRL D.6): w_pg = sigmoid(α), w_sft = 1 − w_pg, no regularizer."""

    def __init__(self, alpha: torch.nn.Parameter):
        self.alpha = alpha

    def weight(self, name: str) -> torch.Tensor | float:
        if name == "pg":
            return sigmoid_weight(self.alpha)
        return sigmoid_weight(self.alpha, sign=-1.0) if name == "sft" else 1.0

    def regularizer(self) -> None:
        return None


def project_(params: list[torch.nn.Parameter], bound: float) -> None:
    """Projection onto |s| ≤ bound, in place (projected gradient descent; the optimizer holds
    these very Parameter objects). A no-op for bound = inf."""
    if math.isinf(bound):
        return
    with torch.no_grad():
        for p in params:
            p.clamp_(-bound, bound)


class SuperRLController(Controller):
    """Adaptive Switch probe, then vanilla RL (dense) or the Hybrid Actor (sparse).

    The guard against the unbounded case (docs/methods.md "SuperRL"): the PG
    surrogate is not a loss with a floor (≈ 0 at ratio 1, often negative), so
    ∂L/∂s_pg = 1 − 2 e^{-2 s_pg} L_pg ≈ 1 and s_pg would fall for ever, multiplying the PG
    weight by e^{2·lr} every step. After every update the learnable s are projected onto
    [−b, b] (``superrl_s_bound``, default 1.15: every weight stays in [0.1, 10], so either term
    may outweigh the other at most 100×). Inside the box the update is the paper's.
    """

    def __init__(self, config: Any):
        super().__init__(config)
        self.variant = config.superrl_variant
        if self.variant not in VARIANTS:
            raise ValueError(f"superrl_variant: unknown '{self.variant}'; choose one of {', '.join(VARIANTS)}")
        self.bound = float(config.superrl_s_bound)
        if not self.bound > 0:
            raise ValueError(f"superrl_s_bound must be > 0 (got {self.bound}); use inf for the unguarded paper loss")
        self.preset = config.rl_preset
        self.switch = AdaptiveSwitch.from_config(config)
        self.s_pg = torch.nn.Parameter(torch.tensor(float(config.superrl_init_s_pg)))
        self.s_sft = torch.nn.Parameter(torch.tensor(float(config.superrl_init_s_sft)))
        self.alpha = torch.nn.Parameter(torch.tensor(float(config.superrl_init_alpha)))
        for name, s in (("superrl_init_s_pg", self.s_pg), ("superrl_init_s_sft", self.s_sft)):
            if abs(float(s.detach())) > self.bound:
                raise ValueError(f"{name}={float(s.detach()):g} lies outside [-superrl_s_bound, superrl_s_bound] = "
                                 f"[{-self.bound:g}, {self.bound:g}]")
        self._phase = "probe"  # of the step being planned / just planned: probe, rl or hybrid
        self._sft_fraction = 0.0
        self._prompt_sft_share = 0.0

    @property
    def hybrid(self) -> bool:
        """The switch chose the Hybrid Actor (from the step after the k-th probe step on)."""
        return self.switch.decision == "sparse"

    def parameters(self) -> list[torch.nn.Parameter]:
        return {"logsigma": [self.s_pg, self.s_sft], "theta": [self.alpha], "per_step": [self.s_sft]}[self.variant]

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        pg = rollout_term("pg", self.preset, data)
        if not self.hybrid:
            # this step is pure RL, also when its reward completes the probe (the Hybrid
            # Actor's weights and regularizer start with the next step's plan)
            self._phase = "rl" if self.switch.decided else "probe"
            self.switch.record(_step_reward(data))
            self._sft_fraction = self._prompt_sft_share = 0.0
            return [Update([pg], kind="rl")]
        self._phase = "hybrid"
        sft = demo_term(data)
        n_demo, n_roll = len(sft.indices), len(pg.indices)
        self._sft_fraction = n_demo / max(1, n_demo + n_roll)  # samples, as HPT's sft_fraction
        self._prompt_sft_share = n_demo / max(1, len(data.rows))
        if self.variant == "per_step":
            return [Update([pg], kind="rl"),
                    Update([sft], kind="sft", weighting=UncertaintyWeights({"sft": self.s_sft}))]
        if self.variant == "theta":
            return [Update([pg, sft], kind="hybrid", weighting=SigmoidWeights(self.alpha))]
        return [Update([pg, sft], kind="hybrid", weighting=UncertaintyWeights({"pg": self.s_pg, "sft": self.s_sft}))]

    def observe(self, ctx: StepContext, feedback) -> None:
        if self.variant != "theta":
            project_(self.parameters(), self.bound)

    def metrics(self) -> dict[str, Any]:
        out = self.switch.metrics("superrl")
        out["superrl/phase"] = self._phase
        out["sft_fraction"] = self._sft_fraction
        out["sft_prompt_share"] = self._prompt_sft_share
        if self.variant == "theta":
            w = 1.0 / (1.0 + math.exp(-float(self.alpha.detach())))
            out.update({"theta": float(self.alpha.detach()), "w_pg": w, "w_sft": 1.0 - w})
        else:
            if self.variant == "logsigma":
                out["sigma_pg"] = math.exp(float(self.s_pg.detach()))
            out["sigma_sft"] = math.exp(float(self.s_sft.detach()))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"switch": self.switch.state_dict(), "s_pg": float(self.s_pg.detach()),
                "s_sft": float(self.s_sft.detach()), "alpha": float(self.alpha.detach()),
                "sft_fraction": self._sft_fraction, "sft_prompt_share": self._prompt_sft_share,
                "phase": self._phase}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.switch.load_state_dict(state["switch"])
        with torch.no_grad():  # in place: the optimizer holds these very Parameter objects
            self.s_pg.fill_(state["s_pg"])
            self.s_sft.fill_(state["s_sft"])
            self.alpha.fill_(state["alpha"])
        self._sft_fraction = float(state.get("sft_fraction", 0.0))
        self._prompt_sft_share = float(state.get("sft_prompt_share", 0.0))
        self._phase = state.get("phase", "probe")


def _step_reward(data: StepData) -> float:
    """The step's batch-mean reward: over all processes when the loop provides it."""
    if data.batch_reward_mean is not None:
        return float(data.batch_reward_mean)
    assert data.rewards is not None
    return float(data.rewards.float().mean()) if data.rewards.numel() else 0.0


def probe_warnings(cfg: Any) -> list[str]:
    """The Adaptive Switch must decide within the run (else SuperRL/auto is plain RL)."""
    try:
        k = AdaptiveSwitch.from_config(cfg).k
    except Exception:
        return []
    if k < cfg.steps:
        return []
    return [f"method '{cfg.method}': the Adaptive Switch probes for {k} pure-RL steps but the run has "
            f"{cfg.steps}: it never decides (switch_decision stays 'probing'), so this is plain RL. "
            f"Set superrl_k= below steps (e.g. superrl_k={max(1, cfg.steps // 4)})."]


SPECS = {
    "superrl": MethodSpec(SuperRLController, "Adaptive Switch, then log-sigma Hybrid Actor if sparse",
                          "SuperRL §3.2-3.3", overrides={"superrl_variant": "logsigma"}, needs_demos=True,
                          options=(SuperRLOptions, LossWeightOptions), warnings=probe_warnings),
    "superrl_theta": MethodSpec(SuperRLController, "Hybrid Actor with w_pg = sigmoid(alpha)", "SuperRL D.6",
                                overrides={"superrl_variant": "theta"}, needs_demos=True,
                                options=(SuperRLOptions, LossWeightOptions), warnings=probe_warnings),
    "superrl_per_step": MethodSpec(SuperRLController, "RL update then separate weighted SFT update", "SuperRL D.6",
                                   overrides={"superrl_variant": "per_step"}, needs_demos=True,
                                   options=(SuperRLOptions, LossWeightOptions), warnings=probe_warnings),
}
