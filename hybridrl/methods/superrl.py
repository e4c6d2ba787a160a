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

Variants (D.6): ``theta``: L = sigmoid(α) L_pg + (1 − sigmoid(α)) L_sft; ``per_step``: an RL
update on L_pg, then a separate update on e^{-2 s_sft} L_sft + s_sft.

The learnable scalars exist from construction (the optimizer is built once, before the
probe); they receive no gradient while probing or on the dense path, so AdamW leaves them
untouched. Their values are part of :meth:`SuperRLController.state_dict` (the optimizer
state holds only their moments).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hybridrl.methods.base import Controller, Needs, StepContext, StepData, Update
from hybridrl.methods.plain import demo_term, rollout_term

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
    """w = e^{-2 s} (SuperRL §3.2). The loop asks for weights afresh for every micro-batch,
    so a plain autograd graph is fine."""
    return torch.exp(-2.0 * s)


def sigmoid_weight(a: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """sigmoid(a) (sign=+1) or 1 − sigmoid(a) (sign=−1): the theta variant's weights."""
    p = torch.sigmoid(a)
    return p if sign > 0 else 1.0 - p


class SuperRLController(Controller):
    """Adaptive Switch probe, then vanilla RL (dense) or the Hybrid Actor (sparse)."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.variant = config.superrl_variant
        if self.variant not in VARIANTS:
            raise ValueError(f"superrl_variant: unknown '{self.variant}'; choose one of {', '.join(VARIANTS)}")
        self.preset = config.rl_preset
        self.switch = AdaptiveSwitch.from_config(config)
        self.s_pg = torch.nn.Parameter(torch.tensor(float(config.superrl_init_s_pg)))
        self.s_sft = torch.nn.Parameter(torch.tensor(float(config.superrl_init_s_sft)))
        self.alpha = torch.nn.Parameter(torch.tensor(float(config.superrl_init_alpha)))
        self._kinds: list[str] = []  # kinds of this step's updates, in order
        self._done = 0  # updates of this step already observed
        self._phase = "probe"  # of the step being planned / just planned: probe, rl or hybrid
        self._sft_fraction = 0.0

    @property
    def hybrid(self) -> bool:
        """The switch chose the Hybrid Actor (from the step after the k-th probe step on)."""
        return self.switch.decision == "sparse"

    def parameters(self) -> list[torch.nn.Parameter]:
        return {"logsigma": [self.s_pg, self.s_sft], "theta": [self.alpha], "per_step": [self.s_sft]}[self.variant]

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True, demos=self.hybrid)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        pg = rollout_term("pg", self.preset, data)
        if not self.hybrid:
            # this step is pure RL, also when its reward completes the probe (the weights and
            # regularizer of the Hybrid Actor start with the next step's plan)
            self._phase = "rl" if self.switch.decided else "probe"
            self.switch.record(_step_reward(data))
            updates = [Update([pg], kind="rl")]
            self._sft_fraction = 0.0
        else:
            self._phase = "hybrid"
            sft = demo_term(data)
            self._sft_fraction = len(sft.indices) / max(1, len(data.rows))
            if self.variant == "per_step":
                updates = [Update([pg], kind="rl"), Update([sft], kind="sft")]
            else:
                updates = [Update([pg, sft], kind="hybrid")]
        self._kinds, self._done = [u.kind for u in updates], 0
        return updates

    def observe(self, ctx: StepContext, feedback) -> None:
        self._done += 1

    def _current_kind(self) -> str | None:
        return self._kinds[self._done] if self._done < len(self._kinds) else None

    def loss_weights(self) -> dict[str, torch.Tensor | float]:
        if self._phase != "hybrid":
            return {}
        if self.variant == "logsigma":
            return {"pg": uncertainty_weight(self.s_pg), "sft": uncertainty_weight(self.s_sft)}
        if self.variant == "theta":
            return {"pg": sigmoid_weight(self.alpha), "sft": sigmoid_weight(self.alpha, sign=-1.0)}
        return {"sft": uncertainty_weight(self.s_sft)}  # per_step: the RL update is unweighted

    def regularizer(self) -> torch.Tensor | None:
        if self._phase != "hybrid" or self.variant == "theta":
            return None
        if self.variant == "logsigma":
            return self.s_pg + self.s_sft
        # per_step: only the SFT update carries e^{-2 s_sft} L_sft + s_sft
        return self.s_sft * 1.0 if self._current_kind() == "sft" else None

    def metrics(self) -> dict[str, Any]:
        out = self.switch.metrics("superrl")
        out["superrl/phase"] = self._phase
        out["sft_fraction"] = self._sft_fraction
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
                "sft_fraction": self._sft_fraction, "phase": self._phase}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.switch.load_state_dict(state["switch"])
        with torch.no_grad():  # in place: the optimizer holds these very Parameter objects
            self.s_pg.fill_(state["s_pg"])
            self.s_sft.fill_(state["s_sft"])
            self.alpha.fill_(state["alpha"])
        self._sft_fraction = float(state.get("sft_fraction", 0.0))
        self._phase = state.get("phase", "probe")


def _step_reward(data: StepData) -> float:
    """The step's batch-mean reward: over all processes when the loop provides it."""
    if data.batch_reward_mean is not None:
        return float(data.batch_reward_mean)
    assert data.rewards is not None
    return float(data.rewards.float().mean()) if data.rewards.numel() else 0.0
